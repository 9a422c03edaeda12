//! Embeddings: text to dense vectors. One [`Embedder`] port, two adapters — an
//! OpenAI-compatible HTTP endpoint ([`openai`]) and multilingual-e5-small running in-process
//! from a file on disk ([`local`]).

use async_trait::async_trait;

pub mod e5;
pub mod local;
pub mod openai;

pub use e5::Role;

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("embedding model: {0}")]
    Model(#[from] e5::ModelError),
    #[error("embeddings endpoint {endpoint}: {message}")]
    Endpoint { endpoint: String, message: String },
    #[error("embeddings endpoint {endpoint} returned {got} vectors for {sent} inputs")]
    Count {
        endpoint: String,
        sent: usize,
        got: usize,
    },
    #[error("embedding has {got} dimensions, expected {want} (model {model})")]
    Dimension {
        model: String,
        got: usize,
        want: usize,
    },
}

/// Turns texts into unit-length vectors of a fixed dimension.
#[async_trait]
pub trait Embedder: Send + Sync {
    /// Model name and version, recorded with the index so vectors from different models
    /// are never mixed.
    fn model(&self) -> &str;

    fn dimension(&self) -> usize;

    /// Embeds a batch; the result has one vector per input, in order.
    async fn embed(&self, texts: &[String], role: Role) -> Result<Vec<Vec<f32>>, EmbedError>;

    /// How many tokens the model would see for this text, when it can tell.
    fn token_count(&self, _text: &str) -> Option<usize> {
        None
    }
}

/// Scales a vector to unit length (left as is when all zeros), so cosine is a dot product
/// whatever the server returned.
pub fn normalize(vector: &mut [f32]) {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 && norm.is_finite() {
        for x in vector {
            *x /= norm;
        }
    }
}
