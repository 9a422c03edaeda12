//! kefu's one BM25 definition, shared by every index backend so keyword scores match
//! whether the index runs in-process or on a Qdrant server.
//!
//! The definition is Qdrant's BM25: [`config`] gives the JSON of Qdrant's `Bm25Config`
//! (REST, server-side inference with model `qdrant/bm25`), which is also what qdrant-edge's
//! `EdgeBm25Config` reads, so both backends turn the same text into the same sparse vector.
//! IDF is not part of the vectors: the index applies it (sparse vector with the IDF
//! modifier), over whatever passages it holds.
//!
//! Choices, per passage or query language (its BCP 47 tag):
//!
//! - Tokenizer `multilingual` for every language. It segments by the script it sees, not
//!   by our tag: Latin, Cyrillic and Greek text is split into words, Chinese is segmented
//!   with jieba, Japanese with vaporetto. A mislabelled passage, or a query of unknown
//!   language, is still split into words; only stop words and stemming follow the tag. It
//!   also strips accents from Latin script and maps traditional Chinese variants.
//!   Costs: tokens without a letter ("30", "2024") are dropped, German compounds are not
//!   split.
//! - Languages Qdrant knows (see [`LANGUAGES`]): that language's stop-word list, plus its
//!   Snowball stemmer where one exists (en, es, fr, de, pt, it, nl, ru, …). Chinese and
//!   Japanese get stop words only: there is nothing to stem. Every `zh` tag (zh-CN, zh-TW,
//!   zh-Hant) shares the Chinese config.
//! - Any other tag, or none: language-neutral, no stop words and no stemmer
//!   (`"language": "none"`, Qdrant's switch for it).
//! - Lowercase and ASCII folding everywhere, so "Straße"/"strasse" and "Política"/
//!   "politica" meet, for customers who type without accents and across languages.
//! - `k` 1.2 and `b` 0.75, the usual values; `avg_len` 80 tokens, about what a kefu chunk
//!   (at most 200 model tokens) keeps once stop words are gone, so length normalisation
//!   is centred on our documents rather than on Qdrant's default of 256.
//! - `max_token_len` 40 drops tracking codes, hashes and base64 noise; no minimum,
//!   because one CJK character can be a word.
//!
//! - Japanese text written without kana ("返品", "送料無料") would read as Chinese to the
//!   tokenizer, which decides from the share of kana, and be cut by the Chinese segmenter
//!   unlike the same word inside a Japanese sentence. [`prepare`] appends the particle
//!   "の", a Japanese stop word that adds no term, until it reads as Japanese. Backends run
//!   every passage and query text through [`prepare`] before embedding or sending it.
//!
//! A query is embedded with its own language's config: it matches passages of that
//! language on stems and stop-word-free terms, and passages of other languages only on
//! tokens that come out the same (brand names, model numbers, words that do not change).
//! Every value is spelled out rather than left to Qdrant's defaults, so a change of
//! defaults upstream cannot silently change kefu's vectors.

use std::borrow::Cow;

use serde_json::{Map, Value, json};

/// Bumped whenever the definition changes; stored in [`crate::Layout`], so an index built
/// with another definition is rebuilt rather than silently mixed.
pub const DEFINITION_VERSION: u32 = 2;

/// Term-frequency saturation.
pub const K: f64 = 1.2;
/// Document-length normalisation.
pub const B: f64 = 0.75;
/// Expected passage length in tokens after stop words.
pub const AVG_LEN: f64 = 80.0;
/// Longer tokens are dropped.
pub const MAX_TOKEN_LEN: usize = 40;
/// Qdrant's tokenizer for every language.
pub const TOKENIZER: &str = "multilingual";
/// The `language` value for language-neutral processing (no stop words, no stemmer).
pub const NEUTRAL: &str = "none";

/// A language Qdrant has stop words for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bm25Language {
    /// Primary subtags (ISO 639-1, and legacy codes still seen in the wild) that select it.
    pub tags: &'static [&'static str],
    /// Qdrant's name for it (`language`, `stopwords`, and `stemmer.language` values).
    pub name: &'static str,
    /// Qdrant has a Snowball stemmer for it.
    pub stemmer: bool,
}

const fn lang(tags: &'static [&'static str], name: &'static str, stemmer: bool) -> Bm25Language {
    Bm25Language {
        tags,
        name,
        stemmer,
    }
}

/// Every language with Qdrant stop words (Qdrant's `Language`), and whether it also has a
/// Snowball stemmer (Qdrant's `SnowballLanguage`). Armenian and Tamil have a stemmer but no
/// stop-word list, which Qdrant needs for the language name, so they stay neutral.
pub const LANGUAGES: &[Bm25Language] = &[
    lang(&["ar"], "arabic", true),
    lang(&["az"], "azerbaijani", false),
    lang(&["eu"], "basque", false),
    lang(&["bn"], "bengali", false),
    lang(&["ca"], "catalan", false),
    lang(&["zh"], "chinese", false),
    lang(&["da"], "danish", true),
    lang(&["nl"], "dutch", true),
    lang(&["en"], "english", true),
    lang(&["fi"], "finnish", true),
    lang(&["fr"], "french", true),
    lang(&["de"], "german", true),
    lang(&["el"], "greek", true),
    lang(&["he", "iw"], "hebrew", false),
    lang(&["hu"], "hungarian", true),
    lang(&["id", "in"], "indonesian", false),
    lang(&["it"], "italian", true),
    lang(&["ja"], "japanese", false),
    lang(&["kk"], "kazakh", false),
    lang(&["ne"], "nepali", false),
    lang(&["no", "nb", "nn"], "norwegian", true),
    lang(&["pt"], "portuguese", true),
    lang(&["ro", "mo"], "romanian", true),
    lang(&["ru"], "russian", true),
    lang(&["sl"], "slovene", false),
    lang(&["es"], "spanish", true),
    lang(&["sv"], "swedish", true),
    lang(&["tg"], "tajik", false),
    lang(&["tr"], "turkish", true),
];

/// The Qdrant language for a BCP 47 tag (`zh-TW` → Chinese), `None` when it gets
/// language-neutral processing.
pub fn language(tag: Option<&str>) -> Option<&'static Bm25Language> {
    let tag = tag?.trim();
    let primary = tag.split(['-', '_']).next().unwrap_or(tag);
    LANGUAGES
        .iter()
        .find(|l| l.tags.iter().any(|t| t.eq_ignore_ascii_case(primary)))
}

/// The Qdrant `Bm25Config` JSON for text in this language (`None`: unknown).
pub fn config(tag: Option<&str>) -> Value {
    config_for(language(tag))
}

/// The Qdrant `Bm25Config` JSON for a resolved language (`None`: language-neutral).
pub fn config_for(language: Option<&Bm25Language>) -> Value {
    let mut config = Map::new();
    config.insert("k".into(), json!(K));
    config.insert("b".into(), json!(B));
    config.insert("avg_len".into(), json!(AVG_LEN));
    config.insert("tokenizer".into(), json!(TOKENIZER));
    config.insert("lowercase".into(), json!(true));
    config.insert("ascii_folding".into(), json!(true));
    config.insert("max_token_len".into(), json!(MAX_TOKEN_LEN));
    match language {
        Some(language) => {
            config.insert("language".into(), json!(language.name));
            config.insert("stopwords".into(), json!(language.name));
            if language.stemmer {
                config.insert(
                    "stemmer".into(),
                    json!({ "type": "snowball", "language": language.name }),
                );
            }
        }
        // Qdrant derives stop words and stemmer from the language when they are absent;
        // "none" names no language, so there are neither.
        None => {
            config.insert("language".into(), json!(NEUTRAL));
        }
    }
    Value::Object(config)
}

/// A Japanese particle and stop word: makes text read as Japanese without adding a term.
const JAPANESE_MARKER: &str = " の";
/// A Chinese particle and stop word: makes text read as Chinese without adding a term.
const CHINESE_MARKER: &str = " 的";

/// The text to embed, as kefu's definition wants it: unchanged, except Chinese or
/// Japanese text the tokenizer would not read as such (see the module documentation):
/// Japanese with too little kana, and text that also holds more letters of another
/// script (a product passage's Latin vendor, sizes and currency; a question naming a
/// product in English), which the tokenizer would otherwise cut as that script, leaving
/// every Chinese or Japanese run whole.
pub fn prepare<'a>(tag: Option<&str>, text: &'a str) -> Cow<'a, str> {
    let (japanese, marker) = match language(tag).map(|l| l.name) {
        Some("japanese") => (true, JAPANESE_MARKER),
        Some("chinese") => (false, CHINESE_MARKER),
        _ => return Cow::Borrowed(text),
    };
    let (mut han, mut hiragana, mut katakana, mut other) = (0usize, 0usize, 0usize, 0usize);
    for c in text.chars() {
        if is_han(c) {
            han += 1;
        } else if is_kana(c) {
            if ('\u{3040}'..='\u{309F}').contains(&c) {
                hiragana += 1;
            } else {
                katakana += 1;
            }
        } else if c.is_alphabetic() {
            other += 1;
        }
    }
    if han + hiragana + katakana == 0 {
        return Cow::Borrowed(text);
    }
    // The script is the one with the most letters, so the markers (hiragana for
    // Japanese, Han for Chinese) make one of ours outnumber the others.
    let (ours, marked_script) = if japanese {
        (han.max(katakana), hiragana)
    } else {
        (han, han)
    };
    let for_script = if ours > other {
        0
    } else {
        (other + 1).saturating_sub(marked_script)
    };
    // The detector (whatlang) calls Han text Japanese above 5% kana; aim for a quarter,
    // so kana + n >= (han + kana + n) / 4, that is 3n >= han - 3 kana.
    let for_kana = if japanese {
        han.saturating_sub(3 * (hiragana + katakana)).div_ceil(3)
    } else {
        0
    };
    let missing = for_script.max(for_kana);
    if missing == 0 {
        return Cow::Borrowed(text);
    }
    let mut marked = String::with_capacity(text.len() + missing * marker.len());
    marked.push_str(text);
    for _ in 0..missing {
        marked.push_str(marker);
    }
    Cow::Owned(marked)
}

fn is_kana(c: char) -> bool {
    matches!(c, '\u{3040}'..='\u{30FF}' | '\u{31F0}'..='\u{31FF}' | '\u{FF66}'..='\u{FF9F}')
}

fn is_han(c: char) -> bool {
    matches!(
        c,
        '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' | '\u{F900}'..='\u{FAFF}'
            | '\u{20000}'..='\u{2FA1F}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_gets_its_stop_words_and_snowball_stemmer_with_every_field_spelled_out() {
        assert_eq!(
            config(Some("en")),
            json!({
                "k": 1.2,
                "b": 0.75,
                "avg_len": 80.0,
                "tokenizer": "multilingual",
                "language": "english",
                "lowercase": true,
                "ascii_folding": true,
                "stopwords": "english",
                "stemmer": { "type": "snowball", "language": "english" },
                "max_token_len": 40,
            })
        );
    }

    #[test]
    fn regions_and_case_do_not_change_the_language() {
        assert_eq!(config(Some("es-MX")), config(Some("es")));
        assert_eq!(config(Some("EN_us")), config(Some("en")));
        assert_eq!(config(Some("pt-BR"))["stemmer"]["language"], "portuguese");
        assert_eq!(config(Some("nb"))["language"], "norwegian");
    }

    #[test]
    fn every_chinese_tag_shares_one_config_with_stop_words_and_no_stemmer() {
        let zh = config(Some("zh-CN"));
        assert_eq!(zh["language"], "chinese");
        assert_eq!(zh["stopwords"], "chinese");
        assert_eq!(zh["tokenizer"], "multilingual");
        assert!(zh.get("stemmer").is_none());
        assert_eq!(config(Some("zh-TW")), zh);
        assert_eq!(config(Some("zh-Hant")), zh);
        assert_eq!(config(Some("zh")), zh);
    }

    #[test]
    fn japanese_gets_stop_words_and_no_stemmer() {
        let ja = config(Some("ja"));
        assert_eq!(ja["language"], "japanese");
        assert_eq!(ja["stopwords"], "japanese");
        assert!(ja.get("stemmer").is_none());
    }

    #[test]
    fn kefus_document_languages_are_all_stemmed_except_chinese_and_japanese() {
        for tag in ["en", "es", "fr", "de", "pt", "it"] {
            assert!(config(Some(tag)).get("stemmer").is_some(), "{tag}");
        }
    }

    #[test]
    fn unknown_or_missing_languages_are_neutral() {
        for tag in [
            None,
            Some("ko"),
            Some("vi"),
            Some("hy"),
            Some(""),
            Some("x-klingon"),
        ] {
            let neutral = config(tag);
            assert_eq!(neutral["language"], "none", "{tag:?}");
            assert!(neutral.get("stemmer").is_none());
            assert!(neutral.get("stopwords").is_none());
            assert_eq!(neutral["tokenizer"], "multilingual");
            assert_eq!(neutral["ascii_folding"], true);
        }
        assert_eq!(language(Some("ko")), None);
    }

    #[test]
    fn japanese_written_in_kanji_alone_is_marked_as_japanese() {
        assert_eq!(prepare(Some("ja"), "返品"), "返品 の");
        assert_eq!(prepare(Some("ja-JP"), "送料無料"), "送料無料 の の");
        let long = "送料無料対象商品一覧";
        let marked = prepare(Some("ja"), long);
        let kana = marked.chars().filter(|c| *c == 'の').count();
        assert!(kana * 4 >= long.chars().count() + kana, "{marked}");
    }

    #[test]
    fn japanese_with_enough_kana_and_other_languages_are_left_alone() {
        let sentence = "商品到着後30日以内であれば返品できます。";
        assert!(matches!(prepare(Some("ja"), sentence), Cow::Borrowed(_)));
        assert!(matches!(prepare(Some("zh-CN"), "退货"), Cow::Borrowed(_)));
        assert!(matches!(prepare(None, "返品"), Cow::Borrowed(_)));
        assert!(matches!(
            prepare(Some("ja"), "iPhone case"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn chinese_and_japanese_outnumbered_by_latin_letters_are_marked() {
        // A product passage: the title and description, then vendor, sizes and prices.
        let passage =
            "南部鉄瓶\n\n岩手の南部鉄器の鉄瓶です。\n\n- Teaware\n- Iwachu\n- 0.6 l: 98.00 USD";
        let marked = prepare(Some("ja"), passage);
        let hiragana = marked
            .chars()
            .filter(|c| ('\u{3040}'..='\u{309F}').contains(c))
            .count();
        let latin = marked.chars().filter(char::is_ascii_alphabetic).count();
        assert_eq!((hiragana, latin), (latin + 1, 17), "{marked}");
        let zh = prepare(
            Some("zh-CN"),
            "龙井绿茶\n\n- Lotus & Pine\n- Default: 24.50 USD",
        );
        assert_eq!(
            zh.trim_start_matches("龙井绿茶\n\n- Lotus & Pine\n- Default: 24.50 USD"),
            " 的".repeat(19 + 1 - 4)
        );
        // Enough Han already: left alone.
        assert!(matches!(
            prepare(Some("zh-CN"), "杭州西湖龙井，锅炒绿茶，栗香鲜爽 USD"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn every_language_has_distinct_tags_and_a_lowercase_qdrant_name() {
        let mut seen = std::collections::BTreeSet::new();
        for language in LANGUAGES {
            assert_eq!(language.name, language.name.to_ascii_lowercase());
            for tag in language.tags {
                assert!(seen.insert(*tag), "{tag} listed twice");
            }
        }
    }
}
