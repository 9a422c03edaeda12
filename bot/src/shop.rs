//! Shop domain types. Parse, don't validate: values that reach storage went through a
//! `parse` constructor and are known to be well-formed.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A normalised e-mail address (trimmed, lower-cased).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let value = raw.trim().to_lowercase();
        let Some((local, domain)) = value.split_once('@') else {
            return Err(format!("`{}` is not an e-mail address (no @)", raw.trim()));
        };
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
        if local.is_empty()
            || local.len() > 64
            || !domain_ok
            || value.len() > 254
            || value.chars().any(char::is_whitespace)
        {
            return Err(format!("`{}` is not an e-mail address", raw.trim()));
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A phone number reduced to `+` and digits (spaces, dashes, dots and brackets dropped).
/// Shopify exports often prefix numbers with `'` to keep spreadsheets from mangling them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Phone(String);

impl Phone {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim().trim_start_matches('\'');
        let mut out = String::with_capacity(trimmed.len());
        for (i, c) in trimmed.chars().enumerate() {
            match c {
                '+' if i == 0 => out.push('+'),
                '0'..='9' => out.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => {
                    return Err(format!(
                        "`{}` is not a phone number (unexpected `{c}`)",
                        raw.trim()
                    ));
                }
            }
        }
        let digits = out.trim_start_matches('+').len();
        if !(5..=15).contains(&digits) {
            return Err(format!(
                "`{}` is not a phone number (expected 5 to 15 digits)",
                raw.trim()
            ));
        }
        Ok(Self(out))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An ISO 4217 currency code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Currency([u8; 3]);

impl Currency {
    pub const USD: Currency = Currency(*b"USD");

    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let bytes = raw.as_bytes();
        if bytes.len() != 3 || !bytes.iter().all(u8::is_ascii_alphabetic) {
            return Err(format!(
                "`{raw}` is not a currency code (expected three letters, e.g. USD)"
            ));
        }
        Ok(Self([
            bytes[0].to_ascii_uppercase(),
            bytes[1].to_ascii_uppercase(),
            bytes[2].to_ascii_uppercase(),
        ]))
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII letters are ever stored (see `parse`).
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// Digits after the decimal point in this currency's minor unit (ISO 4217).
    pub fn exponent(&self) -> u32 {
        match &self.0 {
            b"BIF" | b"CLP" | b"DJF" | b"GNF" | b"ISK" | b"JPY" | b"KMF" | b"KRW" | b"PYG"
            | b"RWF" | b"UGX" | b"UYI" | b"VND" | b"VUV" | b"XAF" | b"XOF" | b"XPF" => 0,
            b"BHD" | b"IQD" | b"JOD" | b"KWD" | b"LYD" | b"OMR" | b"TND" => 3,
            _ => 2,
        }
    }

    /// Formats an amount in minor units for people: `12.50 USD`, `1500 JPY`.
    pub fn format(&self, minor: i64) -> String {
        let exp = self.exponent();
        if exp == 0 {
            return format!("{minor} {}", self.as_str());
        }
        let unit = 10i64.pow(exp);
        let sign = if minor < 0 { "-" } else { "" };
        let abs = minor.unsigned_abs();
        format!(
            "{sign}{}.{:0width$} {}",
            abs / unit as u64,
            abs % unit as u64,
            self.as_str(),
            width = exp as usize
        )
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses a decimal amount (`12.5`, `-3.00`, `1,299.00`) into exact minor units of
/// `currency`. Never goes through floating point. Empty text is `None`.
pub fn parse_money(raw: &str, currency: Currency) -> Result<Option<i64>, String> {
    let text = raw.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let digits: String = digits.chars().filter(|c| *c != ',').collect();
    let (whole, frac) = digits.split_once('.').unwrap_or((&digits, ""));
    if whole.is_empty() && frac.is_empty()
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
    {
        return Err(format!("`{text}` is not an amount of money"));
    }
    let exp = currency.exponent() as usize;
    let (kept, dropped) = if frac.len() > exp {
        frac.split_at(exp)
    } else {
        (frac, "")
    };
    if dropped.chars().any(|c| c != '0') {
        return Err(format!(
            "`{text}` has more decimals than {currency} allows ({exp})"
        ));
    }
    let scaled = format!("{whole}{kept:0<exp$}");
    let value: i64 = if scaled.is_empty() {
        0
    } else {
        scaled
            .parse()
            .map_err(|_| format!("`{text}` is too large an amount"))?
    };
    Ok(Some(if negative { -value } else { value }))
}

/// Where a customer can be reached. Consent and identities are kept per channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Web,
    Telegram,
    Discord,
    Email,
}

impl Channel {
    pub const ALL: [Channel; 4] = [
        Channel::Web,
        Channel::Telegram,
        Channel::Discord,
        Channel::Email,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Channel::Web => "web",
            Channel::Telegram => "telegram",
            Channel::Discord => "discord",
            Channel::Email => "email",
        }
    }
}

impl FromStr for Channel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Channel::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                format!("unknown channel `{s}` (expected web, telegram, discord or email)")
            })
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kinds of reason [`carrier_reason`] recognises.
pub const CARRIER_REASONS: &[&str] = &[
    "customs", "address", "absent", "damaged", "refused", "weather", "backlog",
];

/// Why a carrier holds or delays a parcel, read from its event text in the words carriers
/// use ("Held by customs", "Adresse unvollständig", "Empfänger nicht angetroffen"), so
/// kefu can say it in the customer's language. `None` when no kind is recognised; the
/// carrier's own words are then quoted as they are.
pub fn carrier_reason(text: &str) -> Option<&'static str> {
    const WORDS: &[(&str, &[&str])] = &[
        (
            "customs",
            &[
                "customs",
                "import dut",
                "import tax",
                "clearance",
                "zoll",
                "douane",
                "aduana",
                "alfândega",
                "alfandega",
                "dogana",
                "税関",
                "通関",
                "海关",
                "海關",
                "清关",
                "清關",
                "세관",
                "통관",
            ],
        ),
        (
            "refused",
            &[
                "refused",
                "rejected by",
                "verweigert",
                "refusé",
                "rechazad",
                "recusad",
                "rifiutat",
                "geweigerd",
                "受取拒否",
                "拒收",
                "수취 거부",
                "수취거부",
            ],
        ),
        (
            "damaged",
            &[
                "damaged",
                "beschädigt",
                "endommagé",
                "dañad",
                "danificad",
                "danneggiat",
                "beschadigd",
                "破損",
                "损坏",
                "損壞",
                "파손",
            ],
        ),
        (
            "absent",
            &[
                "not home",
                "not at home",
                "not available",
                "nobody",
                "no one",
                "missed delivery",
                "nicht angetroffen",
                "absent",
                "ausente",
                "assente",
                "niet thuis",
                "不在",
                "无人",
                "無人",
                "부재",
            ],
        ),
        (
            "address",
            &[
                "address",
                "adresse",
                "dirección",
                "direccion",
                "endereço",
                "indirizzo",
                "adres",
                "住所",
                "地址",
                "주소",
            ],
        ),
        (
            "weather",
            &[
                "weather",
                "storm",
                "snow",
                "unwetter",
                "wetter",
                "météo",
                "intempéries",
                "clima",
                "maltempo",
                "weer",
                "天候",
                "天气",
                "天氣",
                "기상",
                "날씨",
            ],
        ),
        (
            "backlog",
            &[
                "backlog",
                "high volume",
                "capacity",
                "overload",
                "sendungsaufkommen",
                "rückstau",
                "engorgement",
                "acumulación",
                "congestionamento",
                "accumulo",
                "achterstand",
                "混雑",
                "积压",
                "積壓",
                "적체",
            ],
        ),
    ];
    let lower = text.to_lowercase();
    WORDS
        .iter()
        .find(|(_, words)| words.iter().any(|w| lower.contains(w)))
        .map(|(kind, _)| *kind)
}

/// The carrier's status of a parcel, as in kefu's shipment CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackingStatus {
    LabelCreated,
    InTransit,
    OutForDelivery,
    Delivered,
    Delayed,
    Exception,
    Returned,
}

impl TrackingStatus {
    pub const ALL: [TrackingStatus; 7] = [
        TrackingStatus::LabelCreated,
        TrackingStatus::InTransit,
        TrackingStatus::OutForDelivery,
        TrackingStatus::Delivered,
        TrackingStatus::Delayed,
        TrackingStatus::Exception,
        TrackingStatus::Returned,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            TrackingStatus::LabelCreated => "label_created",
            TrackingStatus::InTransit => "in_transit",
            TrackingStatus::OutForDelivery => "out_for_delivery",
            TrackingStatus::Delivered => "delivered",
            TrackingStatus::Delayed => "delayed",
            TrackingStatus::Exception => "exception",
            TrackingStatus::Returned => "returned",
        }
    }
}

impl FromStr for TrackingStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        TrackingStatus::ALL.into_iter().find(|t| t.as_str() == wanted).ok_or_else(|| {
            format!(
                "unknown tracking status `{}` (expected one of label_created, in_transit, out_for_delivery, delivered, delayed, exception, returned)",
                s.trim()
            )
        })
    }
}

/// An order's overall state. Financial and fulfilment status are kept as the shop
/// platform spells them (`paid`, `partially_refunded`, `fulfilled`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    Open,
    Cancelled,
}

impl OrderStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            OrderStatus::Open => "open",
            OrderStatus::Cancelled => "cancelled",
        }
    }
}

/// Who wrote a conversation message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Customer,
    Bot,
    Staff,
    System,
}

impl Role {
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Bot => "bot",
            Role::Staff => "staff",
            Role::System => "system",
        }
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "customer" => Ok(Role::Customer),
            "bot" => Ok(Role::Bot),
            "staff" => Ok(Role::Staff),
            "system" => Ok(Role::System),
            other => Err(format!("unknown message role `{other}`")),
        }
    }
}

/// Parses a yes/no cell: `true/false`, `yes/no`, `y/n`, `1/0`; empty is `None`.
pub fn parse_bool(raw: &str) -> Result<Option<bool>, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "" => Ok(None),
        "true" | "yes" | "y" | "1" => Ok(Some(true)),
        "false" | "no" | "n" | "0" => Ok(Some(false)),
        other => Err(format!(
            "`{other}` is not a yes/no value (expected true or false)"
        )),
    }
}

/// Checks an IANA time zone name such as `Europe/Madrid`.
pub fn parse_time_zone(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    raw.parse::<chrono_tz::Tz>()
        .map(|tz| tz.name().to_string())
        .map_err(|_| {
            format!("`{raw}` is not an IANA time zone (e.g. Europe/Madrid, Asia/Shanghai)")
        })
}

/// Splits a comma-separated tag cell into trimmed, de-duplicated tags.
pub fn split_tags(raw: &str) -> Vec<String> {
    let mut tags: Vec<String> = raw
        .split(',')
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect();
    tags.sort();
    tags.dedup();
    tags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carrier_reasons_are_read_in_the_carriers_words() {
        for (text, kind) in [
            ("Held by customs: import duties unpaid", Some("customs")),
            ("Zollabfertigung: Einfuhrabgaben offen", Some("customs")),
            ("Retenu en douane", Some("customs")),
            ("Address incomplete, parcel held at depot", Some("address")),
            ("Empfänger nicht angetroffen", Some("absent")),
            ("Parcel damaged in transit", Some("damaged")),
            ("Refused by recipient", Some("refused")),
            ("Delayed: backlog at sorting centre", Some("backlog")),
            ("Delayed due to severe weather", Some("weather")),
            ("配達中に破損", Some("damaged")),
            ("Arrived at delivery depot", None),
        ] {
            assert_eq!(carrier_reason(text), kind, "{text}");
        }
    }

    #[test]
    fn money_is_parsed_exactly_in_minor_units() {
        let usd = Currency::USD;
        assert_eq!(parse_money("12.5", usd), Ok(Some(1250)));
        assert_eq!(parse_money("0.10", usd), Ok(Some(10)));
        assert_eq!(parse_money("-3.00", usd), Ok(Some(-300)));
        assert_eq!(parse_money("1,299.99", usd), Ok(Some(129999)));
        assert_eq!(parse_money("", usd), Ok(None));
        assert!(parse_money("1.234", usd).is_err());
        assert!(parse_money("abc", usd).is_err());
        let jpy = Currency::parse("jpy").unwrap();
        assert_eq!(parse_money("1500.00", jpy), Ok(Some(1500)));
        assert!(parse_money("1500.50", jpy).is_err());
        assert_eq!(Currency::parse("kwd").unwrap().format(1234), "1.234 KWD");
        assert_eq!(usd.format(-1250), "-12.50 USD");
    }

    #[test]
    fn emails_and_phones_are_normalised() {
        assert_eq!(
            Email::parse(" Wang.Fang@Example.COM ").unwrap().as_str(),
            "wang.fang@example.com"
        );
        assert!(Email::parse("no-at-sign").is_err());
        assert!(Email::parse("a@b").is_err());
        assert_eq!(
            Phone::parse("'+1 (555) 010-2030").unwrap().as_str(),
            "+15550102030"
        );
        assert!(Phone::parse("call me").is_err());
    }

    #[test]
    fn time_zones_and_booleans_are_checked() {
        assert_eq!(parse_time_zone("Asia/Shanghai").unwrap(), "Asia/Shanghai");
        assert!(parse_time_zone("Mars/Olympus").is_err());
        assert_eq!(parse_bool("Yes"), Ok(Some(true)));
        assert_eq!(parse_bool(""), Ok(None));
        assert!(parse_bool("maybe").is_err());
    }
}
