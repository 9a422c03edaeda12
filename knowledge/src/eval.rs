//! Retrieval evaluation: a labelled question set (YAML) run through [`Knowledge::search`],
//! scored as recall@1/@3/@5 and mean reciprocal rank per language and per kind of
//! question. `kefu knowledge eval` prints it; the score thresholds are calibrated from it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::search::{Found, Knowledge, KnowledgeError, SearchRequest};

/// One labelled question.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    pub q: String,
    pub lang: String,
    /// Translation group of the article that answers it.
    pub group: String,
    /// `direct`, `paraphrase`, `typo` or `cross` (no article in the question's language).
    pub kind: String,
}

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{file}: {message}")]
    Parse { file: String, message: String },
    #[error(transparent)]
    Knowledge(#[from] KnowledgeError),
}

/// Parses a question file; errors name the file and the YAML position.
pub fn parse_questions(file: &str, text: &str) -> Result<Vec<Question>, EvalError> {
    let questions: Vec<Question> =
        serde_saphyr::from_str(text).map_err(|err| EvalError::Parse {
            file: file.to_owned(),
            message: err.to_string(),
        })?;
    if let Some((i, q)) = questions
        .iter()
        .enumerate()
        .find(|(_, q)| q.q.trim().is_empty() || q.group.trim().is_empty())
    {
        return Err(EvalError::Parse {
            file: file.to_owned(),
            message: format!("question {} ({:?}) has an empty `q` or `group`", i + 1, q.q),
        });
    }
    Ok(questions)
}

/// Recall at 1, 3, 5 and MRR (over the top 5) for a set of questions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Scores {
    pub questions: usize,
    pub recall_at_1: f64,
    pub recall_at_3: f64,
    pub recall_at_5: f64,
    pub mrr: f64,
}

#[derive(Debug, Default)]
struct Tally {
    n: usize,
    at1: usize,
    at3: usize,
    at5: usize,
    rr: f64,
}

impl Tally {
    fn add(&mut self, rank: Option<usize>) {
        self.n += 1;
        if let Some(rank) = rank {
            self.at1 += usize::from(rank <= 1);
            self.at3 += usize::from(rank <= 3);
            self.at5 += usize::from(rank <= 5);
            self.rr += 1.0 / rank as f64;
        }
    }

    fn scores(&self) -> Scores {
        let n = self.n.max(1) as f64;
        Scores {
            questions: self.n,
            recall_at_1: self.at1 as f64 / n,
            recall_at_3: self.at3 as f64 / n,
            recall_at_5: self.at5 as f64 / n,
            mrr: self.rr / n,
        }
    }
}

/// A question the search did not answer in the top 3.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Miss {
    pub question: Question,
    /// Rank of the right group in the top 5, if at all.
    pub rank: Option<usize>,
    /// Groups returned, best first.
    pub got: Vec<String>,
}

/// Where the right answer's scores sit compared with the best wrong answer's, for
/// threshold calibration.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ScoreSamples {
    /// Dense (or BM25, without a model) score of the top hit when it was right.
    pub right_top: Vec<f32>,
    /// … when it was wrong.
    pub wrong_top: Vec<f32>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub backend: String,
    pub model: Option<String>,
    pub overall: Scores,
    pub by_language: BTreeMap<String, Scores>,
    pub by_kind: BTreeMap<String, Scores>,
    /// `same-language` (an article exists in the question's language) and
    /// `cross-language` (`kind: cross`).
    pub by_scope: BTreeMap<String, Scores>,
    /// Each scope split by the question's language: scope, then language.
    pub by_scope_language: BTreeMap<String, BTreeMap<String, Scores>>,
    pub misses: Vec<Miss>,
    pub samples: ScoreSamples,
    /// Median and 95th percentile of whole search calls (embedding included).
    pub latency_p50: Duration,
    pub latency_p95: Duration,
}

impl Report {
    /// The dense (or BM25) score that best separates right from wrong top answers: the
    /// threshold maximising (right kept) − (wrong kept), a Youden-style cut.
    pub fn calibrated_threshold(&self) -> Option<f32> {
        let mut candidates: Vec<f32> = self
            .samples
            .right_top
            .iter()
            .chain(&self.samples.wrong_top)
            .copied()
            .collect();
        candidates.sort_by(f32::total_cmp);
        let right = self.samples.right_top.len().max(1) as f64;
        let wrong = self.samples.wrong_top.len().max(1) as f64;
        candidates
            .into_iter()
            .map(|t| {
                let kept_right = self.samples.right_top.iter().filter(|&&s| s >= t).count() as f64;
                let kept_wrong = self.samples.wrong_top.iter().filter(|&&s| s >= t).count() as f64;
                (t, kept_right / right - kept_wrong / wrong)
            })
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(t, _)| t)
    }
}

/// Runs every question (top 5) and scores it.
pub async fn evaluate(knowledge: &Knowledge, questions: &[Question]) -> Result<Report, EvalError> {
    let mut overall = Tally::default();
    let mut by_language: BTreeMap<String, Tally> = BTreeMap::new();
    let mut by_kind: BTreeMap<String, Tally> = BTreeMap::new();
    let mut by_scope: BTreeMap<String, Tally> = BTreeMap::new();
    let mut by_scope_language: BTreeMap<String, BTreeMap<String, Tally>> = BTreeMap::new();
    let mut misses = Vec::new();
    let mut samples = ScoreSamples::default();
    let mut latencies = Vec::with_capacity(questions.len());
    let dense = knowledge.embedder().is_some();
    for question in questions {
        let request = SearchRequest {
            lang: Some(question.lang.clone()),
            top: 5,
            ..SearchRequest::new(question.q.clone())
        };
        let started = Instant::now();
        let found = knowledge.search(&request).await?;
        latencies.push(started.elapsed());
        let rank = found
            .iter()
            .position(|f| f.hit.passage.group == question.group)
            .map(|i| i + 1);
        if let Some(top) = found.first() {
            let score = top_score(top, dense);
            if rank == Some(1) {
                samples.right_top.push(score);
            } else {
                samples.wrong_top.push(score);
            }
        }
        overall.add(rank);
        by_language
            .entry(question.lang.clone())
            .or_default()
            .add(rank);
        by_kind.entry(question.kind.clone()).or_default().add(rank);
        let scope = if question.kind == "cross" {
            "cross-language"
        } else {
            "same-language"
        };
        by_scope.entry(scope.to_owned()).or_default().add(rank);
        by_scope_language
            .entry(scope.to_owned())
            .or_default()
            .entry(question.lang.clone())
            .or_default()
            .add(rank);
        if rank.is_none_or(|r| r > 3) {
            misses.push(Miss {
                question: question.clone(),
                rank,
                got: found.iter().map(|f| f.hit.passage.group.clone()).collect(),
            });
        }
    }
    latencies.sort();
    let pick = |q: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    Ok(Report {
        backend: knowledge.index().backend().to_owned(),
        model: knowledge.embedder().map(|e| e.model().to_owned()),
        overall: overall.scores(),
        by_language: scores(&by_language),
        by_kind: scores(&by_kind),
        by_scope: scores(&by_scope),
        by_scope_language: by_scope_language
            .iter()
            .map(|(scope, tallies)| (scope.clone(), scores(tallies)))
            .collect(),
        misses,
        samples,
        latency_p50: pick(0.5),
        latency_p95: pick(0.95),
    })
}

fn scores(tallies: &BTreeMap<String, Tally>) -> BTreeMap<String, Scores> {
    tallies
        .iter()
        .map(|(k, t)| (k.clone(), t.scores()))
        .collect()
}

fn top_score(found: &Found, dense: bool) -> f32 {
    if dense {
        found.hit.dense_score.unwrap_or(0.0)
    } else {
        found.hit.sparse_score.unwrap_or(0.0)
    }
}

/// The report as an aligned text table.
pub fn render(report: &Report) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "backend {}, model {}",
        report.backend,
        report.model.as_deref().unwrap_or("none (BM25 only)")
    );
    let _ = writeln!(
        out,
        "{:<22} {:>5} {:>6} {:>6} {:>6} {:>6}",
        "", "n", "R@1", "R@3", "R@5", "MRR"
    );
    let mut row = |name: &str, s: &Scores| {
        let _ = writeln!(
            out,
            "{name:<22} {:>5} {:>6.3} {:>6.3} {:>6.3} {:>6.3}",
            s.questions, s.recall_at_1, s.recall_at_3, s.recall_at_5, s.mrr
        );
    };
    for (lang, s) in &report.by_language {
        row(&format!("lang {lang}"), s);
    }
    for (kind, s) in &report.by_kind {
        row(&format!("kind {kind}"), s);
    }
    for (scope, s) in &report.by_scope {
        row(scope, s);
        for (lang, s) in report.by_scope_language.get(scope).into_iter().flatten() {
            row(&format!("  {scope} {lang}"), s);
        }
    }
    row("all", &report.overall);
    let _ = writeln!(
        out,
        "search latency p50 {:.2} ms, p95 {:.2} ms (query embedding included)",
        report.latency_p50.as_secs_f64() * 1e3,
        report.latency_p95.as_secs_f64() * 1e3
    );
    if let Some(t) = report.calibrated_threshold() {
        let _ = writeln!(out, "calibrated answer threshold: {t:.3}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn question_files_with_unknown_keys_are_refused_with_the_file_name() {
        let err = parse_questions(
            "q.yaml",
            "- q: hi\n  lang: en\n  group: g\n  kind: direct\n  extra: 1\n",
        )
        .unwrap_err();
        let message = err.to_string();
        assert!(message.starts_with("q.yaml: "), "{message}");
        assert!(message.contains("extra"), "{message}");
    }

    #[test]
    fn the_demo_question_set_parses_and_is_large_enough() {
        let text = include_str!("../eval/questions.yaml");
        let questions = parse_questions("questions.yaml", text).unwrap();
        assert!(questions.len() >= 200);
        let languages: std::collections::BTreeSet<_> = questions.iter().map(|q| &q.lang).collect();
        assert!(languages.len() >= 6);
        // The held-out set asks about the same topics, in other words.
        let text = include_str!("../eval/holdout.yaml");
        let held_out = parse_questions("holdout.yaml", text).unwrap();
        assert_eq!(held_out.len(), 88);
        let groups: std::collections::BTreeSet<_> = questions.iter().map(|q| &q.group).collect();
        for q in &held_out {
            assert!(
                groups.contains(&q.group),
                "{}: unknown group {}",
                q.q,
                q.group
            );
            assert!(
                !questions.iter().any(|m| m.q == q.q),
                "{} is in both sets",
                q.q
            );
        }
    }

    #[test]
    fn recall_and_mrr_count_ranks() {
        let mut t = Tally::default();
        t.add(Some(1));
        t.add(Some(3));
        t.add(None);
        t.add(Some(5));
        let s = t.scores();
        assert_eq!(s.recall_at_1, 0.25);
        assert_eq!(s.recall_at_3, 0.5);
        assert_eq!(s.recall_at_5, 0.75);
        assert!((s.mrr - (1.0 + 1.0 / 3.0 + 0.2) / 4.0).abs() < 1e-9);
    }
}
