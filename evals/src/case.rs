//! The case format: YAML files, each a list of conversations with what is expected of
//! the bot's replies. See `docs/evals.md`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One scripted conversation and what its replies must show.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub id: String,
    /// Free text, used to group results.
    pub category: String,
    #[serde(default = "default_channel")]
    pub channel: String,
    /// The customer's e-mail address; none for an anonymous visitor.
    #[serde(default)]
    pub customer: Option<String>,
    /// Whether the channel has verified the customer (default: true when a customer is
    /// given). An unverified customer writes as an anonymous visitor would.
    #[serde(default)]
    pub verified: Option<bool>,
    /// The customer's messages, in order.
    pub turns: Vec<String>,
    #[serde(default)]
    pub expect: Expect,
}

fn default_channel() -> String {
    "web".into()
}

/// What the bot's replies must show. Checked against the last turn's replies unless a
/// key says otherwise; every key may be left out.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Primary language subtag of the reply (`zh`, `en`, `pt` …).
    #[serde(default)]
    pub language: Option<String>,
    /// Each of these, case-insensitive, in the reply.
    #[serde(default)]
    pub must_contain: Vec<String>,
    /// At least one of these, case-insensitive, in the reply.
    #[serde(default)]
    pub must_contain_any: Vec<String>,
    /// None of these in any reply of the case.
    #[serde(default)]
    pub must_not_contain: Vec<String>,
    /// Whether the conversation ended handed off to a person.
    #[serde(default)]
    pub handoff: Option<bool>,
    /// At least one of these document ids cited in the reply.
    #[serde(default)]
    pub cites: Vec<String>,
    /// Whether the bot asked the customer to verify.
    #[serde(default)]
    pub asks_verification: Option<bool>,
}

impl Case {
    pub fn verified(&self) -> bool {
        self.customer.is_some() && self.verified.unwrap_or(true)
    }

    /// A question the shop's data answers: the case expects facts or a citation.
    pub fn answerable(&self) -> bool {
        !self.expect.must_contain.is_empty()
            || !self.expect.must_contain_any.is_empty()
            || !self.expect.cites.is_empty()
    }
}

/// Why case files could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

fn invalid(path: &Path, message: impl Into<String>) -> CaseError {
    CaseError::Invalid {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

const CHANNELS: &[&str] = &["web", "telegram", "discord", "email"];

/// Parses one case file's text. `path` only names the file in errors.
pub fn parse(path: &Path, text: &str) -> Result<Vec<Case>, CaseError> {
    let cases: Vec<Case> =
        serde_saphyr::from_str(text).map_err(|e| invalid(path, e.to_string()))?;
    for (i, case) in cases.iter().enumerate() {
        let at =
            |message: String| invalid(path, format!("case {} (`{}`): {message}", i + 1, case.id));
        if case.id.trim().is_empty() {
            return Err(invalid(path, format!("case {}: `id` is empty", i + 1)));
        }
        if case.turns.is_empty() || case.turns.iter().any(|t| t.trim().is_empty()) {
            return Err(at("`turns` must hold at least one non-empty message".into()));
        }
        if !CHANNELS.contains(&case.channel.as_str()) {
            return Err(at(format!(
                "unknown channel `{}` (one of {})",
                case.channel,
                CHANNELS.join(", ")
            )));
        }
        if case.verified.is_some() && case.customer.is_none() {
            return Err(at("`verified` needs a `customer`".into()));
        }
    }
    Ok(cases)
}

/// Reads case files and directories (every `.yaml`/`.yml` file in them, sorted), and
/// refuses a case id used twice.
pub fn load(paths: &[PathBuf]) -> Result<Vec<Case>, CaseError> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| invalid(path, e.to_string()))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(invalid(path, "holds no .yaml case files"));
            }
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    let mut cases = Vec::new();
    let mut ids = HashSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|e| invalid(&file, e.to_string()))?;
        for case in parse(&file, &text)? {
            if !ids.insert(case.id.clone()) {
                return Err(invalid(
                    &file,
                    format!("case id `{}` is used twice", case.id),
                ));
            }
            cases.push(case);
        }
    }
    Ok(cases)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_documented_format() {
        let text = r##"
- id: order-status-zh-1
  category: order_status
  channel: web
  customer: wang.fang@example.com
  verified: true
  turns:
    - "我的订单 #1043 到哪了？"
  expect:
    language: zh
    must_contain: ["SF1234567890"]
    must_contain_any: ["运输中", "在途"]
    must_not_contain: ["#1044"]
    handoff: false
    cites: ["shipping-times"]
    asks_verification: false
- id: hello
  category: greeting
  turns: ["hi"]
"##;
        let cases = parse(Path::new("x.yaml"), text).unwrap();
        assert_eq!(cases.len(), 2);
        assert!(cases[0].verified());
        assert!(cases[0].answerable());
        assert_eq!(cases[0].expect.language.as_deref(), Some("zh"));
        assert_eq!(cases[1].channel, "web");
        assert!(!cases[1].verified());
        assert!(!cases[1].answerable());
    }

    #[test]
    fn bad_cases_are_refused_with_where_and_why() {
        let err = parse(Path::new("c.yaml"), "- id: a\n  category: x\n  turns: []\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("c.yaml") && err.contains("`a`") && err.contains("turns"),
            "{err}"
        );
        let err = parse(
            Path::new("c.yaml"),
            "- id: a\n  category: x\n  turns: [hi]\n  expect: {handof: true}\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("handof"), "{err}");
        let err = parse(
            Path::new("c.yaml"),
            "- id: a\n  category: x\n  channel: fax\n  turns: [hi]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("fax"), "{err}");
    }
}
