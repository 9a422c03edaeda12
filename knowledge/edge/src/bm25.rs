//! kefu's BM25 definition ([`kefu_knowledge::bm25`]) as qdrant-edge models, one per
//! language, built on first use.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use kefu_knowledge::IndexError;
use kefu_knowledge::bm25::{self, Bm25Language};
use qdrant_edge::bm25_embed::{EdgeBm25, EdgeBm25Config};
use serde_json::{Value, json};

use crate::BACKEND;

/// A Qdrant language without a Snowball stemmer; see [`edge_config`].
const LANGUAGE_WITHOUT_STEMMER: &str = "chinese";

/// The qdrant-edge config for kefu's definition in this language (`None`: neutral).
///
/// qdrant-edge 0.7.0 refuses language names it does not know, `"none"` included, where
/// the server simply applies no stop words and no stemmer. The neutral config is therefore
/// rewritten to ask for exactly that in terms edge accepts: a Qdrant language without a
/// stemmer (so none is derived) and an explicit empty stop-word set. The tokens are the
/// same as the server's for `"language": "none"`.
pub(crate) fn edge_config(language: Option<&Bm25Language>) -> Result<EdgeBm25Config, IndexError> {
    let mut config = bm25::config_for(language);
    if language.is_none()
        && let Value::Object(fields) = &mut config
    {
        fields.insert("language".into(), json!(LANGUAGE_WITHOUT_STEMMER));
        fields.insert("stopwords".into(), json!({}));
    }
    serde_json::from_value(config)
        .map_err(|err| IndexError::backend(BACKEND, format!("BM25 definition: {err}")))
}

/// The model for text in this language.
pub(crate) fn model(language: Option<&Bm25Language>) -> Result<EdgeBm25, IndexError> {
    EdgeBm25::new(edge_config(language)?)
        .map_err(|err| IndexError::backend(BACKEND, format!("BM25 definition: {err}")))
}

/// Models by Qdrant language name (`None`: neutral). Building one is cheap (a stop-word
/// set and a stemmer), but it happens for every passage otherwise. Public (as
/// [`crate::Bm25Models`]) so the Qdrant server backend embeds with the very same models.
#[derive(Debug, Default)]
pub struct Models {
    models: Mutex<HashMap<Option<&'static str>, Arc<EdgeBm25>>>,
}

impl Models {
    /// The model for a BCP 47 tag.
    pub fn get(&self, tag: Option<&str>) -> Result<Arc<EdgeBm25>, IndexError> {
        let language = bm25::language(tag);
        let key = language.map(|l| l.name);
        // A panic elsewhere while holding the lock leaves the map intact: keep using it.
        let mut models = self.models.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(model) = models.get(&key) {
            return Ok(Arc::clone(model));
        }
        let built = Arc::new(model(language)?);
        models.insert(key, Arc::clone(&built));
        Ok(built)
    }
}
