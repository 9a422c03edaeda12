//! Scores for every customer at once: RFM values, scores and group, and churn inputs and
//! risk, from the grouped rows the store returns. One pass over the order histories,
//! three sorts for the quintiles, and a merge of the (id-sorted) support and parcel rows.

use chrono::{DateTime, Duration, Utc};
use kefu_bot::store::{OrderHistory, ParcelSummary, SupportSummary};

use super::Rfm;
use super::churn::{self, ChurnInputs, GapSource};
use super::rfm::{self, RfmValues};

const DAY: i64 = 86_400;

/// Everything computed about one customer who ordered at least once.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerScore {
    pub customer_id: i64,
    /// Non-cancelled orders ever (up to `now`).
    pub orders: u32,
    /// Totals minus refunds of those orders, minor units.
    pub spent_minor: i64,
    pub first_order_at: DateTime<Utc>,
    pub last_order_at: DateTime<Utc>,
    /// RFM values in the window; `None` when the customer's orders are all older.
    pub values: Option<RfmValues>,
    pub rfm: Option<Rfm>,
    /// RFM group; `lost` for customers whose orders all precede the window.
    pub group: Option<&'static str>,
    pub churn: ChurnInputs,
    pub churn_risk: f64,
}

/// Scores of every customer who ordered, by customer id, and what they were measured against.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreSet {
    pub now: DateTime<Utc>,
    pub window_days: u32,
    /// The median gap between consecutive orders over the whole shop, in days.
    pub shop_median_gap_days: Option<f64>,
    /// Ascending by customer id.
    pub scores: Vec<CustomerScore>,
}

impl ScoreSet {
    pub fn get(&self, customer_id: i64) -> Option<&CustomerScore> {
        self.scores
            .binary_search_by_key(&customer_id, |s| s.customer_id)
            .ok()
            .and_then(|i| self.scores.get(i))
    }
}

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or_default()
}

/// The window's first instant.
pub fn window_start(now: DateTime<Utc>, window_days: u32) -> DateTime<Utc> {
    now - Duration::days(i64::from(window_days))
}

/// The median of `v` (reordered in place), `None` when empty.
fn median(v: &mut [i64]) -> Option<f64> {
    let n = v.len();
    if n == 0 {
        return None;
    }
    let (_, hi, _) = v.select_nth_unstable(n / 2);
    let hi = *hi as f64;
    if n % 2 == 1 {
        return Some(hi);
    }
    let lo = v[..n / 2].iter().copied().max().unwrap_or(0) as f64;
    Some((lo + hi) / 2.0)
}

/// Computes every score. `histories` may come in any order; `support` and `parcels` too.
pub fn compute(
    mut histories: Vec<OrderHistory>,
    mut support: Vec<SupportSummary>,
    mut parcels: Vec<ParcelSummary>,
    now: DateTime<Utc>,
    window_days: u32,
) -> ScoreSet {
    histories.sort_unstable_by_key(|h| h.customer_id);
    support.sort_unstable_by_key(|s| s.customer_id);
    parcels.sort_unstable_by_key(|p| p.customer_id);
    let now_s = now.timestamp();

    // Shop-wide gaps, and each customer's own median gap.
    let total_gaps: usize = histories
        .iter()
        .map(|h| h.order_times.len().saturating_sub(1))
        .sum();
    let mut all_gaps = Vec::with_capacity(total_gaps);
    let mut own = Vec::new();
    let mut own_median = Vec::with_capacity(histories.len());
    for h in &histories {
        own.clear();
        own.extend(h.order_times.windows(2).map(|w| w[1] - w[0]));
        all_gaps.extend_from_slice(&own);
        own_median.push(median(&mut own).map(|g| g / DAY as f64));
    }
    let shop_median_gap_days = median(&mut all_gaps).map(|g| g / DAY as f64);

    // RFM values for customers in the window, then their scores.
    let mut in_window = Vec::new();
    let mut values = Vec::new();
    for (i, h) in histories.iter().enumerate() {
        if h.window_orders > 0 {
            in_window.push(i);
            values.push(RfmValues {
                recency_days: (now_s - h.last_order_at).max(0) / DAY,
                frequency: h.window_orders,
                monetary_minor: h.window_spent_minor,
            });
        }
    }
    let rfm_scores = rfm::score_all(&values);
    let mut window_slot = in_window
        .iter()
        .zip(values.iter().zip(rfm_scores))
        .peekable();

    let (mut si, mut pi) = (0usize, 0usize);
    let mut scores = Vec::with_capacity(histories.len());
    for (i, (h, gap)) in histories.into_iter().zip(own_median).enumerate() {
        let (values, rfm) = match window_slot.peek() {
            Some((j, (v, r))) if **j == i => {
                let out = (Some(**v), Some(*r));
                window_slot.next();
                out
            }
            _ => (None, None),
        };
        while support
            .get(si)
            .is_some_and(|s| s.customer_id < h.customer_id)
        {
            si += 1;
        }
        while parcels
            .get(pi)
            .is_some_and(|p| p.customer_id < h.customer_id)
        {
            pi += 1;
        }
        let s = support.get(si).filter(|s| s.customer_id == h.customer_id);
        let p = parcels.get(pi).filter(|p| p.customer_id == h.customer_id);
        let orders = u32::try_from(h.orders).unwrap_or(u32::MAX);
        let (usual_gap_days, gap_source) = match gap {
            Some(g) => (Some(g), Some(GapSource::Own { orders })),
            None => (
                shop_median_gap_days,
                shop_median_gap_days.map(|_| GapSource::ShopWide),
            ),
        };
        let count = |v: i64| u32::try_from(v.max(0)).unwrap_or(u32::MAX);
        let churn = ChurnInputs {
            days_since_last_order: Some((now_s - h.last_order_at).max(0) as f64 / DAY as f64),
            usual_gap_days,
            gap_source,
            recent_conversations: s.map_or(0, |s| count(s.recent_conversations)),
            recent_handoffs: s.map_or(0, |s| count(s.recent_handoffs)),
            late_undelivered: p.map_or(0, |p| count(p.late_undelivered)),
            delivered_late: p.map_or(0, |p| count(p.delivered_late)),
        };
        scores.push(CustomerScore {
            customer_id: h.customer_id,
            orders,
            spent_minor: h.spent_minor,
            first_order_at: at(h.first_order_at),
            last_order_at: at(h.last_order_at),
            values,
            rfm,
            group: Some(rfm.map_or("lost", rfm::group_of)),
            churn_risk: churn::score(&churn),
            churn,
        });
    }
    ScoreSet {
        now,
        window_days,
        shop_median_gap_days,
        scores,
    }
}
