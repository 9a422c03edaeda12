//! Named segments: the segments file (a YAML list of [`SegmentDef`]), checked when it is
//! loaded so that every reference resolves and no segment refers back to itself.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use serde_saphyr::Spanned;

use super::rfm::{RFM_GROUPS, is_group};
use super::{Error, Filter, SegmentDef};

/// The named segments of a shop, checked: unique names, no clash with RFM group names,
/// every `segment:` reference known, no cycles.
#[derive(Debug, Clone, PartialEq)]
pub struct Segments {
    defs: Vec<SegmentDef>,
    index: HashMap<String, usize>,
    window_days: u32,
}

impl Default for Segments {
    fn default() -> Self {
        Self {
            defs: Vec::new(),
            index: HashMap::new(),
            window_days: 365,
        }
    }
}

/// Where a definition sits in its file, for messages.
struct At<'a> {
    file: &'a str,
    line: u64,
    column: u64,
}

impl Segments {
    /// Reads the segments file. A missing file means no named segments.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => {
                return Err(Error::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        Self::parse(&path.display().to_string(), &text)
    }

    /// Parses segments file text; `file` names it in messages.
    pub fn parse(file: &str, text: &str) -> Result<Self, Error> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let items: Vec<Spanned<SegmentDef>> = serde_saphyr::from_str(text).map_err(|e| {
            let (line, column) = e
                .location()
                .map_or((1, 1), |l| (l.line().max(1), l.column().max(1)));
            Error::Yaml {
                file: file.to_owned(),
                line,
                column,
                message: e.without_snippet().to_string(),
            }
        })?;
        let mut at = Vec::with_capacity(items.len());
        let mut defs = Vec::with_capacity(items.len());
        for item in items {
            at.push(At {
                file,
                line: item.referenced.line().max(1),
                column: item.referenced.column().max(1),
            });
            defs.push(item.value);
        }
        Self::build(defs, &at)
    }

    /// Named segments from definitions made in code; checked like a file.
    pub fn new(defs: Vec<SegmentDef>) -> Result<Self, Error> {
        let at: Vec<At<'_>> = (1..=defs.len())
            .map(|i| At {
                file: "<segments>",
                line: i as u64,
                column: 1,
            })
            .collect();
        Self::build(defs, &at)
    }

    fn build(defs: Vec<SegmentDef>, at: &[At<'_>]) -> Result<Self, Error> {
        let invalid = |i: usize, message: String| {
            let a = at.get(i);
            Error::Invalid {
                file: a.map_or_else(String::new, |a| a.file.to_owned()),
                line: a.map_or(1, |a| a.line),
                column: a.map_or(1, |a| a.column),
                message,
            }
        };
        let mut index = HashMap::new();
        for (i, d) in defs.iter().enumerate() {
            let name = d.name.trim();
            if name.is_empty() {
                return Err(invalid(i, "a segment needs a `name`".into()));
            }
            if is_group(name) {
                return Err(invalid(
                    i,
                    format!("`{name}` is an RFM group name; give the segment another name"),
                ));
            }
            if index.insert(d.name.clone(), i).is_some() {
                return Err(invalid(i, format!("segment `{name}` is defined twice")));
            }
        }
        let segments = Self {
            defs,
            index,
            window_days: 365,
        };
        for (i, d) in segments.defs.iter().enumerate() {
            for r in references(&d.filter) {
                if !segments.is_known(r) {
                    return Err(invalid(
                        i,
                        format!(
                            "segment `{}` refers to unknown segment `{r}` (known: {})",
                            d.name,
                            segments.all_names().join(", ")
                        ),
                    ));
                }
            }
        }
        if let Some((i, cycle)) = segments.find_cycle() {
            return Err(invalid(
                i,
                format!(
                    "segments refer to each other in a cycle: {}",
                    cycle.join(" → ")
                ),
            ));
        }
        Ok(segments)
    }

    /// The RFM window, in days, that audiences are scored over.
    pub fn with_rfm_window_days(mut self, days: u32) -> Self {
        self.window_days = days.max(1);
        self
    }

    pub fn rfm_window_days(&self) -> u32 {
        self.window_days
    }

    /// Names of the named segments, in file order.
    pub fn names(&self) -> Vec<&str> {
        self.defs.iter().map(|d| d.name.as_str()).collect()
    }

    /// RFM group names, then named segments.
    pub fn all_names(&self) -> Vec<&str> {
        RFM_GROUPS.iter().copied().chain(self.names()).collect()
    }

    pub fn defs(&self) -> &[SegmentDef] {
        &self.defs
    }

    pub fn get(&self, name: &str) -> Option<&SegmentDef> {
        self.index.get(name).and_then(|i| self.defs.get(*i))
    }

    /// An RFM group or a named segment.
    pub fn is_known(&self, name: &str) -> bool {
        is_group(name) || self.index.contains_key(name)
    }

    /// Checks that every segment `filter` refers to exists.
    pub fn check_filter(&self, filter: &Filter) -> Result<(), Error> {
        for r in references(filter) {
            if !self.is_known(r) {
                return Err(self.unknown(r));
            }
        }
        Ok(())
    }

    pub(crate) fn unknown(&self, name: &str) -> Error {
        Error::UnknownSegment {
            name: name.to_owned(),
            known: self.all_names().join(", "),
        }
    }

    /// A cycle among named segments: the index of a segment on it, and its names.
    fn find_cycle(&self) -> Option<(usize, Vec<String>)> {
        // Iterative depth-first search with colours: 0 new, 1 on the path, 2 done.
        let mut colour = vec![0u8; self.defs.len()];
        for start in 0..self.defs.len() {
            if colour[start] != 0 {
                continue;
            }
            let mut path: Vec<(usize, Vec<usize>)> = vec![(start, self.edges(start))];
            colour[start] = 1;
            while let Some((node, next)) = path.last_mut() {
                let node = *node;
                match next.pop() {
                    Some(n) if colour[n] == 1 => {
                        let from = path.iter().position(|(p, _)| *p == n).unwrap_or(0);
                        let mut names: Vec<String> = path[from..]
                            .iter()
                            .map(|(p, _)| self.defs[*p].name.clone())
                            .collect();
                        names.push(self.defs[n].name.clone());
                        return Some((n, names));
                    }
                    Some(n) if colour[n] == 0 => {
                        colour[n] = 1;
                        path.push((n, self.edges(n)));
                    }
                    Some(_) => {}
                    None => {
                        colour[node] = 2;
                        path.pop();
                    }
                }
            }
        }
        None
    }

    /// Named segments that segment `i` refers to.
    fn edges(&self, i: usize) -> Vec<usize> {
        let mut out: Vec<usize> = self
            .defs
            .get(i)
            .map(|d| references(&d.filter))
            .unwrap_or_default()
            .into_iter()
            .filter_map(|r| self.index.get(r).copied())
            .collect();
        out.reverse();
        out
    }
}

/// Every segment name a filter refers to, at any depth (without following them).
pub fn references(filter: &Filter) -> BTreeSet<&str> {
    let mut out = BTreeSet::new();
    let mut stack = vec![filter];
    while let Some(f) = stack.pop() {
        if let Some(s) = &f.segment {
            out.insert(s.as_str());
        }
        stack.extend(f.any.iter());
        stack.extend(f.not.iter());
    }
    out
}
