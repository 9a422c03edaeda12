//! The collection kefu creates on a Qdrant server: laid out exactly as the embedded
//! backend's shard, so the two hold the same vectors and answer the same queries.
//!
//! - named dense vector [`DENSE`] (cosine, `layout.dimension`), absent without a model;
//! - named sparse vector [`SPARSE`] with the IDF modifier: the server weighs query terms by
//!   IDF over whatever the collection holds, as qdrant-edge does over its shard;
//! - keyword payload indexes on `lang`, `group`, `tags`, `kind` and a bool index on
//!   `in_stock`, the fields filters use.

use kefu_knowledge::Layout;
use qdrant_client::qdrant::{
    CollectionParams, CreateCollection, CreateCollectionBuilder, CreateFieldIndexCollection,
    CreateFieldIndexCollectionBuilder, Distance, FieldType, Modifier, SparseVectorParamsBuilder,
    SparseVectorsConfigBuilder, VectorParamsBuilder, VectorsConfigBuilder, vectors_config,
};

use crate::filter;
use crate::{DENSE, SPARSE};

/// Payload fields with an index, and the index's type.
pub const PAYLOAD_INDEXES: [(&str, FieldType); 5] = [
    (filter::LANG, FieldType::Keyword),
    (filter::GROUP, FieldType::Keyword),
    (filter::TAGS, FieldType::Keyword),
    (filter::KIND, FieldType::Keyword),
    (filter::IN_STOCK, FieldType::Bool),
];

/// The request creating `collection` for `layout`. Everything else (shards, replication,
/// HNSW, optimisers) is left to the server's defaults, which its operator configures.
pub fn create_request(collection: &str, layout: &Layout) -> CreateCollection {
    let mut sparse = SparseVectorsConfigBuilder::default();
    sparse.add_named_vector_params(
        SPARSE,
        SparseVectorParamsBuilder::default().modifier(Modifier::Idf),
    );
    let mut request = CreateCollectionBuilder::new(collection).sparse_vectors_config(sparse);
    // A keyword-only collection sends no dense config at all rather than an empty one.
    if let Some(dimension) = layout.dimension {
        let mut dense = VectorsConfigBuilder::default();
        dense.add_named_vector_params(
            DENSE,
            VectorParamsBuilder::new(dimension as u64, Distance::Cosine),
        );
        request = request.vectors_config(dense);
    }
    request.build()
}

/// The requests creating the payload indexes of `collection`, each waiting until the
/// index is built so a filtered search right after uses it.
pub fn payload_index_requests(collection: &str) -> Vec<CreateFieldIndexCollection> {
    PAYLOAD_INDEXES
        .iter()
        .map(|&(field, field_type)| {
            CreateFieldIndexCollectionBuilder::new(collection, field, field_type)
                .wait(true)
                .build()
        })
        .collect()
}

/// Whether an existing collection has the vectors [`create_request`] would give it for
/// `layout`: only such a collection may be adopted when it lacks a layout record.
pub fn has_layout_vectors(params: &CollectionParams, layout: &Layout) -> bool {
    let dense_ok = match (
        params
            .vectors_config
            .as_ref()
            .and_then(|config| config.config.as_ref()),
        layout.dimension,
    ) {
        (None, None) => true,
        (Some(vectors_config::Config::ParamsMap(map)), None) => map.map.is_empty(),
        (Some(vectors_config::Config::ParamsMap(map)), Some(dimension)) => {
            map.map.len() == 1
                && map.map.get(DENSE).is_some_and(|params| {
                    params.size == dimension as u64 && params.distance == Distance::Cosine as i32
                })
        }
        // An unnamed vector, or none where the layout wants one.
        _ => false,
    };
    let sparse_ok = params.sparse_vectors_config.as_ref().is_some_and(|config| {
        config.map.len() == 1
            && config
                .map
                .get(SPARSE)
                .is_some_and(|params| params.modifier == Some(Modifier::Idf as i32))
    });
    dense_ok && sparse_ok
}
