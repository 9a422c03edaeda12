//! Checks on a reply before it is sent: every order number, tracking number, amount and
//! calendar date in it must come from a tool result of this conversation (or from the
//! customer's own words or a quoted passage), and every citation from a passage retrieved
//! this turn. Also: personal data
//! redaction for logs.

use std::collections::BTreeSet;

use serde::Serialize;

use super::tools::{Facts, digits};
use crate::slots;

/// Something in a reply that nothing in the conversation backs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Violation {
    OrderNumber(String),
    TrackingNumber(String),
    Amount(String),
    /// A calendar date (ISO) that no order, parcel or return fact of this conversation has.
    Date(String),
    Citation(String),
    /// The reply quotes the system prompt.
    PromptLeak(String),
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Violation::OrderNumber(v) => write!(f, "order number {v} not from a tool result"),
            Violation::TrackingNumber(v) => write!(f, "tracking number {v} not from a tool result"),
            Violation::Amount(v) => write!(f, "amount {v} not from a tool result"),
            Violation::Date(v) => write!(f, "date {v} not from a tool result"),
            Violation::Citation(v) => write!(f, "citation {v} not retrieved this turn"),
            Violation::PromptLeak(v) => write!(f, "the reply quotes the instructions: {v}"),
        }
    }
}

/// What a reply may draw on.
#[derive(Debug, Clone, Default)]
pub struct Grounds<'a> {
    /// Facts from tool results this conversation.
    pub facts: Option<&'a Facts>,
    /// What the customer wrote this conversation (they may be quoted back).
    pub customer_text: &'a str,
    /// Documents retrieved this turn.
    pub retrieved: Option<&'a BTreeSet<String>>,
    /// The text of the passages retrieved this turn (they may be quoted).
    pub passages: &'a str,
    /// Today in the shop's calendar; dates in the reply are checked when it is given.
    /// Today and the days either side may always be named.
    pub today: Option<chrono::NaiveDate>,
}

/// Every unbacked fact and citation in `reply`.
pub fn check(reply: &str, citations: &[String], grounds: &Grounds<'_>) -> Vec<Violation> {
    let empty = Facts::default();
    let facts = grounds.facts.unwrap_or(&empty);
    let quoted = format!("{}\n{}", grounds.customer_text, grounds.passages);
    // Each message on its own: a bare number is an order number only as a whole message.
    let said_orders: Vec<String> = quoted.lines().flat_map(order_mentions).collect();
    let said_tracking = slots::tracking_numbers(&quoted);
    let said_amounts: BTreeSet<String> = amounts(&quoted).into_iter().collect();
    let mut out = Vec::new();
    for order in order_mentions(reply) {
        if !facts.orders.contains(&order) && !said_orders.contains(&order) {
            out.push(Violation::OrderNumber(order));
        }
    }
    for tracking in slots::tracking_numbers(reply) {
        if !facts
            .tracking
            .iter()
            .any(|t| t.eq_ignore_ascii_case(&tracking))
            && !said_tracking
                .iter()
                .any(|t| t.eq_ignore_ascii_case(&tracking))
        {
            out.push(Violation::TrackingNumber(tracking));
        }
    }
    for amount in amounts(reply) {
        if !facts.amounts.contains(&amount) && !said_amounts.contains(&amount) {
            out.push(Violation::Amount(amount));
        }
    }
    if let Some(today) = grounds.today {
        // A date without a year may be in the past year ("ordered on May 3") or in the
        // coming one ("arrives by January 4"): both readings are tried.
        let year_ahead = today + chrono::Duration::days(365);
        let past = slots::dates(reply, today);
        // What was said is only read when the reply names a date (most do not).
        let mut said_dates = Vec::new();
        if !past.is_empty() {
            said_dates = slots::dates(&quoted, today);
            said_dates.extend(slots::dates(&quoted, year_ahead));
        }
        // A fact's day in UTC may be the day before or after in the shop's time zone.
        let near = |a: chrono::NaiveDate, b: chrono::NaiveDate| (a - b).num_days().abs() <= 1;
        let backed = |date: chrono::NaiveDate| {
            near(date, today)
                || facts.dates.iter().any(|d| near(date, *d))
                || said_dates.contains(&date)
        };
        let ahead = slots::dates(reply, year_ahead);
        for (i, date) in past.iter().enumerate() {
            let other = ahead.get(i).copied().filter(|_| ahead.len() == past.len());
            if !backed(*date) && !other.is_some_and(backed) {
                out.push(Violation::Date(date.to_string()));
            }
        }
    }
    let retrieved = grounds.retrieved.cloned().unwrap_or_default();
    for c in citations {
        if !retrieved.contains(c) {
            out.push(Violation::Citation(c.clone()));
        }
    }
    out
}

/// `#1234`-style order numbers anywhere in a reply (replies always write the `#`).
fn order_mentions(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices('#') {
        let number: String = text[i + 1..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if number.len() >= 3 {
            let name = format!("#{number}");
            if !out.contains(&name) {
                out.push(name);
            }
        }
    }
    out.extend(
        slots::order_numbers(text)
            .into_iter()
            .filter(|n| !out.contains(n))
            .collect::<Vec<_>>(),
    );
    out
}

const CURRENCY_SIGNS: &[char] = &['$', '€', '£', '¥', '₩', '₹', '￥'];
const CURRENCY_CODES: &[&str] = &[
    "USD", "EUR", "GBP", "JPY", "CNY", "RMB", "HKD", "TWD", "CAD", "AUD", "CHF", "SEK", "NOK",
    "DKK", "BRL", "MXN", "KRW", "SGD", "NZD", "PLN", "INR",
];

/// Money amounts in a text, as their digits: a number next to a currency sign or code,
/// or written with exactly two decimals.
pub fn amounts(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit()
            || (i > 0 && (chars[i - 1].is_ascii_alphanumeric() || chars[i - 1] == '#'))
        {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len()
            && (chars[i].is_ascii_digit()
                || ((chars[i] == '.' || chars[i] == ',' || chars[i] == '\u{202f}')
                    && chars.get(i + 1).is_some_and(char::is_ascii_digit)))
        {
            i += 1;
        }
        let number: String = chars[start..i].iter().collect();
        let before: String = chars[start.saturating_sub(5)..start].iter().collect();
        let after: String = chars[i..(i + 5).min(chars.len())].iter().collect();
        let sign = before.trim_end().ends_with(CURRENCY_SIGNS)
            || after.trim_start().starts_with(CURRENCY_SIGNS);
        let code = CURRENCY_CODES
            .iter()
            .any(|c| after.trim_start().starts_with(c) || before.trim_end().ends_with(c));
        let two_decimals = number
            .rfind(['.', ','])
            .is_some_and(|p| number.len() - p == 3);
        if sign || code || two_decimals {
            out.push(digits(&number));
        }
    }
    out
}

/// Personal data masked for logs: e-mail addresses, phone-like digit runs, and the
/// digits of order and tracking numbers.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_inclusive(char::is_whitespace) {
        let core = word.trim_end();
        let tail = &word[core.len()..];
        let digit_count = core.chars().filter(char::is_ascii_digit).count();
        if core.contains('@') && core.contains('.') {
            out.push_str("<email>");
        } else if digit_count >= 5 {
            out.push_str("<number>");
        } else {
            out.push_str(core);
        }
        out.push_str(tail);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        let mut f = Facts::default();
        f.orders.insert("#1043".into());
        f.tracking.insert("1Z999AA10123456784".into());
        f.amount("54.90 USD");
        f
    }

    #[test]
    fn facts_from_tools_pass_and_invented_ones_are_caught() {
        let f = facts();
        let grounds = Grounds {
            facts: Some(&f),
            customer_text: "where is #1043?",
            retrieved: None,
            passages: "",
            today: None,
        };
        let ok = "Order #1043 (54.90 USD) is with UPS, tracking number 1Z999AA10123456784.";
        assert_eq!(check(ok, &[], &grounds), vec![]);
        let bad = "Order #1044 is with UPS, tracking 1Z999AA10123456785, total $12.00.";
        assert_eq!(
            check(bad, &[], &grounds),
            vec![
                Violation::OrderNumber("#1044".into()),
                Violation::TrackingNumber("1Z999AA10123456785".into()),
                Violation::Amount("1200".into()),
            ]
        );
    }

    #[test]
    fn dates_must_be_facts_of_the_conversation_or_today() {
        let day = |d: u32| chrono::NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
        let mut f = facts();
        f.dates.insert(day(10));
        f.dates.insert(day(25));
        let grounds = Grounds {
            facts: Some(&f),
            customer_text: "I ordered on November 3",
            retrieved: None,
            passages: "",
            today: Some(day(20)),
        };
        // The fact's day (or the day next to it, across time zones), a day the customer
        // named, and today are fine.
        for ok in [
            "Expected delivery by Nov 10, 2026.",
            "It should arrive by November 25.",
            "It should arrive by 2026-11-11.",
            "Your order of November 3 is on its way.",
            "Today, 20 November, it left the warehouse.",
        ] {
            assert_eq!(check(ok, &[], &grounds), vec![], "{ok}");
        }
        assert_eq!(
            check("It will arrive on November 14, 2026.", &[], &grounds),
            vec![Violation::Date("2026-11-14".into())]
        );
        // Without a calendar the guard does not judge dates.
        let no_calendar = Grounds {
            today: None,
            ..grounds.clone()
        };
        assert_eq!(
            check("It will arrive on November 14, 2026.", &[], &no_calendar),
            vec![]
        );
    }

    #[test]
    fn the_customers_own_words_may_be_quoted_back() {
        let grounds = Grounds {
            facts: None,
            customer_text: "where is order 5555?",
            retrieved: None,
            passages: "Orders over 50.00 USD ship free.",
            today: None,
        };
        assert_eq!(
            check("I can't find order #5555 on your account.", &[], &grounds),
            vec![]
        );
        assert_eq!(
            check("Orders over 50.00 USD ship free.", &[], &grounds),
            vec![]
        );
    }

    #[test]
    fn citations_must_have_been_retrieved_this_turn() {
        let retrieved: BTreeSet<String> = ["returns-policy".to_string()].into();
        let grounds = Grounds {
            facts: None,
            customer_text: "",
            retrieved: Some(&retrieved),
            passages: "",
            today: None,
        };
        assert_eq!(
            check("See our policy.", &["returns-policy".into()], &grounds),
            vec![]
        );
        assert_eq!(
            check("See our policy.", &["privacy".into()], &grounds),
            vec![Violation::Citation("privacy".into())]
        );
    }

    #[test]
    fn amounts_are_found_with_signs_codes_or_two_decimals_but_not_in_plain_numbers() {
        assert_eq!(
            amounts("total 54.90 USD, shipping €4,95, ¥1500 and 3 items in 30 days"),
            ["5490", "495", "1500"]
        );
        assert_eq!(amounts("order #1043 from 2026"), Vec::<String>::new());
    }

    #[test]
    fn redaction_masks_emails_and_long_numbers() {
        assert_eq!(
            redact("I am wang.fang@example.com, call +86 13800138000 about #1043"),
            "I am <email> call +86 <number> about #1043"
        );
    }
}
