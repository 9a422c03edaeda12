//! Cases that need a Qdrant server: where a test gets its collection ([`store`]), and what
//! is particular to this backend (recreating, the layout record, agreeing with the
//! embedded backend). Each returns early, passing, when `KEFU_TEST_QDRANT_URL` is unset,
//! unless `KEFU_REQUIRE_QDRANT` is set (as `.ci/run` does when it starts a server): then a
//! missing server fails them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use kefu_knowledge::{Index, IndexError, Layout};
use kefu_knowledge_edge::EdgeIndex;
use kefu_knowledge_qdrant::{QdrantIndex, layout};
use qdrant_client::Qdrant;
use qdrant_client::qdrant::{
    CreateCollectionBuilder, DeleteCollectionBuilder, DeletePointsBuilder, PointsIdsList,
    UpsertPointsBuilder,
};

use crate::conformance::{self, Store, catalogue, four_articles, hybrid, keywords_only};

const URL: &str = "KEFU_TEST_QDRANT_URL";
const API_KEY: &str = "KEFU_TEST_QDRANT_API_KEY";

/// One collection on the test server, named after the test and unique to this run;
/// dropped with the store.
pub struct ServerStore {
    url: String,
    api_key: Option<String>,
    collection: String,
}

/// A fresh collection for the test `case`, or `None` (and a line saying so) when no
/// server is configured.
pub async fn store(case: &str) -> Option<ServerStore> {
    let Some(url) = std::env::var(URL).ok().filter(|url| !url.is_empty()) else {
        assert!(
            std::env::var_os("KEFU_REQUIRE_QDRANT").is_none(),
            "{case}: KEFU_REQUIRE_QDRANT is set but {URL} is not"
        );
        println!("{case}: skipped, {URL} is not set");
        return None;
    };
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    // Qdrant collection names may be up to 255 characters; the longest case name is ~90.
    let collection = format!(
        "kefu-test-{case}-{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    Some(ServerStore {
        url,
        api_key: std::env::var(API_KEY).ok().filter(|key| !key.is_empty()),
        collection,
    })
}

impl ServerStore {
    async fn connect(&self, layout: &Layout) -> Result<QdrantIndex, IndexError> {
        QdrantIndex::connect(&self.url, self.api_key.as_deref(), &self.collection, layout).await
    }

    fn client(&self) -> Qdrant {
        Qdrant::from_url(&self.url)
            .api_key(self.api_key.clone())
            .skip_compatibility_check()
            .build()
            .expect("client")
    }
}

#[async_trait]
impl Store for ServerStore {
    async fn open(&self, layout: &Layout) -> Result<Arc<dyn Index>, IndexError> {
        Ok(Arc::new(self.connect(layout).await?))
    }
}

impl Drop for ServerStore {
    /// Drops the collection, on a runtime of its own: the test's runtime is busy running
    /// this drop, and its connections belong to it.
    fn drop(&mut self) {
        let client = self.client();
        let collection = self.collection.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(client.delete_collection(DeleteCollectionBuilder::new(collection)))
        })
        .join();
        if !matches!(dropped, Ok(Ok(_))) {
            eprintln!("could not drop test collection {}", self.collection);
        }
    }
}

macro_rules! server_store {
    ($case:literal) => {
        match store($case).await {
            Some(store) => store,
            None => return,
        }
    };
}

#[tokio::test]
async fn recreate_empties_the_collection_and_records_the_new_layout() {
    let store = server_store!("recreate_empties_the_collection_and_records_the_new_layout");
    {
        let index = store.connect(&hybrid()).await.expect("connect");
        index.upsert(four_articles()).await.expect("upsert");
    }
    let index = QdrantIndex::recreate(
        &store.url,
        store.api_key.as_deref(),
        &store.collection,
        &keywords_only(),
    )
    .await
    .expect("recreate");
    assert_eq!(index.count().await.ok(), Some(0));
    assert_eq!(index.layout(), &keywords_only());
    assert!(store.connect(&keywords_only()).await.is_ok());
    assert!(matches!(
        store.connect(&hybrid()).await,
        Err(IndexError::LayoutMismatch { .. })
    ));
}

#[tokio::test]
async fn the_layout_mismatch_names_both_layouts() {
    let store = server_store!("the_layout_mismatch_names_both_layouts");
    drop(store.connect(&hybrid()).await.expect("connect"));
    let wanted = Layout {
        model: Some("multilingual-e5-small".to_owned()),
        dimension: Some(384),
        bm25: 1,
    };
    let Err(err) = store.connect(&wanted).await else {
        panic!("opened with another layout");
    };
    assert_eq!(
        err.to_string(),
        "the index was built with model conformance-8d (8 dimensions), BM25 definition 2, \
         but kefu is configured for model multilingual-e5-small (384 dimensions), \
         BM25 definition 1; run `kefu knowledge reindex --rebuild`"
    );
}

#[tokio::test]
async fn a_collection_with_points_but_no_layout_record_is_refused() {
    let store = server_store!("a_collection_with_points_but_no_layout_record_is_refused");
    let index = store.connect(&hybrid()).await.expect("connect");
    index.upsert(four_articles()).await.expect("upsert");
    store
        .client()
        .delete_points(
            DeletePointsBuilder::new(&store.collection)
                .points(PointsIdsList {
                    ids: vec![layout::record_id()],
                })
                .wait(true),
        )
        .await
        .expect("delete the record");
    match store.connect(&hybrid()).await {
        Err(IndexError::LayoutMismatch { found, wanted }) => {
            assert!(found.contains("no kefu layout record"), "{found}");
            assert!(wanted.contains("conformance-8d"), "{wanted}");
        }
        other => panic!("expected a layout mismatch, got {other:?}"),
    }
}

#[tokio::test]
async fn an_empty_collection_left_without_a_record_is_completed() {
    let store = server_store!("an_empty_collection_left_without_a_record_is_completed");
    // What a creation interrupted before its record leaves behind.
    store
        .client()
        .create_collection(kefu_knowledge_qdrant::collection::create_request(
            &store.collection,
            &hybrid(),
        ))
        .await
        .expect("create");
    let index = store.connect(&hybrid()).await.expect("adopted");
    index.upsert(four_articles()).await.expect("upsert");
    assert_eq!(
        index.count().await.ok(),
        Some(4),
        "the record is not counted"
    );
    assert_eq!(index.hashes().await.expect("hashes").len(), 4);
    assert!(matches!(
        store.connect(&keywords_only()).await,
        Err(IndexError::LayoutMismatch { .. })
    ));
}

#[tokio::test]
async fn an_empty_collection_with_other_vectors_is_refused() {
    let store = server_store!("an_empty_collection_with_other_vectors_is_refused");
    store
        .client()
        .create_collection(CreateCollectionBuilder::new(&store.collection))
        .await
        .expect("create");
    assert!(matches!(
        store.connect(&hybrid()).await,
        Err(IndexError::LayoutMismatch { .. })
    ));
}

#[tokio::test]
async fn a_foreign_point_with_a_uuid_is_reported_not_skipped() {
    let store = server_store!("a_foreign_point_with_a_uuid_is_reported_not_skipped");
    let index = store.connect(&keywords_only()).await.expect("connect");
    let mut foreign = layout::record(&keywords_only()).expect("record");
    foreign.id = Some("00000000-0000-0000-0000-000000000001".into());
    store
        .client()
        .upsert_points(UpsertPointsBuilder::new(&store.collection, vec![foreign]).wait(true))
        .await
        .expect("upsert");
    assert!(matches!(
        index.hashes().await,
        Err(IndexError::Backend { .. })
    ));
}

/// The point of computing BM25 on the client and fusing here: the same data gives the same
/// hits, in the same order with the same fused scores, as the embedded backend.
#[tokio::test]
async fn hybrid_results_match_the_embedded_backend() {
    let store = server_store!("hybrid_results_match_the_embedded_backend");
    let dir = tempfile::tempdir().expect("temporary directory");
    let edge = EdgeIndex::open(&dir.path().join("index"), &hybrid()).expect("edge index");
    let server = store.connect(&hybrid()).await.expect("connect");
    // Random vectors, so no two points tie in the dense list: Qdrant leaves the order of
    // ties open, and an engine is free to break them another way.
    let mut random = xorshift(0x2545_f491_4f6c_dd1d);
    let mut points = four_articles();
    points.extend(catalogue());
    points.extend(conformance::chinese().into_iter().map(|mut p| {
        p.id += 100;
        p
    }));
    for point in &mut points {
        point.dense = Some(random());
    }
    edge.upsert(points.clone()).await.expect("edge upsert");
    server.upsert(points).await.expect("server upsert");

    let queries = [
        conformance::query("return policy", Some("en"), Some(random()), 5),
        conformance::query(
            "return policy: are returns free? qx7",
            Some("en"),
            Some(random()),
            5,
        ),
        conformance::query("qx7 kettle", None, None, 10),
        conformance::query("退货", Some("zh-CN"), Some(random()), 3),
        conformance::query("", None, Some(random()), 4),
    ];
    for q in &queries {
        let ours = server.search(q).await.expect("server search");
        let theirs = edge.search(q).await.expect("edge search");
        let key = |hits: &[kefu_knowledge::Hit]| -> Vec<(u64, u32)> {
            hits.iter().map(|h| (h.id, h.score.to_bits())).collect()
        };
        assert_eq!(key(&ours), key(&theirs), "{:?}", q.text);
        for (a, b) in ours.iter().zip(&theirs) {
            assert_eq!(a.passage, b.passage);
            let close = |x: Option<f32>, y: Option<f32>| match (x, y) {
                (Some(x), Some(y)) => (x - y).abs() < 1e-5,
                (None, None) => true,
                _ => false,
            };
            assert!(close(a.dense_score, b.dense_score), "{a:?}\n{b:?}");
            assert!(close(a.sparse_score, b.sparse_score), "{a:?}\n{b:?}");
        }
    }
}

/// Deterministic pseudo-random 8-dimensional vectors.
fn xorshift(mut seed: u64) -> impl FnMut() -> Vec<f32> {
    move || {
        (0..conformance::DIMENSION)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed % 2000) as f32 / 1000.0 - 1.0
            })
            .collect()
    }
}
