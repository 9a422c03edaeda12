//! Changes happen only after the customer confirms them. Cancelling an order, opening a
//! return and changing a shipping address first say exactly what will change on which
//! order and keep it as the conversation's pending change; the next message carries it
//! out when it confirms ("yes", "oui", "ja", "sí", "sim", "はい", "是的", "好的",
//! "确认", "yes, cancel it"), and drops it otherwise. Both engines go through here: the
//! LLM engine's change tools only register the pending change.

use serde_json::json;

use super::{OfflineEngine, Turn, change_label, format_address};
use crate::agent::Answer;
use crate::agent::memory::{Change, Pending, Verified};
use crate::agent::tools::{ChangeOutcome, ReturnOutcome, money};
use crate::slots::{self, fold_width, order_key};
use crate::store::{Order, StoreError};

/// Words that confirm on their own, first in the message.
const YES_WORDS: &[&str] = &[
    "yes",
    "yeah",
    "yep",
    "yup",
    "ok",
    "okay",
    "sure",
    "confirm",
    "confirmed",
    "correct",
    "oui",
    "ouais",
    "d'accord",
    "ja",
    "jawohl",
    "jep",
    "genau",
    "klar",
    "sí",
    "si",
    "sì",
    "vale",
    "claro",
    "dale",
    "confirmo",
    "sim",
    "pode",
    "isso",
    "certo",
];

/// Phrases that confirm, first in the message.
const YES_PHRASES: &[&str] = &[
    "please do",
    "do it",
    "go ahead",
    "bien sûr",
    "bien sur",
    "c'est ça",
    "por favor hazlo",
    "pode sim",
];

/// Chinese and Japanese confirmations, at the start of the message.
const YES_CJK: &[&str] = &[
    "はい",
    "ええ",
    "うん",
    "お願いします",
    "お願い",
    "確認",
    "是",
    "好",
    "对",
    "對",
    "确认",
    "可以",
    "行",
    "嗯",
    "没问题",
    "沒問題",
    "确定",
    "確定",
    "예",
    "네",
    "응",
    "좋아요",
    "확인",
];

/// Words that take a confirmation back.
const NO_WORDS: &[&str] = &[
    "no", "nope", "not", "don't", "dont", "never", "wait", "stop", "nein", "nicht", "non", "pas",
    "não", "nao", "nunca", "espera", "warte", "nee", "niet", "aspetta",
];

/// Chinese and Japanese refusals, anywhere in the message.
const NO_CJK: &[&str] = &[
    "不",
    "别",
    "別",
    "算了",
    "いいえ",
    "やめ",
    "待って",
    "等等",
    "아니",
    "잠깐",
    "취소하지",
    "ない",
];

/// Most characters and words of a message that is only a yes or a no.
const SHORT: usize = 80;
const FEW_WORDS: usize = 8;

fn words(text: &str) -> (String, Vec<String>) {
    let lower: String = text
        .chars()
        .map(fold_width)
        .collect::<String>()
        .to_lowercase();
    let words = lower
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect();
    (lower.trim().to_string(), words)
}

fn refuses(lower: &str, words: &[String]) -> bool {
    let cjk = lower.replace("没问题", "").replace("沒問題", "");
    words.iter().any(|w| NO_WORDS.contains(&w.as_str())) || NO_CJK.iter().any(|n| cjk.contains(n))
}

/// Whether a message confirms the change the agent just described.
pub fn confirms(text: &str) -> bool {
    let (lower, words) = words(text);
    // A question ("si cancelo, ¿me devuelven el dinero?") confirms nothing.
    if lower.chars().count() > SHORT
        || words.len() > FEW_WORDS
        || lower.contains(['?', '？'])
        || refuses(&lower, &words)
    {
        return false;
    }
    words
        .first()
        .is_some_and(|w| YES_WORDS.contains(&w.as_str()))
        || YES_PHRASES.iter().any(|p| lower.starts_with(p))
        || YES_CJK.iter().any(|p| lower.starts_with(p))
}

/// Whether a message is a plain "no" to the change the agent just described.
pub fn declines(text: &str) -> bool {
    let (lower, words) = words(text);
    lower.chars().count() <= SHORT
        && words.len() <= 6
        && !confirms(text)
        && (words
            .first()
            .is_some_and(|w| NO_WORDS.contains(&w.as_str()))
            || NO_CJK.iter().any(|n| lower.starts_with(n)))
}

impl OfflineEngine {
    /// Keeps `change` pending and says what confirming it will do.
    pub(super) fn ask_to_confirm(
        &self,
        turn: &mut Turn<'_, '_>,
        order: &Order,
        change: Change,
        lines: &[crate::store::ReturnLine],
    ) -> Answer {
        let items: Vec<serde_json::Value> = lines
            .iter()
            .map(|l| json!({ "name": l.name, "quantity": l.quantity }))
            .collect();
        let (key, data) = match &change {
            Change::Cancel { .. } => (
                "confirm_cancel",
                json!({ "order": order.name, "total": money(order.total, &order.currency) }),
            ),
            Change::Return { .. } => (
                "confirm_return",
                json!({ "order": order.name, "items": items }),
            ),
            Change::Address { address, .. } => (
                "confirm_address",
                json!({ "order": order.name, "address": format_address(address) }),
            ),
        };
        turn.memory
            .note(format!("asked to confirm: {}", describe(&change)));
        turn.memory.pending = Some(Pending::Confirm { change });
        Answer::grounded(self.say(turn, key, data))
    }

    /// The customer's answer to a pending change: carried out when it confirms (and names
    /// no other order), else `None` and the change is dropped.
    pub(super) async fn answer_pending_change(
        &self,
        turn: &mut Turn<'_, '_>,
        change: Change,
    ) -> Result<Option<Answer>, StoreError> {
        let Some(who) = turn.memory.verified() else {
            return Ok(None);
        };
        let pending_key = order_key(change.order());
        let names_another = slots::order_refs(turn.text, &turn.tools.formats)
            .iter()
            .any(|r| !turn.tools.formats.candidates(r).contains(&pending_key));
        if declines(turn.text) && !names_another {
            turn.memory
                .note(format!("the customer declined: {}", describe(&change)));
            return Ok(Some(Answer::grounded(self.say(
                turn,
                "change_declined",
                json!({ "order": change.order() }),
            ))));
        }
        if !confirms(turn.text) || names_another {
            turn.memory.note(format!(
                "dropped the unconfirmed change of {}",
                change.order()
            ));
            return Ok(None);
        }
        turn.memory
            .note(format!("confirmed: {}", describe(&change)));
        let Some(order) = turn.tools.order(who, change.order()).await? else {
            return Ok(Some(self.not_found(turn, change.order()).await));
        };
        let answer = match change {
            Change::Cancel { .. } => self.carry_out_cancel(turn, who, &order).await?,
            Change::Return { .. } => self.carry_out_return(turn, who, &order).await?,
            Change::Address { address, .. } => {
                self.carry_out_address(turn, who, &order, *address).await?
            }
        };
        Ok(Some(answer))
    }

    async fn carry_out_cancel(
        &self,
        turn: &mut Turn<'_, '_>,
        who: Verified,
        order: &Order,
    ) -> Result<Answer, StoreError> {
        let outcome = turn.tools.cancel(who, order).await?;
        turn.memory
            .note(format!("cancel {}: {}", order.name, change_label(&outcome)));
        let done = matches!(outcome, ChangeOutcome::Done);
        let text = self.cancel_text(turn, order, outcome);
        // No configured refund time: the shop's own words on it, not a number.
        if done
            && turn.tools.settings().shop_policy.refund_days.is_none()
            && let Some(quoted) = self.policy_quote(turn, "policy_query_refund").await
        {
            return Ok(super::quoted_with(
                format!("{text}\n\n{}", quoted.text),
                quoted,
            ));
        }
        Ok(Answer::grounded(text))
    }

    async fn carry_out_return(
        &self,
        turn: &mut Turn<'_, '_>,
        who: Verified,
        order: &Order,
    ) -> Result<Answer, StoreError> {
        let outcome = turn.tools.start_return(who, order).await?;
        turn.memory.note(format!(
            "return for {}: {:?}",
            order.name,
            std::mem::discriminant(&outcome)
        ));
        Ok(Answer::grounded(self.return_text(turn, order, outcome)))
    }

    async fn carry_out_address(
        &self,
        turn: &mut Turn<'_, '_>,
        who: Verified,
        order: &Order,
        address: crate::store::Address,
    ) -> Result<Answer, StoreError> {
        let outcome = turn.tools.change_address(who, order, &address).await?;
        turn.memory.note(format!(
            "change address of {}: {}",
            order.name,
            change_label(&outcome)
        ));
        Ok(Answer::grounded(
            self.address_text(turn, order, &address, outcome),
        ))
    }

    /// What a cancellation came to, or why it cannot be made.
    pub(super) fn cancel_text(
        &self,
        turn: &Turn<'_, '_>,
        order: &Order,
        outcome: ChangeOutcome,
    ) -> String {
        let settings = turn.tools.settings();
        let days = settings
            .shop_policy
            .window_days(&[], settings.returns.window_days);
        match outcome {
            ChangeOutcome::Done => self.say(
                turn,
                "cancel_done",
                json!({ "order": order.name, "total": money(order.total, &order.currency), "refund_days": settings.shop_policy.refund_days }),
            ),
            ChangeOutcome::AlreadyCancelled { at } => self.cancelled(turn, &order.name, at),
            ChangeOutcome::AlreadyShipped { .. } => {
                self.say(
                    turn,
                    "cancel_not_allowed",
                    json!({ "order": order.name, "days": days }),
                ) + &self.return_windows(turn)
            }
        }
    }

    /// What an address change came to, or why it cannot be made.
    pub(super) fn address_text(
        &self,
        turn: &Turn<'_, '_>,
        order: &Order,
        address: &crate::store::Address,
        outcome: ChangeOutcome,
    ) -> String {
        match outcome {
            ChangeOutcome::Done => self.say(
                turn,
                "address_changed",
                json!({ "order": order.name, "address": format_address(address) }),
            ),
            ChangeOutcome::AlreadyCancelled { at } => self.cancelled(turn, &order.name, at),
            ChangeOutcome::AlreadyShipped { parcel } => self.say(
                turn,
                "address_not_allowed",
                json!({ "order": order.name, "carrier": parcel.as_ref().map(|p| &p.carrier), "tracking": parcel.as_ref().map(|p| &p.tracking_number) }),
            ),
        }
    }

    /// What a return request came to, or why none can be opened.
    pub(super) fn return_text(
        &self,
        turn: &Turn<'_, '_>,
        order: &Order,
        outcome: ReturnOutcome,
    ) -> String {
        let settings = turn.tools.settings();
        let days = settings
            .shop_policy
            .window_days(&[], settings.returns.window_days);
        let ship_days = settings.shop_policy.return_ship_days;
        match outcome {
            ReturnOutcome::Created { id, lines, excluded } => {
                let items: Vec<serde_json::Value> = lines.iter().map(|l| json!({ "name": l.name, "quantity": l.quantity })).collect();
                let mut text = self.say(turn, "return_created", json!({ "id": id, "order": order.name, "items": items, "ship_days": ship_days }));
                if !excluded.is_empty() {
                    text.push('\n');
                    text.push_str(&self.say(turn, "return_partly", json!({ "items": excluded.join(", ") })));
                }
                text
            }
            ReturnOutcome::AlreadyRequested { id } => self.say(turn, "return_exists", json!({ "id": id, "order": order.name })),
            ReturnOutcome::Cancelled => self.cancelled(turn, &order.name, order.cancelled_at),
            ReturnOutcome::NotDelivered => {
                self.say(turn, "return_not_delivered", json!({ "order": order.name, "days": days }))
                    + &self.return_windows(turn)
            }
            ReturnOutcome::WindowPassed { delivered, deadline } => self.say(
                turn,
                "return_window_passed",
                json!({ "order": order.name, "days": (deadline - delivered).num_days(), "delivered": self.date(turn, delivered), "deadline": self.date(turn, deadline) }),
            ),
            ReturnOutcome::Excluded { items } => {
                self.say(turn, "return_excluded", json!({ "order": order.name, "items": items.join(", ") }))
            }
        }
    }
}

/// A change in a few words, for the handoff summary.
pub fn describe(change: &Change) -> String {
    match change {
        Change::Cancel { order } => format!("cancel {order}"),
        Change::Return { order } => format!("open a return for {order}"),
        Change::Address { order, .. } => format!("change the address of {order}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirmations_in_every_language_are_recognised() {
        for yes in [
            "yes",
            "Yes!",
            "yes, cancel it",
            "YES please",
            "ok",
            "sure, go ahead",
            "oui",
            "Oui, merci",
            "ja",
            "Ja, bitte",
            "sí",
            "si, por favor",
            "sim",
            "はい",
            "はい、お願いします",
            "是",
            "是的",
            "好的",
            "确认",
            "確認",
            "没问题",
            "go ahead",
        ] {
            assert!(confirms(yes), "{yes}");
            assert!(!declines(yes), "{yes}");
        }
    }

    #[test]
    fn anything_else_is_no_confirmation() {
        for other in [
            "no",
            "yes but not yet",
            "wait",
            "how much was refunded on #1001?",
            "can I cancel?",
            "不要",
            "不是",
            "いいえ",
            "nein danke",
            "what about order 1002",
            "",
        ] {
            assert!(!confirms(other), "{other}");
        }
        for no in [
            "no",
            "No thanks",
            "nein",
            "non merci",
            "不要",
            "いいえ",
            "não",
        ] {
            assert!(declines(no), "{no}");
        }
        assert!(!declines("what about order 1002"));
    }
}
