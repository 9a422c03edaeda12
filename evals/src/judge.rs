//! An optional LLM-as-judge score for free-text helpfulness: a model reads each case's
//! conversation and grades the bot's replies from 1 to 5 with a reason. It is reported
//! beside the deterministic checks and never decides whether a case passes.

use futures::StreamExt;
use serde::Serialize;
use serde_json::{Value, json};

use kefu_bot::agent::llm::{LlmEngine, Usage};

use crate::case::Case;
use crate::run::CaseResult;

const RUBRIC: &str = include_str!("../../prompts/judge.md");

/// Characters of one reply shown to the judge; longer replies are cut.
const REPLY_CHARS: usize = 2_000;

/// The judge's grade of one case.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// 1 to 5; `None` when the judge's answer held no grade or the call failed.
    pub score: Option<u8>,
    /// The judge's reason, or why there is no grade.
    pub reason: String,
}

/// Grades conversations with a model behind an OpenAI-compatible endpoint.
#[derive(Debug)]
pub struct Judge {
    engine: LlmEngine,
}

impl Judge {
    pub fn new(engine: LlmEngine) -> Self {
        Self { engine }
    }

    /// The judge's model, for the report.
    pub fn model(&self) -> &str {
        &self.engine.settings().model
    }

    /// Grades every result, `jobs` at a time, and stores the verdict on it. Returns what
    /// the calls cost.
    pub async fn grade_all(
        &self,
        cases: &[Case],
        results: &mut [CaseResult],
        jobs: usize,
    ) -> Usage {
        let verdicts: Vec<(usize, Verdict, Usage)> =
            futures::stream::iter(cases.iter().zip(results.iter()).enumerate())
                .map(|(i, (case, result))| async move {
                    let (verdict, usage) = self.grade(case, result).await;
                    (i, verdict, usage)
                })
                .buffer_unordered(jobs.max(1))
                .collect()
                .await;
        let mut total = Usage::default();
        for (i, verdict, usage) in verdicts {
            total.add(usage);
            if let Some(result) = results.get_mut(i) {
                result.judge = Some(verdict);
            }
        }
        total
    }

    /// Grades one conversation. A failed call or an answer without a grade is a verdict
    /// without a score, never an error: the judge is advisory.
    pub async fn grade(&self, case: &Case, result: &CaseResult) -> (Verdict, Usage) {
        let messages = [
            json!({"role": "system", "content": RUBRIC}),
            json!({"role": "user", "content": transcript(case, result)}),
        ];
        match self.engine.complete_text(&messages, Some(schema())).await {
            Ok((text, usage)) => (parse_verdict(&text), usage),
            Err(err) => (
                Verdict {
                    score: None,
                    reason: format!("the judge could not be asked: {err}"),
                },
                Usage::default(),
            ),
        }
    }
}

/// The conversation as the judge reads it.
fn transcript(case: &Case, result: &CaseResult) -> String {
    let mut out = String::new();
    for (i, turn) in case.turns.iter().enumerate() {
        out.push_str("Customer: ");
        out.push_str(turn.trim());
        out.push('\n');
        let replies = result
            .replies
            .get(i)
            .map(|r| r.join("\n"))
            .unwrap_or_default();
        let reply: String = replies.chars().take(REPLY_CHARS).collect();
        out.push_str("Assistant: ");
        out.push_str(if reply.trim().is_empty() {
            "(no reply)"
        } else {
            reply.trim()
        });
        out.push_str("\n\n");
    }
    if result.handed_off {
        out.push_str("(The conversation was then handed to a human colleague.)\n");
    }
    out
}

/// The shape the judge is asked to answer in, for servers that constrain output to a
/// JSON schema (OpenAI, vLLM, llama.cpp, Ollama).
fn schema() -> Value {
    json!({
        "type": "json_schema",
        "json_schema": {
            "name": "verdict",
            "strict": true,
            "schema": {
                "type": "object",
                "properties": {
                    "score": {"type": "integer", "enum": [1, 2, 3, 4, 5]},
                    "reason": {"type": "string"}
                },
                "required": ["score", "reason"],
                "additionalProperties": false
            }
        }
    })
}

/// The grade in the judge's answer: the JSON object it was asked for, else a lone
/// "score: N" or "N/5" in prose. Anything else has no grade.
pub fn parse_verdict(text: &str) -> Verdict {
    let trimmed = text.trim();
    let json_part = trimmed
        .find('{')
        .zip(trimmed.rfind('}'))
        .filter(|(a, b)| a < b)
        .and_then(|(a, b)| serde_json::from_str::<Value>(&trimmed[a..=b]).ok());
    if let Some(v) = json_part {
        let score = match &v["score"] {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
        .and_then(|n| u8::try_from(n).ok())
        .filter(|n| (1..=5).contains(n));
        let reason = v["reason"].as_str().unwrap_or_default().trim().to_string();
        return match score {
            Some(score) => Verdict {
                score: Some(score),
                reason,
            },
            None => Verdict {
                score: None,
                reason: format!(
                    "the judge's answer has no grade from 1 to 5: {}",
                    short(trimmed)
                ),
            },
        };
    }
    let lower = trimmed.to_lowercase();
    let prose = lower
        .find("score")
        .and_then(|at| {
            lower[at + 5..]
                .trim_start_matches([':', ' ', '=', '*'])
                .chars()
                .next()
        })
        .or_else(|| lower.find("/5").and_then(|at| lower[..at].chars().last()));
    match prose
        .and_then(|c| c.to_digit(10))
        .filter(|n| (1..=5).contains(n))
    {
        Some(n) => Verdict {
            score: u8::try_from(n).ok(),
            reason: short(trimmed),
        },
        None => Verdict {
            score: None,
            reason: format!(
                "the judge's answer has no grade from 1 to 5: {}",
                short(trimmed)
            ),
        },
    }
}

fn short(text: &str) -> String {
    let mut out: String = text.chars().take(200).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

/// The judge's figures over a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct JudgeSummary {
    pub model: String,
    /// Cases with a grade.
    pub scored: usize,
    /// Cases the judge gave no grade (a failed call or an unreadable answer).
    pub unscored: usize,
    /// Mean grade over the scored cases, 1 to 5.
    pub mean: Option<f64>,
    /// How many cases got each grade, 1 first.
    pub counts: [usize; 5],
    pub usage: Usage,
}

impl JudgeSummary {
    pub fn new(model: &str, results: &[CaseResult], usage: Usage) -> Self {
        let mut s = Self {
            model: model.to_string(),
            usage,
            ..Self::default()
        };
        let mut sum = 0u64;
        for verdict in results.iter().filter_map(|r| r.judge.as_ref()) {
            match verdict.score {
                Some(n @ 1..=5) => {
                    s.scored += 1;
                    sum += u64::from(n);
                    s.counts[usize::from(n) - 1] += 1;
                }
                _ => s.unscored += 1,
            }
        }
        s.mean = (s.scored > 0).then(|| sum as f64 / s.scored as f64);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grades_are_read_from_json_and_from_prose() {
        let v = parse_verdict(r#"{"score": 4, "reason": "Clear, but no tracking link."}"#);
        assert_eq!(v.score, Some(4));
        assert_eq!(v.reason, "Clear, but no tracking link.");
        let v = parse_verdict("```json\n{\"score\": \"5\", \"reason\": \"ok\"}\n```");
        assert_eq!(v.score, Some(5));
        assert_eq!(parse_verdict("Score: 3 — partly helpful").score, Some(3));
        assert_eq!(parse_verdict("I'd give it 2/5.").score, Some(2));
    }

    #[test]
    fn answers_without_a_grade_have_no_score() {
        for text in [
            "",
            "The assistant was nice.",
            r#"{"score": 9, "reason": "great"}"#,
            r#"{"reason": "forgot the score"}"#,
            "score: 0",
        ] {
            let v = parse_verdict(text);
            assert_eq!(v.score, None, "{text:?}");
            assert!(v.reason.contains("no grade"), "{text:?}: {}", v.reason);
        }
    }
}
