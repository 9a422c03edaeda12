//! kefu-knowledge-edge's one test binary: the knowledge family's conformance suite on
//! [`EdgeIndex`] in temporary directories, then what is particular to the embedded
//! backend (its directory, qdrant-edge's own fusion, its BM25 models).

#[macro_use]
#[path = "../../../tests/conformance/mod.rs"]
mod conformance;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use conformance::{Store, axis, catalogue, four_articles, hybrid, keywords_only, query};
use kefu_knowledge::bm25::LANGUAGES;
use kefu_knowledge::{Index, IndexError, Layout, Point};
use kefu_knowledge_edge::{DENSE, EdgeIndex, SPARSE, bm25_model};
use qdrant_edge::{
    EdgeShard, NamedQuery, QueryEnum, QueryRequest, ScoringQuery, VectorInternal,
    WithPayloadInterface, WithVector,
};

/// A temporary directory holding one index, in its `index/` subdirectory (which the
/// index creates itself).
struct TempStore {
    dir: tempfile::TempDir,
}

impl TempStore {
    fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("index")
    }
}

#[async_trait]
impl Store for TempStore {
    async fn open(&self, layout: &Layout) -> Result<Arc<dyn Index>, IndexError> {
        Ok(Arc::new(EdgeIndex::open(&self.path(), layout)?))
    }
}

async fn temp_store() -> TempStore {
    TempStore {
        dir: tempfile::tempdir().unwrap_or_else(|err| panic!("temporary directory: {err}")),
    }
}

conformance_tests!(temp_store);

fn open(dir: &Path, layout: &Layout) -> EdgeIndex {
    EdgeIndex::open(dir, layout).unwrap_or_else(|err| panic!("open {}: {err}", dir.display()))
}

#[tokio::test]
async fn recreate_empties_the_index_and_records_the_new_layout() {
    let store = temp_store().await;
    {
        let index = open(&store.path(), &hybrid());
        index.upsert(four_articles()).await.expect("upsert");
        index.flush().await.expect("flush");
    }
    let index = EdgeIndex::recreate(&store.path(), &keywords_only()).expect("recreate");
    assert_eq!(index.count().await.ok(), Some(0));
    assert_eq!(index.layout(), &keywords_only());
    drop(index);
    assert!(EdgeIndex::open(&store.path(), &keywords_only()).is_ok());
    assert!(matches!(
        EdgeIndex::open(&store.path(), &hybrid()),
        Err(IndexError::LayoutMismatch { .. })
    ));
}

#[tokio::test]
async fn a_directory_with_a_shard_but_no_layout_record_is_refused() {
    let store = temp_store().await;
    drop(open(&store.path(), &hybrid()));
    std::fs::remove_file(store.path().join("layout.json")).expect("remove the record");
    match EdgeIndex::open(&store.path(), &hybrid()) {
        Err(IndexError::LayoutMismatch { found, wanted }) => {
            assert!(found.contains("without a layout record"), "{found}");
            assert!(wanted.contains("conformance-8d"), "{wanted}");
        }
        other => panic!("expected a layout mismatch, got {other:?}"),
    }
}

#[tokio::test]
async fn the_layout_mismatch_names_both_layouts() {
    let store = temp_store().await;
    drop(open(&store.path(), &hybrid()));
    let wanted = Layout {
        model: Some("multilingual-e5-small".to_owned()),
        dimension: Some(384),
        bm25: 1,
    };
    let Err(err) = EdgeIndex::open(&store.path(), &wanted) else {
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
async fn dropping_the_index_without_flushing_still_persists_what_was_written() {
    let store = temp_store().await;
    {
        let index = open(&store.path(), &hybrid());
        index.upsert(four_articles()).await.expect("upsert");
    }
    let index = open(&store.path(), &hybrid());
    assert_eq!(index.count().await.ok(), Some(4));
}

/// Our fusion keeps per-list scores, so it is computed outside qdrant-edge. It follows
/// Qdrant's RRF arithmetic (a hit at rank r adds 1 / (r + 2)) over the engine's own two
/// lists, except that hits a list scores exactly alike share the rank of the first of
/// them: Qdrant's own fusion ranks such ties in whatever order the list returned them, so
/// a server and the embedded index could fuse the same data differently.
#[tokio::test]
async fn fused_scores_follow_qdrants_reciprocal_rank_fusion_with_ties_sharing_a_rank() {
    let store = temp_store().await;
    let mut points = four_articles();
    points.extend(catalogue());
    let text = "return policy: are returns free? qx7";
    let dense = conformance::vector(&[1.0, 0.25, 0.3]);
    let ours = {
        let index = open(&store.path(), &hybrid());
        index.upsert(points).await.expect("upsert");
        index.flush().await.expect("flush");
        index
            .search(&query(text, Some("en"), Some(dense.clone()), 5))
            .await
            .expect("search")
    };

    let shard = EdgeShard::load(&store.path().join("shard"), None).expect("load the shard");
    let terms = bm25_model(Some("en")).expect("model").embed_query(text);
    // Each list as the engine ranks it on its own.
    let list = |using: &str, vector: VectorInternal| -> Vec<(u64, f32)> {
        shard
            .query(QueryRequest {
                prefetches: Vec::new(),
                query: Some(ScoringQuery::Vector(QueryEnum::Nearest(NamedQuery {
                    query: vector,
                    using: Some(using.to_owned()),
                }))),
                filter: None,
                score_threshold: None,
                limit: 20,
                offset: 0,
                params: None,
                with_vector: WithVector::Bool(false),
                with_payload: WithPayloadInterface::Bool(false),
            })
            .expect("query")
            .into_iter()
            .map(|p| match p.id {
                qdrant_edge::PointId::NumId(id) => (id, p.score),
                qdrant_edge::PointId::Uuid(_) => panic!("uuid"),
            })
            .collect()
    };
    let lists = [
        list(DENSE, VectorInternal::Dense(dense)),
        list(SPARSE, VectorInternal::Sparse(terms)),
    ];
    assert!(
        lists[1].windows(2).any(|w| w[0].1 == w[1].1),
        "the BM25 list has ties, so the shared rank is exercised"
    );
    let mut expected: std::collections::HashMap<u64, f32> = std::collections::HashMap::new();
    for list in &lists {
        let mut rank = 0;
        for (position, (id, score)) in list.iter().enumerate() {
            if position > 0 && list[position - 1].1 != *score {
                rank = position;
            }
            *expected.entry(*id).or_default() += 1.0 / ((rank + 1) as f32 + 2.0 - 1.0);
        }
    }
    assert_eq!(ours.len(), 5);
    for hit in &ours {
        assert_eq!(
            hit.score.to_bits(),
            expected[&hit.id].to_bits(),
            "{hit:?} against {expected:?}"
        );
    }
    // The five best fused scores, whatever the order of exact ties at the cut.
    let mut best: Vec<f32> = expected.values().copied().collect();
    best.sort_by(|a, b| b.total_cmp(a));
    let mine: Vec<f32> = ours.iter().map(|h| h.score).collect();
    assert_eq!(mine, best[..5].to_vec());
}

#[tokio::test]
async fn every_language_of_the_bm25_definition_builds_an_edge_model() {
    for language in LANGUAGES {
        for tag in language.tags {
            let model = bm25_model(Some(tag)).unwrap_or_else(|err| panic!("{tag}: {err}"));
            assert!(
                !model.embed_document("kefu 2024 qx7").indices.is_empty(),
                "{tag}"
            );
        }
    }
    assert!(bm25_model(None).is_ok());
    assert!(bm25_model(Some("ko")).is_ok());
}

#[tokio::test]
async fn the_neutral_definition_keeps_stop_words_and_does_not_stem() {
    let english = bm25_model(Some("en")).expect("english");
    let neutral = bm25_model(None).expect("neutral");
    assert_eq!(english.embed_query("the running").indices.len(), 1);
    assert_eq!(neutral.embed_query("the running").indices.len(), 2);
    assert_eq!(english.embed_query("running"), english.embed_query("runs"));
    assert_ne!(neutral.embed_query("running"), neutral.embed_query("runs"));
    // Same tokens where neither stems nor drops anything.
    assert_eq!(english.embed_query("kefu"), neutral.embed_query("kefu"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_flushes_and_searches_can_run_at_once() {
    let store = temp_store().await;
    let index = Arc::new(open(&store.path(), &hybrid()));
    let batches: Vec<Vec<Point>> = (0..8u64)
        .map(|b| {
            catalogue()
                .into_iter()
                .map(|p| Point {
                    id: p.id + 100 * b,
                    ..p
                })
                .collect()
        })
        .collect();
    let mut tasks = Vec::new();
    for batch in batches {
        let writer = Arc::clone(&index);
        tasks.push(tokio::spawn(async move {
            writer.upsert(batch).await?;
            writer.flush().await
        }));
        let reader = Arc::clone(&index);
        tasks.push(tokio::spawn(async move {
            reader
                .search(&query("qx7", None, Some(axis(0)), 5))
                .await
                .map(drop)
        }));
    }
    for task in tasks {
        task.await.expect("task").expect("operation");
    }
    assert_eq!(index.count().await.ok(), Some(48));
}

/// The tokenizer reads a text in the script it has most letters of: a Japanese or Chinese
/// product passage that ends in Latin vendor, sizes and prices must still be cut into
/// words, or a question naming the product finds nothing.
#[tokio::test]
async fn cjk_passages_with_latin_facts_share_terms_with_questions_in_their_language() {
    let terms = |lang: &str, text: &str, query: bool| {
        let model = bm25_model(Some(lang)).unwrap();
        let text = kefu_knowledge::bm25::prepare(Some(lang), text);
        let mut indices = if query {
            model.embed_query(&text).indices
        } else {
            model.embed_document(&text).indices
        };
        indices.sort_unstable();
        indices
    };
    let facts = "\n\n- Teaware\n- Iwachu\n- 0.6 l: 98.00 USD\n- 1.2 l: 128.00 USD";
    let passage = format!("南部鉄瓶\n\n岩手の南部鉄器の鉄瓶です。{facts}");
    let question = terms("ja", "南部鉄瓶はありますか？", true);
    let document = terms("ja", &passage, false);
    assert_eq!(question.len(), 2, "南部 and 鉄瓶");
    assert!(
        question.iter().all(|t| document.contains(t)),
        "{question:?} in {document:?}"
    );
    // The Latin words are still terms of the passage.
    assert!(
        terms("ja", "Iwachu", true)
            .iter()
            .all(|t| document.contains(t))
    );

    let question = terms("zh-CN", "龙井绿茶", true);
    let document = terms(
        "zh-CN",
        "龙井绿茶\n\n- Lotus & Pine\n- Default: 24.50 USD",
        false,
    );
    assert!(!question.is_empty());
    assert!(
        question.iter().all(|t| document.contains(t)),
        "{question:?} in {document:?}"
    );
}
