//! kefu's scale-out knowledge index: one collection on a Qdrant server, reached over gRPC
//! with `qdrant-client`. Implements [`kefu_knowledge::Index`] exactly as the embedded
//! backend (`kefu-knowledge-edge`) does, so the same data answers the same queries on both:
//!
//! - the same collection layout ([`collection`]), filters ([`filter`]) and candidate counts;
//! - BM25 vectors computed here, on the client, with the embedded backend's models
//!   ([`kefu_knowledge_edge::Bm25Models`]) on [`kefu_knowledge::bm25::prepare`]d text, so
//!   terms and weights are bit for bit those of the embedded backend and nothing depends
//!   on the server's inference; the server applies IDF (the sparse vector's modifier);
//! - the same fusion ([`kefu_knowledge_edge::fusion::rrf`]) over a dense and a BM25 search,
//!   run by the server side by side.
//!
//! Any Qdrant server from 1.10 on (the query API and the IDF modifier) will do; [`connect`]
//! refuses older ones. The URL is the server's gRPC endpoint, `http://host:6334` (not the
//! REST port 6333); `https://` turns TLS on with the system's root certificates.
//!
//! Every write waits for the server to apply it (`wait: true`), so a search right after an
//! upsert or a delete sees it. Durability is the server's (its write-ahead log and its own
//! flush schedule, which no API call forces), so [`Index::flush`] has nothing to do.
//!
//! [`connect`]: QdrantIndex::connect

pub mod collection;
pub mod filter;
pub mod layout;
pub mod points;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use std::{cmp, fmt};

use async_trait::async_trait;
use kefu_knowledge::{
    Hit, Index, IndexError, IndexQuery, LanguageMeans, LanguageMeansBuilder, Layout, Point,
    PointId, SourceKind,
};
use kefu_knowledge_edge::{Bm25Models, describe_layout, fusion};
use qdrant_client::qdrant::vector_output::Vector as DenseOutput;
use qdrant_client::qdrant::with_vectors_selector::SelectorOptions;
use qdrant_client::qdrant::{
    CountPointsBuilder, DeleteCollectionBuilder, DeletePointsBuilder, GetPointsBuilder,
    PayloadIncludeSelector, PointStruct, PointsIdsList, Query, QueryPointsBuilder, RetrievedPoint,
    ScrollPointsBuilder, UpsertPointsBuilder, VectorInput, VectorsSelector,
};
use qdrant_client::{Qdrant, QdrantError};

/// The backend's name in messages and reports.
pub const BACKEND: &str = "qdrant";
/// Name of the dense vector (as in the embedded backend).
pub const DENSE: &str = kefu_knowledge_edge::DENSE;
/// Name of the BM25 sparse vector (as in the embedded backend).
pub const SPARSE: &str = kefu_knowledge_edge::SPARSE;

/// The oldest server with everything used here: the query API and the IDF modifier.
const MIN_SERVER: (u64, u64) = (1, 10);
/// Points per upsert request: a few hundred kilobytes with 384-dimensional embeddings,
/// far below the server's request limit (32 MiB by default).
const UPSERT_CHUNK: usize = 256;
/// Ids per delete request and points per page when listing hashes or vectors.
const PAGE: usize = 1024;
/// Per request. Generous: a write waits until the server has applied it, which takes
/// longer while it optimises segments.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// An index on a Qdrant server collection. Cheap to clone: clones share one connection
/// pool.
#[derive(Clone)]
pub struct QdrantIndex {
    inner: Arc<Inner>,
}

struct Inner {
    client: Qdrant,
    collection: String,
    layout: Layout,
    bm25: Arc<Bm25Models>,
}

impl fmt::Debug for QdrantIndex {
    // The client is left out: its configuration holds the API key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QdrantIndex")
            .field("url", &self.inner.client.config.uri)
            .field("collection", &self.inner.collection)
            .field("layout", &self.inner.layout)
            .finish_non_exhaustive()
    }
}

impl QdrantIndex {
    /// Opens `collection` on the server at `url` (gRPC, `http://host:6334`), creating it
    /// with `layout` when missing. Refuses with [`IndexError::LayoutMismatch`] a collection
    /// built with another layout, or one holding points but no layout record.
    pub async fn connect(
        url: &str,
        api_key: Option<&str>,
        collection: &str,
        layout: &Layout,
    ) -> Result<Self, IndexError> {
        let client = client(url, api_key).await?;
        open(client, collection, layout).await
    }

    /// Deletes `collection` (when it exists) and creates it again, empty, with `layout`.
    pub async fn recreate(
        url: &str,
        api_key: Option<&str>,
        collection: &str,
        layout: &Layout,
    ) -> Result<Self, IndexError> {
        let client = client(url, api_key).await?;
        if client
            .collection_exists(collection)
            .await
            .map_err(qdrant_error)?
        {
            client
                .delete_collection(DeleteCollectionBuilder::new(collection))
                .await
                .map_err(qdrant_error)?;
        }
        open(client, collection, layout).await
    }

    /// The collection's name.
    pub fn collection(&self) -> &str {
        &self.inner.collection
    }
}

/// A client for the server at `url`, after checking that it answers and is recent enough.
async fn client(url: &str, api_key: Option<&str>) -> Result<Qdrant, IndexError> {
    // The client's own compatibility check is skipped: it blocks on a thread of its own
    // and prints to stdout, and wants the server within one minor version of the client,
    // where kefu supports every server from 1.10 on; the health check below does both.
    let client = Qdrant::from_url(url)
        .api_key(api_key)
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .skip_compatibility_check()
        .build()
        .map_err(|err| IndexError::backend(BACKEND, format!("{url}: {}", describe(&err))))?;
    let health = client
        .health_check()
        .await
        .map_err(|err| IndexError::backend(BACKEND, format!("{url}: {}", describe(&err))))?;
    if let Some(version) = version(&health.version)
        && version < MIN_SERVER
    {
        return Err(IndexError::backend(
            BACKEND,
            format!(
                "{url} runs Qdrant {}; kefu needs {}.{} or later",
                health.version, MIN_SERVER.0, MIN_SERVER.1
            ),
        ));
    }
    Ok(client)
}

/// `(major, minor)` of a server version ("1.16.3"), `None` when it reads otherwise (a
/// development build): such a server is given the benefit of the doubt.
fn version(text: &str) -> Option<(u64, u64)> {
    let mut parts = text.trim().trim_start_matches('v').split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

async fn open(
    client: Qdrant,
    collection: &str,
    layout: &Layout,
) -> Result<QdrantIndex, IndexError> {
    let exists = client
        .collection_exists(collection)
        .await
        .map_err(qdrant_error)?;
    let created = !exists && create(&client, collection, layout).await?;
    if !created {
        check_layout(&client, collection, layout).await?;
    }
    Ok(QdrantIndex {
        inner: Arc::new(Inner {
            client,
            collection: collection.to_owned(),
            layout: layout.clone(),
            bm25: Arc::new(Bm25Models::default()),
        }),
    })
}

/// Creates the collection, its payload indexes and its layout record; `false` when another
/// process created the collection first (then it is checked like any existing one).
async fn create(client: &Qdrant, collection: &str, layout: &Layout) -> Result<bool, IndexError> {
    if let Err(err) = client
        .create_collection(collection::create_request(collection, layout))
        .await
    {
        return match client.collection_exists(collection).await {
            Ok(true) => Ok(false),
            _ => Err(qdrant_error(err)),
        };
    }
    // A crash before the record is written leaves an empty collection without one, which
    // the next open adopts (see `check_layout`).
    for request in collection::payload_index_requests(collection) {
        client
            .create_field_index(request)
            .await
            .map_err(qdrant_error)?;
    }
    write_record(client, collection, layout).await?;
    Ok(true)
}

async fn write_record(
    client: &Qdrant,
    collection: &str,
    layout: &Layout,
) -> Result<(), IndexError> {
    client
        .upsert_points(
            UpsertPointsBuilder::new(collection, vec![layout::record(layout)?]).wait(true),
        )
        .await
        .map_err(qdrant_error)?;
    Ok(())
}

/// Compares the collection's layout record with `layout`. A collection without a record is
/// adopted only when it is empty and has the vectors `layout` wants: what a creation
/// interrupted before its record leaves behind.
async fn check_layout(
    client: &Qdrant,
    collection: &str,
    layout: &Layout,
) -> Result<(), IndexError> {
    let records = client
        .get_points(
            GetPointsBuilder::new(collection, vec![layout::record_id()])
                .with_payload(true)
                .with_vectors(false),
        )
        .await
        .map_err(qdrant_error)?
        .result;
    if let Some(record) = records.into_iter().next() {
        let found = layout::read(record.payload, collection)?;
        if found != *layout {
            return Err(IndexError::LayoutMismatch {
                found: describe_layout(&found),
                wanted: describe_layout(layout),
            });
        }
        return Ok(());
    }

    let without_record = || IndexError::LayoutMismatch {
        found: format!("collection {collection}, which has no kefu layout record"),
        wanted: describe_layout(layout),
    };
    let points = client
        .count(CountPointsBuilder::new(collection).exact(true))
        .await
        .map_err(qdrant_error)?
        .result
        .map_or(0, |count| count.count);
    if points > 0 {
        return Err(without_record());
    }
    let params = client
        .collection_info(collection)
        .await
        .map_err(qdrant_error)?
        .result
        .and_then(|info| info.config)
        .and_then(|config| config.params);
    if !params.is_some_and(|params| collection::has_layout_vectors(&params, layout)) {
        return Err(without_record());
    }
    // Payload indexes may be missing too; creating an existing one is a no-op.
    for request in collection::payload_index_requests(collection) {
        client
            .create_field_index(request)
            .await
            .map_err(qdrant_error)?;
    }
    write_record(client, collection, layout).await
}

fn qdrant_error(err: QdrantError) -> IndexError {
    IndexError::backend(BACKEND, describe(&err))
}

/// A client error in a few words: the server's status message rather than the client's
/// rendering, which appends the gRPC metadata.
fn describe(err: &QdrantError) -> String {
    match err {
        QdrantError::ResponseError { status } => {
            format!("{:?}: {}", status.code(), status.message())
        }
        QdrantError::ResourceExhaustedError {
            status,
            retry_after_seconds,
        } => format!("{}; retry after {retry_after_seconds} s", status.message()),
        other => other.to_string(),
    }
}

fn dimension_error(got: usize, want: Option<usize>) -> IndexError {
    IndexError::Dimension {
        got,
        want: want.unwrap_or(0),
    }
}

/// Runs BM25 embedding on tokio's blocking pool: the first Chinese or Japanese text loads
/// a segmentation dictionary (hundreds of milliseconds), and a batch of passages is
/// tokenised in one go.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, IndexError> + Send + 'static,
) -> Result<T, IndexError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| IndexError::backend(BACKEND, format!("BM25 embedding failed: {err}")))?
}

impl Inner {
    /// The `limit` points nearest to `vector` by the named vector, best first, without
    /// payload.
    async fn nearest(
        &self,
        using: &str,
        vector: VectorInput,
        filter: Option<qdrant_client::qdrant::Filter>,
        limit: usize,
    ) -> Result<Vec<(PointId, f32)>, IndexError> {
        let mut request = QueryPointsBuilder::new(&self.collection)
            .query(Query::new_nearest(vector))
            .using(using)
            .limit(limit as u64)
            .with_payload(false)
            .with_vectors(false);
        if let Some(filter) = filter {
            request = request.filter(filter);
        }
        let response = self.client.query(request).await.map_err(qdrant_error)?;
        response
            .result
            .into_iter()
            .map(|point| Ok((points::point_id(point.id)?, point.score)))
            .collect()
    }
}

impl QdrantIndex {
    /// Visits the points but the layout record in id order, at most `max`, with the
    /// payload `field` and the vectors `vectors`, a page at a time.
    async fn scroll(
        &self,
        max: usize,
        fields: &[&str],
        vectors: impl Into<SelectorOptions> + Clone,
        mut visit: impl FnMut(RetrievedPoint) -> Result<(), IndexError>,
    ) -> Result<(), IndexError> {
        let mut offset = None;
        let mut left = max;
        while left > 0 {
            let mut request = ScrollPointsBuilder::new(&self.inner.collection)
                .filter(layout::without_record())
                .limit(PAGE.min(left) as u32)
                .with_payload(PayloadIncludeSelector::new(
                    fields
                        .iter()
                        .map(|f| (*f).to_owned())
                        .collect::<Vec<String>>(),
                ))
                .with_vectors(vectors.clone());
            if let Some(offset) = offset.take() {
                request = request.offset(offset);
            }
            let page = self
                .inner
                .client
                .scroll(request)
                .await
                .map_err(qdrant_error)?;
            left = left.saturating_sub(page.result.len());
            page.result.into_iter().try_for_each(&mut visit)?;
            match page.next_page_offset {
                Some(next) => offset = Some(next),
                None => break,
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Index for QdrantIndex {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn layout(&self) -> &Layout {
        &self.inner.layout
    }

    async fn upsert(&self, points: Vec<Point>) -> Result<(), IndexError> {
        if points.is_empty() {
            return Ok(());
        }
        let want = self.inner.layout.dimension;
        // Checked before anything is written, so a bad batch writes nothing.
        for point in &points {
            if let Some(dense) = &point.dense
                && Some(dense.len()) != want
            {
                return Err(dimension_error(dense.len(), want));
            }
        }
        let bm25 = Arc::clone(&self.inner.bm25);
        let mut records: Vec<PointStruct> = blocking(move || {
            points
                .into_iter()
                .map(|point| {
                    let lang = Some(point.passage.lang.as_str());
                    let text = kefu_knowledge::bm25::prepare(lang, &point.passage.text);
                    let terms = bm25.get(lang)?.embed_document(&text);
                    crate::points::point(
                        point.id,
                        point.dense,
                        (terms.indices, terms.values),
                        &point.passage,
                    )
                })
                .collect()
        })
        .await?;
        while !records.is_empty() {
            let rest = records.split_off(cmp::min(UPSERT_CHUNK, records.len()));
            let chunk = std::mem::replace(&mut records, rest);
            self.inner
                .client
                .upsert_points(UpsertPointsBuilder::new(&self.inner.collection, chunk).wait(true))
                .await
                .map_err(qdrant_error)?;
        }
        Ok(())
    }

    async fn delete(&self, ids: &[PointId]) -> Result<(), IndexError> {
        for chunk in ids.chunks(PAGE) {
            self.inner
                .client
                .delete_points(
                    DeletePointsBuilder::new(&self.inner.collection)
                        .points(PointsIdsList::from(chunk.to_vec()))
                        .wait(true),
                )
                .await
                .map_err(qdrant_error)?;
        }
        Ok(())
    }

    async fn hashes(&self) -> Result<BTreeMap<PointId, String>, IndexError> {
        let mut hashes = BTreeMap::new();
        self.scroll(usize::MAX, &[filter::HASH], false, |record| {
            // A point without a hash reads as changed, so re-indexing rewrites it.
            let hash = record
                .payload
                .get(filter::HASH)
                .and_then(|value| value.as_str())
                .cloned()
                .unwrap_or_default();
            hashes.insert(points::point_id(record.id)?, hash);
            Ok(())
        })
        .await?;
        Ok(hashes)
    }

    async fn language_means(&self, max_points: usize) -> Result<LanguageMeans, IndexError> {
        let mut means = LanguageMeansBuilder::default();
        if self.inner.layout.dimension.is_none() {
            return Ok(means.finish());
        }
        let dense_only = VectorsSelector {
            names: vec![DENSE.to_owned()],
        };
        self.scroll(
            max_points,
            &[filter::LANG, filter::KIND],
            dense_only,
            |record| {
                // The means describe the shop's articles: products, embedded or not, stay out.
                if record
                    .payload
                    .get(filter::KIND)
                    .and_then(|v| v.as_str())
                    .is_some_and(|kind| kind == SourceKind::Product.as_str())
                {
                    return Ok(());
                }
                let lang = record.payload.get(filter::LANG).and_then(|v| v.as_str());
                let dense = record
                    .vectors
                    .as_ref()
                    .and_then(|vectors| vectors.get_vector_by_name(DENSE));
                // Points stored without a dense vector (products, when only articles are
                // embedded) have no place in the means.
                if let (Some(lang), Some(DenseOutput::Dense(dense))) = (lang, dense) {
                    means.add(lang, &dense.data);
                }
                Ok(())
            },
        )
        .await?;
        Ok(means.finish())
    }

    async fn search(&self, query: &IndexQuery) -> Result<Vec<Hit>, IndexError> {
        if query.limit == 0 {
            return Ok(Vec::new());
        }
        // BM25 alone when the index or the query has no dense vector.
        let dense = match (self.inner.layout.dimension, &query.dense) {
            (Some(want), Some(dense)) if dense.len() != want => {
                return Err(dimension_error(dense.len(), Some(want)));
            }
            (Some(_), Some(dense)) => Some(dense.clone()),
            _ => None,
        };
        let filter = filter::to_qdrant(&query.filter);

        let bm25 = Arc::clone(&self.inner.bm25);
        let (lang, text) = (query.lang.clone(), query.text.clone());
        let terms = blocking(move || {
            let lang = lang.as_deref();
            Ok(bm25
                .get(lang)?
                .embed_query(&kefu_knowledge::bm25::prepare(lang, &text)))
        })
        .await?;
        let candidates = kefu_knowledge::index::candidates(
            query.limit,
            dense.is_some() && !terms.indices.is_empty(),
        );

        let inner = &*self.inner;
        let dense_search = {
            let filter = filter.clone();
            async move {
                match dense {
                    Some(dense) => {
                        let vector = VectorInput::new_dense(dense);
                        inner.nearest(DENSE, vector, filter, candidates).await
                    }
                    None => Ok(Vec::new()),
                }
            }
        };
        let sparse_search = async move {
            if terms.indices.is_empty() {
                return Ok(Vec::new());
            }
            let vector = VectorInput::new_sparse(terms.indices, terms.values);
            inner.nearest(SPARSE, vector, filter, candidates).await
        };
        let (dense_hits, sparse_hits) = tokio::try_join!(dense_search, sparse_search)?;

        let mut fused = fusion::rrf(&dense_hits, &sparse_hits);
        fused.truncate(query.limit);
        if fused.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<_> = fused
            .iter()
            .map(|f| qdrant_client::qdrant::PointId::from(f.id))
            .collect();
        let records = self
            .inner
            .client
            .get_points(
                GetPointsBuilder::new(&self.inner.collection, ids)
                    .with_payload(true)
                    .with_vectors(false),
            )
            .await
            .map_err(qdrant_error)?
            .result;
        let mut passages = HashMap::with_capacity(records.len());
        for record in records {
            let id = points::point_id(record.id)?;
            passages.insert(id, points::passage(record.payload)?);
        }
        // A point deleted between the searches and the retrieval is left out.
        Ok(fused
            .into_iter()
            .filter_map(|f| {
                passages.remove(&f.id).map(|passage| Hit {
                    id: f.id,
                    score: f.score,
                    dense_score: f.dense_score,
                    sparse_score: f.sparse_score,
                    passage: std::sync::Arc::new(passage),
                })
            })
            .collect())
    }

    async fn count(&self) -> Result<usize, IndexError> {
        let count = self
            .inner
            .client
            .count(
                CountPointsBuilder::new(&self.inner.collection)
                    .filter(layout::without_record())
                    .exact(true),
            )
            .await
            .map_err(qdrant_error)?
            .result
            .map_or(0, |count| count.count);
        usize::try_from(count).map_err(|err| IndexError::backend(BACKEND, err))
    }

    async fn flush(&self) -> Result<(), IndexError> {
        // Every write already waited until the server applied it (and logged it in its
        // WAL); the server flushes segments on its own schedule and offers no call to force
        // it.
        Ok(())
    }
}
