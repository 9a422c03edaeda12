//! Churn risk: how likely a customer is to have stopped buying, from signals a person
//! can check. Each factor gives a contribution in 0–1 and they combine like independent
//! chances (`1 − Π(1 − cᵢ)`), so the score stays in 0–1, any single strong signal is
//! enough to raise it, and each factor's share can be shown on its own.
//!
//! - **Rhythm**: days since the last order against the customer's usual gap (the median
//!   of the gaps between their orders; for one-order customers the shop-wide median
//!   gap). At or under the usual gap it adds nothing; beyond it adds
//!   `0.85 · (1 − usual / elapsed)`: 2× the gap gives 0.43, 4× gives 0.64.
//! - **Support contacts**: conversations started in the last 30 days, 0.10 each (at most
//!   0.30); handoffs to a person in the last 30 days, 0.15 each (at most 0.30).
//! - **Late deliveries**: parcels past their promised date and still not delivered,
//!   0.20 each (at most 0.40); parcels delivered late in the last 90 days, 0.10 each (at
//!   most 0.20).
//!
//! Customers who never ordered have no churn risk (0): they have nothing to stop.

use std::fmt;

/// Days of support contacts that count.
pub const SUPPORT_DAYS: i64 = 30;
/// Days of late deliveries that count.
pub const LATE_DELIVERY_DAYS: i64 = 90;

/// Where a customer's usual gap between orders comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GapSource {
    /// The median of the customer's own gaps (they have this many orders).
    Own { orders: u32 },
    /// The shop-wide median gap (the customer has one order).
    ShopWide,
}

/// What churn risk is computed from, for one customer.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ChurnInputs {
    /// `None`: never ordered.
    pub days_since_last_order: Option<f64>,
    /// `None`: unknown (no repeat purchases anywhere in the shop).
    pub usual_gap_days: Option<f64>,
    pub gap_source: Option<GapSource>,
    pub recent_conversations: u32,
    pub recent_handoffs: u32,
    pub late_undelivered: u32,
    pub delivered_late: u32,
}

/// One reason for a churn risk, with its contribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Factor {
    Rhythm {
        days: f64,
        usual: f64,
        source: GapSource,
        contribution: f64,
    },
    NoUsualGap {
        days: f64,
    },
    SupportContacts {
        count: u32,
        contribution: f64,
    },
    Handoffs {
        count: u32,
        contribution: f64,
    },
    LateUndelivered {
        count: u32,
        contribution: f64,
    },
    DeliveredLate {
        count: u32,
        contribution: f64,
    },
}

impl Factor {
    pub fn contribution(&self) -> f64 {
        match *self {
            Factor::NoUsualGap { .. } => 0.0,
            Factor::Rhythm { contribution, .. }
            | Factor::SupportContacts { contribution, .. }
            | Factor::Handoffs { contribution, .. }
            | Factor::LateUndelivered { contribution, .. }
            | Factor::DeliveredLate { contribution, .. } => contribution,
        }
    }
}

fn plural(n: u32, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

impl fmt::Display for Factor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Factor::Rhythm {
                days,
                usual,
                source,
                ..
            } => {
                let who = match source {
                    GapSource::Own { orders } => {
                        format!("usually every {usual:.0} days ({orders} orders)")
                    }
                    GapSource::ShopWide => format!(
                        "one order so far; the shop's customers usually reorder every {usual:.0} days"
                    ),
                };
                write!(
                    f,
                    "last order {days:.0} days ago, {who} → {:.1}× the usual gap",
                    days / usual.max(1.0)
                )
            }
            Factor::NoUsualGap { days } => write!(
                f,
                "last order {days:.0} days ago; no repeat purchases in the shop to compare with"
            ),
            Factor::SupportContacts { count, .. } => write!(
                f,
                "{} in the last {SUPPORT_DAYS} days",
                plural(count, "support conversation", "support conversations")
            ),
            Factor::Handoffs { count, .. } => write!(
                f,
                "{} to a person in the last {SUPPORT_DAYS} days",
                plural(count, "handoff", "handoffs")
            ),
            Factor::LateUndelivered { count, .. } => write!(
                f,
                "{} past the promised date and not delivered",
                plural(count, "parcel", "parcels")
            ),
            Factor::DeliveredLate { count, .. } => write!(
                f,
                "{} delivered late in the last {LATE_DELIVERY_DAYS} days",
                plural(count, "parcel", "parcels")
            ),
        }
    }
}

fn capped(count: u32, each: f64, cap: f64) -> f64 {
    (f64::from(count) * each).min(cap)
}

fn rhythm(days: f64, usual: f64) -> f64 {
    let usual = usual.max(1.0);
    if days <= usual {
        0.0
    } else {
        0.85 * (1.0 - usual / days)
    }
}

/// The factors behind a customer's churn risk; factors that add nothing are left out
/// except the rhythm, which is always explained for customers who ordered.
pub fn factors(inputs: &ChurnInputs) -> Vec<Factor> {
    let mut out = Vec::new();
    let Some(days) = inputs.days_since_last_order else {
        return out;
    };
    match (inputs.usual_gap_days, inputs.gap_source) {
        (Some(usual), Some(source)) => out.push(Factor::Rhythm {
            days,
            usual,
            source,
            contribution: rhythm(days, usual),
        }),
        _ => out.push(Factor::NoUsualGap { days }),
    }
    let mut push = |count: u32, make: fn(u32, f64) -> Factor, each: f64, cap: f64| {
        if count > 0 {
            out.push(make(count, capped(count, each, cap)));
        }
    };
    push(
        inputs.recent_conversations,
        |count, contribution| Factor::SupportContacts {
            count,
            contribution,
        },
        0.10,
        0.30,
    );
    push(
        inputs.recent_handoffs,
        |count, contribution| Factor::Handoffs {
            count,
            contribution,
        },
        0.15,
        0.30,
    );
    push(
        inputs.late_undelivered,
        |count, contribution| Factor::LateUndelivered {
            count,
            contribution,
        },
        0.20,
        0.40,
    );
    push(
        inputs.delivered_late,
        |count, contribution| Factor::DeliveredLate {
            count,
            contribution,
        },
        0.10,
        0.20,
    );
    out
}

/// Combines contributions like independent chances.
pub fn combine(contributions: impl IntoIterator<Item = f64>) -> f64 {
    let keep = contributions
        .into_iter()
        .fold(1.0, |acc, c| acc * (1.0 - c.clamp(0.0, 1.0)));
    (1.0 - keep).clamp(0.0, 1.0)
}

/// The churn risk score, 0–1, without building explanations.
pub fn score(inputs: &ChurnInputs) -> f64 {
    let Some(days) = inputs.days_since_last_order else {
        return 0.0;
    };
    let r = inputs.usual_gap_days.map_or(0.0, |u| rhythm(days, u));
    combine([
        r,
        capped(inputs.recent_conversations, 0.10, 0.30),
        capped(inputs.recent_handoffs, 0.15, 0.30),
        capped(inputs.late_undelivered, 0.20, 0.40),
        capped(inputs.delivered_late, 0.10, 0.20),
    ])
}
