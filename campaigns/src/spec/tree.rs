//! A light second reading of the YAML text that keeps where every key and value starts,
//! so errors found after deserialising (an unknown segment, a bad template) can point at
//! the exact line and column. Built from the YAML parser's events with their markers.

use std::fmt;

use serde_saphyr::granit_parser::{Event, Parser};

use super::diag::Pos;

/// Deeper documents are legal YAML but no campaign needs them; stopping keeps the builder
/// (and dropping the tree) bounded on hostile input.
const MAX_DEPTH: usize = 200;

#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub pos: Pos,
    pub kind: NodeKind,
}

#[derive(Debug, Clone)]
pub(crate) enum NodeKind {
    Scalar(String),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
    /// `*alias`: positions inside it are those of the alias itself.
    Alias,
}

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub key: String,
    pub key_pos: Pos,
    pub value: Node,
}

/// One step of a path into the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// A path into the document, e.g. `content.languages.en.buttons[0]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct KeyPath(pub Vec<Seg>);

impl KeyPath {
    pub fn root() -> Self {
        Self(Vec::new())
    }
    pub fn k(&self, key: &str) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Key(key.to_owned()));
        Self(v)
    }
    pub fn i(&self, index: usize) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Index(index));
        Self(v)
    }
    pub fn parent(&self) -> Self {
        let mut v = self.0.clone();
        v.pop();
        Self(v)
    }
    pub fn last_key(&self) -> Option<&str> {
        match self.0.last() {
            Some(Seg::Key(k)) => Some(k),
            _ => None,
        }
    }
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if n == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

enum Frame {
    Seq(Pos, Vec<Node>),
    Map(Pos, Vec<Entry>, Option<(String, Pos)>),
}

fn pos_of(span: &serde_saphyr::granit_parser::Span) -> Pos {
    Pos {
        line: span.start.line().max(1),
        column: span.start.col() + 1,
    }
}

/// The first document of `text` as a positioned tree; `None` when the text is not valid
/// YAML (the deserialiser reports that) or is nested deeper than any campaign.
pub(crate) fn build(text: &str) -> Option<Node> {
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<Node> = None;
    for item in Parser::new_from_str(text) {
        let (event, span) = item.ok()?;
        let pos = pos_of(&span);
        let done = match event {
            Event::Scalar(value, ..) => push(
                &mut stack,
                &mut root,
                Node {
                    pos,
                    kind: NodeKind::Scalar(value.into_owned()),
                },
            ),
            Event::Alias(_) => push(
                &mut stack,
                &mut root,
                Node {
                    pos,
                    kind: NodeKind::Alias,
                },
            ),
            Event::SequenceStart(..) => {
                stack.push(Frame::Seq(pos, Vec::new()));
                false
            }
            Event::MappingStart(..) => {
                stack.push(Frame::Map(pos, Vec::new(), None));
                false
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let node = match stack.pop()? {
                    Frame::Seq(pos, items) => Node {
                        pos,
                        kind: NodeKind::Seq(items),
                    },
                    Frame::Map(pos, entries, _) => Node {
                        pos,
                        kind: NodeKind::Map(entries),
                    },
                };
                push(&mut stack, &mut root, node)
            }
            Event::DocumentEnd | Event::StreamEnd => root.is_some(),
            _ => false,
        };
        if stack.len() > MAX_DEPTH {
            return None;
        }
        if done {
            break;
        }
    }
    root
}

/// Adds a finished node to its parent; true when it was the document's root.
fn push(stack: &mut [Frame], root: &mut Option<Node>, node: Node) -> bool {
    match stack.last_mut() {
        None => {
            *root = Some(node);
            true
        }
        Some(Frame::Seq(_, items)) => {
            items.push(node);
            false
        }
        Some(Frame::Map(_, entries, pending)) => {
            match pending.take() {
                None => {
                    let key = match &node.kind {
                        NodeKind::Scalar(s) => s.clone(),
                        _ => String::from("<complex key>"),
                    };
                    *pending = Some((key, node.pos));
                }
                Some((key, key_pos)) => entries.push(Entry {
                    key,
                    key_pos,
                    value: node,
                }),
            }
            false
        }
    }
}

impl Node {
    fn child(&self, seg: &Seg) -> Option<(&Node, Pos)> {
        match (&self.kind, seg) {
            (NodeKind::Map(entries), Seg::Key(k)) => entries
                .iter()
                .rev() // with duplicate keys the deserialiser keeps the last
                .find(|e| &e.key == k)
                .map(|e| (&e.value, e.key_pos)),
            (NodeKind::Seq(items), Seg::Index(i)) => items.get(*i).map(|n| (n, n.pos)),
            _ => None,
        }
    }
}

/// Answers "where is this path in the file?".
#[derive(Debug, Clone, Copy)]
pub(crate) struct Locator<'a> {
    root: Option<&'a Node>,
}

impl<'a> Locator<'a> {
    pub fn new(root: Option<&'a Node>) -> Self {
        Self { root }
    }

    /// Walks `path` as far as it exists: the deepest node found, the position of the key
    /// that led to it, and whether the whole path was found.
    fn walk(&self, path: &KeyPath) -> Option<(&'a Node, Pos, bool)> {
        let mut node = self.root?;
        let mut key_pos = node.pos;
        for seg in &path.0 {
            match node.child(seg) {
                Some((child, kp)) => {
                    node = child;
                    key_pos = kp;
                }
                None => return Some((node, key_pos, false)),
            }
        }
        Some((node, key_pos, true))
    }

    /// Where the value at `path` starts. When the path is absent (a missing key), the key
    /// of its deepest present ancestor: `trigger:` for a missing `trigger.after`.
    pub fn value(&self, path: &KeyPath) -> Pos {
        match self.walk(path) {
            Some((node, _, true)) => node.pos,
            Some((_, key_pos, false)) => key_pos,
            None => Pos::START,
        }
    }

    /// Where the key of `path` starts (the item itself for list items).
    pub fn key(&self, path: &KeyPath) -> Pos {
        match self.walk(path) {
            Some((_, key_pos, _)) => key_pos,
            None => Pos::START,
        }
    }

    /// The node at `path`, when present.
    pub fn node(&self, path: &KeyPath) -> Option<&'a Node> {
        match self.walk(path) {
            Some((node, _, true)) => Some(node),
            _ => None,
        }
    }

    /// What starts at `pos`: the first node (in document order) there, or the key of an
    /// entry there.
    pub fn path_at(&self, pos: Pos) -> Option<Hit> {
        fn go(node: &Node, pos: Pos, path: &mut Vec<Seg>, depth: usize) -> Option<HitKind> {
            if node.pos == pos {
                return Some(match node.kind {
                    NodeKind::Map(_) => HitKind::Map,
                    NodeKind::Seq(_) => HitKind::Seq,
                    _ => HitKind::Scalar,
                });
            }
            if depth > MAX_DEPTH {
                return None;
            }
            match &node.kind {
                NodeKind::Map(entries) => {
                    for e in entries {
                        path.push(Seg::Key(e.key.clone()));
                        if e.key_pos == pos {
                            return Some(HitKind::Key);
                        }
                        if let Some(k) = go(&e.value, pos, path, depth + 1) {
                            return Some(k);
                        }
                        path.pop();
                    }
                }
                NodeKind::Seq(items) => {
                    for (i, item) in items.iter().enumerate() {
                        path.push(Seg::Index(i));
                        if let Some(k) = go(item, pos, path, depth + 1) {
                            return Some(k);
                        }
                        path.pop();
                    }
                }
                _ => {}
            }
            None
        }
        let mut path = Vec::new();
        let kind = go(self.root?, pos, &mut path, 0)?;
        Some(Hit {
            path: KeyPath(path),
            kind,
        })
    }
}

/// What [`Locator::path_at`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hit {
    pub path: KeyPath,
    pub kind: HitKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HitKind {
    /// The key of the entry at `path`.
    Key,
    Map,
    Seq,
    Scalar,
}

impl Hit {
    /// The mapping this position belongs to: the parent of a key, or the mapping itself
    /// (a block mapping starts where its first key does).
    pub fn enclosing_map(&self) -> KeyPath {
        match self.kind {
            HitKind::Key => self.path.parent(),
            _ => self.path.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_of_keys_and_values() {
        let text = "id: x\naudience:\n  segment: champions\nlist:\n  - a\n  - b: 1\n";
        let root = build(text);
        let loc = Locator::new(root.as_ref());
        let seg = KeyPath::root().k("audience").k("segment");
        assert_eq!(loc.key(&seg), Pos { line: 3, column: 3 });
        assert_eq!(
            loc.value(&seg),
            Pos {
                line: 3,
                column: 12
            }
        );
        let b = KeyPath::root().k("list").i(1).k("b");
        assert_eq!(loc.value(&b), Pos { line: 6, column: 8 });
        assert_eq!(b.to_string(), "list[1].b");
        // Missing: the deepest present key.
        let missing = KeyPath::root().k("audience").k("limit");
        assert_eq!(loc.value(&missing), Pos { line: 2, column: 1 });
        let hit = loc.path_at(Pos { line: 6, column: 5 });
        assert_eq!(hit.map(|h| h.path), Some(KeyPath::root().k("list").i(1)));
    }
}
