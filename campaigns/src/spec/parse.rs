//! Reading a campaign file: YAML into [`Campaign`], with every error turned into a
//! [`Diagnostic`] that says where (file:line:column) and why, in the words of the file
//! (keys and paths as written), not the Rust types'.

use serde_saphyr::Error as YamlError;

use super::diag::{Diagnostic, Pos};
use super::model::Campaign;
use super::suggest;
use super::tree::{self, Hit, KeyPath, Locator, Node, NodeKind};

/// Parses a campaign file. `file` is only used in messages.
pub fn parse(file: &str, text: &str) -> Result<Campaign, Vec<Diagnostic>> {
    parse_with_tree(file, text).map(|(c, _)| c)
}

/// Parses and also returns the positioned tree used to place later diagnostics.
pub(crate) fn parse_with_tree(
    file: &str,
    text: &str,
) -> Result<(Campaign, Option<Node>), Vec<Diagnostic>> {
    if text.trim().is_empty() {
        return Err(vec![diag(file, Pos::START, "the file is empty; a campaign needs at least `id`, `name`, `kind`, `content` and `schedule`".to_owned())]);
    }
    let result: Result<Campaign, YamlError> = serde_saphyr::from_str(text);
    let tree = tree::build(text);
    match result {
        Ok(c) => Ok((c, tree)),
        Err(e) => {
            let loc = Locator::new(tree.as_ref());
            Err(vec![translate(file, &e, &loc)])
        }
    }
}

fn diag(file: &str, pos: Pos, message: String) -> Diagnostic {
    Diagnostic {
        file: file.to_owned(),
        line: pos.line,
        column: pos.column,
        message,
    }
}

/// Where a path is, for messages: "in `audience`" / "at the top level".
fn where_in(path: &KeyPath) -> String {
    if path.is_root() {
        "at the top level".to_owned()
    } else {
        format!("in `{path}`")
    }
}

/// Turns serde's type names into words a marketer knows.
fn humanise_expected(expected: &str) -> String {
    let e = expected.trim();
    let simple = match e {
        "u8" | "u16" | "u32" | "u64" | "usize" => Some("a whole number (0 or more)"),
        "i8" | "i16" | "i32" | "i64" | "isize" => Some("a whole number"),
        "f32" | "f64" => Some("a number"),
        "a boolean" | "bool" => Some("`true` or `false`"),
        "a string" | "string" => Some("text"),
        "a sequence" => Some("a list"),
        "a map" | "mapping start" => Some("a mapping (`key: value` lines)"),
        "sequence start" => Some("a list"),
        "string scalar" => Some("text"),
        _ => None,
    };
    if let Some(s) = simple {
        return s.to_owned();
    }
    if e.starts_with("struct ") || e.starts_with("a map") {
        return "a mapping (`key: value` lines)".to_owned();
    }
    if e.starts_with("an array of length") {
        return format!("a list of two numbers, e.g. `[4, 5]` ({e})");
    }
    if e.contains("RFC 3339") || e.contains("datetime") || e.contains("date and time") {
        return "a date and time like `2026-12-01T10:00:00+08:00`".to_owned();
    }
    if e.starts_with("enum ") || e.starts_with("variant") {
        return "one of the listed values".to_owned();
    }
    e.to_owned()
}

fn humanise_found(unexpected: &str) -> String {
    let u = unexpected.trim();
    match u {
        "sequence" => "a list".to_owned(),
        "map" => "a mapping".to_owned(),
        "unit value" => "nothing (an empty value)".to_owned(),
        _ => u.to_owned(),
    }
}

fn list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn translate(file: &str, e: &YamlError, loc: &Locator<'_>) -> Diagnostic {
    let mut pos = e
        .location()
        .map(|l| Pos {
            line: (l.line() as usize).max(1),
            column: (l.column() as usize).max(1),
        })
        .unwrap_or(Pos::START);
    let hit = loc.path_at(pos);
    let path = hit.as_ref().map(|h| h.path.clone());
    let enclosing = hit.as_ref().map(Hit::enclosing_map).unwrap_or_default();
    let found = hit
        .as_ref()
        .and_then(|h| loc.node(&h.path))
        .map(describe_node);
    let subject = |path: &Option<KeyPath>| match path {
        Some(p) if !p.is_root() => format!("`{p}`: "),
        _ => String::new(),
    };
    let message = match unwrap(e) {
        YamlError::SerdeUnknownField {
            field, expected, ..
        } => {
            // The error points at the key.
            let map = enclosing;
            let hint = match suggest::did_you_mean(field, expected.iter().copied()) {
                Some(c) => format!("; did you mean `{c}`?"),
                None => format!("; expected one of {}", list(expected)),
            };
            format!("unknown key `{field}` {}{hint}", where_in(&map))
        }
        YamlError::SerdeMissingField { field, .. } => {
            // The error points at the last key of the mapping that lacks the field; the
            // mapping's own key is the better place to point at.
            pos = loc.key(&enclosing);
            format!("missing required key `{field}` {}", where_in(&enclosing))
        }
        YamlError::SerdeUnknownVariant {
            variant, expected, ..
        } => {
            let hint = match suggest::did_you_mean(variant, expected.iter().copied()) {
                Some(c) => format!("; did you mean `{c}`?"),
                None => String::new(),
            };
            format!(
                "{}unknown value `{variant}`{hint} (expected one of {})",
                subject(&path),
                list(expected)
            )
        }
        YamlError::SerdeInvalidType {
            unexpected,
            expected,
            ..
        } => format!(
            "{}expected {}, found {}",
            subject(&path),
            humanise_expected(expected),
            humanise_found(unexpected)
        ),
        YamlError::SerdeInvalidValue {
            unexpected,
            expected,
            ..
        } => format!(
            "{}invalid value {}: expected {}",
            subject(&path),
            humanise_found(unexpected),
            humanise_expected(expected)
        ),
        YamlError::SerdeInvalidLength { len, expected, .. } => format!(
            "{}{len} items, expected {}",
            subject(&path),
            humanise_expected(expected)
        ),
        YamlError::InvalidScalar { ty, .. } => {
            let found = found.map(|f| format!(", found {f}")).unwrap_or_default();
            format!(
                "{}expected {}{found}",
                subject(&path),
                humanise_expected(ty)
            )
        }
        YamlError::NullIntoString { .. } => {
            format!("{}expected text, found nothing", subject(&path))
        }
        YamlError::DuplicateMappingKey { key, .. } => match key {
            Some(k) => format!("duplicate key `{k}`"),
            None => "duplicate key".to_owned(),
        },
        YamlError::Unexpected { expected, .. } => {
            let found = found.map(|f| format!(", found {f}")).unwrap_or_default();
            format!(
                "{}expected {}{found}",
                subject(&path),
                humanise_expected(expected)
            )
        }
        YamlError::Message { msg, .. } => {
            let msg = first_line(msg);
            // chrono's parse errors do not say what was expected.
            let hint = if CHRONO_ERRORS.contains(&msg) {
                match path.as_ref().and_then(KeyPath::last_key) {
                    Some("from" | "until") => "; expected a date like `2026-12-01`",
                    _ => "; expected a date and time like `2026-12-01T10:00:00+08:00`",
                }
            } else {
                ""
            };
            format!("{}{msg}{hint}", subject(&path))
        }
        YamlError::ExternalMessage { msg, .. } => {
            format!("YAML syntax error: {}", first_line(msg))
        }
        YamlError::MultipleDocuments { .. } => {
            "a campaign file holds one YAML document; remove the extra `---`".to_owned()
        }
        YamlError::Eof { .. } => "YAML syntax error: unexpected end of file".to_owned(),
        other => format!("YAML error: {}", first_line(&plain(other))),
    };
    diag(file, pos, message)
}

const CHRONO_ERRORS: &[&str] = &[
    "input contains invalid characters",
    "premature end of input",
    "input is out of range",
    "trailing input",
    "input is not enough for unique date and time",
    "no possible date and time matching input",
    "bad or unsupported format string",
];

fn describe_node(node: &Node) -> String {
    match &node.kind {
        NodeKind::Map(_) => "a mapping".to_owned(),
        NodeKind::Seq(_) => "a list".to_owned(),
        NodeKind::Scalar(s) => format!("`{s}`"),
        NodeKind::Alias => "an alias".to_owned(),
    }
}

/// The error itself, without the snippet or alias wrapping.
fn unwrap(e: &YamlError) -> &YamlError {
    match e {
        YamlError::WithSnippet { error, .. } => unwrap(error),
        YamlError::AliasError { error, .. } => unwrap(error),
        other => other,
    }
}

/// The error's message without the location suffix the library appends.
fn plain(e: &YamlError) -> String {
    let s = e.to_string();
    match s.find(" at line ") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s).trim()
}
