//! The [`Layout`] record kept inside the collection, so an index built for one model is
//! never searched with another's vectors.
//!
//! It is a point of its own: id [`RECORD_ID`], no vectors, payload
//! `{"kefu_layout": {"model": …, "dimension": …, "bm25": …}}`. Chosen over the alternatives:
//! - collection metadata exists only from Qdrant 1.16 on, and an older server silently
//!   drops the field, where kefu supports any server from 1.10;
//! - a side collection could be dropped, renamed, snapshotted or restored apart from the
//!   data it describes; the record point travels with the data (snapshots, migrations).
//!
//! The id is a UUID while kefu's passages have numeric ids, so it can never collide with
//! a passage. Without vectors the point is never a search candidate, and an empty sparse
//! vector is not counted by the BM25 IDF statistics either (Qdrant keeps empty sparse
//! vectors out of its inverted index), so keyword scores are unaffected. `count` and
//! `hashes` leave it out with [`without_record`].

use std::collections::HashMap;

use kefu_knowledge::{IndexError, Layout};
use qdrant_client::qdrant::{
    Condition, Filter, NamedVectors, PointId, PointStruct, Value, Vectors, vectors,
};

use crate::BACKEND;

/// The record's point id: "kefu" and "layout" in ASCII hex.
pub const RECORD_ID: &str = "6b656675-6c61-796f-7574-000000000000";
/// The payload key holding the layout.
pub const KEY: &str = "kefu_layout";

/// The record's id as the client wants it.
pub fn record_id() -> PointId {
    PointId::from(RECORD_ID)
}

/// The point recording `layout`.
pub fn record(layout: &Layout) -> Result<PointStruct, IndexError> {
    let json = serde_json::to_value(layout).map_err(|err| IndexError::backend(BACKEND, err))?;
    Ok(PointStruct {
        id: Some(record_id()),
        payload: HashMap::from([(KEY.to_owned(), Value::from(json))]),
        // An empty map of named vectors: Qdrant's way to store a point without vectors.
        vectors: Some(Vectors {
            vectors_options: Some(vectors::VectorsOptions::Vectors(NamedVectors::default())),
        }),
    })
}

/// The layout in a record's payload.
pub fn read(mut payload: HashMap<String, Value>, collection: &str) -> Result<Layout, IndexError> {
    let unreadable = |why: String| {
        IndexError::backend(
            BACKEND,
            format!("the layout record of collection {collection} is unreadable: {why}"),
        )
    };
    let value = payload
        .remove(KEY)
        .ok_or_else(|| unreadable(format!("no {KEY} field")))?;
    serde_json::from_value(serde_json::Value::from(value))
        .map_err(|err| unreadable(err.to_string()))
}

/// A filter excluding the record, for counting and listing passages.
pub fn without_record() -> Filter {
    Filter::must_not([Condition::has_id([record_id()])])
}
