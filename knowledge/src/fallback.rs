//! Which language to quote an article in when the shop has not written it in the
//! customer's: the languages the customer most likely reads, in order.

use std::collections::BTreeMap;

use crate::search::same_language;

/// Per customer language, the languages to fall back to, most readable first. Built-in
/// defaults put close languages first (the other Chinese script, the neighbouring
/// Iberian, Scandinavian or Low German language) and English as the general fallback;
/// no language gets an unrelated script before English. The shop's own table
/// (`[agent] fallback_languages`) replaces the defaults for the languages it names.
#[derive(Debug, Clone, PartialEq)]
pub struct FallbackLanguages {
    table: BTreeMap<String, Vec<String>>,
}

/// The built-in table; every language it does not name falls back to English.
const DEFAULTS: &[(&str, &[&str])] = &[
    ("zh-TW", &["zh-CN", "en"]),
    ("zh-HK", &["zh-TW", "zh-CN", "en"]),
    ("zh-CN", &["zh-TW", "en"]),
    ("pt", &["es", "en"]),
    ("gl", &["pt", "es", "en"]),
    ("es", &["pt", "en"]),
    ("ca", &["es", "fr", "en"]),
    ("it", &["es", "fr", "en"]),
    ("fr", &["en"]),
    ("de", &["en"]),
    ("nl", &["de", "en"]),
    ("da", &["nb", "sv", "en"]),
    ("nb", &["da", "sv", "en"]),
    ("no", &["nb", "da", "sv", "en"]),
    ("sv", &["nb", "da", "en"]),
    ("uk", &["ru", "en"]),
    ("ru", &["uk", "en"]),
    ("ja", &["en"]),
    ("ko", &["en"]),
    ("en", &[]),
];

impl Default for FallbackLanguages {
    fn default() -> Self {
        Self {
            table: DEFAULTS
                .iter()
                .map(|(lang, list)| {
                    (
                        (*lang).to_owned(),
                        list.iter().map(|l| (*l).to_owned()).collect(),
                    )
                })
                .collect(),
        }
    }
}

impl FallbackLanguages {
    /// The defaults with the shop's entries on top (an entry replaces the default list of
    /// its language).
    pub fn with_overrides<I, L>(overrides: I) -> Self
    where
        I: IntoIterator<Item = (String, L)>,
        L: IntoIterator<Item = String>,
    {
        let mut out = Self::default();
        for (lang, list) in overrides {
            out.table.retain(|k, _| !k.eq_ignore_ascii_case(&lang));
            out.table.insert(lang, list.into_iter().collect());
        }
        out
    }

    /// The languages to try after `lang`, most readable first. An exact entry wins, then
    /// one for the same language (`pt-BR` reads `pt`'s list; `zh-Hant` reads `zh-TW`'s),
    /// then English.
    pub fn after(&self, lang: &str) -> Vec<String> {
        let entry = self
            .table
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(lang))
            .or_else(|| self.table.iter().find(|(k, _)| same_language(k, lang)))
            .or_else(|| self.table.iter().find(|(k, _)| same_language(lang, k)));
        let list = match entry {
            Some((_, list)) => list.clone(),
            None => vec!["en".to_owned()],
        };
        list.into_iter()
            .filter(|l| !same_language(lang, l))
            .collect()
    }

    /// `lang` itself, then [`Self::after`].
    pub fn order(&self, lang: &str) -> Vec<String> {
        let mut out = vec![lang.to_owned()];
        out.extend(self.after(lang));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_put_close_languages_first_and_english_before_other_scripts() {
        let f = FallbackLanguages::default();
        assert_eq!(f.after("pt"), ["es", "en"]);
        assert_eq!(f.after("pt-BR"), ["es", "en"]);
        assert_eq!(f.after("es"), ["pt", "en"]);
        assert_eq!(f.after("zh-TW"), ["zh-CN", "en"]);
        assert_eq!(f.after("zh-Hant"), ["zh-CN", "en"]);
        assert_eq!(f.after("zh-CN"), ["zh-TW", "en"]);
        assert_eq!(f.after("zh"), ["zh-TW", "en"]);
        assert_eq!(f.after("de"), ["en"]);
        assert_eq!(f.after("ja"), ["en"]);
        assert_eq!(f.after("tr"), ["en"]);
        assert_eq!(f.after("en"), Vec::<String>::new());
        assert_eq!(f.order("fr"), ["fr", "en"]);
    }

    #[test]
    fn the_shops_table_replaces_a_languages_list() {
        let f = FallbackLanguages::with_overrides([
            ("pt".to_owned(), vec!["en".to_owned()]),
            ("tr".to_owned(), vec!["de".to_owned(), "en".to_owned()]),
        ]);
        assert_eq!(f.after("pt"), ["en"]);
        assert_eq!(f.after("tr"), ["de", "en"]);
        assert_eq!(f.after("es"), ["pt", "en"]);
    }
}
