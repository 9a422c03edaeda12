//! Support topics across languages: what lets a question in one language find an article
//! the shop wrote in another on keywords.
//!
//! BM25 only meets a question and a passage on shared words, and an embedding model of
//! kefu's size tells topics apart across languages by a few hundredths of a cosine. Yet
//! a customer-service question nearly always names a topic every shop's help pages use
//! the same handful of words for, in every language: shipping costs ("verzendkosten",
//! "frais de port", "送料", "배송비"), refunds, customs, vouchers. [`Lexicon`] holds
//! those words per topic ("concept") and language (`concepts.txt`, written from how shops
//! and customers write, not from any one shop).
//!
//! At re-index time every article gets a [`Profile`]: which concepts its title, its
//! headings and its text name, in whatever language it is written. A question's concepts,
//! read in any language, then count for the articles that name them, most when a title or
//! heading does, weighted by how few of the shop's articles share them (a concept every
//! page names tells none apart). Search adds this evidence to its ranking
//! ([`crate::search`]) and may reach an article the keywords alone did not.

use std::collections::HashMap;
use std::sync::LazyLock;

/// The built-in lexicon.
const CONCEPTS: &str = include_str!("concepts.txt");

/// Weight of a concept named in an article's title, in one of its headings, and only in
/// its text.
const IN_TITLE: f32 = 1.0;
const IN_HEADING: f32 = 0.7;
const IN_TEXT: f32 = 0.3;

/// One concept: its words per language (lowercased, accents folded).
#[derive(Debug, Clone)]
pub struct Concept {
    pub id: String,
    pub words: Vec<(String, Vec<String>)>,
}

impl Concept {
    /// The concept's words in `lang` (its primary subtag, or the full tag for Chinese
    /// scripts), if the lexicon has them.
    pub fn words_in(&self, lang: &str) -> Option<&[String]> {
        let lower = lang.to_lowercase();
        let primary = lower.split(['-', '_']).next().unwrap_or(&lower);
        self.words
            .iter()
            .find(|(l, _)| l.to_lowercase() == lower)
            .or_else(|| {
                self.words.iter().find(|(l, _)| {
                    let l = l.to_lowercase();
                    l.split('-').next() == Some(primary)
                })
            })
            .map(|(_, w)| w.as_slice())
    }
}

/// Concepts and their words in each language.
#[derive(Debug, Clone, Default)]
pub struct Lexicon {
    pub concepts: Vec<Concept>,
}

/// The built-in lexicon, parsed once.
pub fn builtin() -> &'static Lexicon {
    static LEXICON: LazyLock<Lexicon> = LazyLock::new(|| {
        Lexicon::parse(CONCEPTS).unwrap_or_else(|err| {
            // The file ships inside the binary and is checked by a unit test.
            tracing::error!(%err, "the built-in concepts could not be read; searching without them");
            Lexicon::default()
        })
    });
    &LEXICON
}

impl Lexicon {
    /// Reads `[concept]` blocks of `lang: word | word` lines; `#` starts a comment. The
    /// error names the line and what is wrong with it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut concepts: Vec<Concept> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(id) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                concepts.push(Concept {
                    id: id.trim().to_owned(),
                    words: Vec::new(),
                });
                continue;
            }
            let Some((lang, words)) = line.split_once(':') else {
                return Err(format!(
                    "line {}: expected `[concept]` or `lang: word | word`",
                    n + 1
                ));
            };
            let Some(concept) = concepts.last_mut() else {
                return Err(format!(
                    "line {}: words before the first `[concept]`",
                    n + 1
                ));
            };
            let words: Vec<String> = words
                .split('|')
                .map(fold)
                .filter(|w| !w.is_empty())
                .collect();
            if words.is_empty() {
                return Err(format!("line {}: no words for `{}`", n + 1, lang.trim()));
            }
            concept.words.push((lang.trim().to_owned(), words));
        }
        Ok(Self { concepts })
    }

    /// Every concept and language of `langs` the lexicon has no words for, as
    /// "concept-id: lang"; empty when every concept speaks every one of them.
    pub fn unspoken(&self, langs: &[&str]) -> Vec<String> {
        self.concepts
            .iter()
            .flat_map(|c| {
                langs
                    .iter()
                    .filter(|lang| c.words_in(lang).is_none_or(|w| w.is_empty()))
                    .map(move |lang| format!("{}: {lang}", c.id))
            })
            .collect()
    }

    /// The concepts `text` names, in any language, by index into `concepts`.
    pub fn named_in(&self, text: &str) -> Vec<usize> {
        let text = Folded::new(text);
        self.concepts
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                c.words
                    .iter()
                    .flat_map(|(_, w)| w)
                    .any(|w| text.mentions(w))
            })
            .map(|(i, _)| i)
            .collect()
    }
}

/// Which concepts an article names, and how prominently: a weight per concept index.
pub type Profile = HashMap<usize, f32>;

/// Profiles of a shop's articles, per translation group, and how many groups name each
/// concept.
#[derive(Debug, Clone, Default)]
pub struct Profiles {
    pub groups: HashMap<String, Profile>,
    /// Groups naming each concept.
    pub spread: HashMap<usize, usize>,
}

/// One translation of an article, as [`Profiles::build`] reads it.
pub struct Article<'a> {
    pub group: &'a str,
    pub title: &'a str,
    pub body: &'a str,
}

impl Profiles {
    /// Reads every article's concepts; a group's weight for a concept is the highest any
    /// of its translations gives it.
    pub fn build<'a>(lexicon: &Lexicon, articles: impl IntoIterator<Item = Article<'a>>) -> Self {
        let mut groups: HashMap<String, Profile> = HashMap::new();
        for article in articles {
            let profile = groups.entry(article.group.to_owned()).or_default();
            let mut note = |text: &str, weight: f32| {
                for c in lexicon.named_in(text) {
                    let slot = profile.entry(c).or_insert(0.0);
                    *slot = slot.max(weight);
                }
            };
            note(article.title, IN_TITLE);
            let (headings, text): (Vec<&str>, Vec<&str>) = article
                .body
                .lines()
                .partition(|l| l.trim_start().starts_with('#'));
            note(&headings.join("\n"), IN_HEADING);
            note(&text.join("\n"), IN_TEXT);
        }
        let mut spread: HashMap<usize, usize> = HashMap::new();
        for profile in groups.values() {
            for c in profile.keys() {
                *spread.entry(*c).or_default() += 1;
            }
        }
        Self { groups, spread }
    }

    /// How well each group answers to the question's `concepts`, from 0 (names none) to
    /// 1 (names all of them in its title): the concepts' rarity-weighted share. Groups
    /// naming none are left out.
    pub fn scores(&self, concepts: &[usize]) -> HashMap<&str, f32> {
        let n = self.groups.len() as f32;
        let idf = |c: &usize| {
            let df = self.spread.get(c).copied().unwrap_or(0) as f32;
            (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
        };
        let total: f32 = concepts
            .iter()
            .filter(|c| self.spread.contains_key(c))
            .map(idf)
            .sum();
        if total <= 0.0 {
            return HashMap::new();
        }
        self.groups
            .iter()
            .filter_map(|(group, profile)| {
                let score: f32 = concepts
                    .iter()
                    .filter_map(|c| profile.get(c).map(|w| w * idf(c)))
                    .sum();
                (score > 0.0).then_some((group.as_str(), score / total))
            })
            .collect()
    }
}

/// Lowercase, with the accents of Latin letters taken off ("Rückerstattung" and
/// "ruckerstattung", "devolución" and "devolucion" meet).
pub fn fold(text: &str) -> String {
    text.trim().to_lowercase().chars().map(fold_char).collect()
}

/// A lowercase Latin letter without its accent ("é" → "e", "ß" → "s"); any other
/// character as it is.
pub fn fold_char(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
        'ç' => 'c',
        'è' | 'é' | 'ê' | 'ë' => 'e',
        'ì' | 'í' | 'î' | 'ï' => 'i',
        'ñ' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' => 'o',
        'ù' | 'ú' | 'û' | 'ü' => 'u',
        'ý' | 'ÿ' => 'y',
        'ß' => 's',
        c => c,
    }
}

/// A text read for concept words: folded ([`fold`]), and split into words with where
/// each begins, found by their first letters.
struct Folded {
    text: String,
    words: Vec<String>,
    /// Word positions by the word's first two characters.
    starts: HashMap<String, Vec<usize>>,
}

impl Folded {
    fn new(text: &str) -> Self {
        let text = fold(text);
        let words: Vec<String> = latin_words(&text);
        let mut starts: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, w) in words.iter().enumerate() {
            starts
                .entry(w.chars().take(2).collect())
                .or_default()
                .push(i);
        }
        Self {
            text,
            words,
            starts,
        }
    }

    /// Whether the text names folded `term`: Chinese, Japanese and Korean anywhere
    /// (written without spaces, or with particles attached); otherwise word by word, each
    /// word of five letters or more as the start of a word, so a stem or a singular
    /// covers inflections and compounds ("rücksend" in "Rücksendung", "plazo de
    /// devolución" in "plazos de devolución"), shorter ones whole ("vat" is not in
    /// "vater") except inside a phrase, where they may take an ending of up to two
    /// letters ("shipping cost" in "shipping costs").
    fn mentions(&self, term: &str) -> bool {
        if term.chars().any(is_cjk) {
            return self.text.contains(term);
        }
        let want = latin_words(term);
        let Some(first) = want.first() else {
            return false;
        };
        let key: String = first.chars().take(2).collect();
        let Some(positions) = self.starts.get(&key) else {
            return false;
        };
        let phrase = want.len() > 1;
        positions.iter().any(|&at| {
            want.iter().enumerate().all(|(k, w)| {
                self.words.get(at + k).is_some_and(|have| {
                    let letters = w.chars().count();
                    if letters >= 5 {
                        have.starts_with(w.as_str())
                    } else if phrase && letters >= 3 {
                        // Inside a phrase a short word may take an ending ("shipping
                        // costs", "frais de ports"): the phrase around it says which word.
                        have.starts_with(w.as_str()) && have.chars().count() <= letters + 2
                    } else {
                        have == w
                    }
                })
            })
        })
    }
}

/// Words of a text in alphabetic scripts: runs of letters and digits.
fn latin_words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric() || is_cjk(c))
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Han, kana and Hangul: scripts written without spaces between words.
pub fn is_cjk(c: char) -> bool {
    matches!(c,
        '\u{3040}'..='\u{30FF}'
        | '\u{3400}'..='\u{4DBF}'
        | '\u{4E00}'..='\u{9FFF}'
        | '\u{F900}'..='\u{FAFF}'
        | '\u{AC00}'..='\u{D7AF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = "\
# test lexicon
[shipping-cost]
en: shipping cost | postage
nl: verzendkosten | verzenden
ja: 送料
[refund]
en: refund | money back | money returned
de: rückerstattung | erstatt
";

    #[test]
    fn the_builtin_lexicon_reads_and_every_concept_speaks_every_answer_language() {
        let lexicon = Lexicon::parse(CONCEPTS).unwrap();
        assert!(lexicon.concepts.len() >= 20, "{}", lexicon.concepts.len());
        let langs = [
            "en", "de", "fr", "es", "pt", "it", "nl", "ja", "zh-CN", "zh-TW", "ko",
        ];
        assert_eq!(lexicon.unspoken(&langs), Vec::<String>::new());
        assert_eq!(
            Lexicon::parse(SMALL).unwrap().unspoken(&["en", "de"]),
            ["shipping-cost: de"]
        );
    }

    #[test]
    fn a_bad_line_is_named() {
        let err = Lexicon::parse("[a]\nen: x\nthis line has no colon\n").unwrap_err();
        assert!(err.starts_with("line 3:"), "{err}");
        let err = Lexicon::parse("en: x\n").unwrap_err();
        assert!(err.contains("line 1") && err.contains("before"), "{err}");
    }

    #[test]
    fn concepts_are_read_in_any_language_by_stem_or_in_running_text() {
        let lexicon = Lexicon::parse(SMALL).unwrap();
        let ids = |text: &str| -> Vec<&str> {
            lexicon
                .named_in(text)
                .into_iter()
                .map(|i| lexicon.concepts[i].id.as_str())
                .collect()
        };
        assert_eq!(ids("wat kost verzenden naar nederland?"), ["shipping-cost"]);
        assert_eq!(ids("日本への送料はいくら？"), ["shipping-cost"]);
        assert_eq!(ids("Wann wird mir der Betrag erstattet?"), ["refund"]);
        assert_eq!(ids("Rückerstattung"), ["refund"]);
        // A multi-word term matches with its words inflected.
        assert_eq!(ids("is the money returned quickly?"), ["refund"]);
        assert_eq!(ids("was my monies returned?"), Vec::<&str>::new());
        assert_eq!(ids("ruckerstattung bitte"), ["refund"]);
        assert!(ids("the postman").is_empty());
        assert!(ids("a postage-free offer").contains(&"shipping-cost"));
        assert_eq!(ids("Shipping costs by zone"), ["shipping-cost"]);
    }

    #[test]
    fn an_article_naming_the_concept_in_its_title_outranks_one_naming_it_in_passing() {
        let lexicon = Lexicon::parse(SMALL).unwrap();
        let profiles = Profiles::build(
            &lexicon,
            [
                Article {
                    group: "shipping",
                    title: "Shipping cost and times",
                    body: "## Zones\nWe ship everywhere.",
                },
                Article {
                    group: "refunds",
                    title: "Refunds",
                    body: "## When\nWe refund within 10 days. Postage is not refunded.",
                },
                Article {
                    group: "about",
                    title: "About us",
                    body: "## Who we are\nA small shop.",
                },
            ],
        );
        let shipping = lexicon.named_in("verzendkosten?");
        let scores = profiles.scores(&shipping);
        assert!(scores["shipping"] > scores["refunds"], "{scores:?}");
        assert!((scores["shipping"] - 1.0).abs() < 1e-6, "{scores:?}");
        assert!(!scores.contains_key("about"));
        assert!(profiles.scores(&[]).is_empty());
    }
}
