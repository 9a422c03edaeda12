//! Runs cases through the real agent — the code path every channel uses — and checks
//! each case's replies.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Serialize;

use kefu_bot::agent::{Agent, AgentError, Inbound, ReplyKind};
use kefu_bot::language;
use kefu_bot::shop::{Channel, Email};
use kefu_bot::store::{CustomerId, Store, StoreError};

use crate::case::Case;
use crate::leak::Directory;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("case `{case}`: {message}")]
    Case { case: String, message: String },
    #[error(transparent)]
    Agent(#[from] AgentError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one case did, and what was wrong with it.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub id: String,
    pub category: String,
    /// The case's language: the expected one, else the first message's.
    pub language: String,
    /// Every reply, per customer message.
    pub replies: Vec<Vec<String>>,
    /// Primary language subtag of the last reply, when it can be told.
    pub reply_language: Option<String>,
    /// Document ids cited by the last reply.
    pub cited: Vec<String>,
    pub handed_off: bool,
    pub asked_verification: bool,
    /// Answer turns, and those whose first answer the guard had to correct.
    pub answers: usize,
    pub corrected: usize,
    /// Why the case failed; empty when it passed.
    pub failures: Vec<String>,
    /// Another customer's data found in a reply: order numbers, e-mail addresses,
    /// tracking numbers, names and street addresses.
    pub leaks: Vec<String>,
    /// The LLM judge's grade, when the run asked for one; advisory only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub judge: Option<crate::judge::Verdict>,
    #[serde(skip)]
    pub latencies: Vec<Duration>,
    #[serde(skip)]
    pub answerable: bool,
    #[serde(skip)]
    pub expect: crate::case::Expect,
}

impl CaseResult {
    pub fn passed(&self) -> bool {
        self.failures.is_empty() && self.leaks.is_empty()
    }
}

/// Runs `cases`, `jobs` at a time, each in its own new conversation. `run_id` keeps this
/// run's conversations apart from earlier runs' on the same database.
pub async fn run_all(
    agent: &Agent,
    cases: &[Case],
    jobs: usize,
    run_id: &str,
) -> Result<Vec<CaseResult>, RunError> {
    let directory = &Directory::load(agent.store()).await?;
    let mut results: Vec<(usize, CaseResult)> = futures::stream::iter(cases.iter().enumerate())
        .map(|(i, case)| async move {
            run_case(agent, case, run_id, directory)
                .await
                .map(|r| (i, r))
        })
        .buffer_unordered(jobs.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    results.sort_by_key(|(i, _)| *i);
    Ok(results.into_iter().map(|(_, r)| r).collect())
}

/// Runs one case and checks it; `directory` holds the shop's customers' data that must
/// not reach another customer.
pub async fn run_case(
    agent: &Agent,
    case: &Case,
    run_id: &str,
    directory: &Directory,
) -> Result<CaseResult, RunError> {
    let fail = |message: String| RunError::Case {
        case: case.id.clone(),
        message,
    };
    let store = agent.store();
    let channel: Channel = case
        .channel
        .parse()
        .map_err(|_| fail(format!("unknown channel `{}`", case.channel)))?;
    let customer = match &case.customer {
        None => None,
        Some(raw) => {
            let email = Email::parse(raw).map_err(|e| fail(format!("customer {raw}: {e}")))?;
            let found = store
                .customer_by_email(&email)
                .await?
                .ok_or_else(|| fail(format!("customer {raw} is not in this shop's data")))?;
            Some(found.id)
        }
    };
    let thread_id = format!("eval-{run_id}-{}", case.id);
    let mut result = CaseResult {
        id: case.id.clone(),
        category: case.category.clone(),
        language: case
            .expect
            .language
            .clone()
            .or_else(|| case.turns.first().and_then(|t| primary(t)))
            .unwrap_or_else(|| "und".into()),
        replies: Vec::new(),
        reply_language: None,
        cited: Vec::new(),
        handed_off: false,
        asked_verification: false,
        answers: 0,
        corrected: 0,
        failures: Vec::new(),
        leaks: Vec::new(),
        judge: None,
        latencies: Vec::new(),
        answerable: case.answerable(),
        expect: case.expect.clone(),
    };
    let mut last_text = String::new();
    // Whose data each turn's replies may show: the case's customer, and the customer the
    // conversation has verified by then (a visitor who proved an order is theirs).
    let mut owners: Vec<Vec<CustomerId>> = Vec::new();
    for turn in &case.turns {
        let inbound = Inbound {
            channel,
            thread_id: thread_id.clone(),
            external_id: None,
            text: turn.clone(),
            customer: customer.filter(|_| case.verified()),
            lang_hint: None,
            lang_fixed: false,
            client: None,
        };
        let started = Instant::now();
        let outcome = agent.handle(&inbound).await?;
        result.latencies.push(started.elapsed());
        result.handed_off |= outcome.handoff.is_some();
        result.asked_verification |= outcome.awaiting_verification;
        let mut own: Vec<CustomerId> = customer.into_iter().collect();
        if outcome.verified
            && let Some(verified) = store
                .conversation(outcome.conversation_id)
                .await?
                .and_then(|c| c.customer_id)
            && !own.contains(&verified)
        {
            own.push(verified);
        }
        owners.push(own);
        if outcome.replies.iter().any(|r| r.kind == ReplyKind::Answer) {
            result.answers += 1;
            if !outcome.violations.is_empty() {
                result.corrected += 1;
            }
        }
        last_text = outcome
            .replies
            .iter()
            .map(|r| r.text.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        result.cited = outcome
            .replies
            .iter()
            .flat_map(|r| r.citations.iter().map(|c| c.document_id.clone()))
            .collect();
        result
            .replies
            .push(outcome.replies.into_iter().map(|r| r.text).collect());
    }
    result.reply_language = primary(&last_text);
    result.failures = check(case, &result, &last_text);
    let said = case.turns.join("\n");
    for (replies, own) in result.replies.iter().zip(&owners) {
        for reply in replies {
            result.leaks.extend(leaks(store, own, &said, reply).await?);
            result.leaks.extend(directory.leaks(own, &said, reply));
        }
    }
    Ok(result)
}

/// The primary language subtag of a text (`zh` for `zh-CN`).
fn primary(text: &str) -> Option<String> {
    language::detect(text).map(|d| d.lang.split('-').next().unwrap_or(d.lang).to_string())
}

/// The case's expectations that the replies do not meet.
fn check(case: &Case, result: &CaseResult, last: &str) -> Vec<String> {
    let e = &case.expect;
    let mut failures = Vec::new();
    let lower = last.to_lowercase();
    let has = |needle: &str| lower.contains(&needle.to_lowercase());
    if let Some(want) = &e.language {
        let want = want.split('-').next().unwrap_or(want).to_lowercase();
        if result.reply_language.as_deref() != Some(want.as_str()) {
            failures.push(format!(
                "language: expected {want}, the reply is in {}",
                result
                    .reply_language
                    .as_deref()
                    .unwrap_or("an unknown language")
            ));
        }
    }
    for needle in &e.must_contain {
        if !has(needle) {
            failures.push(format!("must_contain: {needle:?} is not in the reply"));
        }
    }
    if !e.must_contain_any.is_empty() && !e.must_contain_any.iter().any(|n| has(n)) {
        failures.push(format!(
            "must_contain_any: none of {:?} is in the reply",
            e.must_contain_any
        ));
    }
    for needle in &e.must_not_contain {
        let n = needle.to_lowercase();
        if result
            .replies
            .iter()
            .flatten()
            .any(|r| r.to_lowercase().contains(&n))
        {
            failures.push(format!("must_not_contain: {needle:?} is in a reply"));
        }
    }
    if let Some(want) = e.handoff
        && want != result.handed_off
    {
        failures.push(if want {
            "handoff: expected a handoff, the bot kept the conversation".into()
        } else {
            "handoff: the conversation was handed off".into()
        });
    }
    if !e.cites.is_empty() && !e.cites.iter().any(|c| result.cited.contains(c)) {
        failures.push(format!(
            "cites: expected one of {:?}, cited {:?}",
            e.cites, result.cited
        ));
    }
    if let Some(want) = e.asks_verification
        && want != result.asked_verification
    {
        failures.push(if want {
            "asks_verification: the bot did not ask the customer to verify".into()
        } else {
            "asks_verification: the bot asked the customer to verify".into()
        });
    }
    if last.trim().is_empty() {
        failures.push("the last message got no reply".into());
    }
    failures
}

/// Another customer's order numbers and e-mail addresses in a reply: of none of `own`,
/// unless the customer wrote them themselves.
async fn leaks(
    store: &Store,
    own: &[CustomerId],
    said: &str,
    reply: &str,
) -> Result<Vec<String>, StoreError> {
    let mut found = Vec::new();
    for token in reply
        .split(|c: char| c.is_whitespace() || "(),;:!?\"'<>[]（）。，、：；！？「」".contains(c))
    {
        let token = token.trim_end_matches('.');
        if token.len() < 3 || said.contains(token) || wrote_number(said, token) {
            continue;
        }
        if token.starts_with('#') && token[1..].chars().all(|c| c.is_ascii_alphanumeric()) {
            if let Some(order) = store.order_by_name(token).await?
                && order.customer_id.is_some_and(|c| !own.contains(&c))
            {
                found.push(format!("order {token} of another customer"));
            }
        } else if token.contains('@')
            && let Ok(email) = Email::parse(token)
            && let Some(c) = store.customer_by_email(&email).await?
            && !own.contains(&c.id)
        {
            found.push(format!("e-mail address {token} of another customer"));
        }
    }
    Ok(found)
}

/// Whether the customer wrote this order number themselves, without the `#` the reply
/// puts before it ("where is 21990?" → "I can't find order #21990").
fn wrote_number(said: &str, token: &str) -> bool {
    let Some(digits) = token
        .strip_prefix('#')
        .filter(|d| d.chars().all(|c| c.is_ascii_digit()))
    else {
        return false;
    };
    said.match_indices(digits).any(|(at, _)| {
        let before = said[..at].chars().next_back();
        let after = said[at + digits.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_digit()) && !after.is_some_and(|c| c.is_ascii_digit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_number_the_customer_wrote_is_theirs_to_see() {
        assert!(wrote_number("¿dónde está el pedido 21990?", "#21990"));
        assert!(wrote_number("订单21990怎么样", "#21990"));
        assert!(!wrote_number("pedido 219901", "#21990"));
        assert!(!wrote_number("pedido 21990", "#21991"));
        assert!(!wrote_number("pedido 21990", "21990"));
    }

    #[test]
    fn primary_subtags() {
        assert_eq!(primary("我的订单到哪了？").as_deref(), Some("zh"));
        assert_eq!(primary("12345"), None);
    }
}
