//! Reciprocal rank fusion of the dense and BM25 candidate lists.
//!
//! Computed here rather than with qdrant-edge's `Fusion::Rrf` query because a fused query
//! returns only the fused score, and [`kefu_knowledge::Hit`] also carries the score each
//! list gave (callers calibrate thresholds on them). The arithmetic is Qdrant's own
//! (`rrf_scoring`, k = 2, dense list first), so the order matches what a Qdrant server
//! returns for the same two prefetches. Hits a list scores exactly alike share a rank (a
//! server and the embedded index may return such ties in different orders), and ties on
//! the fused score are broken here, deterministically.

use std::collections::HashMap;

use kefu_knowledge::PointId;

/// Qdrant's default RRF constant: a hit at rank `r` (from 0) contributes `1 / (r + 2)`.
pub const RRF_K: usize = 2;

/// One candidate after fusion.
#[derive(Debug, Clone, PartialEq)]
pub struct Fused {
    pub id: PointId,
    /// Sum of the reciprocal ranks over the lists that found it.
    pub score: f32,
    /// Its score in the dense list, when that list found it.
    pub dense_score: Option<f32>,
    /// Its score in the BM25 list, when that list found it.
    pub sparse_score: Option<f32>,
    /// Its best rank in either list, from 0.
    pub best_rank: usize,
}

/// Qdrant's `position_score` with weight 1, written the same way so the `f32` results
/// are identical.
fn position_score(position: usize) -> f32 {
    1.0 / ((position + 1) as f32 + RRF_K as f32 - 1.0)
}

/// Fuses two ranked lists of `(id, score)`, best first. Ties on the fused score go to the
/// hit with the better rank in either list, then to the one the dense list found (the
/// embedding judges meaning, BM25 only words), then to the lower id.
pub fn rrf(dense: &[(PointId, f32)], sparse: &[(PointId, f32)]) -> Vec<Fused> {
    let mut fused: Vec<Fused> = Vec::with_capacity(dense.len() + sparse.len());
    let mut slot: HashMap<PointId, usize> = HashMap::with_capacity(dense.len() + sparse.len());
    for (is_dense, list) in [(true, dense), (false, sparse)] {
        // Hits with the same score share the rank of the first of them: engines order
        // ties as they like (BM25 scores tie often), and the fused score must not depend
        // on it.
        let mut rank = 0;
        for (position, &(id, score)) in list.iter().enumerate() {
            if position > 0 && list[position - 1].1 != score {
                rank = position;
            }
            let index = *slot.entry(id).or_insert_with(|| {
                fused.push(Fused {
                    id,
                    score: 0.0,
                    dense_score: None,
                    sparse_score: None,
                    best_rank: rank,
                });
                fused.len() - 1
            });
            let Some(entry) = fused.get_mut(index) else {
                continue;
            };
            entry.score += position_score(rank);
            entry.best_rank = entry.best_rank.min(rank);
            if is_dense {
                entry.dense_score = Some(score);
            } else {
                entry.sparse_score = Some(score);
            }
        }
    }
    fused.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.best_rank.cmp(&b.best_rank))
            .then(b.dense_score.is_some().cmp(&a.dense_score.is_some()))
            .then(a.id.cmp(&b.id))
    });
    fused
}
