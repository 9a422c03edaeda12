//! What this backend asks a Qdrant server for, checked without one: filters, the
//! collection it creates, the layout record and the points it writes.

use std::collections::HashMap;

use kefu_knowledge::{Filter, Index, IndexError, Layout, SourceKind};
use kefu_knowledge_qdrant::{DENSE, QdrantIndex, SPARSE, collection, filter, layout, points};
use qdrant_client::qdrant::{
    self, CollectionParams, Condition, Distance, FieldType, Modifier, PointId, VectorParams,
    VectorParamsMap, VectorsConfig, r#match::MatchValue, point_id::PointIdOptions, vector, vectors,
    vectors_config,
};

use crate::conformance::{hybrid, keywords_only, product};

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

fn any_of(field: &str, values: &[&str]) -> Condition {
    Condition::matches(
        field,
        MatchValue::Keywords(qdrant::RepeatedStrings {
            strings: strings(values),
        }),
    )
}

fn must(conditions: Vec<Condition>) -> Option<qdrant::Filter> {
    Some(qdrant::Filter::must(conditions))
}

// ---------------------------------------------------------------------------------------
// Filters

#[test]
fn an_empty_filter_sends_no_filter() {
    assert_eq!(filter::to_qdrant(&Filter::default()), None);
}

#[test]
fn languages_become_a_match_any_on_lang() {
    let f = Filter {
        langs: strings(&["es", "zh-CN"]),
        ..Filter::default()
    };
    assert_eq!(
        filter::to_qdrant(&f),
        must(vec![any_of("lang", &["es", "zh-CN"])])
    );
}

#[test]
fn tags_become_a_match_any_on_tags() {
    let f = Filter {
        tags: strings(&["gift", "kitchen"]),
        ..Filter::default()
    };
    assert_eq!(
        filter::to_qdrant(&f),
        must(vec![any_of("tags", &["gift", "kitchen"])])
    );
}

#[test]
fn kinds_become_a_match_any_on_their_payload_names() {
    let f = Filter {
        kinds: vec![SourceKind::Article, SourceKind::Product],
        ..Filter::default()
    };
    assert_eq!(
        filter::to_qdrant(&f),
        must(vec![any_of("kind", &["article", "product"])])
    );
}

#[test]
fn groups_become_a_match_any_on_group() {
    let f = Filter {
        groups: strings(&["returns"]),
        ..Filter::default()
    };
    assert_eq!(
        filter::to_qdrant(&f),
        must(vec![any_of("group", &["returns"])])
    );
}

#[test]
fn in_stock_only_excludes_in_stock_false_and_nothing_else() {
    let f = Filter {
        in_stock_only: true,
        ..Filter::default()
    };
    assert_eq!(
        filter::to_qdrant(&f),
        Some(qdrant::Filter::must_not([Condition::matches(
            "in_stock",
            MatchValue::Boolean(false),
        )]))
    );
}

#[test]
fn every_field_combines_with_and() {
    let f = Filter {
        langs: strings(&["fr"]),
        tags: strings(&["gift"]),
        kinds: vec![SourceKind::Product],
        groups: strings(&["product:teapot"]),
        in_stock_only: true,
    };
    assert_eq!(
        filter::to_qdrant(&f),
        Some(qdrant::Filter {
            must: vec![
                any_of("lang", &["fr"]),
                any_of("tags", &["gift"]),
                any_of("kind", &["product"]),
                any_of("group", &["product:teapot"]),
            ],
            must_not: vec![Condition::matches("in_stock", MatchValue::Boolean(false))],
            ..qdrant::Filter::default()
        })
    );
}

#[test]
fn a_value_with_a_space_stays_an_exact_keyword() {
    // The client's `From<String>` would turn it into a full-text match.
    let f = Filter {
        tags: strings(&["gift ideas"]),
        ..Filter::default()
    };
    assert_eq!(
        filter::to_qdrant(&f),
        must(vec![any_of("tags", &["gift ideas"])])
    );
}

// ---------------------------------------------------------------------------------------
// The collection

fn dense_params(config: Option<&VectorsConfig>) -> Option<&HashMap<String, VectorParams>> {
    match config?.config.as_ref()? {
        vectors_config::Config::ParamsMap(map) => Some(&map.map),
        vectors_config::Config::Params(_) => None,
    }
}

#[test]
fn a_hybrid_collection_has_a_named_cosine_vector_and_a_bm25_vector_with_idf() {
    let request = collection::create_request("kb", &hybrid());
    assert_eq!(request.collection_name, "kb");
    let dense = dense_params(request.vectors_config.as_ref()).expect("named dense vectors");
    assert_eq!(dense.len(), 1);
    let params = dense.get(DENSE).expect("the dense vector");
    assert_eq!(params.size, 8);
    assert_eq!(params.distance, Distance::Cosine as i32);

    let sparse = &request.sparse_vectors_config.expect("sparse vectors").map;
    assert_eq!(sparse.len(), 1);
    let bm25 = sparse.get(SPARSE).expect("the BM25 vector");
    assert_eq!(bm25.modifier, Some(Modifier::Idf as i32));
    assert_eq!(bm25.index, None);

    // Everything else is the server's default.
    assert_eq!(request.shard_number, None);
    assert_eq!(request.replication_factor, None);
    assert_eq!(request.hnsw_config, None);
    assert_eq!(request.quantization_config, None);
}

#[test]
fn a_keyword_only_collection_has_no_dense_vector_config_at_all() {
    let request = collection::create_request("kb", &keywords_only());
    assert_eq!(request.vectors_config, None);
    let sparse = &request.sparse_vectors_config.expect("sparse vectors").map;
    assert_eq!(
        sparse.get(SPARSE).and_then(|p| p.modifier),
        Some(Modifier::Idf as i32)
    );
}

#[test]
fn the_names_are_the_embedded_backends() {
    assert_eq!(DENSE, kefu_knowledge_edge::DENSE);
    assert_eq!(SPARSE, kefu_knowledge_edge::SPARSE);
}

#[test]
fn filtered_fields_get_keyword_indexes_and_in_stock_a_bool_index_built_before_use() {
    let requests = collection::payload_index_requests("kb");
    let indexes: Vec<(&str, Option<i32>, Option<bool>)> = requests
        .iter()
        .map(|r| {
            assert_eq!(r.collection_name, "kb");
            (r.field_name.as_str(), r.field_type, r.wait)
        })
        .collect();
    let keyword = Some(FieldType::Keyword as i32);
    assert_eq!(
        indexes,
        vec![
            ("lang", keyword, Some(true)),
            ("group", keyword, Some(true)),
            ("tags", keyword, Some(true)),
            ("kind", keyword, Some(true)),
            ("in_stock", Some(FieldType::Bool as i32), Some(true)),
        ]
    );
}

fn params_of(layout: &Layout) -> CollectionParams {
    let request = collection::create_request("kb", layout);
    CollectionParams {
        vectors_config: request.vectors_config,
        sparse_vectors_config: request.sparse_vectors_config,
        ..CollectionParams::default()
    }
}

#[test]
fn only_a_collection_with_the_layouts_own_vectors_can_be_adopted() {
    let wider = Layout {
        dimension: Some(16),
        ..hybrid()
    };
    assert!(collection::has_layout_vectors(
        &params_of(&hybrid()),
        &hybrid()
    ));
    assert!(collection::has_layout_vectors(
        &params_of(&keywords_only()),
        &keywords_only()
    ));
    assert!(!collection::has_layout_vectors(
        &params_of(&hybrid()),
        &keywords_only()
    ));
    assert!(!collection::has_layout_vectors(
        &params_of(&keywords_only()),
        &hybrid()
    ));
    assert!(!collection::has_layout_vectors(
        &params_of(&hybrid()),
        &wider
    ));
    assert!(!collection::has_layout_vectors(
        &CollectionParams::default(),
        &keywords_only()
    ));

    let mut euclid = params_of(&hybrid());
    euclid.vectors_config = Some(VectorsConfig {
        config: Some(vectors_config::Config::ParamsMap(VectorParamsMap {
            map: HashMap::from([(
                DENSE.to_owned(),
                VectorParams {
                    size: 8,
                    distance: Distance::Euclid as i32,
                    ..VectorParams::default()
                },
            )]),
        })),
    });
    assert!(!collection::has_layout_vectors(&euclid, &hybrid()));

    let mut without_idf = params_of(&keywords_only());
    if let Some(config) = &mut without_idf.sparse_vectors_config {
        for params in config.map.values_mut() {
            params.modifier = None;
        }
    }
    assert!(!collection::has_layout_vectors(
        &without_idf,
        &keywords_only()
    ));
}

// ---------------------------------------------------------------------------------------
// The layout record

#[test]
fn the_layout_record_is_a_vectorless_point_with_a_uuid_and_the_layout_as_json() {
    let record = layout::record(&hybrid()).expect("record");
    assert_eq!(
        record.id.and_then(|id| id.point_id_options),
        Some(PointIdOptions::Uuid(layout::RECORD_ID.to_owned()))
    );
    match record.vectors.and_then(|v| v.vectors_options) {
        Some(vectors::VectorsOptions::Vectors(named)) => assert!(named.vectors.is_empty()),
        other => panic!("expected an empty map of named vectors, got {other:?}"),
    }
    let json: serde_json::Value = record
        .payload
        .get(layout::KEY)
        .cloned()
        .expect("the layout field")
        .into();
    assert_eq!(
        json,
        serde_json::json!({ "model": "conformance-8d", "dimension": 8, "bm25": 2 })
    );
}

#[test]
fn the_layout_record_reads_back_as_written() {
    for written in [
        hybrid(),
        keywords_only(),
        Layout {
            model: Some("multilingual-e5-small".to_owned()),
            dimension: Some(384),
            bm25: 7,
        },
    ] {
        let record = layout::record(&written).expect("record");
        assert_eq!(layout::read(record.payload, "kb").ok(), Some(written));
    }
}

#[test]
fn an_unreadable_layout_record_is_an_error_naming_the_collection() {
    let mut payload = HashMap::new();
    payload.insert(
        layout::KEY.to_owned(),
        qdrant::Value::from(serde_json::json!({ "model": 3 })),
    );
    for payload in [payload, HashMap::new()] {
        match layout::read(payload, "kb") {
            Err(IndexError::Backend { message, .. }) => {
                assert!(message.contains("collection kb"), "{message}");
            }
            other => panic!("expected an error, got {other:?}"),
        }
    }
}

#[test]
fn the_record_is_left_out_by_a_has_id_condition() {
    assert_eq!(
        layout::without_record(),
        qdrant::Filter::must_not([Condition::has_id([PointId::from(layout::RECORD_ID)])])
    );
}

// ---------------------------------------------------------------------------------------
// Points

#[test]
fn a_passage_survives_the_payload_round_trip_exactly() {
    let mut mug = product("mug", "en", "Ceramic mug, dishwasher safe.", Some(true));
    mug.section = "Kitchen › Mugs".to_owned();
    mug.url = Some("https://shop.example/products/mug".to_owned());
    mug.tags = vec!["kitchen".to_owned(), "gift ideas".to_owned()];
    mug.ordinal = 3;
    let mut article = crate::conformance::article("returns", "zh-CN", "退货政策。");
    article.price = None;
    for passage in [mug, article] {
        let payload = points::payload(&passage).expect("payload");
        assert_eq!(points::passage(payload).ok(), Some(passage));
    }
}

#[test]
fn vectors_are_sent_in_both_the_current_and_the_legacy_fields() {
    let passage = crate::conformance::article("returns", "en", "Return policy.");
    let point = points::point(
        42,
        Some(vec![0.5, 0.25]),
        (vec![7, 3], vec![1.5, 0.5]),
        &passage,
    )
    .expect("point");
    assert_eq!(
        point.id.and_then(|id| id.point_id_options),
        Some(PointIdOptions::Num(42))
    );
    let Some(vectors::VectorsOptions::Vectors(named)) =
        point.vectors.and_then(|v| v.vectors_options)
    else {
        panic!("named vectors expected");
    };
    assert_eq!(named.vectors.len(), 2);

    let bm25 = named.vectors.get(SPARSE).expect("bm25");
    #[expect(deprecated)]
    {
        assert_eq!(bm25.data, vec![1.5, 0.5]);
        assert_eq!(
            bm25.indices.as_ref().map(|i| i.data.clone()),
            Some(vec![7, 3])
        );
        assert_eq!(bm25.vectors_count, None);
    }
    assert_eq!(
        bm25.vector,
        Some(vector::Vector::Sparse(qdrant::SparseVector {
            indices: vec![7, 3],
            values: vec![1.5, 0.5],
        }))
    );

    let dense = named.vectors.get(DENSE).expect("dense");
    #[expect(deprecated)]
    {
        assert_eq!(dense.data, vec![0.5, 0.25]);
        assert_eq!(dense.indices, None);
    }
    assert_eq!(
        dense.vector,
        Some(vector::Vector::Dense(qdrant::DenseVector {
            data: vec![0.5, 0.25],
        }))
    );
    assert_eq!(points::passage(point.payload).ok(), Some(passage));
}

#[test]
fn a_point_without_an_embedding_carries_only_its_bm25_vector() {
    let passage = crate::conformance::article("returns", "en", "Return policy.");
    let point = points::point(1, None, (vec![], vec![]), &passage).expect("point");
    let Some(vectors::VectorsOptions::Vectors(named)) =
        point.vectors.and_then(|v| v.vectors_options)
    else {
        panic!("named vectors expected");
    };
    assert_eq!(named.vectors.keys().collect::<Vec<_>>(), vec![SPARSE]);
}

#[test]
fn uuid_ids_are_not_kefus() {
    assert_eq!(points::point_id(Some(PointId::from(9u64))).ok(), Some(9));
    assert!(points::point_id(Some(PointId::from(layout::RECORD_ID))).is_err());
    assert!(points::point_id(None).is_err());
}

// ---------------------------------------------------------------------------------------
// Connecting

#[tokio::test]
async fn a_server_that_does_not_answer_is_an_error_naming_its_url() {
    // Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    let url = "http://127.0.0.1:9";
    match QdrantIndex::connect(url, None, "kb", &hybrid()).await {
        Err(IndexError::Backend { backend, message }) => {
            assert_eq!(backend, "qdrant");
            assert!(message.contains(url), "{message}");
        }
        Ok(index) => panic!("connected to nothing: {index:?} ({})", index.backend()),
        Err(other) => panic!("wrong error: {other}"),
    }
}
