//! kefu's embedded knowledge index: Qdrant's own engine running in-process through
//! `qdrant-edge`, stored under the data directory. Implements [`kefu_knowledge::Index`].
//!
//! On disk an index directory holds `layout.json` (the [`Layout`] it was built with) and
//! `shard/` (qdrant-edge's `edge_config.json`, `segments/` and `wal/`).
//!
//! The collection is laid out as a Qdrant server collection for kefu is:
//! - named dense vector [`DENSE`] (cosine, `layout.dimension`), absent without a model;
//! - named sparse vector [`SPARSE`] with the IDF modifier, computed from the passage text
//!   with kefu's BM25 definition ([`kefu_knowledge::bm25`]) in the passage's language;
//! - payload: the [`Passage`] as JSON, with keyword indexes on `lang`, `group`, `tags`,
//!   `kind` and a bool index on `in_stock`.
//!
//! A search runs the dense and the BM25 query (each its top `max(limit × 4, 20)`, the
//! filter applied to both) and fuses them with reciprocal rank fusion ([`fusion`]).
//!
//! qdrant-edge 0.7.0 behaviour this crate works around or inherits:
//! - Its WAL is written but never replayed nor truncated: writes become durable on
//!   [`Index::flush`] (or when the shard is dropped), a crash before that loses them, and
//!   `shard/wal/` keeps growing with everything ever written until [`EdgeIndex::recreate`].
//! - `EdgeShard::flush` panics when an update holds the WAL lock, so writes and flushes
//!   are serialised here.
//! - BM25's IDF keeps counting deleted points until the shard is reloaded (or vacuumed):
//!   after deletions, keyword scores shift slightly at the next open.
//! - Optimisation (merging segments, vacuuming deleted points, building HNSW) only runs
//!   when asked: [`EdgeIndex::optimize`]. Below ~10 MB of vectors it builds no HNSW and
//!   searches scan, which is what a shop's knowledge base needs.

pub mod fusion;

mod bm25;
mod filter;
mod layout;

pub use bm25::Models as Bm25Models;
pub use layout::describe as describe_layout;

use std::cmp;
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use kefu_knowledge::{
    Hit, Index, IndexError, IndexQuery, LanguageMeans, LanguageMeansBuilder, Layout, Passage,
    Point, PointId, SourceKind,
};
use qdrant_edge::bm25_embed::EdgeBm25;
use qdrant_edge::{
    CountRequest, CreateIndex, Distance, EdgeConfig, EdgeConfigBuilder, EdgeShard,
    EdgeSparseVectorParamsBuilder, EdgeVectorParamsBuilder, FieldIndexOperations, JsonPath,
    Modifier, NamedQuery, OperationError, Payload, PayloadFieldSchema, PayloadSchemaType,
    PointId as EdgePointId, PointInsertOperations, PointOperations, PointStructPersisted,
    QueryEnum, QueryRequest, Record, ScoringQuery, ScrollRequest, UpdateOperation, VectorInternal,
    VectorPersisted, VectorStructInternal, VectorStructPersisted, WalOptions, WithPayloadInterface,
    WithVector,
};
use serde_json::Value;

/// The backend's name in messages and reports.
pub const BACKEND: &str = "embedded";
/// Name of the dense vector.
pub const DENSE: &str = "dense";
/// Name of the BM25 sparse vector.
pub const SPARSE: &str = "bm25";

/// The shard's directory inside an index directory.
const SHARD_DIR: &str = "shard";
/// Points per WAL record: keeps records small whatever the caller's batch.
const UPSERT_CHUNK: usize = 64;
/// Points per page when listing hashes or vectors.
const SCROLL_PAGE: usize = 1024;
/// qdrant-edge preallocates two WAL segments of this size (default 32 MiB each); records
/// larger than a segment still fit, the segment grows for them.
const WAL_SEGMENT_BYTES: usize = 4 * 1024 * 1024;
/// Passages kept decoded in memory (about 1 KB each): all of a shop's knowledge base and
/// catalogue, a bounded share of anything larger.
const CACHED_PASSAGES: usize = 50_000;

/// The in-process index. Cheap to clone: clones share one shard.
#[derive(Clone)]
pub struct EdgeIndex {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    layout: Layout,
    shard: EdgeShard,
    bm25: bm25::Models,
    /// Held by upsert, delete, flush and optimize: qdrant-edge's flush `try_lock`s the
    /// WAL and panics if an update holds it. Searches and reads need no lock.
    writing: Mutex<()>,
    /// Passages already read back from the shard's payload storage, so a search does not
    /// decode the same payloads again: filled by upserts and as searches retrieve them,
    /// emptied of every point an upsert or delete touches, least used ones evicted.
    passages: quick_cache::sync::Cache<PointId, Arc<Passage>>,
    /// Bumped by every upsert and delete: a search only caches what it read when no write
    /// happened meanwhile, so a payload read before a write never outlives it.
    generation: AtomicU64,
}

impl std::fmt::Debug for EdgeIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeIndex")
            .field("dir", &self.inner.dir)
            .field("layout", &self.inner.layout)
            .finish_non_exhaustive()
    }
}

impl EdgeIndex {
    /// Opens the index in `dir`, creating it (and `dir`) when missing. Refuses with
    /// [`IndexError::LayoutMismatch`] an index built with another layout, or one without a
    /// layout record. Blocks on disk I/O: call it at startup or from a blocking task.
    pub fn open(dir: &Path, layout: &Layout) -> Result<Self, IndexError> {
        fs::create_dir_all(dir).map_err(|err| layout::io_error(dir, err))?;
        let shard_dir = dir.join(SHARD_DIR);
        match layout::read(dir)? {
            Some(found) if found != *layout => {
                return Err(IndexError::LayoutMismatch {
                    found: layout::describe(&found),
                    wanted: layout::describe(layout),
                });
            }
            Some(_) => {}
            None if shard_dir.exists() => {
                return Err(IndexError::LayoutMismatch {
                    found: "an index without a layout record".to_owned(),
                    wanted: layout::describe(layout),
                });
            }
            // Recorded before the shard exists: a crash in between leaves a record and no
            // shard, which the next open completes.
            None => layout::write(dir, layout)?,
        }

        let config = shard_config(layout);
        let shard = if shard_dir.exists() {
            // Given the config, qdrant-edge also checks the segments agree with it.
            EdgeShard::load(&shard_dir, Some(config)).map_err(edge_error)?
        } else {
            fs::create_dir(&shard_dir).map_err(|err| layout::io_error(&shard_dir, err))?;
            let shard = EdgeShard::new(&shard_dir, config).map_err(edge_error)?;
            create_payload_indexes(&shard)?;
            shard
        };

        Ok(Self {
            inner: Arc::new(Inner {
                dir: dir.to_owned(),
                layout: layout.clone(),
                shard,
                bm25: bm25::Models::default(),
                writing: Mutex::new(()),
                passages: quick_cache::sync::Cache::new(CACHED_PASSAGES),
                generation: AtomicU64::new(0),
            }),
        })
    }

    /// Deletes the index in `dir` (the shard and its layout record, nothing else in
    /// `dir`) and creates an empty one with `layout`. Drop every other handle on the old
    /// index first: a dropped shard flushes to its directory.
    pub fn recreate(dir: &Path, layout: &Layout) -> Result<Self, IndexError> {
        let shard_dir = dir.join(SHARD_DIR);
        if shard_dir.exists() {
            fs::remove_dir_all(&shard_dir).map_err(|err| layout::io_error(&shard_dir, err))?;
        }
        let record = dir.join(layout::FILE);
        if record.exists() {
            fs::remove_file(&record).map_err(|err| layout::io_error(&record, err))?;
        }
        Self::open(dir, layout)
    }

    /// The index directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Merges segments, drops deleted points and builds vector indexes where segments
    /// are large enough, blocking until done; `true` when it changed anything. qdrant-edge
    /// never does this on its own.
    pub async fn optimize(&self) -> Result<bool, IndexError> {
        let inner = Arc::clone(&self.inner);
        blocking(move || {
            let _writing = inner.writing.lock().unwrap_or_else(PoisonError::into_inner);
            inner.shard.optimize().map_err(edge_error)
        })
        .await
    }
}

/// The BM25 model this backend uses for text in a language (BCP 47 tag, `None`: unknown):
/// [`kefu_knowledge::bm25::config`] as qdrant-edge reads it. Embed
/// [`kefu_knowledge::bm25::prepare`]d text with it.
pub fn bm25_model(lang: Option<&str>) -> Result<EdgeBm25, IndexError> {
    bm25::model(kefu_knowledge::bm25::language(lang))
}

fn shard_config(layout: &Layout) -> EdgeConfig {
    let mut config = EdgeConfigBuilder::new()
        .sparse_vector(
            SPARSE,
            EdgeSparseVectorParamsBuilder::new()
                .modifier(Modifier::Idf)
                .build(),
        )
        .wal_options(WalOptions {
            segment_capacity: WAL_SEGMENT_BYTES,
            segment_queue_len: 0,
            retain_closed: NonZeroUsize::MIN,
        });
    if let Some(dimension) = layout.dimension {
        config = config.vector(
            DENSE,
            EdgeVectorParamsBuilder::new(dimension, Distance::Cosine).build(),
        );
    }
    config.build()
}

/// Segments keep their payload indexes and optimisation carries them over, so they are
/// created once, with the shard.
fn create_payload_indexes(shard: &EdgeShard) -> Result<(), IndexError> {
    let fields = [
        (filter::LANG, PayloadSchemaType::Keyword),
        (filter::GROUP, PayloadSchemaType::Keyword),
        (filter::TAGS, PayloadSchemaType::Keyword),
        (filter::KIND, PayloadSchemaType::Keyword),
        (filter::IN_STOCK, PayloadSchemaType::Bool),
    ];
    for (field, schema) in fields {
        shard
            .update(UpdateOperation::FieldIndexOperation(
                FieldIndexOperations::CreateIndex(CreateIndex {
                    field_name: filter::path(field)?,
                    field_schema: Some(PayloadFieldSchema::FieldType(schema)),
                }),
            ))
            .map_err(edge_error)?;
    }
    Ok(())
}

fn edge_error(err: OperationError) -> IndexError {
    IndexError::backend(BACKEND, err)
}

fn point_id(id: EdgePointId) -> Result<PointId, IndexError> {
    match id {
        EdgePointId::NumId(id) => Ok(id),
        EdgePointId::Uuid(uuid) => Err(IndexError::backend(
            BACKEND,
            format!("point {uuid} has a UUID id; kefu writes numeric ids only"),
        )),
    }
}

fn dimension_error(got: usize, want: Option<usize>) -> IndexError {
    IndexError::Dimension {
        got,
        want: want.unwrap_or(0),
    }
}

/// Runs a qdrant-edge call on tokio's blocking pool. Its API is synchronous and every
/// call may touch the disk (WAL appends, mmapped payloads, fsync on flush) or load a
/// segmentation dictionary on first use (jieba, vaporetto: hundreds of milliseconds), so
/// none of it runs on a runtime worker. A panic inside (qdrant-edge `expect`s on I/O
/// errors) comes back as an error instead of unwinding through the caller's task.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, IndexError> + Send + 'static,
) -> Result<T, IndexError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| IndexError::backend(BACKEND, format!("qdrant-edge call failed: {err}")))?
}

impl Inner {
    fn upsert(&self, points: Vec<Point>) -> Result<(), IndexError> {
        let want = self.layout.dimension;
        // Checked before anything is written, so a bad batch writes nothing.
        for point in &points {
            if let Some(dense) = &point.dense
                && Some(dense.len()) != want
            {
                return Err(dimension_error(dense.len(), want));
            }
        }
        let mut records = Vec::with_capacity(points.len());
        let mut written = Vec::with_capacity(points.len());
        for point in points {
            let lang = Some(point.passage.lang.as_str());
            let text = kefu_knowledge::bm25::prepare(lang, &point.passage.text);
            let terms = self.bm25.get(lang)?.embed_document(&text);
            let mut vectors = HashMap::with_capacity(2);
            vectors.insert(SPARSE.to_owned(), VectorPersisted::Sparse(terms));
            if let Some(dense) = point.dense {
                vectors.insert(DENSE.to_owned(), VectorPersisted::Dense(dense));
            }
            let payload = match serde_json::to_value(&point.passage) {
                Ok(Value::Object(fields)) => Payload(fields),
                Ok(other) => {
                    return Err(IndexError::backend(
                        BACKEND,
                        format!("passage serialised as {other}, not an object"),
                    ));
                }
                Err(err) => return Err(IndexError::backend(BACKEND, err)),
            };
            records.push(PointStructPersisted {
                id: EdgePointId::NumId(point.id),
                vector: VectorStructPersisted::Named(vectors),
                payload: Some(payload),
            });
            written.push((point.id, Arc::new(point.passage)));
        }

        let _writing = self.writing.lock().unwrap_or_else(PoisonError::into_inner);
        let ids: Vec<PointId> = written.iter().map(|(id, _)| *id).collect();
        self.forget(&ids);
        while !records.is_empty() {
            let rest = records.split_off(cmp::min(UPSERT_CHUNK, records.len()));
            let chunk = std::mem::replace(&mut records, rest);
            if let Err(err) = self.shard.update(UpdateOperation::PointOperation(
                PointOperations::UpsertPoints(PointInsertOperations::PointsList(chunk)),
            )) {
                // A search may have cached a point's old payload meanwhile.
                self.forget(&ids);
                return Err(edge_error(err));
            }
        }
        self.generation.fetch_add(1, Ordering::SeqCst);
        for (id, passage) in written {
            self.passages.insert(id, passage);
        }
        Ok(())
    }

    /// Drops points from the passage cache.
    fn forget(&self, ids: &[PointId]) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        for id in ids {
            self.passages.remove(id);
        }
    }

    fn delete(&self, ids: Vec<PointId>) -> Result<(), IndexError> {
        let _writing = self.writing.lock().unwrap_or_else(PoisonError::into_inner);
        let result = ids.chunks(SCROLL_PAGE).try_for_each(|chunk| {
            self.shard
                .update(UpdateOperation::PointOperation(
                    PointOperations::DeletePoints {
                        ids: chunk.iter().map(|&id| EdgePointId::NumId(id)).collect(),
                    },
                ))
                .map(drop)
                .map_err(edge_error)
        });
        self.forget(&ids);
        result
    }

    /// Visits the stored points in id order, at most `max`, with the payload `fields`
    /// and the vectors `vectors`, a page at a time.
    fn scroll(
        &self,
        max: usize,
        fields: Vec<JsonPath>,
        vectors: WithVector,
        mut visit: impl FnMut(Record) -> Result<(), IndexError>,
    ) -> Result<(), IndexError> {
        let mut offset = None;
        let mut left = max;
        while left > 0 {
            let (records, next) = self
                .shard
                .scroll(ScrollRequest {
                    offset,
                    limit: Some(SCROLL_PAGE.min(left)),
                    filter: None,
                    with_payload: Some(WithPayloadInterface::Fields(fields.clone())),
                    with_vector: vectors.clone(),
                    order_by: None,
                })
                .map_err(edge_error)?;
            left = left.saturating_sub(records.len());
            records.into_iter().try_for_each(&mut visit)?;
            match next {
                Some(next) => offset = Some(next),
                None => break,
            }
        }
        Ok(())
    }

    fn hashes(&self) -> Result<BTreeMap<PointId, String>, IndexError> {
        let mut hashes = BTreeMap::new();
        self.scroll(
            usize::MAX,
            vec![filter::path(filter::HASH)?],
            WithVector::Bool(false),
            |record| {
                // A point without a hash reads as changed, so re-indexing rewrites it.
                let value = record
                    .payload
                    .as_ref()
                    .and_then(|payload| payload.0.get(filter::HASH))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                hashes.insert(point_id(record.id)?, value);
                Ok(())
            },
        )?;
        Ok(hashes)
    }

    fn language_means(&self, max_points: usize) -> Result<LanguageMeans, IndexError> {
        let mut means = LanguageMeansBuilder::default();
        if self.layout.dimension.is_none() {
            return Ok(means.finish());
        }
        self.scroll(
            max_points,
            vec![filter::path(filter::LANG)?, filter::path(filter::KIND)?],
            WithVector::Selector(vec![DENSE.to_owned()]),
            |record| {
                let payload = record.payload.as_ref();
                // The means describe the shop's articles: products, embedded or not, stay
                // out.
                if payload
                    .and_then(|payload| payload.0.get(filter::KIND))
                    .and_then(Value::as_str)
                    == Some(SourceKind::Product.as_str())
                {
                    return Ok(());
                }
                let lang = payload
                    .and_then(|payload| payload.0.get(filter::LANG))
                    .and_then(Value::as_str);
                let dense = match &record.vector {
                    Some(VectorStructInternal::Named(vectors)) => match vectors.get(DENSE) {
                        Some(VectorInternal::Dense(dense)) => Some(dense),
                        _ => None,
                    },
                    _ => None,
                };
                // Points stored without a dense vector (products, when only articles
                // are embedded) have no place in the means.
                if let (Some(lang), Some(dense)) = (lang, dense) {
                    means.add(lang, dense);
                }
                Ok(())
            },
        )?;
        Ok(means.finish())
    }

    fn count(&self) -> Result<usize, IndexError> {
        self.shard
            .count(CountRequest {
                filter: None,
                exact: true,
            })
            .map_err(edge_error)
    }

    fn flush(&self) -> Result<(), IndexError> {
        let _writing = self.writing.lock().unwrap_or_else(PoisonError::into_inner);
        self.shard.flush();
        Ok(())
    }

    fn search(&self, query: &IndexQuery) -> Result<Vec<Hit>, IndexError> {
        if query.limit == 0 {
            return Ok(Vec::new());
        }
        // BM25 alone when the index or the query has no dense vector.
        let dense = match (self.layout.dimension, &query.dense) {
            (Some(want), Some(dense)) if dense.len() != want => {
                return Err(dimension_error(dense.len(), Some(want)));
            }
            (Some(_), Some(dense)) => Some(dense.clone()),
            _ => None,
        };
        let lang = query.lang.as_deref();
        let terms = self
            .bm25
            .get(lang)?
            .embed_query(&kefu_knowledge::bm25::prepare(lang, &query.text));
        let candidates = kefu_knowledge::index::candidates(
            query.limit,
            dense.is_some() && !terms.indices.is_empty(),
        );
        let filter = filter::to_qdrant(&query.filter)?;

        let dense_hits = match dense {
            Some(dense) => self.nearest(
                DENSE,
                VectorInternal::Dense(dense),
                filter.clone(),
                candidates,
            )?,
            None => Vec::new(),
        };
        let sparse_hits = if terms.indices.is_empty() {
            Vec::new()
        } else {
            self.nearest(SPARSE, VectorInternal::Sparse(terms), filter, candidates)?
        };

        let mut fused = fusion::rrf(&dense_hits, &sparse_hits);
        fused.truncate(query.limit);
        if fused.is_empty() {
            return Ok(Vec::new());
        }
        let passages = self.passages_of(fused.iter().map(|f| f.id))?;
        // A point deleted between the searches and the retrieval is left out.
        Ok(fused
            .into_iter()
            .filter_map(|f| {
                passages.get(&f.id).map(|passage| Hit {
                    id: f.id,
                    score: f.score,
                    dense_score: f.dense_score,
                    sparse_score: f.sparse_score,
                    passage: Arc::clone(passage),
                })
            })
            .collect())
    }

    /// The stored passages of these points: from the cache, the rest read from the
    /// shard's payloads (and cached).
    fn passages_of(
        &self,
        ids: impl Iterator<Item = PointId>,
    ) -> Result<HashMap<PointId, Arc<Passage>>, IndexError> {
        let mut found = HashMap::new();
        let mut missing = Vec::new();
        for id in ids {
            match self.passages.get(&id) {
                Some(passage) => {
                    found.insert(id, passage);
                }
                None => missing.push(EdgePointId::NumId(id)),
            }
        }
        if missing.is_empty() {
            return Ok(found);
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let records = self
            .shard
            .retrieve(
                &missing,
                Some(WithPayloadInterface::Bool(true)),
                Some(WithVector::Bool(false)),
            )
            .map_err(edge_error)?;
        let mut read = Vec::with_capacity(records.len());
        for record in records {
            let Some(payload) = record.payload else {
                continue;
            };
            let passage: Passage = serde_json::from_value(Value::Object(payload.0))
                .map_err(|err| IndexError::backend(BACKEND, format!("stored passage: {err}")))?;
            read.push((point_id(record.id)?, Arc::new(passage)));
        }
        let unchanged = self.generation.load(Ordering::SeqCst) == generation;
        for (id, passage) in read {
            if unchanged {
                self.passages.insert(id, Arc::clone(&passage));
            }
            found.insert(id, passage);
        }
        Ok(found)
    }

    /// The `limit` points nearest to `vector` by the named vector, best first, without
    /// payload.
    fn nearest(
        &self,
        using: &str,
        vector: VectorInternal,
        filter: Option<qdrant_edge::Filter>,
        limit: usize,
    ) -> Result<Vec<(PointId, f32)>, IndexError> {
        let points = self
            .shard
            .query(QueryRequest {
                prefetches: Vec::new(),
                query: Some(ScoringQuery::Vector(QueryEnum::Nearest(NamedQuery {
                    query: vector,
                    using: Some(using.to_owned()),
                }))),
                filter,
                score_threshold: None,
                limit,
                offset: 0,
                params: None,
                with_vector: WithVector::Bool(false),
                with_payload: WithPayloadInterface::Bool(false),
            })
            .map_err(edge_error)?;
        points
            .into_iter()
            .map(|point| Ok((point_id(point.id)?, point.score)))
            .collect()
    }
}

#[async_trait]
impl Index for EdgeIndex {
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
        let inner = Arc::clone(&self.inner);
        blocking(move || inner.upsert(points)).await
    }

    async fn delete(&self, ids: &[PointId]) -> Result<(), IndexError> {
        if ids.is_empty() {
            return Ok(());
        }
        let inner = Arc::clone(&self.inner);
        let ids = ids.to_vec();
        blocking(move || inner.delete(ids)).await
    }

    async fn hashes(&self) -> Result<BTreeMap<PointId, String>, IndexError> {
        let inner = Arc::clone(&self.inner);
        blocking(move || inner.hashes()).await
    }

    async fn search(&self, query: &IndexQuery) -> Result<Vec<Hit>, IndexError> {
        let inner = Arc::clone(&self.inner);
        let query = query.clone();
        blocking(move || inner.search(&query)).await
    }

    async fn search_both(
        &self,
        first: &IndexQuery,
        second: &IndexQuery,
    ) -> Result<(Vec<Hit>, Vec<Hit>), IndexError> {
        let inner = Arc::clone(&self.inner);
        let (first, second) = (first.clone(), second.clone());
        blocking(move || Ok((inner.search(&first)?, inner.search(&second)?))).await
    }

    async fn language_means(&self, max_points: usize) -> Result<LanguageMeans, IndexError> {
        let inner = Arc::clone(&self.inner);
        blocking(move || inner.language_means(max_points)).await
    }

    async fn count(&self) -> Result<usize, IndexError> {
        let inner = Arc::clone(&self.inner);
        blocking(move || inner.count()).await
    }

    async fn flush(&self) -> Result<(), IndexError> {
        let inner = Arc::clone(&self.inner);
        blocking(move || inner.flush()).await
    }
}
