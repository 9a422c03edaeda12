//! kefu's points as the Qdrant server stores them: the [`Passage`] as payload, the dense
//! and BM25 vectors as named vectors, and back.

use std::collections::HashMap;

use kefu_knowledge::{IndexError, Passage, PointId};
use qdrant_client::qdrant::{
    self, DenseVector, NamedVectors, PointStruct, SparseIndices, SparseVector, Value, Vector,
    Vectors, point_id::PointIdOptions, vector, vectors,
};

use crate::{BACKEND, DENSE, SPARSE};

/// A dense vector as an upsert carries it. Written twice: in the `vector` field, which
/// recent servers read first, and in the deprecated `data` field, the only one that
/// servers before that field (Qdrant 1.10 to about 1.13) know; so any server from 1.10 on
/// stores it. Qdrant's own conversion takes `vector` when present and falls back to the
/// legacy fields otherwise.
pub fn dense(values: Vec<f32>) -> Vector {
    #[expect(deprecated, reason = "older Qdrant servers read only these fields")]
    Vector {
        data: values.clone(),
        indices: None,
        vectors_count: None,
        vector: Some(vector::Vector::Dense(DenseVector { data: values })),
    }
}

/// A sparse vector as an upsert carries it; written twice, as [`dense`] explains.
pub fn sparse(indices: Vec<u32>, values: Vec<f32>) -> Vector {
    #[expect(deprecated, reason = "older Qdrant servers read only these fields")]
    Vector {
        data: values.clone(),
        indices: Some(SparseIndices {
            data: indices.clone(),
        }),
        vectors_count: None,
        vector: Some(vector::Vector::Sparse(SparseVector { indices, values })),
    }
}

/// The point to upsert for a passage, its BM25 terms (`indices`, `values`) and its
/// embedding, if any.
pub fn point(
    id: PointId,
    dense_vector: Option<Vec<f32>>,
    terms: (Vec<u32>, Vec<f32>),
    passage: &Passage,
) -> Result<PointStruct, IndexError> {
    let mut named = HashMap::with_capacity(2);
    named.insert(SPARSE.to_owned(), sparse(terms.0, terms.1));
    if let Some(values) = dense_vector {
        named.insert(DENSE.to_owned(), dense(values));
    }
    Ok(PointStruct {
        id: Some(qdrant::PointId::from(id)),
        payload: payload(passage)?,
        vectors: Some(Vectors {
            vectors_options: Some(vectors::VectorsOptions::Vectors(NamedVectors {
                vectors: named,
            })),
        }),
    })
}

/// The passage as a payload: its JSON fields, as the embedded backend stores them.
pub fn payload(passage: &Passage) -> Result<HashMap<String, Value>, IndexError> {
    match serde_json::to_value(passage) {
        Ok(serde_json::Value::Object(fields)) => Ok(fields
            .into_iter()
            .map(|(key, value)| (key, Value::from(value)))
            .collect()),
        Ok(other) => Err(IndexError::backend(
            BACKEND,
            format!("passage serialised as {other}, not an object"),
        )),
        Err(err) => Err(IndexError::backend(BACKEND, err)),
    }
}

/// The passage a payload holds.
pub fn passage(payload: HashMap<String, Value>) -> Result<Passage, IndexError> {
    let fields: serde_json::Map<String, serde_json::Value> = payload
        .into_iter()
        .map(|(key, value)| (key, serde_json::Value::from(value)))
        .collect();
    serde_json::from_value(serde_json::Value::Object(fields))
        .map_err(|err| IndexError::backend(BACKEND, format!("stored passage: {err}")))
}

/// kefu's id of a point the server returned. UUID ids are not kefu's (the layout record is
/// filtered out before this is reached).
pub fn point_id(id: Option<qdrant::PointId>) -> Result<PointId, IndexError> {
    match id.and_then(|id| id.point_id_options) {
        Some(PointIdOptions::Num(id)) => Ok(id),
        Some(PointIdOptions::Uuid(uuid)) => Err(IndexError::backend(
            BACKEND,
            format!("point {uuid} has a UUID id; kefu writes numeric ids only"),
        )),
        None => Err(IndexError::backend(
            BACKEND,
            "the server returned a point without an id",
        )),
    }
}
