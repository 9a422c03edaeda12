//! Which translation of the shop's content (a product's title and description) a
//! customer is shown: their own language, else the shop's default language, else English,
//! never whichever translation happens to come first.

use kefu_knowledge::search::same_language;

use crate::store::{Product, ProductText};

/// The languages to show shop content in to a customer who reads `lang`, most wanted
/// first: their own, the shop's default language, then English.
pub fn fallback_order<'a>(lang: &'a str, shop_default: &'a str) -> [&'a str; 3] {
    [lang, shop_default, "en"]
}

/// The translation of `texts` to show a customer who reads `lang`, in
/// [`fallback_order`]; a language matches exactly first, then by its primary subtag
/// (`pt-BR` reads `pt`; `zh-TW` does not read `zh-CN`). When none of those languages is
/// there, the first translation by language tag, so the choice never depends on storage
/// order. `None` only without translations.
pub fn pick<'a>(
    texts: &'a [ProductText],
    lang: &str,
    shop_default: &str,
) -> Option<&'a ProductText> {
    fallback_order(lang, shop_default)
        .iter()
        .find_map(|want| {
            texts
                .iter()
                .find(|t| t.lang.eq_ignore_ascii_case(want))
                .or_else(|| texts.iter().find(|t| same_language(want, &t.lang)))
        })
        .or_else(|| texts.iter().min_by(|a, b| a.lang.cmp(&b.lang)))
}

impl Product {
    /// This product's translation for a customer who reads `lang`; see [`pick`].
    pub fn text_for(&self, lang: &str, shop_default: &str) -> Option<&ProductText> {
        pick(&self.translations, lang, shop_default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(langs: &[&str]) -> Vec<ProductText> {
        langs
            .iter()
            .map(|l| ProductText {
                lang: (*l).to_string(),
                title: format!("title {l}"),
                description: String::new(),
            })
            .collect()
    }

    fn picked(langs: &[&str], lang: &str, shop_default: &str) -> Option<String> {
        pick(&texts(langs), lang, shop_default).map(|t| t.lang.clone())
    }

    #[test]
    fn the_customers_language_then_the_shop_default_then_english() {
        assert_eq!(
            picked(&["de", "en", "ja"], "ja", "de").as_deref(),
            Some("ja")
        );
        assert_eq!(
            picked(&["de", "en", "ja"], "fr", "de").as_deref(),
            Some("de")
        );
        assert_eq!(picked(&["en", "ja"], "fr", "de").as_deref(), Some("en"));
        // A regional customer reads the language; Chinese scripts stay apart.
        assert_eq!(picked(&["en", "pt"], "pt-BR", "en").as_deref(), Some("pt"));
        assert_eq!(
            picked(&["en", "zh-CN"], "zh-TW", "en").as_deref(),
            Some("en")
        );
        assert_eq!(
            picked(&["en-US", "ja"], "ko", "en").as_deref(),
            Some("en-US")
        );
    }

    #[test]
    fn without_a_wanted_language_the_first_by_tag_whatever_the_order() {
        assert_eq!(picked(&["ja", "de"], "fr", "it").as_deref(), Some("de"));
        assert_eq!(picked(&["de", "ja"], "fr", "it").as_deref(), Some("de"));
        assert_eq!(picked(&[], "fr", "it"), None);
    }
}
