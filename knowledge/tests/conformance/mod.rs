//! kefu's index conformance suite: what every [`Index`] backend must do, written once and
//! run against each backend, so search behaves the same in-process and on a server.
//!
//! Each case is an async function over a [`Store`], a place that holds one index and can
//! open it again (a temporary directory, a server collection). A backend crate includes
//! this file in its one integration-test binary, at the crate root, and instantiates
//! every case as a test with [`conformance_tests!`]:
//!
//! ```text
//! #[macro_use]
//! #[path = "../../../tests/conformance/mod.rs"]
//! mod conformance;
//!
//! async fn store() -> MyStore { … }   // a fresh, empty store per test
//! conformance_tests!(store);
//! ```
//!
//! The including crate needs `kefu-knowledge`, `async-trait` and `tokio` (macros, rt).
//! Fixtures are hand-made: 8-dimensional dense vectors whose cosines are known, short
//! texts whose BM25 terms are known.

#![cfg(test)]
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use kefu_knowledge::bm25::DEFINITION_VERSION;
use kefu_knowledge::{
    Filter, Hit, Index, IndexError, IndexQuery, Layout, Passage, Point, PointId, SourceKind,
};

/// Where a backend keeps one index.
#[async_trait]
pub trait Store: Send + Sync {
    /// Opens the index held here with `layout`, creating it when missing. Opening again
    /// once every handle is dropped must find what was written and flushed.
    async fn open(&self, layout: &Layout) -> Result<Arc<dyn Index>, IndexError>;
}

/// Instantiates every conformance case as a `#[tokio::test]` for a backend. `$store` is
/// an async function returning a fresh, empty [`Store`].
macro_rules! conformance_tests {
    ($store:path) => {
        conformance_cases!(
            $store;
            an_upserted_passage_is_found_by_its_words_and_by_its_vector_exactly_as_stored,
            upserting_an_existing_id_replaces_the_passage_instead_of_adding_one,
            deleted_points_are_gone_from_results_hashes_and_count,
            hashes_lists_exactly_the_stored_ids_with_their_hashes,
            hashes_lists_every_point_of_an_index_larger_than_a_page,
            language_means_average_each_languages_dense_vectors_over_every_page_or_a_sample,
            the_language_filter_keeps_only_passages_in_those_languages,
            the_tag_filter_keeps_passages_carrying_any_of_the_tags,
            the_kind_filter_keeps_only_those_kinds,
            the_group_filter_keeps_only_those_translation_groups,
            in_stock_only_drops_products_out_of_stock_and_keeps_articles_and_unknown_stock,
            filters_combine_and_bind_the_dense_and_the_keyword_search_alike,
            a_vector_pointing_at_one_passage_and_words_matching_another_returns_both_in_fused_order,
            a_query_without_a_vector_ranks_by_keywords_alone,
            a_keyword_only_index_ignores_a_query_vector_and_ranks_by_keywords,
            search_returns_at_most_limit_hits,
            chinese_text_is_segmented_so_a_word_finds_the_compound_containing_it,
            japanese_text_is_segmented_so_a_word_finds_the_sentence_containing_it,
            accents_and_capitals_do_not_matter,
            stemming_matches_other_forms_of_a_word_in_the_passage_language,
            everything_written_is_found_again_after_reopening,
            reopening_with_another_model_is_refused_as_a_layout_mismatch,
            dense_vectors_of_the_wrong_size_are_refused,
            a_keyword_only_index_refuses_points_with_a_dense_vector,
        );
    };
}

macro_rules! conformance_cases {
    ($store:path; $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let store = $store().await;
                crate::conformance::$case(&store).await;
            }
        )+
    };
}

// ---------------------------------------------------------------------------------------
// Fixtures

/// Size of the fixtures' dense vectors.
pub const DIMENSION: usize = 8;

/// An index with a (pretend) 8-dimensional model.
pub fn hybrid() -> Layout {
    Layout {
        model: Some("conformance-8d".to_owned()),
        dimension: Some(DIMENSION),
        bm25: DEFINITION_VERSION,
    }
}

/// An index on BM25 alone.
pub fn keywords_only() -> Layout {
    Layout {
        model: None,
        dimension: None,
        bm25: DEFINITION_VERSION,
    }
}

/// Unit vector along axis `i`.
pub fn axis(i: usize) -> Vec<f32> {
    let mut v = vec![0.0; DIMENSION];
    if let Some(x) = v.get_mut(i) {
        *x = 1.0;
    }
    v
}

/// A vector from its first components, zero-padded.
pub fn vector(components: &[f32]) -> Vec<f32> {
    let mut v = vec![0.0; DIMENSION];
    for (x, c) in v.iter_mut().zip(components) {
        *x = *c;
    }
    v
}

pub fn article(doc: &str, lang: &str, text: &str) -> Passage {
    Passage {
        doc_id: doc.to_owned(),
        group: doc.to_owned(),
        lang: lang.to_owned(),
        title: doc.to_owned(),
        section: String::new(),
        url: None,
        tags: Vec::new(),
        kind: SourceKind::Article,
        text: text.to_owned(),
        hash: format!("hash-of-{doc}-{lang}"),
        in_stock: None,
        price: None,
        ordinal: 0,
    }
}

pub fn product(handle: &str, lang: &str, text: &str, in_stock: Option<bool>) -> Passage {
    Passage {
        doc_id: format!("product:{handle}"),
        group: format!("product:{handle}"),
        kind: SourceKind::Product,
        in_stock,
        price: Some("29.90 EUR".to_owned()),
        ..article(handle, lang, text)
    }
}

pub fn point(id: PointId, dense: Option<Vec<f32>>, passage: Passage) -> Point {
    Point { id, dense, passage }
}

pub fn query(text: &str, lang: Option<&str>, dense: Option<Vec<f32>>, limit: usize) -> IndexQuery {
    IndexQuery {
        text: text.to_owned(),
        lang: lang.map(str::to_owned),
        dense,
        filter: Filter::default(),
        limit,
    }
}

pub fn ids(hits: &[Hit]) -> Vec<PointId> {
    hits.iter().map(|h| h.id).collect()
}

fn id_set(hits: &[Hit]) -> BTreeSet<PointId> {
    hits.iter().map(|h| h.id).collect()
}

/// Qdrant's reciprocal rank fusion term for a rank from 0 (k = 2).
pub fn rrf(rank: usize) -> f32 {
    1.0 / (rank as f32 + 2.0)
}

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() < 1e-4
}

async fn open(store: &dyn Store, layout: &Layout) -> Arc<dyn Index> {
    match store.open(layout).await {
        Ok(index) => index,
        Err(err) => panic!("opening the index failed: {err}"),
    }
}

async fn upsert(index: &dyn Index, points: Vec<Point>) {
    if let Err(err) = index.upsert(points).await {
        panic!("upsert failed: {err}");
    }
}

async fn search(index: &dyn Index, query: &IndexQuery) -> Vec<Hit> {
    match index.search(query).await {
        Ok(hits) => hits,
        Err(err) => panic!("search for {:?} failed: {err}", query.text),
    }
}

pub const SHIPPING: PointId = 1;
pub const RETURNS: PointId = 2;
pub const GIFT_CARDS: PointId = 3;
pub const HOLIDAYS: PointId = 4;

/// Four English articles. Against a query along axis 0, the cosines are 1.0 (shipping),
/// 0.287 (returns), 0.0995 (gift cards) and 0 (holidays); only the returns article holds
/// the words "return policy".
pub fn four_articles() -> Vec<Point> {
    vec![
        point(
            SHIPPING,
            Some(axis(0)),
            article(
                "shipping",
                "en",
                "Shipping to Europe takes five to seven working days.",
            ),
        ),
        point(
            RETURNS,
            Some(vector(&[0.3, 1.0])),
            article(
                "returns",
                "en",
                "Return policy: unused items can be returned within thirty days.",
            ),
        ),
        point(
            GIFT_CARDS,
            Some(vector(&[0.1, 0.0, 1.0])),
            article("gift-cards", "en", "Gift cards never expire."),
        ),
        point(
            HOLIDAYS,
            Some(axis(3)),
            article("holidays", "en", "Our shop is closed on public holidays."),
        ),
    ]
}

pub const RETURNS_EN: PointId = 11;
pub const RETURNS_ES: PointId = 12;
pub const MUG: PointId = 13;
pub const KETTLE: PointId = 14;
pub const TEAPOT: PointId = 15;
pub const SHIPPING_DE: PointId = 16;

/// Six passages of every kind, all holding the made-up word "qx7" and all close to axis
/// 0, so that without a filter every search finds all of them.
pub fn catalogue() -> Vec<Point> {
    let tagged = |mut p: Passage, group: &str, tags: &[&str]| {
        group.clone_into(&mut p.group);
        p.tags = tags.iter().map(|t| (*t).to_owned()).collect();
        p
    };
    vec![
        point(
            RETURNS_EN,
            Some(vector(&[1.0, 0.1])),
            tagged(
                article("returns", "en", "qx7 Returns are free within thirty days."),
                "returns",
                &["policy", "returns"],
            ),
        ),
        point(
            RETURNS_ES,
            Some(vector(&[1.0, 0.2])),
            tagged(
                article(
                    "devoluciones",
                    "es",
                    "qx7 Las devoluciones son gratuitas durante treinta días.",
                ),
                "returns",
                &["policy"],
            ),
        ),
        point(
            MUG,
            Some(vector(&[1.0, 0.3])),
            tagged(
                product("mug", "en", "qx7 Ceramic mug, dishwasher safe.", Some(true)),
                "product:mug",
                &["kitchen", "gift"],
            ),
        ),
        point(
            KETTLE,
            Some(vector(&[1.0, 0.4])),
            tagged(
                product(
                    "kettle",
                    "en",
                    "qx7 Electric kettle with a steel body.",
                    Some(false),
                ),
                "product:kettle",
                &["kitchen"],
            ),
        ),
        point(
            TEAPOT,
            Some(vector(&[1.0, 0.5])),
            tagged(
                product("teapot", "fr", "qx7 Théière en fonte émaillée.", None),
                "product:teapot",
                &["gift"],
            ),
        ),
        point(
            SHIPPING_DE,
            Some(vector(&[1.0, 0.6])),
            tagged(
                article(
                    "versand",
                    "de",
                    "qx7 Der Versand nach Deutschland dauert drei Tage.",
                ),
                "shipping",
                &["shipping"],
            ),
        ),
    ]
}

/// Searches the catalogue three ways under `filter`: keywords alone, the vector alone
/// (text without a single term), and both. Each must return exactly `expected`.
async fn assert_filter(index: &dyn Index, filter: Filter, expected: &[PointId]) {
    let expected: BTreeSet<PointId> = expected.iter().copied().collect();
    let modes = [
        ("keywords", "qx7", None),
        ("vector", "", Some(axis(0))),
        ("hybrid", "qx7", Some(axis(0))),
    ];
    for (mode, text, dense) in modes {
        let mut q = query(text, None, dense, 10);
        q.filter = filter.clone();
        let hits = search(index, &q).await;
        assert_eq!(id_set(&hits), expected, "{mode} search under {filter:?}");
        assert_eq!(hits.len(), expected.len(), "{mode}: no duplicates");
    }
}

// ---------------------------------------------------------------------------------------
// Cases

pub async fn an_upserted_passage_is_found_by_its_words_and_by_its_vector_exactly_as_stored(
    store: &dyn Store,
) {
    let index = open(store, &hybrid()).await;
    let mut mug = product(
        "mug",
        "en",
        "Ceramic mug with a blue glaze, dishwasher safe.",
        Some(true),
    );
    mug.section = "Kitchen › Mugs".to_owned();
    mug.url = Some("https://shop.example/products/mug".to_owned());
    mug.tags = vec!["kitchen".to_owned(), "gift".to_owned()];
    mug.ordinal = 3;
    let mut points = four_articles();
    points.push(point(42, Some(axis(5)), mug.clone()));
    upsert(&*index, points).await;

    let by_words = search(&*index, &query("blue ceramic mug", Some("en"), None, 3)).await;
    let first = by_words.first().expect("the mug is found by its words");
    assert_eq!(first.id, 42);
    assert_eq!(*first.passage, mug, "the payload comes back as stored");
    assert!(first.sparse_score.is_some_and(|s| s > 0.0));
    assert_eq!(first.dense_score, None);

    let by_vector = search(&*index, &query("", None, Some(axis(5)), 3)).await;
    let first = by_vector.first().expect("the mug is found by its vector");
    assert_eq!(first.id, 42);
    assert!(first.dense_score.is_some_and(|s| close(s, 1.0)));
    assert_eq!(first.sparse_score, None);

    assert_eq!(index.count().await.ok(), Some(5));
}

pub async fn upserting_an_existing_id_replaces_the_passage_instead_of_adding_one(
    store: &dyn Store,
) {
    let index = open(store, &hybrid()).await;
    upsert(&*index, four_articles()).await;
    // Read once first, so a backend that keeps passages it has read must drop this one.
    let before = search(&*index, &query("return policy", Some("en"), None, 10)).await;
    assert!(ids(&before).contains(&RETURNS));
    let mut replacement = article("returns", "en", "Refunds are issued within five days.");
    replacement.hash = "second-version".to_owned();
    upsert(
        &*index,
        vec![point(RETURNS, Some(axis(1)), replacement.clone())],
    )
    .await;

    assert_eq!(index.count().await.ok(), Some(4));
    let old_words = search(&*index, &query("return policy", Some("en"), None, 10)).await;
    assert!(!ids(&old_words).contains(&RETURNS), "old text is gone");
    let new_words = search(&*index, &query("refunds issued", Some("en"), None, 10)).await;
    assert_eq!(ids(&new_words), vec![RETURNS]);
    assert_eq!(new_words.first().map(|h| &*h.passage), Some(&replacement));
    let by_new_vector = search(&*index, &query("", None, Some(axis(1)), 10)).await;
    assert_eq!(by_new_vector.first().map(|h| h.id), Some(RETURNS));
    assert_eq!(by_new_vector.iter().filter(|h| h.id == RETURNS).count(), 1);
    let hashes = index.hashes().await.expect("hashes");
    assert_eq!(
        hashes.get(&RETURNS).map(String::as_str),
        Some("second-version")
    );
}

pub async fn deleted_points_are_gone_from_results_hashes_and_count(store: &dyn Store) {
    let index = open(store, &hybrid()).await;
    upsert(&*index, four_articles()).await;
    index
        .delete(&[RETURNS, 999])
        .await
        .expect("unknown ids are ignored");
    index.delete(&[]).await.expect("deleting nothing is fine");

    assert_eq!(index.count().await.ok(), Some(3));
    let by_words = search(&*index, &query("return policy", Some("en"), None, 10)).await;
    assert!(by_words.is_empty(), "{by_words:?}");
    let by_vector = search(&*index, &query("", None, Some(axis(1)), 10)).await;
    assert_eq!(
        id_set(&by_vector),
        BTreeSet::from([SHIPPING, GIFT_CARDS, HOLIDAYS])
    );
    let hashes = index.hashes().await.expect("hashes");
    assert!(!hashes.contains_key(&RETURNS));
}

pub async fn hashes_lists_exactly_the_stored_ids_with_their_hashes(store: &dyn Store) {
    let index = open(store, &hybrid()).await;
    assert_eq!(index.hashes().await.ok(), Some(BTreeMap::new()));
    let points = catalogue();
    let expected: BTreeMap<PointId, String> = points
        .iter()
        .map(|p| (p.id, p.passage.hash.clone()))
        .collect();
    upsert(&*index, points).await;
    assert_eq!(index.hashes().await.ok(), Some(expected));
}

pub async fn hashes_lists_every_point_of_an_index_larger_than_a_page(store: &dyn Store) {
    let index = open(store, &keywords_only()).await;
    let points: Vec<Point> = (1..=1100u64)
        .map(|i| {
            let mut p = article(&format!("doc-{i}"), "en", &format!("Note number {i}."));
            p.hash = format!("{i:x}");
            point(i * 7919, None, p)
        })
        .collect();
    let expected: BTreeMap<PointId, String> = points
        .iter()
        .map(|p| (p.id, p.passage.hash.clone()))
        .collect();
    upsert(&*index, points).await;
    assert_eq!(index.hashes().await.ok(), Some(expected));
    assert_eq!(index.count().await.ok(), Some(1100));
}

pub async fn language_means_average_each_languages_dense_vectors_over_every_page_or_a_sample(
    store: &dyn Store,
) {
    let index = open(store, &hybrid()).await;
    assert!(
        index
            .language_means(usize::MAX)
            .await
            .expect("means")
            .is_empty()
    );
    // 1,100 English passages, half along axis 0 and half along axis 1 (more than a page
    // of any backend's scroll), ten German ones along axis 2, and an English product
    // without a dense vector, which has no place in the means.
    let mut points: Vec<Point> = (1..=1100u64)
        .map(|i| {
            let p = article(&format!("en-{i}"), "en", &format!("Note number {i}."));
            point(i, Some(axis((i % 2) as usize)), p)
        })
        .collect();
    points.extend((1..=10u64).map(|i| {
        let p = article(&format!("de-{i}"), "de", &format!("Notiz Nummer {i}."));
        point(5000 + i, Some(axis(2)), p)
    }));
    points.push(point(
        9000,
        None,
        product("mug", "en", "A mug.", Some(true)),
    ));
    upsert(&*index, points).await;

    let means = index.language_means(usize::MAX).await.expect("means");
    assert_eq!(means.languages().collect::<Vec<_>>(), ["de", "en"]);
    let similarity = |lang: &str, v: &[f32]| means.similarity(lang, v).unwrap_or(f32::NAN);
    assert!(
        close(similarity("en", &axis(0)), 0.5),
        "{:?}",
        similarity("en", &axis(0))
    );
    assert!(close(similarity("en", &axis(1)), 0.5));
    assert!(close(similarity("en", &axis(2)), 0.0));
    assert!(close(similarity("de", &axis(2)), 1.0));
    assert_eq!(means.similarity("fr", &axis(0)), None);
    assert_eq!(
        means.similarity("en", &[1.0, 0.0]),
        None,
        "a query of another size"
    );

    // A cap takes points in id order: the first 600 are English, half on each axis.
    let sample = index.language_means(600).await.expect("means");
    assert_eq!(sample.languages().collect::<Vec<_>>(), ["en"]);
    assert!(close(
        sample.similarity("en", &axis(0)).unwrap_or(f32::NAN),
        0.5
    ));

    // Deleted passages leave the means.
    let odd: Vec<PointId> = (1..=1100u64).filter(|i| i % 2 == 1).collect();
    index.delete(&odd).await.expect("delete");
    let means = index.language_means(usize::MAX).await.expect("means");
    assert!(close(
        means.similarity("en", &axis(0)).unwrap_or(f32::NAN),
        1.0
    ));
    assert!(close(
        means.similarity("en", &axis(1)).unwrap_or(f32::NAN),
        0.0
    ));
}

pub async fn the_language_filter_keeps_only_passages_in_those_languages(store: &dyn Store) {
    let index = open(store, &hybrid()).await;
    upsert(&*index, catalogue()).await;
    let langs = |l: &[&str]| Filter {
        langs: l.iter().map(|s| (*s).to_owned()).collect(),
        ..Filter::default()
    };
    assert_filter(&*index, langs(&["es"]), &[RETURNS_ES]).await;
    assert_filter(&*index, langs(&["fr", "de"]), &[TEAPOT, SHIPPING_DE]).await;
    assert_filter(&*index, langs(&["ja"]), &[]).await;
}

pub async fn the_tag_filter_keeps_passages_carrying_any_of_the_tags(store: &dyn Store) {
    let index = open(store, &hybrid()).await;
    upsert(&*index, catalogue()).await;
    let tags = |t: &[&str]| Filter {
        tags: t.iter().map(|s| (*s).to_owned()).collect(),
        ..Filter::default()
    };
    assert_filter(&*index, tags(&["kitchen"]), &[MUG, KETTLE]).await;
    assert_filter(
        &*index,
        tags(&["gift", "policy"]),
        &[RETURNS_EN, RETURNS_ES, MUG, TEAPOT],
    )
    .await;
}

pub async fn the_kind_filter_keeps_only_those_kinds(store: &dyn Store) {
    let index = open(store, &hybrid()).await;
    upsert(&*index, catalogue()).await;
    let kinds = |k: &[SourceKind]| Filter {
        kinds: k.to_vec(),
        ..Filter::default()
    };
    assert_filter(
        &*index,
        kinds(&[SourceKind::Product]),
        &[MUG, KETTLE, TEAPOT],
    )
    .await;
    assert_filter(
        &*index,
        kinds(&[SourceKind::Article]),
        &[RETURNS_EN, RETURNS_ES, SHIPPING_DE],
    )
    .await;
    assert_filter(
        &*index,
        kinds(&[SourceKind::Article, SourceKind::Product]),
        &[RETURNS_EN, RETURNS_ES, MUG, KETTLE, TEAPOT, SHIPPING_DE],
    )
    .await;
}

pub async fn the_group_filter_keeps_only_those_translation_groups(store: &dyn Store) {
    let index = open(store, &hybrid()).await;
    upsert(&*index, catalogue()).await;
    let groups = |g: &[&str]| Filter {
        groups: g.iter().map(|s| (*s).to_owned()).collect(),
        ..Filter::default()
    };
    assert_filter(&*index, groups(&["returns"]), &[RETURNS_EN, RETURNS_ES]).await;
    assert_filter(
        &*index,
        groups(&["product:mug", "shipping"]),
        &[MUG, SHIPPING_DE],
    )
    .await;
}

pub async fn in_stock_only_drops_products_out_of_stock_and_keeps_articles_and_unknown_stock(
    store: &dyn Store,
) {
    let index = open(store, &hybrid()).await;
    upsert(&*index, catalogue()).await;
    let in_stock = Filter {
        in_stock_only: true,
        ..Filter::default()
    };
    assert_filter(
        &*index,
        in_stock,
        &[RETURNS_EN, RETURNS_ES, MUG, TEAPOT, SHIPPING_DE],
    )
    .await;
    assert_filter(
        &*index,
        Filter::default(),
        &[RETURNS_EN, RETURNS_ES, MUG, KETTLE, TEAPOT, SHIPPING_DE],
    )
    .await;
}

pub async fn filters_combine_and_bind_the_dense_and_the_keyword_search_alike(store: &dyn Store) {
    let index = open(store, &hybrid()).await;
    upsert(&*index, catalogue()).await;
    let english_products_in_stock = Filter {
        langs: vec!["en".to_owned()],
        kinds: vec![SourceKind::Product],
        in_stock_only: true,
        ..Filter::default()
    };
    assert_filter(&*index, english_products_in_stock, &[MUG]).await;
    let gifts_in_french = Filter {
        langs: vec!["fr".to_owned()],
        tags: vec!["gift".to_owned()],
        groups: vec!["product:teapot".to_owned(), "product:mug".to_owned()],
        ..Filter::default()
    };
    assert_filter(&*index, gifts_in_french, &[TEAPOT]).await;
}

pub async fn a_vector_pointing_at_one_passage_and_words_matching_another_returns_both_in_fused_order(
    store: &dyn Store,
) {
    let index = open(store, &hybrid()).await;
    upsert(&*index, four_articles()).await;
    let hits = search(
        &*index,
        &query("return policy", Some("en"), Some(axis(0)), 4),
    )
    .await;

    // Dense ranks: shipping, returns, gift cards, holidays. BM25: returns only. Returns
    // has evidence from both lists and comes first; the others keep their dense order.
    assert_eq!(ids(&hits), vec![RETURNS, SHIPPING, GIFT_CARDS, HOLIDAYS]);
    let [returns, shipping, gift_cards, holidays] = hits.as_slice() else {
        panic!("four hits expected: {hits:?}");
    };
    assert!(close(returns.score, rrf(1) + rrf(0)), "{returns:?}");
    assert!(close(shipping.score, rrf(0)), "{shipping:?}");
    assert!(close(gift_cards.score, rrf(2)), "{gift_cards:?}");
    assert!(close(holidays.score, rrf(3)), "{holidays:?}");

    assert!(returns.sparse_score.is_some_and(|s| s > 0.0));
    assert!(
        returns
            .dense_score
            .is_some_and(|s| close(s, 0.3 / 1.09f32.sqrt()))
    );
    assert!(shipping.dense_score.is_some_and(|s| close(s, 1.0)));
    assert_eq!(shipping.sparse_score, None);
    assert!(
        gift_cards
            .dense_score
            .is_some_and(|s| close(s, 0.1 / 1.01f32.sqrt()))
    );
    assert!(holidays.dense_score.is_some_and(|s| close(s, 0.0)));

    let words_agree = search(
        &*index,
        &query("shipping to europe", Some("en"), Some(axis(0)), 4),
    )
    .await;
    assert_eq!(words_agree.first().map(|h| h.id), Some(SHIPPING));
    assert!(
        words_agree
            .first()
            .is_some_and(|h| close(h.score, rrf(0) + rrf(0)))
    );
}

pub async fn a_query_without_a_vector_ranks_by_keywords_alone(store: &dyn Store) {
    let index = open(store, &hybrid()).await;
    upsert(
        &*index,
        vec![
            point(
                1,
                Some(axis(0)),
                article(
                    "damage",
                    "en",
                    "Damaged item? We refund a damaged item in full.",
                ),
            ),
            point(
                2,
                Some(axis(1)),
                article("refunds", "en", "Refunds take five days."),
            ),
            point(
                3,
                Some(axis(2)),
                article("shipping", "en", "Shipping is free."),
            ),
        ],
    )
    .await;
    let hits = search(&*index, &query("damaged item refund", Some("en"), None, 10)).await;
    assert_eq!(
        ids(&hits),
        vec![1, 2],
        "only passages sharing a term, best first"
    );
    assert!(hits.iter().all(|h| h.dense_score.is_none()));
    let [damage, refunds] = hits.as_slice() else {
        panic!("two hits expected");
    };
    assert!(damage.sparse_score > refunds.sparse_score);
    assert!(close(damage.score, rrf(0)) && close(refunds.score, rrf(1)));
}

pub async fn a_keyword_only_index_ignores_a_query_vector_and_ranks_by_keywords(store: &dyn Store) {
    let index = open(store, &keywords_only()).await;
    assert_eq!(index.layout(), &keywords_only());
    upsert(
        &*index,
        four_articles()
            .into_iter()
            .map(|p| Point { dense: None, ..p })
            .collect(),
    )
    .await;
    let hits = search(
        &*index,
        &query("return policy", Some("en"), Some(axis(0)), 10),
    )
    .await;
    assert_eq!(ids(&hits), vec![RETURNS]);
    assert!(
        hits.iter()
            .all(|h| h.dense_score.is_none() && h.sparse_score.is_some())
    );
}

pub async fn search_returns_at_most_limit_hits(store: &dyn Store) {
    let index = open(store, &hybrid()).await;
    upsert(&*index, catalogue()).await;
    assert_eq!(
        search(&*index, &query("qx7", None, Some(axis(0)), 2))
            .await
            .len(),
        2
    );
    assert_eq!(search(&*index, &query("qx7", None, None, 1)).await.len(), 1);
    assert!(
        search(&*index, &query("qx7", None, Some(axis(0)), 0))
            .await
            .is_empty()
    );
    assert!(search(&*index, &query("", None, None, 5)).await.is_empty());
}

pub fn chinese() -> Vec<Point> {
    vec![
        point(
            1,
            None,
            article("returns", "zh-CN", "我们的退货政策很简单。"),
        ),
        point(
            2,
            None,
            article("shipping", "zh-CN", "配送时间一般为三到五天。"),
        ),
        point(
            3,
            None,
            article("returns", "en", "Our return policy is simple."),
        ),
    ]
}

pub async fn chinese_text_is_segmented_so_a_word_finds_the_compound_containing_it(
    store: &dyn Store,
) {
    let index = open(store, &keywords_only()).await;
    upsert(&*index, chinese()).await;
    for lang in [Some("zh-CN"), None] {
        let hits = search(&*index, &query("退货", lang, None, 10)).await;
        assert_eq!(ids(&hits), vec![1], "query language {lang:?}");
    }
    let hits = search(&*index, &query("配送需要几天？", Some("zh-CN"), None, 10)).await;
    assert_eq!(hits.first().map(|h| h.id), Some(2));
}

pub async fn japanese_text_is_segmented_so_a_word_finds_the_sentence_containing_it(
    store: &dyn Store,
) {
    let index = open(store, &keywords_only()).await;
    upsert(
        &*index,
        vec![
            point(
                1,
                None,
                article("returns", "ja", "商品到着後30日以内であれば返品できます。"),
            ),
            point(
                2,
                None,
                article("shipping", "ja", "配送には通常三日かかります。"),
            ),
            point(3, None, article("free-shipping", "ja", "送料無料")),
        ],
    )
    .await;
    // Words of kanji alone, as customers type them, in queries and in a passage.
    let cases = [
        ("返品", vec![1]),
        ("返品したいです", vec![1]),
        ("配送", vec![2]),
        ("送料無料ですか", vec![3]),
    ];
    for (text, expected) in cases {
        let hits = search(&*index, &query(text, Some("ja"), None, 10)).await;
        assert_eq!(ids(&hits), expected, "{text}");
    }
}

pub async fn accents_and_capitals_do_not_matter(store: &dyn Store) {
    let index = open(store, &keywords_only()).await;
    upsert(
        &*index,
        vec![
            point(
                1,
                None,
                article("returns", "es", "Política de devolución: treinta días."),
            ),
            point(
                2,
                None,
                article("address", "de", "Unsere Adresse: Hauptstraße 5, Berlin."),
            ),
            point(3, None, article("teapot", "fr", "Théière en fonte.")),
        ],
    )
    .await;
    let cases = [
        ("POLITICA DE DEVOLUCION", Some("es"), 1),
        ("hauptstrasse", Some("de"), 2),
        ("theiere", Some("fr"), 3),
        ("THÉIÈRE", Some("fr"), 3),
    ];
    for (text, lang, expected) in cases {
        let hits = search(&*index, &query(text, lang, None, 10)).await;
        assert_eq!(hits.first().map(|h| h.id), Some(expected), "{text}");
    }
}

pub async fn stemming_matches_other_forms_of_a_word_in_the_passage_language(store: &dyn Store) {
    let index = open(store, &keywords_only()).await;
    upsert(
        &*index,
        vec![
            point(
                1,
                None,
                article("shipping", "en", "We ship every order within a day."),
            ),
            point(
                2,
                None,
                article("envios", "es", "Enviamos los pedidos cada día."),
            ),
            point(
                3,
                None,
                article("other", "en", "Gift wrapping is available."),
            ),
        ],
    )
    .await;
    let cases = [("shipping orders", Some("en"), 1), ("envío", Some("es"), 2)];
    for (text, lang, expected) in cases {
        let hits = search(&*index, &query(text, lang, None, 10)).await;
        assert_eq!(hits.first().map(|h| h.id), Some(expected), "{text}");
    }
}

pub async fn everything_written_is_found_again_after_reopening(store: &dyn Store) {
    let queries = [
        query("return policy", Some("en"), Some(axis(0)), 4),
        query("qx7", None, Some(axis(0)), 10),
        query("", None, Some(axis(2)), 3),
    ];
    let before = {
        let index = open(store, &hybrid()).await;
        let mut points = four_articles();
        points.extend(catalogue());
        upsert(&*index, points).await;
        index.flush().await.expect("flush");
        let mut results = Vec::new();
        for q in &queries {
            results.push(search(&*index, q).await);
        }
        (results, index.hashes().await.ok(), index.count().await.ok())
    };
    let after = {
        let index = open(store, &hybrid()).await;
        assert_eq!(index.layout(), &hybrid());
        let mut results = Vec::new();
        for q in &queries {
            results.push(search(&*index, q).await);
        }
        let after = (results, index.hashes().await.ok(), index.count().await.ok());
        // Deletions are compared on their own: Qdrant's BM25 IDF keeps counting deleted
        // points until segments are reloaded or vacuumed, so scores may shift.
        index.delete(&[KETTLE]).await.expect("delete");
        index.flush().await.expect("flush");
        after
    };
    assert_eq!(after.2, Some(10));
    assert_eq!(after, before);

    let index = open(store, &hybrid()).await;
    assert_eq!(index.count().await.ok(), Some(9));
    let hashes = index.hashes().await.expect("hashes");
    assert!(!hashes.contains_key(&KETTLE) && hashes.len() == 9);
    let hits = search(&*index, &query("qx7 kettle", Some("en"), Some(axis(0)), 20)).await;
    assert!(!ids(&hits).contains(&KETTLE));
}

pub async fn reopening_with_another_model_is_refused_as_a_layout_mismatch(store: &dyn Store) {
    {
        let index = open(store, &hybrid()).await;
        upsert(&*index, four_articles()).await;
        index.flush().await.expect("flush");
    }
    let other_model = Layout {
        model: Some("another-model".to_owned()),
        ..hybrid()
    };
    let other_size = Layout {
        dimension: Some(16),
        ..hybrid()
    };
    let other_bm25 = Layout {
        bm25: DEFINITION_VERSION + 1,
        ..hybrid()
    };
    for wanted in [other_model, other_size, other_bm25, keywords_only()] {
        match store.open(&wanted).await {
            Err(IndexError::LayoutMismatch { .. }) => {}
            Err(err) => panic!("{wanted:?}: refused with the wrong error: {err}"),
            Ok(_) => panic!("{wanted:?}: opened an index built with {:?}", hybrid()),
        }
    }
    let index = open(store, &hybrid()).await;
    assert_eq!(
        index.count().await.ok(),
        Some(4),
        "refusals leave the index alone"
    );
}

pub async fn dense_vectors_of_the_wrong_size_are_refused(store: &dyn Store) {
    let index = open(store, &hybrid()).await;
    let mut points = four_articles();
    points.push(point(
        9,
        Some(vec![1.0; DIMENSION - 1]),
        article("bad", "en", "Bad."),
    ));
    match index.upsert(points).await {
        Err(IndexError::Dimension { got: 7, want: 8 }) => {}
        other => panic!("upsert of a 7-dimensional vector: {other:?}"),
    }
    assert_eq!(
        index.count().await.ok(),
        Some(0),
        "nothing of the batch is written"
    );

    upsert(&*index, four_articles()).await;
    match index
        .search(&query(
            "return",
            Some("en"),
            Some(vec![1.0; DIMENSION + 1]),
            3,
        ))
        .await
    {
        Err(IndexError::Dimension { got: 9, want: 8 }) => {}
        other => panic!("search with a 9-dimensional vector: {other:?}"),
    }
}

pub async fn a_keyword_only_index_refuses_points_with_a_dense_vector(store: &dyn Store) {
    let index = open(store, &keywords_only()).await;
    let points = vec![point(
        1,
        Some(axis(0)),
        article("returns", "en", "Return policy."),
    )];
    match index.upsert(points).await {
        Err(IndexError::Dimension { got: 8, want: 0 }) => {}
        other => panic!("upsert of a dense vector into a keyword-only index: {other:?}"),
    }
    assert_eq!(index.count().await.ok(), Some(0));
}
