//! Metrics over a run, the summary tables, the JSON and HTML reports, and the thresholds
//! a run must meet.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::judge::JudgeSummary;
use crate::run::CaseResult;

/// A share with what it is a share of; `None` when nothing counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Ratio {
    pub hits: usize,
    pub of: usize,
}

impl Ratio {
    fn count(&mut self, hit: bool) {
        self.of += 1;
        self.hits += usize::from(hit);
    }

    pub fn value(&self) -> Option<f64> {
        (self.of > 0).then(|| self.hits as f64 / self.of as f64)
    }

    fn show(&self) -> String {
        match self.value() {
            Some(v) => format!("{:.1}% ({}/{})", v * 100.0, self.hits, self.of),
            None => "n/a".into(),
        }
    }
}

/// The run's metrics.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Metrics {
    pub cases: usize,
    pub passed: usize,
    pub pass_rate: Ratio,
    /// Passed cases among those that expect facts or a citation.
    pub answer_accuracy: Ratio,
    /// Answer turns whose first answer needed no correction by the guard.
    pub grounding: Ratio,
    /// Cited documents that were among the expected ones (cases that expect citations).
    pub citation_precision: Ratio,
    pub language_match: Ratio,
    pub handoff_precision: Ratio,
    pub handoff_recall: Ratio,
    /// Cases that expect the bot to ask for verification and where it did.
    pub verification_asked: Ratio,
    /// Pieces of another customer's data in replies: must be 0.
    pub leaks: usize,
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
}

/// Pass counts of a group of cases (a category or a language).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Group {
    pub passed: usize,
    pub failed: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub engine: String,
    pub metrics: Metrics,
    pub categories: BTreeMap<String, Group>,
    pub languages: BTreeMap<String, Group>,
    /// The LLM judge's helpfulness grades, when asked for: beside the metrics, never
    /// part of pass or fail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub judge: Option<JudgeSummary>,
    pub cases: Vec<CaseResult>,
}

impl Report {
    pub fn new(engine: &str, cases: Vec<CaseResult>) -> Self {
        let mut m = Metrics {
            cases: cases.len(),
            ..Metrics::default()
        };
        let mut categories: BTreeMap<String, Group> = BTreeMap::new();
        let mut languages: BTreeMap<String, Group> = BTreeMap::new();
        let mut latencies: Vec<Duration> = Vec::new();
        for c in &cases {
            let passed = c.passed();
            m.pass_rate.count(passed);
            m.passed += usize::from(passed);
            for group in [
                categories.entry(c.category.clone()).or_default(),
                languages.entry(c.language.clone()).or_default(),
            ] {
                if passed {
                    group.passed += 1
                } else {
                    group.failed += 1
                }
            }
            if c.answerable {
                m.answer_accuracy.count(passed);
            }
            m.grounding.hits += c.answers - c.corrected;
            m.grounding.of += c.answers;
            if !c.expect.cites.is_empty() {
                for cited in &c.cited {
                    m.citation_precision.count(c.expect.cites.contains(cited));
                }
            }
            if let Some(want) = &c.expect.language {
                let want = want.split('-').next().unwrap_or(want).to_lowercase();
                m.language_match
                    .count(c.reply_language.as_deref() == Some(want.as_str()));
            }
            if c.expect.handoff == Some(true) {
                m.handoff_recall.count(c.handed_off);
            }
            if c.handed_off && c.expect.handoff.is_some() {
                m.handoff_precision.count(c.expect.handoff == Some(true));
            }
            if c.expect.asks_verification == Some(true) {
                m.verification_asked.count(c.asked_verification);
            }
            m.leaks += c.leaks.len();
            latencies.extend(&c.latencies);
        }
        latencies.sort();
        let at = |q: f64| -> f64 {
            if latencies.is_empty() {
                return 0.0;
            }
            let i = ((latencies.len() as f64 - 1.0) * q).round() as usize;
            latencies[i.min(latencies.len() - 1)].as_secs_f64() * 1000.0
        };
        m.latency_p50_ms = at(0.50);
        m.latency_p95_ms = at(0.95);
        Self {
            engine: engine.to_string(),
            metrics: m,
            categories,
            languages,
            judge: None,
            cases,
        }
    }

    /// Adds the judge's figures (the grades are already on the cases).
    pub fn with_judge(mut self, judge: JudgeSummary) -> Self {
        self.judge = Some(judge);
        self
    }

    /// One line per failing case with its reasons, then the tables and the metrics.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for c in self.cases.iter().filter(|c| !c.passed()) {
            let reasons: Vec<&str> = c
                .leaks
                .iter()
                .chain(&c.failures)
                .map(String::as_str)
                .collect();
            let _ = writeln!(
                out,
                "FAIL {} [{} {}]: {}",
                c.id,
                c.category,
                c.language,
                reasons.join("; ")
            );
        }
        if !out.is_empty() {
            out.push('\n');
        }
        for (title, groups) in [
            ("category", &self.categories),
            ("language", &self.languages),
        ] {
            let width = groups
                .keys()
                .map(String::len)
                .max()
                .unwrap_or(0)
                .max(title.len());
            let _ = writeln!(out, "{title:<width$}  passed  failed  pass rate");
            for (name, g) in groups {
                let rate = g.passed as f64 * 100.0 / (g.passed + g.failed).max(1) as f64;
                let _ = writeln!(
                    out,
                    "{name:<width$}  {:>6}  {:>6}  {rate:>8.1}%",
                    g.passed, g.failed
                );
            }
            out.push('\n');
        }
        let m = &self.metrics;
        let _ = writeln!(out, "engine               {}", self.engine);
        for (name, ratio) in [
            ("pass rate", &m.pass_rate),
            ("answer accuracy", &m.answer_accuracy),
            ("grounding", &m.grounding),
            ("citation precision", &m.citation_precision),
            ("language match", &m.language_match),
            ("handoff precision", &m.handoff_precision),
            ("handoff recall", &m.handoff_recall),
            ("verification asked", &m.verification_asked),
        ] {
            let _ = writeln!(out, "{name:<20} {}", ratio.show());
        }
        let _ = writeln!(out, "{:<20} {}", "leaks", m.leaks);
        let _ = writeln!(
            out,
            "{:<20} p50 {:.1} ms, p95 {:.1} ms",
            "latency per turn", m.latency_p50_ms, m.latency_p95_ms
        );
        if let Some(j) = &self.judge {
            let mean = j
                .mean
                .map_or_else(|| "n/a".to_string(), |m| format!("{m:.2} / 5"));
            let counts: Vec<String> = j
                .counts
                .iter()
                .enumerate()
                .map(|(i, n)| format!("{}: {n}", i + 1))
                .collect();
            let _ = writeln!(
                out,
                "{:<20} {mean} over {} cases ({}; {} without a grade), judged by {}; advisory, not part of pass or fail",
                "helpfulness (judge)",
                j.scored,
                counts.join(", "),
                j.unscored,
                j.model
            );
        }
        let _ = writeln!(out, "\n{} passed, {} failed", m.passed, m.cases - m.passed);
        out
    }

    /// A self-contained HTML page: the metrics, then every case with its replies.
    pub fn html(&self) -> String {
        let esc = |s: &str| {
            s.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;")
        };
        let mut out = String::from(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>kefu eval</title><style>\
             body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}\
             td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top;text-align:left}\
             .fail{background:#fde8e8}.pass{background:#e8f7ea}pre{white-space:pre-wrap;margin:0}\
             </style></head><body><h1>kefu eval</h1>",
        );
        let _ = write!(out, "<pre>{}</pre>", esc(&self.text()));
        out.push_str("<h2>Cases</h2><table><tr><th>case</th><th>category</th><th>language</th><th>result</th><th>judge</th><th>replies</th></tr>");
        for c in &self.cases {
            let (class, verdict) = if c.passed() {
                ("pass", "passed".to_string())
            } else {
                (
                    "fail",
                    c.leaks
                        .iter()
                        .chain(&c.failures)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            };
            let replies: Vec<String> = c.replies.iter().map(|r| esc(&r.join("\n"))).collect();
            let judged = c.judge.as_ref().map_or_else(String::new, |v| {
                let score = v
                    .score
                    .map_or_else(|| "–".to_string(), |n| format!("{n}/5"));
                format!("{score} {}", v.reason)
            });
            let _ = write!(
                out,
                "<tr class=\"{class}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><pre>{}</pre></td></tr>",
                esc(&c.id),
                esc(&c.category),
                esc(&c.language),
                esc(&verdict),
                esc(&judged),
                replies.join("\n—\n")
            );
        }
        out.push_str("</table></body></html>\n");
        out
    }

    /// Writes the report as JSON or HTML, chosen by the file's extension.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let body = match path.extension().and_then(|e| e.to_str()) {
            Some("html" | "htm") => self.html(),
            _ => serde_json::to_string_pretty(self).map_err(std::io::Error::other)?,
        };
        std::fs::write(path, body)
    }
}

/// The least a run must reach (shares from 0 to 1). Leaks are never allowed, and a
/// metric with a threshold must have at least one case to measure it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    pub pass_rate: Option<f64>,
    pub answer_accuracy: Option<f64>,
    pub grounding: Option<f64>,
    pub citation_precision: Option<f64>,
    pub language_match: Option<f64>,
    pub handoff_precision: Option<f64>,
    pub handoff_recall: Option<f64>,
    pub verification_asked: Option<f64>,
}

impl Thresholds {
    pub fn parse(path: &Path, text: &str) -> Result<Self, String> {
        serde_saphyr::from_str(text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The thresholds the run misses, in words; empty when it meets them all.
    pub fn misses(&self, m: &Metrics) -> Vec<String> {
        let mut out = Vec::new();
        if m.leaks > 0 {
            out.push(format!(
                "{} leak(s) of another customer's data (must be 0)",
                m.leaks
            ));
        }
        for (name, want, got) in [
            ("pass rate", self.pass_rate, &m.pass_rate),
            ("answer accuracy", self.answer_accuracy, &m.answer_accuracy),
            ("grounding", self.grounding, &m.grounding),
            (
                "citation precision",
                self.citation_precision,
                &m.citation_precision,
            ),
            ("language match", self.language_match, &m.language_match),
            (
                "handoff precision",
                self.handoff_precision,
                &m.handoff_precision,
            ),
            ("handoff recall", self.handoff_recall, &m.handoff_recall),
            (
                "verification asked",
                self.verification_asked,
                &m.verification_asked,
            ),
        ] {
            let Some(want) = want else { continue };
            match got.value() {
                // A threshold on a metric no case measures would pass whatever the bot
                // does: the run fails instead, so a case set that lost its cases shows.
                None => out.push(format!(
                    "{name} had no cases to measure it (threshold {:.1}%)",
                    want * 100.0
                )),
                Some(got) if got + 1e-9 < want => out.push(format!(
                    "{name} {:.1}% is below the threshold {:.1}%",
                    got * 100.0,
                    want * 100.0
                )),
                Some(_) => {}
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ratio(hits: usize, of: usize) -> Ratio {
        Ratio { hits, of }
    }

    #[test]
    fn a_metric_below_its_threshold_is_a_miss_and_one_at_it_is_not() {
        let m = Metrics {
            pass_rate: ratio(19, 20),
            citation_precision: ratio(9, 10),
            ..Metrics::default()
        };
        let at = Thresholds {
            pass_rate: Some(0.95),
            citation_precision: Some(0.9),
            ..Thresholds::default()
        };
        assert_eq!(at.misses(&m), Vec::<String>::new());
        let above = Thresholds {
            pass_rate: Some(0.96),
            citation_precision: Some(0.91),
            ..Thresholds::default()
        };
        assert_eq!(
            above.misses(&m),
            [
                "pass rate 95.0% is below the threshold 96.0%",
                "citation precision 90.0% is below the threshold 91.0%",
            ]
        );
    }

    #[test]
    fn a_threshold_on_a_metric_without_cases_is_a_miss() {
        // No case expected a handoff: recall has nothing to count.
        let m = Metrics {
            pass_rate: ratio(10, 10),
            handoff_recall: ratio(0, 0),
            ..Metrics::default()
        };
        assert_eq!(m.handoff_recall.value(), None);
        let gated = Thresholds {
            pass_rate: Some(0.9),
            handoff_recall: Some(0.0),
            ..Thresholds::default()
        };
        assert_eq!(
            gated.misses(&m),
            ["handoff recall had no cases to measure it (threshold 0.0%)"]
        );
        // Without a threshold on it, a metric nothing measured is only reported.
        let ungated = Thresholds {
            pass_rate: Some(0.9),
            ..Thresholds::default()
        };
        assert_eq!(ungated.misses(&m), Vec::<String>::new());
    }

    #[test]
    fn leaks_miss_whatever_the_thresholds() {
        let m = Metrics {
            pass_rate: ratio(1, 1),
            leaks: 2,
            ..Metrics::default()
        };
        assert_eq!(
            Thresholds::default().misses(&m),
            ["2 leak(s) of another customer's data (must be 0)"]
        );
    }
}
