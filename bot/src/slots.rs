//! Facts customers type into messages: order numbers (in the shop's `#1234` format, with or
//! without the `#`, after "order", "订单", "pedido" …), e-mail addresses, parcel tracking
//! numbers, postal codes and dates. The agent uses them to find orders and to verify customers;
//! nothing here decides what a customer may see.

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
        if !c.is_ascii_digit() || (i > 0 && chars[i - 1].1.is_ascii_alphanumeric()) {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < chars.len() && chars[j].1.is_ascii_digit() {
            j += 1;
        }
        let followed_by_word = j < chars.len() && chars[j].1.is_ascii_alphanumeric();
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

#[cfg(test)]
mod tests {
    use super::*;

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
        ] {
            assert!(
                order_numbers(text).is_empty(),
                "{text}: {:?}",
                order_numbers(text)
            );
        }
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
