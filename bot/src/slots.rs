//! Facts customers type into messages: order references (in the shop's own order-name
//! formats, learned from its orders, or announced by "#", "order", "订单", "pedido" …),
//! e-mail addresses, parcel tracking numbers, postal codes and dates. The agent uses them to
//! find orders and to verify customers; nothing here decides what a customer may see.

/// Words that announce an order number, in the languages kefu answers in.
const ORDER_WORDS: [&str; 15] = [
    "order",
    "bestellung",
    "commande",
    "pedido",
    "encomenda",
    "ordine",
    "bestelling",
    "订单",
    "訂單",
    "注文",
    "주문",
    "no",
    "nr",
    "n°",
    "nº",
];

/// Order numbers in the message, normalised to the shop's `#1234` form, in order of
/// appearance and without repeats. A bare number counts when it follows an order word or
/// `#`, or when it is the whole message.
pub fn order_numbers(text: &str) -> Vec<String> {
    let lower = text.to_lowercase();
    let chars: Vec<(usize, char)> = lower.char_indices().collect();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (start, c) = chars[i];
        // Part of a longer name ("rc-10234", "1001-eu") is not a `#1234` number.
        let joined = |k: usize| {
            chars.get(k).is_some_and(|(_, c)| matches!(c, '-' | '_'))
                && chars
                    .get(k.wrapping_sub(1))
                    .is_some_and(|(_, c)| c.is_ascii_alphabetic())
        };
        if !c.is_ascii_digit()
            || (i > 0 && chars[i - 1].1.is_ascii_alphanumeric())
            || (i > 0 && joined(i - 1))
        {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < chars.len() && chars[j].1.is_ascii_digit() {
            j += 1;
        }
        let followed_by_word = j < chars.len()
            && (chars[j].1.is_ascii_alphanumeric()
                || (matches!(chars[j].1, '-' | '_')
                    && chars
                        .get(j + 1)
                        .is_some_and(|(_, c)| c.is_ascii_alphabetic())));
        let digits = &lower[start..chars.get(j).map_or(lower.len(), |(b, _)| *b)];
        if !followed_by_word && (3..=8).contains(&digits.len()) {
            let before = lower[..start].trim_end_matches([' ', ':', '：', '.', '-']);
            let announced = before.ends_with('#')
                || before.ends_with('＃')
                || ORDER_WORDS.iter().any(|w| before.ends_with(w))
                || before.ends_with("番号")
                || before.ends_with('号')
                || before.ends_with('號');
            let alone = text.trim().trim_start_matches(['#', '＃']) == digits;
            if announced || alone {
                let name = format!("#{digits}");
                if !out.contains(&name) {
                    out.push(name);
                }
            }
        }
        i = j;
    }
    out
}

/// Every free-standing run of 3 to 8 digits, in the `#1234` form: what could be an order
/// number written without "#" or an order word ("21961发货了没", "c'est la 17257"). Only
/// worth anything checked against a verified customer's own orders.
pub fn bare_numbers(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(|c: char| c.is_ascii_digit()) {
        let before = rest[..at].chars().next_back();
        let len = rest[at..]
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len() - at);
        let after = rest[at + len..].chars().next();
        let glued =
            |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphabetic() || "_-./:@".contains(c));
        if (3..=8).contains(&len) && !glued(before) && !glued(after) {
            let name = format!("#{}", &rest[at..at + len]);
            if !out.contains(&name) {
                out.push(name);
            }
        }
        rest = &rest[at + len..];
    }
    out
}

// ----- order references in the shop's own formats -----

/// Full-width forms (`ＴＳ１００１`, `＃`) read as their ASCII letters, digits and signs; the
/// ideographic space as a space.
pub fn fold_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

/// The lookup key of an order name, or of what a customer typed for one: its letters and
/// digits in capitals, nothing else (`#TS-1001`, `ts 1001` and `ＴＳ１００１` are all
/// `TS1001`). The orders table keeps each name's key (`orders.name_key`).
pub fn order_key(text: &str) -> String {
    text.chars()
        .map(fold_width)
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// The number inside an order name: its longest run of digits (the last of equally long
/// ones), with the name split around it: `VX-5001-US` → (`VX-`, `5001`, `-US`).
pub fn split_order_name(name: &str) -> Option<(String, String, String)> {
    let chars: Vec<char> = name.chars().map(fold_width).collect();
    let mut best: Option<(usize, usize)> = None;
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
        if best.is_none_or(|(s, e)| i - start >= e - s) {
            best = Some((start, i));
        }
    }
    let (s, e) = best?;
    let part = |r: &[char]| r.iter().collect::<String>();
    Some((part(&chars[..s]), part(&chars[s..e]), part(&chars[e..])))
}

/// One way a shop writes its order names: what comes before the number and after it (as
/// keys: `#TS-` is `TS`), and how many digits the number has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderFormat {
    pub prefix: String,
    pub suffix: String,
    pub min_digits: usize,
    pub max_digits: usize,
    /// Orders named this way.
    pub orders: i64,
}

impl OrderFormat {
    fn fits(&self, digits: usize) -> bool {
        (self.min_digits..=self.max_digits).contains(&digits)
    }
}

/// The order-name formats of one shop, learned from its orders' names (a shop that changed
/// its format over time has several). Empty for a shop without orders: then only order
/// numbers announced by `#` or a word like "order" are recognised.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderFormats {
    formats: Vec<OrderFormat>,
}

impl OrderFormats {
    /// From names of the shop's orders, each with how many orders are named like it
    /// (the import keeps one per shape of name: `#TS9999`).
    pub fn from_examples<'a>(examples: impl IntoIterator<Item = (&'a str, i64)>) -> Self {
        let mut formats: Vec<OrderFormat> = Vec::new();
        for (name, orders) in examples {
            let Some((before, number, after)) = split_order_name(name) else {
                continue;
            };
            let (prefix, suffix) = (order_key(&before), order_key(&after));
            match formats
                .iter_mut()
                .find(|f| f.prefix == prefix && f.suffix == suffix)
            {
                Some(f) => {
                    f.min_digits = f.min_digits.min(number.len());
                    f.max_digits = f.max_digits.max(number.len());
                    f.orders += orders;
                }
                None => formats.push(OrderFormat {
                    prefix,
                    suffix,
                    min_digits: number.len(),
                    max_digits: number.len(),
                    orders,
                }),
            }
        }
        formats.sort_by(|a, b| b.orders.cmp(&a.orders).then(a.prefix.cmp(&b.prefix)));
        Self { formats }
    }

    pub fn formats(&self) -> &[OrderFormat] {
        &self.formats
    }

    /// Whether `letters` (a key) is what some format has before (`before`) or after the
    /// number, for a number of `digits` digits.
    fn has_part(&self, letters: &str, before: bool, digits: usize) -> bool {
        !letters.is_empty()
            && self
                .formats
                .iter()
                .any(|f| (if before { &f.prefix } else { &f.suffix }) == letters && f.fits(digits))
    }

    /// A format's part one typing slip away from `letters` (a letter wrong, missing, extra
    /// or two swapped), when exactly one format has such a part and none has `letters`.
    fn corrected_part(&self, letters: &str, before: bool, digits: usize) -> Option<String> {
        if letters.len() < 2 || self.has_part(letters, before, digits) {
            return None;
        }
        let mut found: Vec<&str> = self
            .formats
            .iter()
            .filter(|f| f.fits(digits))
            .map(|f| {
                if before {
                    f.prefix.as_str()
                } else {
                    f.suffix.as_str()
                }
            })
            .filter(|part| part.len() >= 2 && one_slip(letters, part))
            .collect();
        found.dedup();
        match found.as_slice() {
            [only] => Some((*only).to_string()),
            _ => None,
        }
    }

    /// The keys a reference may stand for, the key as typed first: with what the customer
    /// left out of a format filled in ("order 1001" in a shop of `#TS1001` names is
    /// `TS1001`). Only an order with one of these keys is the order meant.
    pub fn candidates(&self, r: &OrderRef) -> Vec<String> {
        let mut out = vec![r.key.clone()];
        for f in &self.formats {
            let prefix_ok = r.prefix.is_empty() || r.prefix == f.prefix;
            let suffix_ok = r.suffix.is_empty() || r.suffix == f.suffix;
            if !(prefix_ok && suffix_ok) {
                continue;
            }
            let mut number = r.number.clone();
            if number.len() < f.min_digits && f.min_digits == f.max_digits {
                // Zero-padded numbers ("TS0042") typed without their zeros.
                number = format!("{number:0>width$}", width = f.min_digits);
            }
            if f.fits(number.len()) {
                let key = format!("{}{number}{}", f.prefix, f.suffix);
                if !out.contains(&key) {
                    out.push(key);
                }
            }
        }
        out
    }
}

/// Whether `a` becomes `b` by one letter changed, added or removed, or two neighbours
/// swapped.
fn one_slip(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a == b {
        return false;
    }
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let (ra, rb) = (&a[prefix..], &b[prefix..]);
    match ra.len() as isize - rb.len() as isize {
        0 => {
            ra[1..] == rb[1..]
                || (ra.len() >= 2 && ra[0] == rb[1] && ra[1] == rb[0] && ra[2..] == rb[2..])
        }
        1 => ra[1..] == *rb,
        -1 => *ra == rb[1..],
        _ => false,
    }
}

/// An order named in a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRef {
    /// How to say it back: `#1001` for a bare number, else as typed in capitals
    /// (`VX 5001`, `TS1001`, `XYZ-777`).
    pub display: String,
    /// [`order_key`] of what was typed (with a slip in the shop's letters corrected).
    pub key: String,
    /// The number's digits.
    pub number: String,
    /// The letters typed before and after the number, as keys (empty when left out).
    pub prefix: String,
    pub suffix: String,
    /// Recognised by the shop's own format (its letters were typed), not only announced.
    pub shaped: bool,
}

impl OrderRef {
    /// A reference from an order name or a reference's display form, as a whole.
    pub fn parse(name: &str) -> Option<Self> {
        let (before, number, after) = split_order_name(name)?;
        let key = order_key(name);
        let prefix = order_key(&before);
        let suffix = order_key(&after);
        let display = if prefix.is_empty() && suffix.is_empty() {
            format!("#{number}")
        } else {
            name.trim()
                .chars()
                .map(fold_width)
                .collect::<String>()
                .to_uppercase()
        };
        Some(Self {
            display,
            key,
            number,
            prefix,
            suffix,
            shaped: false,
        })
    }
}

/// Separators customers put between an order name's letters and its number.
fn is_name_separator(c: char) -> bool {
    matches!(c, '-' | ' ' | '_' | '.' | '/')
}

/// Order references in a message, in order of appearance and without repeats. A number
/// counts when the letters next to it are the shop's (`ts1001`, `TS 1001`, `1001-eu`,
/// `VX 5001`, `vx5001us`, `ＴＳ１００１`, one slip in the letters: `TD1001`), or when `#`,
/// a word like "order" or "订单" announces it, or when it is the whole message. Numbers
/// that are only numbers (quantities, prices, postal codes, years, phone numbers, dates,
/// tracking numbers) are left alone: a verified customer's bare number is checked against
/// their own orders by the caller.
pub fn order_refs(text: &str, formats: &OrderFormats) -> Vec<OrderRef> {
    let chars: Vec<char> = text.chars().map(fold_width).collect();
    let lower: Vec<char> = chars
        .iter()
        .map(|c| c.to_lowercase().next().unwrap_or(*c))
        .collect();
    let tracking = tracking_numbers(&chars.iter().collect::<String>());
    let n = chars.len();
    let boundary = |i: usize| i >= n || !chars[i].is_ascii_alphanumeric();
    let mut out: Vec<OrderRef> = Vec::new();
    let mut i = 0;
    while i < n {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let s = i;
        while i < n && chars[i].is_ascii_digit() {
            i += 1;
        }
        let e = i;
        let number: String = chars[s..e].iter().collect();
        // Digits joined to more digits ("2026-11-03", "1,200", "555-1234", "12.50").
        let joined = |sep: Option<&char>, digit: Option<&char>| {
            sep.is_some_and(|c| "-.,:/".contains(*c)) && digit.is_some_and(char::is_ascii_digit)
        };
        if (s >= 2 && joined(chars.get(s - 1), chars.get(s - 2)))
            || joined(chars.get(e), chars.get(e + 1))
        {
            continue;
        }
        // Letters before the number: right against it, or across one separator.
        let letters_before = || -> Option<(usize, String, bool)> {
            let mut j = s;
            let glued = !(j >= 1 && is_name_separator(chars[j - 1]));
            if !glued {
                j -= 1;
            }
            let end = j;
            while j > 0 && chars[j - 1].is_ascii_alphabetic() {
                j -= 1;
            }
            (j < end && (j == 0 || boundary(j - 1))).then(|| {
                let word: String = chars[j..end].iter().collect();
                (j, word, glued || chars[end] == '-')
            })
        };
        let letters_after = || -> Option<(usize, String, bool)> {
            let mut j = e;
            let glued = !(j < n && is_name_separator(chars[j]));
            if !glued {
                j += 1;
            }
            let start = j;
            while j < n && chars[j].is_ascii_alphabetic() {
                j += 1;
            }
            (j > start && boundary(j)).then(|| {
                let word: String = chars[start..j].iter().collect();
                (j, word, glued || chars[start - 1] == '-')
            })
        };
        // Digits stuck inside a longer word ("1Z999AA…", "v1.2") are no name.
        if (s > 0 && chars[s - 1].is_ascii_alphabetic() && letters_before().is_none())
            || (e < n && chars[e].is_ascii_alphabetic() && letters_after().is_none())
        {
            continue;
        }
        let digits = number.len();
        let mut start = s;
        let mut end = e;
        let mut announced_by_word = false;
        let mut prefix = String::new();
        let mut suffix = String::new();
        let mut corrected = false;
        if let Some((at, word, glued)) = letters_before() {
            let key = order_key(&word);
            let lowered = word.to_lowercase();
            if ORDER_WORDS.contains(&lowered.as_str()) {
                announced_by_word = true;
            } else if formats.has_part(&key, true, digits) {
                prefix = key;
                start = at;
            } else if glued {
                match formats.corrected_part(&key, true, digits) {
                    Some(fixed) => {
                        prefix = fixed;
                        corrected = true;
                    }
                    None => prefix = key,
                }
                start = at;
            }
        }
        if let Some((at, word, glued)) = letters_after() {
            let key = order_key(&word);
            if formats.has_part(&key, false, digits) {
                suffix = key;
                end = at;
            } else if glued {
                match formats.corrected_part(&key, false, digits) {
                    Some(fixed) => {
                        suffix = fixed;
                        corrected = true;
                    }
                    None => suffix = key,
                }
                end = at;
            }
        }
        let shaped = (!prefix.is_empty() || !suffix.is_empty())
            && formats.formats.iter().any(|f| {
                (prefix.is_empty() || prefix == f.prefix)
                    && (suffix.is_empty() || suffix == f.suffix)
                    && f.fits(digits)
            });
        let before: String = lower[..start].iter().collect();
        let before = before.trim_end_matches([' ', ':', '.', '-']);
        let announced = announced_by_word
            || before.ends_with('#')
            || ORDER_WORDS.iter().any(|w| before.ends_with(w))
            || before.ends_with("番号")
            || before.ends_with('号')
            || before.ends_with('號');
        let token: String = chars[start..end].iter().collect();
        let whole: String = chars.iter().collect();
        let alone = whole.trim().trim_start_matches('#').trim() == token;
        let plausible =
            (3..=12).contains(&digits) || formats.formats.iter().any(|f| f.fits(digits));
        let key = format!("{prefix}{number}{suffix}");
        if !(shaped || ((announced || alone) && plausible)) || tracking.contains(&key) {
            continue;
        }
        let display = if prefix.is_empty() && suffix.is_empty() {
            format!("#{number}")
        } else if corrected {
            key.clone()
        } else {
            token.trim().to_uppercase()
        };
        if !out.iter().any(|r| r.key == key) {
            out.push(OrderRef {
                display,
                key,
                number,
                prefix,
                suffix,
                shaped,
            });
        }
    }
    out
}

/// Whether the message has a word for "order" in one of kefu's languages.
pub fn mentions_order_word(text: &str) -> bool {
    let lower = text.to_lowercase();
    ORDER_WORDS[..11].iter().any(|w| lower.contains(w))
}

/// Words of a message that look like an order name the shop does not know: letters and
/// at least three digits in one token (`XYZ-777`, `AB12345`), not a tracking number or an
/// e-mail address. A question about "order XYZ-777" must not be answered about another one.
pub fn name_like(text: &str) -> Vec<String> {
    let folded: String = text.chars().map(fold_width).collect();
    let tracking = tracking_numbers(&folded);
    let mut out: Vec<String> = Vec::new();
    for word in folded.split(|c: char| !(c.is_ascii_alphanumeric() || "#-_".contains(c))) {
        let word = word.trim_matches(|c: char| "#-_".contains(c));
        let digits = word.chars().filter(char::is_ascii_digit).count();
        let letters = word.chars().any(|c| c.is_ascii_alphabetic());
        if digits >= 3
            && letters
            && !tracking.contains(&order_key(word))
            && !folded.contains(&format!("@{word}"))
            && !folded.contains(&format!("{word}@"))
            && !out.iter().any(|w| w == word)
        {
            out.push(word.to_uppercase());
        }
    }
    out
}

/// E-mail addresses in the message, lower-cased.
pub fn emails(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in text.split(|c: char| c.is_whitespace() || "<>()[]{},;:'\"，。、：".contains(c))
    {
        let word = word.trim_end_matches(['.', '!', '?']);
        let Some((local, domain)) = word.split_once('@') else {
            continue;
        };
        let local_ok = !local.is_empty()
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._%+-".contains(c));
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-".contains(c));
        if local_ok && domain_ok {
            let email = word.to_ascii_lowercase();
            if !out.contains(&email) {
                out.push(email);
            }
        }
    }
    out
}

/// Parcel tracking numbers: UPS (`1Z` + 16), USPS (20–22 digits), SF Express (`SF` + 12
/// digits), UPU S10 (`AB123456789CD`, postal services worldwide), and other carriers' runs
/// of 10 or more digits.
pub fn tracking_numbers(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for token in text.split(|c: char| !c.is_ascii_alphanumeric()) {
        let t = token.to_ascii_uppercase();
        let bytes = t.as_bytes();
        let digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
        let letters = |s: &[u8]| s.iter().all(u8::is_ascii_uppercase);
        let ups = t.len() == 18
            && t.starts_with("1Z")
            && t[2..].bytes().all(|b| b.is_ascii_alphanumeric());
        let sf = t.len() == 14 && t.starts_with("SF") && digits(&bytes[2..]);
        let s10 =
            t.len() == 13 && letters(&bytes[..2]) && digits(&bytes[2..11]) && letters(&bytes[11..]);
        let long_digits = (10..=22).contains(&t.len()) && digits(bytes);
        if (ups || sf || s10 || long_digits) && !out.contains(&t) {
            out.push(t);
        }
    }
    out
}

/// Month names in kefu's languages (CJK months are numbers with 月).
const MONTHS: [&[&str]; 12] = [
    &["january", "jan", "enero", "janvier", "januar", "janeiro"],
    &[
        "february",
        "feb",
        "febrero",
        "février",
        "fevrier",
        "februar",
        "fevereiro",
    ],
    &[
        "march", "mar", "marzo", "mars", "märz", "marz", "março", "marco",
    ],
    &["april", "apr", "abril", "avril"],
    &["may", "mayo", "mai", "maio"],
    &["june", "jun", "junio", "juin", "juni", "junho"],
    &["july", "jul", "julio", "juillet", "juli", "julho"],
    &["august", "aug", "agosto", "août", "aout"],
    &[
        "september",
        "sep",
        "sept",
        "septiembre",
        "setiembre",
        "septembre",
        "setembro",
    ],
    &["october", "oct", "octubre", "octobre", "oktober", "outubro"],
    &["november", "nov", "noviembre", "novembre", "novembro"],
    &[
        "december",
        "dec",
        "diciembre",
        "décembre",
        "decembre",
        "dezember",
        "dezembro",
    ],
];

/// Calendar dates in the message: `2026-11-03`, `2026/11/3`, `3/11/2026` (day first, as
/// everywhere but the US; `11/3` without a year is read the same way), `November 3`,
/// `3 November`, `3 de noviembre`, `3. November`, `11月3日`, `2026年11月3日`. A date
/// without a year is the latest such date not after `today`.
pub fn dates(text: &str, today: chrono::NaiveDate) -> Vec<chrono::NaiveDate> {
    use chrono::{Datelike, NaiveDate};
    let lower = text.to_lowercase();
    let mut out: Vec<NaiveDate> = Vec::new();
    let mut push = |y: Option<i32>, m: u32, d: u32| {
        let date = match y {
            Some(y) => NaiveDate::from_ymd_opt(y, m, d),
            None => NaiveDate::from_ymd_opt(today.year(), m, d)
                .filter(|d| *d <= today)
                .or_else(|| NaiveDate::from_ymd_opt(today.year() - 1, m, d)),
        };
        if let Some(date) = date
            && !out.contains(&date)
        {
            out.push(date);
        }
    };
    // Tokens of digits and letters, keeping separators that matter.
    let words: Vec<&str> = lower
        .split(|c: char| c.is_whitespace() || ",，。、()（）!?！？".contains(c))
        .filter(|w| !w.is_empty())
        .collect();
    let num = |w: &str| -> Option<u32> {
        let w = w
            .trim_end_matches(['.', 'º', '°'])
            .trim_end_matches("st")
            .trim_end_matches("nd")
            .trim_end_matches("rd")
            .trim_end_matches("th");
        (!w.is_empty() && w.len() <= 4 && w.chars().all(|c| c.is_ascii_digit()))
            .then(|| w.parse().ok())
            .flatten()
    };
    let month = |w: &str| -> Option<u32> {
        let w = w.trim_end_matches('.');
        MONTHS
            .iter()
            .position(|names| names.contains(&w))
            .map(|i| i as u32 + 1)
    };
    for (i, w) in words.iter().enumerate() {
        // Numeric forms.
        let parts: Vec<&str> = w.split(['-', '/']).collect();
        if parts.len() >= 2
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        {
            let n: Vec<u32> = parts.iter().filter_map(|p| p.parse().ok()).collect();
            match (n.as_slice(), parts[0].len()) {
                ([y, m, d], 4) => push(Some(*y as i32), *m, *d),
                ([d, m, y], _) if parts[2].len() == 4 => push(Some(*y as i32), *m, *d),
                // "24/7" is round-the-clock, not the 24th of July.
                ([24, 7] | [7, 24], _) => {}
                ([d, m], _) if w.contains('/') && *m <= 12 => push(None, *m, *d),
                _ => {}
            }
            continue;
        }
        // CJK: [YYYY年]M月D日 (also 号/號).
        if let Some((head, rest)) = w.split_once('月') {
            let (year, m) = match head.split_once('年') {
                Some((y, m)) => (
                    y.chars()
                        .rev()
                        .take_while(char::is_ascii_digit)
                        .collect::<String>()
                        .chars()
                        .rev()
                        .collect::<String>()
                        .parse::<i32>()
                        .ok(),
                    m,
                ),
                None => (None, head),
            };
            let m: String = m
                .chars()
                .rev()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .chars()
                .rev()
                .collect();
            let d: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if let (Ok(m), Ok(d)) = (m.parse(), d.parse()) {
                push(year, m, d);
            }
            continue;
        }
        // Month name with a day before or after: "november 3", "3 november", "3 de noviembre".
        if let Some(m) = month(w) {
            let year = words
                .get(i + 1)
                .and_then(|n| num(n))
                .filter(|y| *y >= 1000)
                .or_else(|| words.get(i + 2).and_then(|n| num(n)).filter(|y| *y >= 1000));
            let year = year.map(|y| y as i32);
            let after = words
                .get(i + 1)
                .and_then(|n| num(n))
                .filter(|d| (1..=31).contains(d));
            let before = i
                .checked_sub(1)
                .and_then(|j| words.get(j))
                .and_then(|n| num(n))
                .or_else(|| {
                    (i >= 2 && words[i - 1] == "de")
                        .then(|| num(words[i - 2]))
                        .flatten()
                })
                .filter(|d| (1..=31).contains(d));
            if let Some(d) = before.or(after) {
                push(year, m, d);
            }
        }
    }
    out
}

/// Whether the message contains this postal code, ignoring case, spaces and dashes
/// (`sw1a1aa` matches `SW1A 1AA`). Used to check an order's postal code in a
/// verification challenge; a code inside a longer number does not count.
pub fn mentions_postal_code(text: &str, code: &str) -> bool {
    let squash = |s: &str| -> String {
        s.chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .flat_map(char::to_uppercase)
            .collect()
    };
    let code = squash(code);
    if code.len() < 3 {
        return false;
    }
    // Tokens of the message, and pairs of neighbours (codes are often typed with a space:
    // "SW1A 1AA"), compared whole.
    let tokens: Vec<String> = text
        .split(|c: char| !(c.is_alphanumeric() || c == '-'))
        .filter(|t| !t.is_empty())
        .map(squash)
        .collect();
    tokens.contains(&code)
        || tokens.windows(2).any(|pair| {
            pair[0].len() + pair[1].len() == code.len() && format!("{}{}", pair[0], pair[1]) == code
        })
}

/// One postal-code-like string in a message, upper-cased without spaces and dashes.
/// `short` is the same code without a trailing two-letter word ("1012 AB" may be a Dutch
/// code or "1012" followed by a word): either form matches, it is still one candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostalCandidate {
    pub code: String,
    pub short: Option<String>,
}

/// Every string in the message that could be a postal code, whatever the country: runs
/// of 3 to 9 digits, also with one dash (US `94107` and `94107-1234`, DE/FR/ES/IT five
/// digits, CN six, JP `150-0001`, BR `01310-100`, PT `1000-001`, PL `00-950`), letters
/// mixed with digits (CA `K1A 0B6`, UK `SW1A 1AA` and `M1 1AE`, IE `D02 X285`, LV
/// `LV-1010`), and four digits with two letters (NL `1012 AB`). Not counted: order
/// references (`#1043`, and the `exclude`d order names), e-mail addresses, dates,
/// times, amounts and numbers with units or ordinals (`3/11/2026`, `10:30`, `19.99`,
/// `250ml`, `2nd`), years after a month name or before 年, and longer numbers (phones,
/// tracking numbers). Verification takes exactly one candidate as the proof, so a list
/// of codes proves nothing.
pub fn postal_code_candidates(text: &str, exclude: &[String]) -> Vec<PostalCandidate> {
    let excluded: Vec<String> = exclude
        .iter()
        .map(|e| squash_code(e.trim_start_matches(['#', '＃'])))
        .filter(|e| !e.is_empty())
        .collect();
    // Words: split at spaces and sentence punctuation, keeping `/ . :` inside, so a
    // date, a time or an amount stays one word and is left out whole.
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || ",;!?()[]{}<>\"'，。、；！？（）「」【】".contains(c))
        .map(|w| w.trim_end_matches(['.', ':', '：']))
        .filter(|w| !w.is_empty())
        .collect();
    // Tokens: ASCII letter/digit runs (with inner dashes) of each word; `glued` says
    // whether the token is the whole word (so it may pair with the next word's).
    struct Token {
        text: String,
        word: usize,
        whole: bool,
    }
    let mut tokens: Vec<Token> = Vec::new();
    for (w, word) in words.iter().enumerate() {
        if word.starts_with(['#', '＃'])
            || word.contains('@')
            || word.contains(['/', '.', ':', '：', '$', '€', '£', '¥', '%'])
        {
            continue;
        }
        let parts: Vec<(usize, &str)> = word
            .match_indices(|c: char| c.is_ascii_alphanumeric() || c == '-')
            .collect();
        // Group neighbouring matched characters into runs.
        let mut runs: Vec<(usize, usize)> = Vec::new();
        for (at, piece) in parts {
            match runs.last_mut() {
                Some((_, end)) if *end == at => *end = at + piece.len(),
                _ => runs.push((at, at + piece.len())),
            }
        }
        for (start, end) in runs {
            let run = word[start..end].trim_matches('-');
            if run.is_empty() {
                continue;
            }
            // "2026年": a year.
            let after = word[end..].chars().next();
            if matches!(after, Some('年' | '月' | '日' | '号' | '號')) {
                continue;
            }
            tokens.push(Token {
                text: run.to_string(),
                word: w,
                whole: start == 0 && end == word.len(),
            });
        }
    }
    let month_before = |w: usize| {
        (1..=2).any(|back| {
            w.checked_sub(back)
                .and_then(|i| words.get(i))
                .is_some_and(|p| {
                    let p = p.to_lowercase();
                    MONTHS.iter().any(|names| names.contains(&p.as_str()))
                })
        })
    };
    let mut out: Vec<PostalCandidate> = Vec::new();
    let mut push = |c: PostalCandidate| {
        if !out.contains(&c) {
            out.push(c);
        }
    };
    let mut i = 0;
    while i < tokens.len() {
        let t = &tokens[i];
        let code = squash_code(&t.text);
        let shape = CodeShape::of(&t.text);
        let next = tokens
            .get(i + 1)
            .filter(|n| n.word == t.word + 1 && n.whole && t.whole);
        i += 1;
        if excluded.contains(&code) {
            continue;
        }
        // Two halves: "SW1A 1AA", "M1 1AE", "K1A 0B6", "D02 X285".
        if let Some(n) = next
            && shape == CodeShape::Mixed
            && (2..=4).contains(&code.len())
            && matches!(
                CodeShape::of(&n.text),
                CodeShape::Mixed | CodeShape::DigitsLetters
            )
            && (3..=4).contains(&squash_code(&n.text).len())
        {
            push(PostalCandidate {
                code: format!("{code}{}", squash_code(&n.text)),
                short: None,
            });
            i += 1;
            continue;
        }
        match shape {
            CodeShape::Digits => {
                let year = code.len() == 4
                    && code
                        .parse::<u32>()
                        .is_ok_and(|y| (1900..=2100).contains(&y))
                    && month_before(t.word);
                if !(3..=9).contains(&code.len()) || year || t.text.matches('-').count() > 1 {
                    continue;
                }
                // "1012 AB": a Dutch code, or four digits and a word.
                let letters = tokens
                    .get(i)
                    .filter(|n| n.word == t.word + 1 && n.whole && t.whole)
                    .filter(|n| {
                        n.text.len() == 2 && n.text.chars().all(|c| c.is_ascii_alphabetic())
                    });
                match letters {
                    Some(n) if code.len() == 4 => push(PostalCandidate {
                        code: format!("{code}{}", n.text.to_ascii_uppercase()),
                        short: Some(code),
                    }),
                    _ => push(PostalCandidate { code, short: None }),
                }
            }
            // "1012AB"; other digits-then-letters are units and ordinals ("250ml", "2nd").
            CodeShape::DigitsLetters => {
                let digits = code.chars().take_while(char::is_ascii_digit).count();
                if digits == 4 && code.len() == 6 {
                    push(PostalCandidate { code, short: None });
                }
            }
            CodeShape::Mixed => {
                if (3..=8).contains(&code.len()) {
                    push(PostalCandidate { code, short: None });
                }
            }
            CodeShape::Other => {}
        }
    }
    out
}

/// Whether the message proves this postal code: it holds exactly one postal-code
/// candidate (see [`postal_code_candidates`]) and that is the code. A US ZIP matches its
/// ZIP+4 form and the other way round.
pub fn proves_postal_code(text: &str, code: &str, exclude: &[String]) -> bool {
    let code = squash_code(code);
    if code.len() < 3 {
        return false;
    }
    let same = |a: &str| {
        a == code
            || (a.len() == 9 && code.len() == 5 || a.len() == 5 && code.len() == 9)
                && a.bytes().chain(code.bytes()).all(|b| b.is_ascii_digit())
                && a[..5] == code[..5]
    };
    match postal_code_candidates(text, exclude).as_slice() {
        [only] => same(&only.code) || only.short.as_deref().is_some_and(same),
        _ => false,
    }
}

fn squash_code(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_uppercase)
        .collect()
}

/// The letters-and-digits pattern of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CodeShape {
    /// Only digits (and dashes).
    Digits,
    /// Digits then letters: "1012AB", "250ml", "2nd", "1AA".
    DigitsLetters,
    /// Letters and digits otherwise mixed, no run of more than two letters: "SW1A",
    /// "K1A0B6", "LV-1010", "D02".
    Mixed,
    /// No digit, or a run of three letters or more (a word).
    Other,
}

impl CodeShape {
    fn of(token: &str) -> Self {
        let chars: Vec<char> = token.chars().filter(|c| *c != '-').collect();
        if !chars.iter().any(char::is_ascii_digit) {
            return CodeShape::Other;
        }
        let mut run = 0;
        for c in &chars {
            run = if c.is_ascii_alphabetic() { run + 1 } else { 0 };
            if run > 2 {
                return CodeShape::Other;
            }
        }
        if chars.iter().all(char::is_ascii_digit) {
            return CodeShape::Digits;
        }
        let digits = chars.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits > 0 && chars[digits..].iter().all(char::is_ascii_alphabetic) {
            return CodeShape::DigitsLetters;
        }
        CodeShape::Mixed
    }
}

/// The message's words, lowercased, full-width folded: runs of letters and digits, with
/// a change between Latin and CJK or kana ending a word ("XLサイズ" → "xl", "サイズ") and
/// an apostrophe inside a word keeping it whole ("it's").
pub fn words(text: &str) -> Vec<String> {
    let class = |c: char| {
        if !c.is_alphanumeric() {
            0
        } else if c >= '\u{2E80}' {
            2
        } else {
            1
        }
    };
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut last = 0;
    let chars: Vec<char> = text.chars().map(fold_width).collect();
    for (i, &c) in chars.iter().enumerate() {
        let joins = (c == '\'' || c == '’')
            && last == 1
            && chars.get(i + 1).is_some_and(|n| class(*n) == 1);
        let k = if joins { 1 } else { class(c) };
        if k != last && !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
        if k != 0 {
            current.extend(c.to_lowercase());
        }
        last = k;
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// Whether a message's [`words`] name a product variant by its title: every part of the
/// title ("M", "Black / M", "58 cm") is among them.
pub fn names_variant(words: &[String], title: &str) -> bool {
    let parts = self::words(title);
    !parts.is_empty() && parts.iter().all(|p| words.contains(p))
}

/// Whether a message asks which variants a product comes in: sizes, colours, versions.
pub fn asks_for_options(text: &str) -> bool {
    let lower = text.to_lowercase();
    OPTION_WORDS.iter().any(|w| lower.contains(w))
}

/// "Size", "colour" and "version" in the supported languages (plurals included by
/// their stems).
const OPTION_WORDS: &[&str] = &[
    "size",
    "colour",
    "color",
    "variant",
    "version",
    "größe",
    "grösse",
    "farbe",
    "taille",
    "couleur",
    "pointure",
    "talla",
    "tallas",
    "tamaño",
    "tamanho",
    "cor ",
    "cores",
    "taglia",
    "taglie",
    "colore",
    "colori",
    "maat",
    "maten",
    "kleur",
    "サイズ",
    "カラー",
    "色",
    "尺码",
    "尺寸",
    "尺碼",
    "颜色",
    "顏色",
    "사이즈",
    "색상",
    "치수",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_scripts_and_keep_apostrophes() {
        assert_eq!(
            words("電熱グローブのXLサイズは"),
            ["電熱グローブの", "xl", "サイズは"]
        );
        assert_eq!(
            words("Habt ihr den Helm in Größe S?"),
            ["habt", "ihr", "den", "helm", "in", "größe", "s"]
        );
        assert_eq!(words("it's the Ｍ"), ["it's", "the", "m"]);
    }

    #[test]
    fn variants_are_named_by_all_their_parts() {
        let w = words("do you have the jersey in black, size m?");
        assert!(names_variant(&w, "M"));
        assert!(names_variant(&w, "Black / M"));
        assert!(!names_variant(&w, "Black / L"));
        assert!(!names_variant(&words("Vertex MIPS helmet"), "M"));
        assert!(!names_variant(&words("it's great"), "S"));
    }

    #[test]
    fn bare_numbers_are_found_next_to_any_script() {
        assert_eq!(bare_numbers("21961发货了没"), ["#21961"]);
        assert_eq!(bare_numbers("18104の商品を返品できますか？"), ["#18104"]);
        assert_eq!(bare_numbers("c'est la 17257, merci"), ["#17257"]);
        assert_eq!(bare_numbers("return 21969 and 21969"), ["#21969"]);
        assert!(bare_numbers("SF990997338426 or 1Z9D99 or 12 or v1.2345 or a@123.com").is_empty());
    }

    #[test]
    fn order_numbers_are_found_in_every_language_and_normalised() {
        let cases: [(&str, &[&str]); 10] = [
            ("where is my order #1042?", &["#1042"]),
            ("order 1042 hasn't arrived", &["#1042"]),
            ("1042", &["#1042"]),
            ("我的订单1042什么时候到", &["#1042"]),
            ("訂單號：1042", &["#1042"]),
            ("¿Dónde está mi pedido 1042?", &["#1042"]),
            ("Bestellung Nr. 1042 und #1043", &["#1042", "#1043"]),
            ("注文番号 1042 です", &["#1042"]),
            ("#1042 #1042", &["#1042"]),
            ("commande n° 1042", &["#1042"]),
        ];
        for (text, want) in cases {
            assert_eq!(order_numbers(text), want, "{text}");
        }
    }

    #[test]
    fn numbers_that_are_not_order_numbers_are_left_alone() {
        for text in [
            "I bought 3 teapots for 1200 yen",
            "call me at 5551234",
            "my zip is 94107",
            "tracking 1Z999AA10123456784",
            "it's been 2026 days",
            "order RC-10234-EU",
            "order 1001-EU",
        ] {
            assert!(
                order_numbers(text).is_empty(),
                "{text}: {:?}",
                order_numbers(text)
            );
        }
    }

    fn formats(names: &[&str]) -> OrderFormats {
        OrderFormats::from_examples(names.iter().map(|n| (*n, 100)))
    }

    fn keys(text: &str, formats: &OrderFormats) -> Vec<String> {
        order_refs(text, formats)
            .into_iter()
            .map(|r| r.key)
            .collect()
    }

    #[test]
    fn order_keys_ignore_case_signs_spaces_and_width() {
        for typed in [
            "#TS1001",
            "ts1001",
            "TS 1001",
            "ts-1001",
            "ＴＳ１００１",
            " #ts_1001 ",
        ] {
            assert_eq!(order_key(typed), "TS1001", "{typed}");
        }
        assert_eq!(order_key("VX-5001-US"), "VX5001US");
        assert_eq!(
            split_order_name("VX-5001-US"),
            Some(("VX-".into(), "5001".into(), "-US".into()))
        );
    }

    #[test]
    fn formats_are_learned_from_names_and_merge_digit_counts() {
        let f = formats(&["#999", "#1001", "#TS1001", "VX-5001-US", "1001-EU"]);
        let summary: Vec<(&str, &str, usize, usize)> = f
            .formats()
            .iter()
            .map(|f| {
                (
                    f.prefix.as_str(),
                    f.suffix.as_str(),
                    f.min_digits,
                    f.max_digits,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("", "", 3, 4),
                ("", "EU", 4, 4),
                ("TS", "", 4, 4),
                ("VX", "US", 4, 4)
            ]
        );
    }

    #[test]
    fn prefixed_names_are_recognised_however_they_are_typed() {
        let f = formats(&["#TS1001"]);
        for text in [
            "where is ts1001?",
            "TS 1001 hasn't arrived",
            "my order #TS1001",
            "ＴＳ１００１はどこ？",
            "订单TS-1001",
            "is TD1001 shipped",
        ] {
            assert_eq!(keys(text, &f), ["TS1001"], "{text}");
        }
        // Announced without the prefix: the number alone, filled in on look-up.
        let r = &order_refs("order 1001 please", &f)[0];
        assert_eq!((r.key.as_str(), r.display.as_str()), ("1001", "#1001"));
        assert_eq!(f.candidates(r), ["1001", "TS1001"]);
        let f = formats(&["SHOP-1001"]);
        assert_eq!(
            keys("shop-1001 and SHOP 1002", &f),
            ["SHOP1001", "SHOP1002"]
        );
        assert_eq!(keys("SHOPP-1001", &f), ["SHOP1001"]);
    }

    #[test]
    fn suffixed_names_and_names_with_both_are_recognised() {
        let f = formats(&["1001-EU"]);
        assert_eq!(keys("what about 1001-eu?", &f), ["1001EU"]);
        assert_eq!(keys("1001EU", &f), ["1001EU"]);
        let f = formats(&["VX-5001-US"]);
        assert_eq!(keys("vx5001us", &f), ["VX5001US"]);
        assert_eq!(keys("VX-5001-US", &f), ["VX5001US"]);
        let partly = &order_refs("where is VX 5001", &f)[0];
        assert_eq!((partly.key.as_str(), partly.shaped), ("VX5001", true));
        assert_eq!(f.candidates(partly), ["VX5001", "VX5001US"]);
        assert_eq!(partly.display, "VX 5001");
    }

    #[test]
    fn a_shop_that_changed_its_format_is_read_in_both() {
        let f = formats(&["#1001", "#TS2001"]);
        assert_eq!(keys("ts2001 and #1001", &f), ["TS2001", "1001"]);
        let r = &order_refs("order 2001", &f)[0];
        assert_eq!(f.candidates(r), ["2001", "TS2001"]);
    }

    #[test]
    fn ordinary_numbers_are_not_order_references() {
        let f = formats(&["#TS1001", "1001-EU", "#1001"]);
        for text in [
            "I bought 3 teapots for 1200 yen",
            "my zip is 94107",
            "it's been 2026 days",
            "call me at 555-1234",
            "delivered on 2026-11-03",
            "it cost $12.50 or 1,200 JPY",
            "tracking 1Z999AA10123456784",
            "send it to 1001 Main St",
            "version v1.2345",
        ] {
            assert!(
                order_refs(text, &f).is_empty(),
                "{text}: {:?}",
                order_refs(text, &f)
            );
        }
        // Letters a shop does not use, typed without "order": a word like an order name.
        assert!(order_refs("refunded on XYZ-777?", &f).is_empty());
        assert_eq!(name_like("refunded on XYZ-777?"), ["XYZ-777"]);
        assert!(name_like("SF123456789012 or a1234@b.com").is_empty());
        // Announced, they are references (that may match nothing).
        assert_eq!(keys("order XYZ-777", &f), ["XYZ777"]);
    }

    #[test]
    fn one_slip_is_a_letter_changed_added_removed_or_swapped() {
        assert!(one_slip("TD", "TS"));
        assert!(one_slip("SHOPP", "SHOP"));
        assert!(one_slip("SOHP", "SHOP"));
        assert!(one_slip("SHP", "SHOP"));
        assert!(!one_slip("TS", "TS"));
        assert!(!one_slip("AB", "CD"));
    }

    #[test]
    fn emails_are_found_and_lower_cased() {
        assert_eq!(
            emails("it's Wang.Fang@Example.com, not wang@example."),
            ["wang.fang@example.com"]
        );
        assert_eq!(
            emails("邮箱：li.na+shop@example.cn。"),
            ["li.na+shop@example.cn"]
        );
        assert!(emails("@home or a@b").is_empty());
    }

    #[test]
    fn tracking_numbers_of_the_common_carriers_are_recognised() {
        let text = "UPS 1z999aa10123456784, USPS 9400111899223197428490, SF123456789012, \
                    RR123456785CN and 0123456789";
        assert_eq!(
            tracking_numbers(text),
            [
                "1Z999AA10123456784",
                "9400111899223197428490",
                "SF123456789012",
                "RR123456785CN",
                "0123456789"
            ]
        );
        assert!(tracking_numbers("order #1042 from 2026").is_empty());
    }

    #[test]
    fn dates_are_read_in_every_language_and_without_a_year_fall_in_the_past() {
        let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
        let d = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let cases = [
            ("the order from 2026-11-03", d(2026, 11, 3)),
            ("ordered on November 3", d(2026, 11, 3)),
            ("ordered on Nov 3rd", d(2026, 11, 3)),
            ("3 November 2025", d(2025, 11, 3)),
            ("el pedido del 3 de noviembre", d(2026, 11, 3)),
            ("la commande du 3 novembre", d(2026, 11, 3)),
            ("die Bestellung vom 3. November", d(2026, 11, 3)),
            ("o pedido de 3 de novembro", d(2026, 11, 3)),
            ("11月3日的订单", d(2026, 11, 3)),
            ("2025年12月24日に注文しました", d(2025, 12, 24)),
            ("pedido del 03/11/2026", d(2026, 11, 3)),
            ("ordered 24/12", d(2025, 12, 24)),
        ];
        for (text, want) in cases {
            assert_eq!(dates(text, today), vec![want], "{text}");
        }
        assert_eq!(dates("Our assistant answers 24/7", today), vec![]);
        assert!(dates("order #1043, 3 items, 50.00 USD", today).is_empty());
    }

    #[test]
    fn postal_codes_match_whatever_the_spacing_but_not_inside_other_numbers() {
        assert!(mentions_postal_code("it's sw1a1aa", "SW1A 1AA"));
        assert!(mentions_postal_code("邮编 200-0001", "2000001"));
        assert!(mentions_postal_code("94107", "94107"));
        assert!(!mentions_postal_code("1941075", "94107"));
        assert!(!mentions_postal_code("hello", "SW1A 1AA"));
        assert!(!mentions_postal_code("12", "12"));
    }

    fn codes(text: &str, exclude: &[&str]) -> Vec<String> {
        let exclude: Vec<String> = exclude.iter().map(|s| s.to_string()).collect();
        postal_code_candidates(text, &exclude)
            .into_iter()
            .map(|c| c.code)
            .collect()
    }

    #[test]
    fn one_postal_code_of_each_country_format_is_one_candidate() {
        let cases = [
            ("order #1001, zip 94107", "94107"),
            ("order 1001 zip 94107-1234", "941071234"),
            ("my postcode is SW1A 1AA", "SW1A1AA"),
            ("postcode m1 1ae please", "M11AE"),
            ("it's sw1a1aa", "SW1A1AA"),
            ("code postal K1A 0B6", "K1A0B6"),
            ("〒150-0001です", "1500001"),
            ("postcode 1012 AB", "1012AB"),
            ("postcode 1012AB", "1012AB"),
            ("PLZ 10115", "10115"),
            ("code postal: 75001.", "75001"),
            ("我的订单1001邮编100020", "100020"),
            ("CEP 01310-100", "01310100"),
            ("código postal 1000-001", "1000001"),
            ("kod 00-950", "00950"),
            ("Eircode D02 X285", "D02X285"),
            ("LV-1010", "LV1010"),
        ];
        for (text, want) in cases {
            assert_eq!(codes(text, &["#1001"]), vec![want.to_string()], "{text}");
        }
    }

    #[test]
    fn dates_amounts_units_and_order_references_are_not_postal_codes() {
        let none = [
            "order #1043 please",
            "ordered on 3/11/2026 at 10:30 for 19.99 USD",
            "ordered 2026-11-03",
            "3 November 2026",
            "November 3, 2026",
            "2026年11月3日",
            "two 250ml bottles, my 2nd order",
            "mei@example.com",
            "call +33 6 12 34 56 78",
            "tracking 1Z999AA10123456784",
            "parcel LX123456789DE",
            "$120 or 50%",
        ];
        for text in none {
            assert_eq!(codes(text, &["#1043"]), Vec::<String>::new(), "{text}");
        }
        assert_eq!(codes("order 1043, 75001", &["#1043"]), vec!["75001"]);
    }

    #[test]
    fn a_list_of_postal_codes_is_many_candidates_and_proves_none() {
        let list = "where is my order #1001? 10001 94107 SW1A 1AA K1A 0B6 150-0001 1012 AB \
                    10115 75001 28013 100020 01310-100 1000-001 2000 00-950";
        assert_eq!(codes(list, &["#1001"]).len(), 14);
        for zip in ["94107", "SW1A 1AA", "75001", "2000"] {
            assert!(!proves_postal_code(list, zip, &["#1001".into()]), "{zip}");
        }
        // Pairs of two-digit numbers are not a way around the count.
        assert!(!proves_postal_code(
            "#1001 2000 20 01 20 02",
            "2001",
            &["#1001".into()]
        ));
        assert!(proves_postal_code(
            "#1001, 75001",
            "75001",
            &["#1001".into()]
        ));
        assert!(proves_postal_code(
            "#1001 sw1a 1aa",
            "SW1A 1AA",
            &["#1001".into()]
        ));
        assert!(proves_postal_code("1012 ab", "1012AB", &[]));
        assert!(proves_postal_code("2000 is my postcode", "2000", &[]));
        assert!(proves_postal_code("94107-1234", "94107", &[]));
        assert!(proves_postal_code("94107", "94107-1234", &[]));
        assert!(!proves_postal_code("94108", "94107", &[]));
        assert!(!proves_postal_code("1941075", "94107", &[]));
    }
}
