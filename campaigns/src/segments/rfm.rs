//! RFM scoring: recency, frequency and monetary value scored 1–5 by quintile over the
//! customers who ordered in the window, and the 125 score cells mapped to eleven named
//! groups on the R × (F+M)/2 grid.
//!
//! Quintiles are rank based: a customer's score is `1 + ⌊5·below / n⌋`, where `below`
//! counts the customers whose value is strictly worse and `n` the customers scored.
//! Equal values therefore always get the same score (a tie never splits across two
//! scores), the result does not depend on input order, and with `n` distinct values
//! each score holds a fifth of the customers. Recency is compared in whole days, so two
//! orders on the same day tie.

use super::Rfm;

/// The RFM groups, best first.
pub const RFM_GROUPS: [&str; 11] = [
    "champions",
    "loyal",
    "potential_loyalist",
    "new_customers",
    "promising",
    "need_attention",
    "about_to_sleep",
    "at_risk",
    "cannot_lose_them",
    "hibernating",
    "lost",
];

/// `GRID[r - 1][fm - 1]` with `fm = ⌊(f + m) / 2⌋`.
pub const GRID: [[&str; 5]; 5] = [
    // r = 1
    [
        "lost",
        "hibernating",
        "at_risk",
        "at_risk",
        "cannot_lose_them",
    ],
    // r = 2
    [
        "hibernating",
        "hibernating",
        "at_risk",
        "at_risk",
        "cannot_lose_them",
    ],
    // r = 3
    [
        "about_to_sleep",
        "about_to_sleep",
        "need_attention",
        "loyal",
        "loyal",
    ],
    // r = 4
    [
        "promising",
        "potential_loyalist",
        "potential_loyalist",
        "loyal",
        "loyal",
    ],
    // r = 5
    [
        "new_customers",
        "potential_loyalist",
        "potential_loyalist",
        "champions",
        "champions",
    ],
];

/// The combined frequency–monetary score, `⌊(f + m) / 2⌋` (rounded down: a customer
/// must be good on both to reach the top column).
pub fn fm(rfm: Rfm) -> u8 {
    (rfm.f.clamp(1, 5) + rfm.m.clamp(1, 5)) / 2
}

/// The group of a score cell.
pub fn group_of(rfm: Rfm) -> &'static str {
    let r = usize::from(rfm.r.clamp(1, 5) - 1);
    let c = usize::from(fm(rfm) - 1);
    GRID[r][c]
}

/// Whether `name` is an RFM group.
pub fn is_group(name: &str) -> bool {
    RFM_GROUPS.contains(&name)
}

/// The raw values of one customer in the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RfmValues {
    /// Whole days since the last order in the window.
    pub recency_days: i64,
    /// Orders in the window.
    pub frequency: i64,
    /// Totals minus refunds in the window, minor units.
    pub monetary_minor: i64,
}

/// Scores every customer of `values` against the others; the result is in input order.
pub fn score_all(values: &[RfmValues]) -> Vec<Rfm> {
    let mut scratch = Vec::with_capacity(values.len());
    // More recent (fewer days) is better: score the negated days.
    let r = quintiles(values.iter().map(|v| -v.recency_days), &mut scratch);
    let f = quintiles(values.iter().map(|v| v.frequency), &mut scratch);
    let m = quintiles(values.iter().map(|v| v.monetary_minor), &mut scratch);
    r.into_iter()
        .zip(f)
        .zip(m)
        .map(|((r, f), m)| Rfm { r, f, m })
        .collect()
}

/// Rank-based quintile scores (higher value, higher score) of `values`.
fn quintiles(values: impl Iterator<Item = i64> + Clone, sorted: &mut Vec<i64>) -> Vec<u8> {
    sorted.clear();
    sorted.extend(values.clone());
    sorted.sort_unstable();
    let n = sorted.len() as u64;
    values
        .map(|v| {
            let below = sorted.partition_point(|x| *x < v) as u64;
            // below < n, so this is 1..=5.
            1 + (5 * below / n.max(1)) as u8
        })
        .collect()
}
