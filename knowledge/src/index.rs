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

/// Where each language's passages sit in the embedding space: the mean of their dense
/// vectors. A query's similarity to a language's mean is how strongly the language alone
/// (and the mix of topics written in it) draws the query, whatever the passage says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LanguageMeans {
    means: BTreeMap<String, Vec<f32>>,
}

impl LanguageMeans {
    /// The query's dot product with the mean of `lang`'s passages: the average cosine
    /// similarity between the query and that language's passages.
    pub fn similarity(&self, lang: &str, query: &[f32]) -> Option<f32> {
        let mean = self.means.get(lang)?;
        (mean.len() == query.len()).then(|| mean.iter().zip(query).map(|(m, q)| m * q).sum())
    }

    pub fn is_empty(&self) -> bool {
        self.means.is_empty()
    }

    pub fn languages(&self) -> impl Iterator<Item = &str> {
        self.means.keys().map(String::as_str)
    }
}

/// Points search reads its [`LanguageMeans`] from: all of them up to this size (0.4 s on
/// the embedded backend), a uniform sample of larger indexes.
pub const LANGUAGE_MEANS_SAMPLE: usize = 100_000;

/// Sums dense vectors per language into [`LanguageMeans`], for backends that scroll their
/// points. Sums are kept in `f64` so a million vectors add up without drift.
#[derive(Debug, Default)]
pub struct LanguageMeansBuilder {
    sums: BTreeMap<String, (Vec<f64>, usize)>,
}

impl LanguageMeansBuilder {
    /// Adds one passage's vector; a vector of another length than the first one seen for
    /// the language is ignored (the index refuses such vectors on write).
    pub fn add(&mut self, lang: &str, vector: &[f32]) {
        let (sum, count) = self
            .sums
            .entry(lang.to_owned())
            .or_insert_with(|| (vec![0.0; vector.len()], 0));
        if sum.len() != vector.len() {
            return;
        }
        for (s, v) in sum.iter_mut().zip(vector) {
            *s += f64::from(*v);
        }
        *count += 1;
    }

    pub fn finish(self) -> LanguageMeans {
        let means = self
            .sums
            .into_iter()
            .filter(|(_, (_, count))| *count > 0)
            .map(|(lang, (sum, count))| {
                let mean = sum.iter().map(|s| (s / count as f64) as f32).collect();
                (lang, mean)
            })
            .collect();
        LanguageMeans { means }
    }
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

    /// The mean dense vector of each language's passages (empty without a model), from at
    /// most `max_points` points taken in id order: ids are hashes, so on a larger index
    /// that is a uniform sample. Reads every vector it averages: search keeps the result
    /// and refreshes it now and then.
    async fn language_means(&self, max_points: usize) -> Result<LanguageMeans, IndexError>;

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
