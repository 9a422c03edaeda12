//! Another customer's tracking numbers, names and street addresses in a reply.
//!
//! A [`Directory`] holds every customer's data of these kinds, read from the store once
//! per run; [`Directory::leaks`] finds them in one reply. What the asking customer owns
//! is never a leak, even when another customer owns the same (two customers with the
//! same name, or at the same street address), and neither is what the customer wrote
//! themselves. Order numbers and e-mail addresses are checked against the store token by
//! token (`run.rs`).
//!
//! - A tracking number is found as a whole word, in any letter case.
//! - A name is found only whole: every word of it, in order or surname first
//!   ("Emily Johnson", "Johnson Emily", "JOHNSON, Emily"). A first name alone is no leak
//!   (it may be the asking customer's own, or an ordinary word), and a name of one word
//!   is not looked for. A name in Chinese or Japanese script is found as written,
//!   whatever the spaces ("田中 ゆき" in "田中ゆき様").
//! - A street address is an order's first address line (`5 Rue de la République`),
//!   found whole with its house number; the street's name alone is no leak.

use std::collections::{BTreeSet, HashMap};

use futures::StreamExt;

use kefu_bot::store::{CustomerId, Store, StoreError};

/// One customer's data the check looks for in replies.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Person {
    pub customer: CustomerId,
    /// The customer's name and the recipient names on their orders.
    pub names: Vec<String>,
    /// The tracking numbers of their orders' parcels.
    pub tracking_numbers: Vec<String>,
    /// The first address line of their orders' shipping addresses.
    pub streets: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    TrackingNumber,
    Name,
    Street,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::TrackingNumber => "tracking number",
            Kind::Name => "name",
            Kind::Street => "street address",
        }
    }
}

/// How a piece of data is found in a text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Pattern {
    /// These words, in this order, among the text's words.
    Words(Vec<String>),
    /// This run of characters in the text with its spaces taken out (Chinese and
    /// Japanese are written without spaces between words).
    Compact(String),
}

#[derive(Debug)]
struct Entry {
    kind: Kind,
    /// As the store has it, for the report.
    shown: String,
    pattern: Pattern,
    owners: BTreeSet<CustomerId>,
}

/// Every customer's tracking numbers, names and street addresses.
#[derive(Debug, Default)]
pub struct Directory {
    entries: Vec<Entry>,
    at: HashMap<(Kind, Pattern), usize>,
    /// Entries of `Pattern::Words` by their first word.
    by_first_word: HashMap<String, Vec<usize>>,
    compact: Vec<usize>,
}

/// Customers read at the same time while loading.
const LOAD_JOBS: usize = 8;

impl Directory {
    /// Reads every customer's data from the store.
    pub async fn load(store: &Store) -> Result<Self, StoreError> {
        let customers = store.segment_customers().await?;
        let people: Vec<Result<Person, StoreError>> = futures::stream::iter(customers)
            .map(|c| async move {
                let mut person = Person {
                    customer: c.id,
                    names: c.name.into_iter().collect(),
                    ..Person::default()
                };
                for order in store.orders_of(c.id).await? {
                    if let Some(address) = &order.shipping_address {
                        person.names.extend(address.name.clone());
                        person.streets.extend(address.address1.clone());
                    }
                    for parcel in store.shipments_of(order.id).await? {
                        person.tracking_numbers.push(parcel.tracking_number);
                    }
                }
                Ok(person)
            })
            .buffer_unordered(LOAD_JOBS)
            .collect()
            .await;
        Ok(Self::new(
            people.into_iter().collect::<Result<Vec<_>, _>>()?,
        ))
    }

    pub fn new(people: impl IntoIterator<Item = Person>) -> Self {
        let mut d = Self::default();
        for p in people {
            for t in &p.tracking_numbers {
                let words = words(t);
                if words.concat().chars().count() >= 6 && t.chars().any(|c| c.is_ascii_digit()) {
                    d.add(Kind::TrackingNumber, t, Pattern::Words(words), p.customer);
                }
            }
            for name in &p.names {
                if is_cjk_text(name) {
                    let compact = compact(name);
                    if compact.chars().count() >= 2 {
                        d.add(Kind::Name, name, Pattern::Compact(compact), p.customer);
                    }
                    continue;
                }
                let words = words(name);
                if words.len() < 2 {
                    continue;
                }
                // Surname first: the last word, then the others.
                let mut surname_first = words.clone();
                surname_first.rotate_right(1);
                d.add(Kind::Name, name, Pattern::Words(words), p.customer);
                d.add(Kind::Name, name, Pattern::Words(surname_first), p.customer);
            }
            for street in &p.streets {
                if is_cjk_text(street) {
                    let compact = compact(street);
                    if compact.chars().count() >= 4 {
                        d.add(Kind::Street, street, Pattern::Compact(compact), p.customer);
                    }
                    continue;
                }
                let words = words(street);
                if words.len() >= 2 {
                    d.add(Kind::Street, street, Pattern::Words(words), p.customer);
                }
            }
        }
        d
    }

    fn add(&mut self, kind: Kind, shown: &str, pattern: Pattern, owner: CustomerId) {
        if let Some(&i) = self.at.get(&(kind, pattern.clone())) {
            self.entries[i].owners.insert(owner);
            return;
        }
        let i = self.entries.len();
        match &pattern {
            Pattern::Words(w) => self.by_first_word.entry(w[0].clone()).or_default().push(i),
            Pattern::Compact(_) => self.compact.push(i),
        }
        self.at.insert((kind, pattern.clone()), i);
        self.entries.push(Entry {
            kind,
            shown: shown.trim().to_string(),
            pattern,
            owners: BTreeSet::from([owner]),
        });
    }

    /// Another customer's data in `reply`, in words: none of `own`'s (the asking
    /// customer; none for an anonymous visitor) and nothing the customer wrote in
    /// `said`. Each piece once.
    pub fn leaks(&self, own: &[CustomerId], said: &str, reply: &str) -> Vec<String> {
        let said = Text::new(said);
        let reply = Text::new(reply);
        let mut found: BTreeSet<usize> = BTreeSet::new();
        for i in reply.hits(self) {
            let e = &self.entries[i];
            if own.iter().any(|c| e.owners.contains(c)) || said.wrote(e) {
                continue;
            }
            found.insert(i);
        }
        // A name found in order and surname first is one leak.
        let mut out: Vec<String> = Vec::new();
        for i in found {
            let e = &self.entries[i];
            let line = format!("{} {} of another customer", e.kind.label(), e.shown);
            if !out.contains(&line) {
                out.push(line);
            }
        }
        out
    }
}

/// A text as the patterns are looked for in it.
struct Text {
    words: Vec<String>,
    compact: String,
}

impl Text {
    fn new(text: &str) -> Self {
        Self {
            words: words(text),
            compact: compact(text),
        }
    }

    fn has(&self, pattern: &Pattern) -> bool {
        match pattern {
            Pattern::Words(w) => self.words.windows(w.len()).any(|at| at == w.as_slice()),
            Pattern::Compact(c) => self.compact.contains(c.as_str()),
        }
    }

    /// Whether the customer wrote this entry's data: a name in either order.
    fn wrote(&self, e: &Entry) -> bool {
        if self.has(&e.pattern) {
            return true;
        }
        let Pattern::Words(words) = &e.pattern else {
            return false;
        };
        e.kind == Kind::Name
            && [1, words.len() - 1].into_iter().any(|n| {
                let mut other = words.clone();
                other.rotate_left(n);
                self.has(&Pattern::Words(other))
            })
    }

    /// The directory's entries found in this text.
    fn hits<'a>(&'a self, d: &'a Directory) -> impl Iterator<Item = usize> + 'a {
        let by_words = self.words.iter().enumerate().flat_map(move |(at, word)| {
            d.by_first_word
                .get(word)
                .into_iter()
                .flatten()
                .copied()
                .filter(move |&i| match &d.entries[i].pattern {
                    Pattern::Words(w) => self.words[at..].starts_with(w),
                    Pattern::Compact(_) => false,
                })
        });
        let by_run = d
            .compact
            .iter()
            .copied()
            .filter(move |&i| self.has(&d.entries[i].pattern));
        by_words.chain(by_run)
    }
}

/// The text's words in lower case: runs of letters and digits; everything else
/// (spaces, punctuation, `-`, `'`, `#`) separates them.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The text in lower case without spaces and name separators.
fn compact(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '・' | '·' | '･'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether the text holds Chinese, Japanese or Korean script.
fn is_cjk_text(text: &str) -> bool {
    text.chars().any(|c| {
        matches!(c,
            '\u{3040}'..='\u{30ff}'   // hiragana, katakana
            | '\u{3400}'..='\u{4dbf}' // CJK extension A
            | '\u{4e00}'..='\u{9fff}' // CJK unified ideographs
            | '\u{ac00}'..='\u{d7af}' // hangul syllables
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMILY: CustomerId = 2;
    const LUKAS: CustomerId = 5;
    const WANG: CustomerId = 1;
    const DANIEL_A: CustomerId = 8;
    const DANIEL_B: CustomerId = 40;

    fn shop() -> Directory {
        Directory::new([
            Person {
                customer: EMILY,
                names: vec!["Emily Johnson".into()],
                tracking_numbers: vec!["1Z999AA10123456784".into()],
                streets: vec!["79 S Congress Ave".into()],
            },
            Person {
                customer: LUKAS,
                names: vec!["Lukas Müller".into(), "Anna Müller".into()],
                tracking_numbers: vec!["00340434400927636618".into()],
                streets: vec!["Sendlinger Str. 1".into()],
            },
            Person {
                customer: WANG,
                names: vec!["王芳".into()],
                tracking_numbers: vec!["SF1234567890".into()],
                streets: vec!["中正四路5號".into()],
            },
            // Two customers of the same name, at the same street address.
            Person {
                customer: DANIEL_A,
                names: vec!["Daniel Johnson".into()],
                tracking_numbers: vec!["PK000239713ES".into()],
                streets: vec!["5 Rue de la République".into()],
            },
            Person {
                customer: DANIEL_B,
                names: vec!["Daniel Johnson".into()],
                tracking_numbers: vec!["PK001414314ES".into()],
                streets: vec!["5 Rue de la République".into()],
            },
        ])
    }

    #[test]
    fn another_customers_tracking_number_is_a_leak() {
        let d = shop();
        let reply = "Your parcel is on its way with DHL: tracking 00340434400927636618.";
        assert_eq!(
            d.leaks(&[EMILY], "where is my parcel?", reply),
            ["tracking number 00340434400927636618 of another customer"]
        );
        // In a link and in lower case too.
        assert_eq!(
            d.leaks(
                &[LUKAS],
                "wo ist mein Paket?",
                "https://t.17track.net/en#nums=sf1234567890"
            ),
            ["tracking number SF1234567890 of another customer"]
        );
        // An anonymous visitor owns nothing.
        assert_eq!(
            d.leaks(&[], "hi", "Tracking: PK000239713ES"),
            ["tracking number PK000239713ES of another customer"]
        );
    }

    #[test]
    fn the_customers_own_tracking_number_or_one_they_wrote_is_no_leak() {
        let d = shop();
        assert!(
            d.leaks(
                &[LUKAS],
                "wo ist mein Paket?",
                "Sendungsnummer 00340434400927636618"
            )
            .is_empty()
        );
        assert!(
            d.leaks(
                &[EMILY],
                "what is SF1234567890?",
                "I can't find parcel SF1234567890 among your orders."
            )
            .is_empty()
        );
        // A customer the conversation verified besides the case's own (a visitor who
        // proved an order is theirs) owns their data too.
        assert!(
            d.leaks(
                &[EMILY, LUKAS],
                "#1044 lukas@example.com",
                "Tracking: 00340434400927636618"
            )
            .is_empty()
        );
        // A longer number that only holds one is another number.
        assert!(
            d.leaks(&[EMILY], "hi", "reference SF12345678901")
                .is_empty()
        );
    }

    #[test]
    fn another_customers_full_name_is_a_leak_in_either_order() {
        let d = shop();
        for reply in [
            "That order belongs to Lukas Müller.",
            "Kunde: MÜLLER, Lukas",
            "Empfängerin: Anna Müller",
        ] {
            let leaks = d.leaks(&[EMILY], "whose order is #1044?", reply);
            assert_eq!(leaks.len(), 1, "{reply}: {leaks:?}");
            assert!(
                leaks[0].starts_with("name ") && leaks[0].contains("Müller of another customer"),
                "{reply}: {leaks:?}"
            );
        }
        // Chinese is written without spaces.
        assert_eq!(
            d.leaks(&[EMILY], "你好", "订单属于王芳女士。"),
            ["name 王芳 of another customer"]
        );
    }

    #[test]
    fn a_first_name_alone_or_the_customers_own_name_is_no_leak() {
        let d = shop();
        // Lukas is another customer's first name; alone it names nobody.
        assert!(
            d.leaks(
                &[EMILY],
                "hi",
                "Hi Emily! Lukas from our team will call you."
            )
            .is_empty()
        );
        // Surname alone: no leak either.
        assert!(
            d.leaks(&[EMILY], "hi", "Müller is a brand we sell.")
                .is_empty()
        );
        // The asking customer's own name, and hers even when another customer has it too.
        assert!(d.leaks(&[EMILY], "hi", "Hello Emily Johnson!").is_empty());
        assert!(
            d.leaks(&[DANIEL_A], "hi", "Hello Daniel Johnson!")
                .is_empty()
        );
        assert_eq!(
            d.leaks(&[EMILY], "hi", "Hello Daniel Johnson!"),
            ["name Daniel Johnson of another customer"]
        );
        // A name the customer wrote themselves, in either order.
        assert!(
            d.leaks(
                &[EMILY],
                "What did Lukas Müller order?",
                "I can't share Lukas Müller's orders."
            )
            .is_empty()
        );
        assert!(
            d.leaks(
                &[EMILY],
                "What did Lukas Müller order?",
                "Kunde MÜLLER, Lukas: keine Auskunft."
            )
            .is_empty()
        );
    }

    #[test]
    fn another_customers_street_address_is_a_leak() {
        let d = shop();
        assert_eq!(
            d.leaks(
                &[EMILY],
                "where does #1044 go?",
                "It ships to sendlinger str 1, 80331 München."
            ),
            ["street address Sendlinger Str. 1 of another customer"]
        );
        assert_eq!(
            d.leaks(&[LUKAS], "hi", "送货地址：台中市西屯區中正四路5號"),
            ["street address 中正四路5號 of another customer"]
        );
        // Every kind found in one reply, each once.
        assert_eq!(
            d.leaks(
                &[],
                "hi",
                "Emily Johnson, 79 S Congress Ave, parcel 1Z999AA10123456784 (Johnson Emily)"
            ),
            [
                "tracking number 1Z999AA10123456784 of another customer",
                "name Emily Johnson of another customer",
                "street address 79 S Congress Ave of another customer",
            ]
        );
    }

    #[test]
    fn the_customers_own_street_or_a_street_name_alone_is_no_leak() {
        let d = shop();
        assert!(
            d.leaks(&[LUKAS], "hi", "We ship to Sendlinger Str. 1, Köln.")
                .is_empty()
        );
        // The same street line as another customer's is still the customer's own.
        assert!(
            d.leaks(
                &[DANIEL_B],
                "hi",
                "Shipping to 5 Rue de la République, Lyon."
            )
            .is_empty()
        );
        // Without the house number it names a street, not an address.
        assert!(
            d.leaks(&[EMILY], "hi", "Our Lyon shop is on Rue de la République.")
                .is_empty()
        );
        // An address the customer wrote (a new address for their order).
        assert!(
            d.leaks(
                &[EMILY],
                "please ship to Sendlinger Str. 1 instead",
                "Done: your order now ships to Sendlinger Str. 1."
            )
            .is_empty()
        );
    }
}
