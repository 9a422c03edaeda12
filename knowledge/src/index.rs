//! The index port: what a vector/BM25 store must do for kefu's search, whatever engine
//! holds the data (Qdrant's engine in-process, or a Qdrant server). Every backend runs the
//! same conformance suite (`knowledge/tests`), so search behaves the same on both.
//!
//! A backend keeps, per chunk, a dense vector (when a model is configured), a sparse BM25
//! vector built with [`crate::bm25`]'s definition, and the [`Passage`] as payload.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A chunk's id: stable for the same document id and chunk position (see
/// [`crate::chunk::point_id`]), so re-indexing overwrites instead of duplicating.
pub type PointId = u64;

/// Where a passage comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// An FAQ or policy article.
    Article,
    /// A product of the catalogue.
    Product,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Article => "article",
            Self::Product => "product",
        }
    }
}

/// What a search returns and a citation needs; stored as the point's payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Passage {
    /// Document id (article id, or `product:HANDLE`).
    pub doc_id: String,
    /// Translation group: the same topic in other languages shares it.
    pub group: String,
    /// BCP 47 tag of the passage's language (`en`, `zh-CN`).
    pub lang: String,
    pub title: String,
    /// Heading path inside the document ("Returns › Damaged items"), empty at the top.
    #[serde(default)]
    pub section: String,
    pub url: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub kind: SourceKind,
    /// The chunk's text as indexed (headings included).
    pub text: String,
    /// SHA-256 (hex) of everything that was embedded: unchanged hash, nothing to redo.
    pub hash: String,
    /// Products only: whether any variant is in stock.
    #[serde(default)]
    pub in_stock: Option<bool>,
    /// Products only: the price as shown to customers ("29.90 EUR").
    #[serde(default)]
    pub price: Option<String>,
    /// Position of the chunk in its document, from 0.
    #[serde(default)]
    pub ordinal: u32,
}

/// One chunk to store.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub id: PointId,
    /// Absent when the index runs on BM25 alone.
    pub dense: Option<Vec<f32>>,
    pub passage: Passage,
}

/// Restricts a search; empty lists mean "any".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// Passage language is one of these.
    pub langs: Vec<String>,
    /// Passage carries at least one of these tags.
    pub tags: Vec<String>,
    /// Passage kind is one of these.
    pub kinds: Vec<SourceKind>,
    /// Passage translation group is one of these.
    pub groups: Vec<String>,
    /// Drop products that are out of stock (articles are unaffected).
    pub in_stock_only: bool,
}

/// A query as the backend sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexQuery {
    /// The customer's words; the backend turns them into the BM25 query vector.
    pub text: String,
    /// Language of the query, for BM25 stemming and stop words (`None`: language-neutral).
    pub lang: Option<String>,
    /// The query embedding, when a model is configured.
    pub dense: Option<Vec<f32>>,
    pub filter: Filter,
    /// Results wanted after fusion.
    pub limit: usize,
}

/// A scored passage. `score` is the fused score (reciprocal rank fusion); the per-source
/// scores let callers calibrate thresholds.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub id: PointId,
    pub score: f32,
    /// Cosine similarity with the query embedding, when the dense search found it.
    pub dense_score: Option<f32>,
    /// BM25 score, when the keyword search found it.
    pub sparse_score: Option<f32>,
    /// Shared with the index's own copy: a search handles hundreds of candidates.
    pub passage: std::sync::Arc<Passage>,
}

/// How an index was built. Stored with the index; kefu refuses to mix vectors from
/// different models and asks for `kefu knowledge reindex --rebuild` instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    /// Embedding model name and version, `None` for BM25 only.
    pub model: Option<String>,
    /// Dense vector size, `None` for BM25 only.
    pub dimension: Option<usize>,
    /// Version of kefu's BM25 definition ([`crate::bm25::DEFINITION_VERSION`]).
    pub bm25: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(
        "the index was built with {found}, but kefu is configured for {wanted}; run `kefu knowledge reindex --rebuild`"
    )]
    LayoutMismatch { found: String, wanted: String },
    #[error("dense vector has {got} dimensions, the index holds {want}")]
    Dimension { got: usize, want: usize },
    #[error("{backend}: {message}")]
    Backend {
        backend: &'static str,
        message: String,
    },
}

impl IndexError {
    pub fn backend(backend: &'static str, err: impl std::fmt::Display) -> Self {
        Self::Backend {
            backend,
            message: err.to_string(),
        }
    }
}

/// The port. Implementations are cheap to share (`Arc<dyn Index>`).
#[async_trait]
pub trait Index: Send + Sync {
    /// Short backend name for messages and reports: `embedded`, `qdrant`.
    fn backend(&self) -> &'static str;

    /// The layout the index was created with.
    fn layout(&self) -> &Layout;

    /// Inserts or replaces points (same id: replaced).
    async fn upsert(&self, points: Vec<Point>) -> Result<(), IndexError>;

    /// Removes points; unknown ids are ignored.
    async fn delete(&self, ids: &[PointId]) -> Result<(), IndexError>;

    /// Every stored point with its passage hash, for incremental re-indexing.
    async fn hashes(&self) -> Result<BTreeMap<PointId, String>, IndexError>;

    /// Hybrid search: dense and BM25 candidates (filter applied to both), fused.
    async fn search(&self, query: &IndexQuery) -> Result<Vec<Hit>, IndexError>;

    /// Two searches at once (the hybrid ranking's dense and keyword lists). A backend
    /// that moves each call to another thread overrides it to move both in one go.
    async fn search_both(
        &self,
        first: &IndexQuery,
        second: &IndexQuery,
    ) -> Result<(Vec<Hit>, Vec<Hit>), IndexError> {
        tokio::try_join!(self.search(first), self.search(second))
    }

    /// Number of stored points.
    async fn count(&self) -> Result<usize, IndexError>;

    /// Makes everything written so far durable.
    async fn flush(&self) -> Result<(), IndexError>;
}

/// How many hits a backend takes from each of its lists for a query asking for `limit`:
/// more when a dense and a keyword list are fused (a point ranked low in one list can win
/// on the other), exactly the limit when one list is searched alone.
pub fn candidates(limit: usize, fusing: bool) -> usize {
    if fusing {
        limit.saturating_mul(4).max(20)
    } else {
        limit
    }
}
