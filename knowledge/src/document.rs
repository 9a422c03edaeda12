//! Knowledge documents as the shop writes them: a Markdown file that opens with a YAML
//! front-matter block (`id`, `lang`, `title`, optional `group`, `tags`, `url`).

use std::fmt;

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// A parsed, validated knowledge document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// Stable id from the front matter; citations and evals refer to it.
    pub id: String,
    pub lang: LanguageTag,
    /// Articles that translate each other share a group; defaults to the id.
    pub group: String,
    pub title: String,
    pub tags: Vec<String>,
    pub url: Option<String>,
    /// The Markdown body after the front matter.
    pub body: String,
    /// SHA-256 (hex) over everything above, so re-imports can skip unchanged documents.
    pub content_hash: String,
}

/// Why a document was refused, with the 1-based line (and column, when known) in its file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct DocumentError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl DocumentError {
    fn at(line: usize, column: usize, message: impl Into<String>) -> Self {
        Self {
            line,
            column,
            message: message.into(),
        }
    }
}

/// A BCP 47 language tag in canonical case: `en`, `zh-CN`, `zh-Hant`, `pt-BR`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LanguageTag(String);

impl LanguageTag {
    /// Parses and canonicalises a tag: language lower-case, script title-case, region
    /// upper-case. Accepts `_` as separator (`zh_CN`), as locales often use it.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let mut parts = raw.split(['-', '_']);
        let language = parts.next().unwrap_or_default();
        if !(2..=3).contains(&language.len()) || !language.chars().all(|c| c.is_ascii_alphabetic())
        {
            return Err(format!(
                "`{raw}` is not a language tag (expected e.g. en, zh-CN, pt-BR)"
            ));
        }
        let mut out = language.to_ascii_lowercase();
        for part in parts {
            let ok_len = (2..=8).contains(&part.len()) || (part.len() == 1 && part != "x");
            if !ok_len || !part.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(format!(
                    "`{raw}` is not a language tag: bad subtag `{part}`"
                ));
            }
            out.push('-');
            match part.len() {
                2 if part.chars().all(|c| c.is_ascii_alphabetic()) => {
                    out.push_str(&part.to_ascii_uppercase())
                }
                4 if part.chars().all(|c| c.is_ascii_alphabetic()) => {
                    let (head, tail) = part.split_at(1);
                    out.push_str(&head.to_ascii_uppercase());
                    out.push_str(&tail.to_ascii_lowercase());
                }
                _ => out.push_str(&part.to_ascii_lowercase()),
            }
        }
        Ok(Self(out))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The primary language subtag: `zh` for `zh-CN`.
    pub fn primary(&self) -> &str {
        self.0.split('-').next().unwrap_or(&self.0)
    }
}

impl fmt::Display for LanguageTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Deserialize)]
struct FrontMatter {
    id: Option<String>,
    lang: Option<String>,
    title: Option<String>,
    group: Option<String>,
    #[serde(default)]
    tags: Tags,
    url: Option<String>,
}

/// `tags` may be a YAML list or one comma-separated string.
#[derive(Deserialize, Default)]
#[serde(untagged)]
enum Tags {
    #[default]
    None,
    List(Vec<String>),
    Text(String),
}

/// Parses one Markdown document with front matter. `text` is the whole file.
pub fn parse_markdown(text: &str) -> Result<Document, DocumentError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.split_inclusive('\n');
    let first = lines.next().unwrap_or_default();
    if first.trim_end() != "---" {
        return Err(DocumentError::at(
            1,
            1,
            "missing front matter: the file must start with a `---` line",
        ));
    }
    let mut yaml = String::new();
    let mut closed_at = None;
    let mut consumed = first.len();
    for (index, line) in lines.by_ref().enumerate() {
        consumed += line.len();
        if line.trim_end() == "---" {
            closed_at = Some(index + 2);
            break;
        }
        yaml.push_str(line);
    }
    let Some(closing_line) = closed_at else {
        return Err(DocumentError::at(
            1,
            1,
            "front matter is not closed: add a `---` line after it",
        ));
    };
    let front: FrontMatter = serde_saphyr::from_str(&yaml).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line() as usize + 1, l.column() as usize))
            .unwrap_or((2, 1));
        let message = e.to_string();
        let message = message.lines().next().unwrap_or("invalid YAML").to_string();
        DocumentError::at(line, column.max(1), format!("front matter: {message}"))
    })?;
    let field_line = |key: &str| {
        yaml.lines()
            .position(|l| l.trim_start().starts_with(&format!("{key}:")))
            .map(|i| i + 2)
            .unwrap_or(1)
    };
    let required = |value: Option<String>, key: &str| -> Result<String, DocumentError> {
        match value.map(|v| v.trim().to_string()) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(DocumentError::at(
                field_line(key),
                1,
                format!("front matter: `{key}` is required"),
            )),
        }
    };
    let id = required(front.id, "id")?;
    check_id(&id)
        .map_err(|m| DocumentError::at(field_line("id"), 1, format!("front matter: id: {m}")))?;
    let lang = LanguageTag::parse(&required(front.lang, "lang")?).map_err(|m| {
        DocumentError::at(field_line("lang"), 1, format!("front matter: lang: {m}"))
    })?;
    let title = required(front.title, "title")?;
    let group = match front
        .group
        .map(|g| g.trim().to_string())
        .filter(|g| !g.is_empty())
    {
        Some(group) => {
            check_id(&group).map_err(|m| {
                DocumentError::at(field_line("group"), 1, format!("front matter: group: {m}"))
            })?;
            group
        }
        None => id.clone(),
    };
    let tags = match front.tags {
        Tags::None => Vec::new(),
        Tags::List(list) => list,
        Tags::Text(text) => text.split(',').map(str::to_string).collect(),
    };
    let mut tags: Vec<String> = tags
        .into_iter()
        .map(|t| t.trim().to_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    tags.sort();
    tags.dedup();
    let url = front
        .url
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty());
    if let Some(url) = &url
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        return Err(DocumentError::at(
            field_line("url"),
            1,
            "front matter: url must start with http:// or https://",
        ));
    }
    let body = text[consumed..].trim().to_string();
    if body.is_empty() {
        return Err(DocumentError::at(
            closing_line + 1,
            1,
            "the document has no body after its front matter",
        ));
    }
    let content_hash = content_hash(&[
        &id,
        lang.as_str(),
        &group,
        &title,
        &tags.join(","),
        url.as_deref().unwrap_or(""),
        &body,
    ]);
    Ok(Document {
        id,
        lang,
        group,
        title,
        tags,
        url,
        body,
        content_hash,
    })
}

/// Ids and groups are slugs: ASCII letters, digits, `-`, `_` and `.`, up to 128 characters.
fn check_id(id: &str) -> Result<(), String> {
    if id.len() > 128 {
        return Err("longer than 128 characters".into());
    }
    if let Some(bad) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!(
            "`{id}` contains `{bad}`; use letters, digits, `-`, `_` or `.`"
        ));
    }
    Ok(())
}

/// Hex SHA-256 over the parts, each length-prefixed so that no two part lists collide.
pub fn content_hash(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_matter_fields_are_read_and_normalised() {
        let doc = parse_markdown(
            "\u{feff}---\nid: returns-policy-zh\nlang: zh_cn\ntitle: 退货政策\ngroup: returns-policy\ntags: [Returns, policy, returns]\nurl: https://shop.example/zh/returns\n---\n# 退货政策\n\n30 天内可退货。\n",
        )
        .unwrap();
        assert_eq!(doc.id, "returns-policy-zh");
        assert_eq!(doc.lang.as_str(), "zh-CN");
        assert_eq!(doc.lang.primary(), "zh");
        assert_eq!(doc.group, "returns-policy");
        assert_eq!(doc.tags, vec!["policy", "returns"]);
        assert!(doc.body.starts_with("# 退货政策"));
        assert_eq!(doc.content_hash.len(), 64);
    }

    #[test]
    fn group_defaults_to_id_and_tags_may_be_a_string() {
        let doc = parse_markdown(
            "---\nid: gift-cards\nlang: en\ntitle: Gift cards\ntags: gifts, cards\n---\nBody\n",
        )
        .unwrap();
        assert_eq!(doc.group, "gift-cards");
        assert_eq!(doc.tags, vec!["cards", "gifts"]);
    }

    #[test]
    fn missing_title_names_its_line() {
        let err = parse_markdown("---\nid: a\nlang: en\n---\nBody\n").unwrap_err();
        assert!(err.message.contains("`title` is required"), "{err}");
    }

    #[test]
    fn bad_language_names_the_lang_line() {
        let err = parse_markdown("---\nid: a\nlang: english!\ntitle: T\n---\nBody\n").unwrap_err();
        assert_eq!(err.line, 3, "{err}");
        assert!(err.message.contains("language tag"), "{err}");
    }

    #[test]
    fn broken_yaml_reports_a_location() {
        let err =
            parse_markdown("---\nid: a\ntitle: [unclosed\nlang: en\n---\nBody\n").unwrap_err();
        assert!(err.line >= 2, "{err}");
        assert!(err.message.starts_with("front matter"), "{err}");
    }

    #[test]
    fn a_file_without_front_matter_is_refused() {
        let err = parse_markdown("# Just markdown\n").unwrap_err();
        assert_eq!((err.line, err.column), (1, 1));
    }

    #[test]
    fn changing_the_body_changes_the_hash() {
        let a = parse_markdown("---\nid: a\nlang: en\ntitle: T\n---\nOne\n").unwrap();
        let b = parse_markdown("---\nid: a\nlang: en\ntitle: T\n---\nTwo\n").unwrap();
        assert_ne!(a.content_hash, b.content_hash);
    }
}
