//! Checks on a reply before it is sent: every order number, tracking number, amount,
//! calendar date and street address in it must come from a tool result of this
//! conversation (or from the customer's own words or a quoted passage), and every
//! citation from a passage retrieved this turn. Also: personal data redaction for logs.

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
    /// A street address (house number and street) that no order of this conversation
    /// ships to and nobody wrote.
    Address(String),
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
            Violation::Address(v) => write!(f, "address \"{v}\" not from a tool result"),
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
    let streets = street_addresses(reply);
    if !streets.is_empty() {
        let mut known: Vec<String> = facts.addresses.iter().cloned().collect();
        known.push(address_key(&quoted));
        for (written, key) in streets {
            if !known.iter().any(|k| k.contains(&key)) {
                out.push(Violation::Address(written));
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

/// Street-type words and the one form they are compared in ("Street" and "St." are the
/// same street). Number first ("88 Pine St", "12 rue de la Paix") or, for the words in
/// [`NAME_AFTER`], name first ("Calle Mayor 5").
const STREET_TYPES: &[(&str, &str)] = &[
    ("street", "st"),
    ("st", "st"),
    ("avenue", "ave"),
    ("ave", "ave"),
    ("av", "ave"),
    ("road", "rd"),
    ("rd", "rd"),
    ("boulevard", "blvd"),
    ("blvd", "blvd"),
    ("lane", "ln"),
    ("ln", "ln"),
    ("drive", "dr"),
    ("dr", "dr"),
    ("way", "way"),
    ("court", "ct"),
    ("ct", "ct"),
    ("place", "pl"),
    ("pl", "pl"),
    ("terrace", "ter"),
    ("highway", "hwy"),
    ("hwy", "hwy"),
    ("parkway", "pkwy"),
    ("pkwy", "pkwy"),
    ("square", "sq"),
    ("rue", "rue"),
    ("chemin", "chemin"),
    ("allée", "allee"),
    ("impasse", "impasse"),
    ("calle", "calle"),
    ("avenida", "avenida"),
    ("rua", "rua"),
    ("via", "via"),
    ("carrer", "carrer"),
];

/// Street types written before the street's name, often in lower case.
const NAME_AFTER: &[&str] = &[
    "rue", "chemin", "allee", "impasse", "calle", "avenida", "rua", "via", "carrer", "ave",
];

/// German street names end in their type ("Hauptstraße 5").
const STREET_SUFFIXES: &[(&str, &str)] = &[
    ("straße", "str"),
    ("strasse", "str"),
    ("str", "str"),
    ("weg", "weg"),
    ("gasse", "gasse"),
    ("platz", "platz"),
    ("allee", "allee"),
];

/// Words that join a street's name ("rue de la Paix", "Calle de Alcalá").
const NAME_JOINERS: &[&str] = &[
    "de", "del", "des", "du", "la", "le", "les", "l'", "da", "do", "dos", "das", "di", "of", "the",
];

/// A word's street type in its compared form, if it is one.
fn street_type(word: &str) -> Option<&'static str> {
    let lower = word.to_lowercase();
    let bare = lower.trim_end_matches('.');
    STREET_TYPES
        .iter()
        .find(|(w, _)| *w == bare)
        .map(|(_, short)| *short)
}

/// A capitalised German street name with its type at the end, in compared form.
fn street_with_suffix(word: &str) -> Option<String> {
    if !word.chars().next().is_some_and(char::is_uppercase) {
        return None;
    }
    let lower = word.to_lowercase();
    let bare = lower.trim_end_matches('.');
    STREET_SUFFIXES.iter().find_map(|(suffix, short)| {
        let name = bare.strip_suffix(suffix)?;
        (name.chars().count() >= 3).then(|| format!("{name}{short}"))
    })
}

/// The form addresses are compared in: lower case, street types shortened, nothing but
/// letters and digits.
pub fn address_key(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        let word = word.trim_matches(|c: char| !c.is_alphanumeric() && c != '.');
        if let Some(short) = street_type(word) {
            out.push_str(short);
        } else if let Some(street) = street_with_suffix(word) {
            out.push_str(&street);
        } else {
            out.extend(
                word.chars()
                    .filter(|c| c.is_alphanumeric())
                    .flat_map(char::to_lowercase),
            );
        }
    }
    out
}

fn is_house_number(word: &str) -> bool {
    word.chars().next().is_some_and(|c| c.is_ascii_digit())
        && word.len() <= 6
        && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn is_name_word(word: &str) -> bool {
    word.chars()
        .next()
        .is_some_and(|c| c.is_uppercase() || c.is_ascii_digit())
}

/// Street addresses in a text: as written, and in compared form ([`address_key`]).
/// A house number with a capitalised street name and type ("88 Pine St", "12 rue de la
/// Paix", "Calle Mayor 5", "Hauptstraße 5"), or a Chinese or Japanese house number
/// with the place before it ("建国路88号").
pub fn street_addresses(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let clean = |w: &str| -> String {
            w.trim_matches(|c: char| !c.is_alphanumeric() && c != '.' && c != '-')
                .trim_end_matches('.')
                .to_string()
        };
        let ends_part = |w: &str| w.ends_with([',', ';', ':', '.', '!', '?', '(', ')']);
        let mut i = 0;
        while i < words.len() {
            let mut span = None;
            let first = clean(words[i]);
            if is_house_number(&first) && !ends_part(words[i]) {
                // Number first: name words up to a street type.
                let mut j = i + 1;
                while j < words.len() && j <= i + 5 {
                    let w = clean(words[j]);
                    if let Some(short) = street_type(&w) {
                        let capital = is_name_word(&w) || NAME_AFTER.contains(&short);
                        if capital && (j > i + 1 || NAME_AFTER.contains(&short)) {
                            let mut end = j;
                            // "12 rue de la Paix": the name follows the type.
                            if j == i + 1 {
                                while end + 1 < words.len() && end < j + 4 && !ends_part(words[end])
                                {
                                    let next = clean(words[end + 1]);
                                    let joins =
                                        NAME_JOINERS.contains(&next.to_lowercase().as_str());
                                    if !(joins || is_name_word(&next)) {
                                        break;
                                    }
                                    end += 1;
                                }
                                if end == j {
                                    break;
                                }
                            }
                            span = Some((i, end));
                        }
                        break;
                    }
                    if !is_name_word(&w) || ends_part(words[j]) {
                        break;
                    }
                    j += 1;
                }
            } else if let Some(short) = street_type(&first).filter(|s| NAME_AFTER.contains(s)) {
                // Name first: "Calle Mayor 5".
                let _ = short;
                let mut j = i + 1;
                while j < words.len() && j <= i + 5 {
                    let w = clean(words[j]);
                    if is_house_number(&w) && j > i + 1 {
                        span = Some((i, j));
                        break;
                    }
                    let joins = NAME_JOINERS.contains(&w.to_lowercase().as_str());
                    if !(joins || is_name_word(&w)) || ends_part(words[j]) {
                        break;
                    }
                    j += 1;
                }
            } else if street_with_suffix(&first).is_some()
                && words.get(i + 1).is_some_and(|w| is_house_number(&clean(w)))
                && !ends_part(words[i])
            {
                span = Some((i, i + 1));
            }
            match span {
                Some((start, end)) => {
                    let written = words[start..=end].join(" ");
                    let written = written.trim_end_matches([',', ';', ':', '.']).to_string();
                    let key = address_key(&written);
                    if !out.iter().any(|(_, k)| *k == key) {
                        out.push((written, key));
                    }
                    i = end + 1;
                }
                None => i += 1,
            }
        }
        cjk_addresses(line, &mut out);
    }
    out
}

/// Chinese and Japanese house numbers with up to three characters of the place before
/// them: "建国路88号", "神南1-2-3", "3丁目". Not a day ("11月5号") or a date.
fn cjk_addresses(line: &str, out: &mut Vec<(String, String)>) {
    let chars: Vec<char> = line.chars().collect();
    let is_cjk = |c: char| ('\u{3040}'..='\u{9fff}').contains(&c);
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() || i == 0 || !is_cjk(chars[i - 1]) || chars[i - 1] == '月' {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '-') {
            i += 1;
        }
        let number: String = chars[start..i].iter().collect();
        let next = chars.get(i).copied();
        let marked = matches!(next, Some('号' | '號'))
            || (next == Some('丁') && chars.get(i + 1) == Some(&'目'));
        let parts: Vec<&str> = number.split('-').collect();
        let dashed = parts.len() >= 2 && parts.iter().all(|p| !p.is_empty() && p.len() <= 3);
        if !(marked || dashed) {
            continue;
        }
        let from = (start.saturating_sub(3)..start)
            .rev()
            .take_while(|&k| is_cjk(chars[k]))
            .last()
            .unwrap_or(start);
        let written: String = chars[from..i].iter().collect();
        let key = address_key(&written);
        if !out.iter().any(|(_, k)| *k == key) {
            out.push((written, key));
        }
    }
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
    fn street_addresses_are_found_in_several_languages_and_not_in_plain_prose() {
        let found =
            |t: &str| -> Vec<String> { street_addresses(t).into_iter().map(|(w, _)| w).collect() };
        assert_eq!(
            found("It ships to 88 Pine St, Seattle, WA 98101."),
            ["88 Pine St"]
        );
        assert_eq!(
            found("Nous livrons au 12 rue de la Paix, Paris."),
            ["12 rue de la Paix"]
        );
        assert_eq!(found("Enviado a Calle Mayor 5, Madrid"), ["Calle Mayor 5"]);
        assert_eq!(
            found("Lieferung an Hauptstraße 5, 10115 Berlin"),
            ["Hauptstraße 5"]
        );
        assert_eq!(found("350 5th Avenue, New York"), ["350 5th Avenue"]);
        assert_eq!(found("寄往北京市朝阳区建国路88号"), ["建国路88"]);
        assert_eq!(
            found("東京都渋谷区神南1-2-3へお届けします"),
            ["区神南1-2-3"]
        );
        for prose in [
            "Refunds take 5 business days to reach your bank, in every place we ship to.",
            "Returns are free within 30 days.",
            "Contact us via email within 14 days.",
            "During 3 days of sales, everything ships free.",
            "预计11月25号送达，订单号#21996。",
            "お届け予定日は2026-11-25です。",
            "Use the 2 way street map.",
        ] {
            assert_eq!(found(prose), Vec::<String>::new(), "{prose}");
        }
    }

    #[test]
    fn an_address_must_be_the_orders_or_the_customers_own() {
        let mut f = facts();
        f.address(&crate::store::Address {
            address1: Some("88 Pine Street".into()),
            address2: Some("Apt 4".into()),
            city: Some("Seattle".into()),
            province: Some("WA".into()),
            zip: Some("98101".into()),
            country: Some("US".into()),
            ..Default::default()
        });
        let grounds = Grounds {
            facts: Some(&f),
            customer_text: "please send it to 5 Elm Rd, Portland",
            retrieved: None,
            passages: "Send returns to our warehouse at 1200 Harbor Way, Oakland.",
            today: None,
        };
        for ok in [
            "Order #1043 ships to 88 Pine St., Seattle.",
            "It goes to 88 Pine Street Seattle WA 98101.",
            "Done: the new address is 5 Elm Road, Portland.",
            "Please send it to 1200 Harbor Way.",
        ] {
            assert_eq!(check(ok, &[], &grounds), vec![], "{ok}");
        }
        assert_eq!(
            check("Order #1043 ships to 77 Oak Ave, Seattle.", &[], &grounds),
            vec![Violation::Address("77 Oak Ave".into())]
        );
        // The same house number on another street is another address.
        assert_eq!(
            check("It ships to 88 Cedar St.", &[], &grounds),
            vec![Violation::Address("88 Cedar St".into())]
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
