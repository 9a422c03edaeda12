//! The offline engine's answers: one YAML file of handlebars templates per language in
//! `prompts/answers/`, compiled into the binary. Every language has the same keys (a test
//! checks it); a key missing in one language falls back to English.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use handlebars::Handlebars;
use serde::Deserialize;

/// The languages kefu answers in, with their template files.
pub const LANGUAGES: [(&str, &str); 11] = [
    ("en", include_str!("../../../prompts/answers/en.yaml")),
    ("zh-CN", include_str!("../../../prompts/answers/zh-CN.yaml")),
    ("zh-TW", include_str!("../../../prompts/answers/zh-TW.yaml")),
    ("es", include_str!("../../../prompts/answers/es.yaml")),
    ("fr", include_str!("../../../prompts/answers/fr.yaml")),
    ("de", include_str!("../../../prompts/answers/de.yaml")),
    ("ja", include_str!("../../../prompts/answers/ja.yaml")),
    ("pt", include_str!("../../../prompts/answers/pt.yaml")),
    ("it", include_str!("../../../prompts/answers/it.yaml")),
    ("nl", include_str!("../../../prompts/answers/nl.yaml")),
    ("ko", include_str!("../../../prompts/answers/ko.yaml")),
];

#[derive(Debug, Deserialize)]
struct LanguageFile {
    date_format: String,
    language_names: BTreeMap<String, String>,
    order_status: BTreeMap<String, String>,
    fulfillment: BTreeMap<String, String>,
    tracking_status: BTreeMap<String, String>,
    /// Why a carrier holds a parcel, by [`crate::shop::carrier_reason`] kind.
    carrier_reasons: BTreeMap<String, String>,
    templates: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("prompts/answers/{lang}.yaml: {message}")]
    File { lang: String, message: String },
    #[error("prompts/answers/{lang}.yaml, template `{key}`: {message}")]
    Template {
        lang: String,
        key: String,
        message: String,
    },
}

/// Which of kefu's answer languages serves a conversation language: `zh-HK` and
/// `zh-Hant` read Traditional Chinese, `pt-BR` Portuguese; unknown languages English.
pub fn answer_language(lang: &str) -> &'static str {
    let lower = lang.to_ascii_lowercase();
    let primary = lower.split(['-', '_']).next().unwrap_or("");
    if primary == "zh" {
        let traditional = ["tw", "hk", "mo", "hant"]
            .iter()
            .any(|t| lower.split(['-', '_']).skip(1).any(|s| s == *t));
        return if traditional { "zh-TW" } else { "zh-CN" };
    }
    LANGUAGES
        .iter()
        .map(|(l, _)| *l)
        .find(|l| *l == primary)
        .unwrap_or("en")
}

/// All answer templates, compiled.
pub struct Answers {
    registry: Handlebars<'static>,
    files: BTreeMap<&'static str, LanguageFile>,
}

impl std::fmt::Debug for Answers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answers")
            .field("languages", &self.files.keys())
            .finish()
    }
}

impl Answers {
    /// Compiles the built-in templates. Fails only if a shipped file is broken, which
    /// the test suite rules out.
    pub fn builtin() -> Result<Self, TemplateError> {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(false);
        registry.register_escape_fn(handlebars::no_escape);
        let mut files = BTreeMap::new();
        for (lang, text) in LANGUAGES {
            let file: LanguageFile =
                serde_saphyr::from_str(text).map_err(|e| TemplateError::File {
                    lang: lang.into(),
                    message: e.to_string(),
                })?;
            for (key, template) in &file.templates {
                registry
                    .register_template_string(&format!("{lang}/{key}"), template)
                    .map_err(|e| TemplateError::Template {
                        lang: lang.into(),
                        key: key.clone(),
                        message: e.to_string(),
                    })?;
            }
            files.insert(lang, file);
        }
        Ok(Self { registry, files })
    }

    fn file(&self, lang: &str) -> Option<&LanguageFile> {
        self.files.get(answer_language(lang))
    }

    /// Renders `key` in `lang` (English when that language lacks it). An unknown key
    /// renders as empty text and is logged: an answer is never lost to a template.
    pub fn render(&self, lang: &str, key: &str, data: &serde_json::Value) -> String {
        let lang = answer_language(lang);
        for l in [lang, "en"] {
            let name = format!("{l}/{key}");
            if self.registry.has_template(&name) {
                match self.registry.render(&name, data) {
                    Ok(text) => return text.trim_end().to_string(),
                    Err(e) => {
                        tracing::error!(template = %name, error = %e, "answer template failed")
                    }
                }
            }
        }
        tracing::error!(key, "no answer template");
        String::new()
    }

    fn label<'a>(
        &'a self,
        lang: &str,
        pick: impl Fn(&LanguageFile) -> &BTreeMap<String, String>,
        key: &'a str,
    ) -> &'a str {
        for file in [self.file(lang), self.files.get("en")]
            .into_iter()
            .flatten()
        {
            if let Some(v) = pick(file).get(key) {
                return v;
            }
        }
        key
    }

    pub fn order_status(&self, lang: &str, status: &str) -> String {
        self.label(lang, |f| &f.order_status, status).to_string()
    }

    pub fn fulfillment(&self, lang: &str, status: &str) -> String {
        self.label(lang, |f| &f.fulfillment, status).to_string()
    }

    pub fn tracking_status(&self, lang: &str, status: &str) -> String {
        self.label(lang, |f| &f.tracking_status, status).to_string()
    }

    /// Why a carrier holds a parcel (a [`crate::shop::carrier_reason`] kind), in `lang`.
    pub fn carrier_reason(&self, lang: &str, kind: &str) -> String {
        self.label(lang, |f| &f.carrier_reasons, kind).to_string()
    }

    /// The name of language `code`, written in `lang`.
    pub fn language_name(&self, lang: &str, code: &str) -> String {
        let code = answer_language(code);
        self.label(lang, |f| &f.language_names, code).to_string()
    }

    /// A date in `lang`'s customary format, in time zone `tz`.
    pub fn date(&self, lang: &str, at: DateTime<Utc>, tz: Tz) -> String {
        let format = self
            .file(lang)
            .map_or("%Y-%m-%d", |f| f.date_format.as_str());
        at.with_timezone(&tz).format(format).to_string()
    }

    /// The keys of one language's templates (for checks).
    pub fn keys(&self, lang: &str) -> Vec<&str> {
        self.file(lang)
            .map(|f| f.templates.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_has_every_english_key_and_the_same_variables() {
        let answers = Answers::builtin().unwrap();
        let vars = |t: &str| -> Vec<String> {
            let mut v: Vec<String> = t
                .split("{{")
                .skip(1)
                .filter_map(|s| s.split("}}").next())
                .map(|s| s.trim().to_string())
                .collect();
            v.sort();
            v
        };
        let en = &answers.files["en"];
        for (lang, _) in LANGUAGES {
            let file = &answers.files[lang];
            for (key, template) in &en.templates {
                let Some(other) = file.templates.get(key) else {
                    panic!("{lang}: template `{key}` missing");
                };
                assert_eq!(
                    vars(other),
                    vars(template),
                    "{lang}/{key}: variables differ from English"
                );
            }
            assert_eq!(
                file.templates.len(),
                en.templates.len(),
                "{lang}: extra templates"
            );
            for map in [
                &file.order_status,
                &file.fulfillment,
                &file.tracking_status,
                &file.language_names,
            ] {
                assert!(!map.is_empty(), "{lang}: empty label map");
            }
            for kind in crate::shop::CARRIER_REASONS {
                assert!(
                    file.carrier_reasons.contains_key(*kind),
                    "{lang}: no carrier reason `{kind}`"
                );
            }
            for code in en.language_names.keys() {
                assert!(
                    file.language_names.contains_key(code),
                    "{lang}: no name for {code}"
                );
            }
        }
    }

    #[test]
    fn conversation_languages_map_onto_answer_languages() {
        assert_eq!(answer_language("zh-CN"), "zh-CN");
        assert_eq!(answer_language("zh"), "zh-CN");
        assert_eq!(answer_language("zh-TW"), "zh-TW");
        assert_eq!(answer_language("zh-Hant-HK"), "zh-TW");
        assert_eq!(answer_language("pt-BR"), "pt");
        assert_eq!(answer_language("de-AT"), "de");
        assert_eq!(answer_language("ko"), "ko");
        assert_eq!(answer_language("it-CH"), "it");
        assert_eq!(answer_language("ru"), "en");
    }

    #[test]
    fn rendering_fills_variables_and_falls_back_to_english_for_unknown_languages() {
        let answers = Answers::builtin().unwrap();
        let data = serde_json::json!({"order": "#1043", "date": "Nov 3, 2026"});
        let en = answers.render("en", "cancelled_already", &data);
        assert_eq!(en, "Order #1043 was cancelled on Nov 3, 2026.");
        assert_eq!(answers.render("ru", "cancelled_already", &data), en);
        let de = answers.render("de", "cancelled_already", &data);
        assert!(de.contains("#1043") && de != en, "{de}");
    }
}
