//! Segments: RFM scores and groups, churn risk, and filters that combine them with what
//! the shop knows about each customer. Named segments live in YAML.
//!
//! - [`rfm`]: rank-based quintile scores and the R × (F+M)/2 group grid;
//! - [`churn`]: an explainable churn risk from purchase rhythm, support contacts and
//!   late parcels;
//! - [`scores`]: both for every customer at once, from the store's grouped rows;
//! - [`named`]: the segments file, checked for unknown references and cycles;
//! - [`filter`]: whether a customer matches a [`Filter`];
//! - [`load`]: all of it over the database: facts, audiences, counts, the score
//!   snapshot, explanations.

pub mod churn;
pub mod filter;
pub mod load;
pub mod named;
pub mod rfm;
pub mod scores;

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use kefu_bot::shop::Channel;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use filter::{MatchContext, in_segment, matches};
pub use load::{
    Explanation, Recomputed, audience, compute_scores, counts, explain, load_facts, recompute,
};
pub use named::Segments;
pub use rfm::RFM_GROUPS;
pub use scores::{CustomerScore, ScoreSet};

/// What can go wrong with segments.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}:{line}:{column}: {message}")]
    Yaml {
        file: String,
        line: u64,
        column: u64,
        message: String,
    },
    #[error("{file}:{line}:{column}: {message}")]
    Invalid {
        file: String,
        line: u64,
        column: u64,
        message: String,
    },
    #[error("unknown segment `{name}` (known: {known})")]
    UnknownSegment { name: String, known: String },
    #[error(transparent)]
    Store(#[from] kefu_bot::store::StoreError),
}

/// Conditions on a customer; all given keys must hold (AND). `any` and `not` compose.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// Another named segment that must match too.
    #[serde(default)]
    pub segment: Option<String>,
    /// RFM groups (`champions`, `loyal`, `potential_loyalist`, `new_customers`,
    /// `promising`, `need_attention`, `about_to_sleep`, `at_risk`, `cannot_lose_them`,
    /// `hibernating`, `lost`): any of them.
    #[serde(default)]
    pub rfm: Vec<String>,
    /// Score ranges 1–5, e.g. `recency: [4, 5]`.
    #[serde(default)]
    pub recency: Option<[u8; 2]>,
    #[serde(default)]
    pub frequency: Option<[u8; 2]>,
    #[serde(default)]
    pub monetary: Option<[u8; 2]>,
    /// ISO country codes, any of.
    #[serde(default)]
    pub country: Vec<String>,
    /// Primary language subtags (`zh`, `en`), any of.
    #[serde(default)]
    pub language: Vec<String>,
    /// IANA time zones, any of.
    #[serde(default)]
    pub time_zone: Vec<String>,
    /// Has at least one of these tags.
    #[serde(default)]
    pub tags_any: Vec<String>,
    /// Has all of these tags.
    #[serde(default)]
    pub tags_all: Vec<String>,
    /// Has none of these tags.
    #[serde(default)]
    pub tags_none: Vec<String>,
    /// Bought at least one of these products (handle or SKU).
    #[serde(default)]
    pub bought: Vec<String>,
    /// Bought in at least one of these categories (product type).
    #[serde(default)]
    pub bought_category: Vec<String>,
    #[serde(default)]
    pub orders: Option<Range>,
    /// Days since the last order.
    #[serde(default)]
    pub last_order_days: Option<Range>,
    /// Average order value, in the shop currency's major units.
    #[serde(default)]
    pub average_order_value: Option<Range>,
    /// Total spent, in major units.
    #[serde(default)]
    pub spent: Option<Range>,
    /// Consents to marketing on at least one of these channels.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub consent: Vec<Channel>,
    /// Has (true) or has not (false) a support conversation that is not closed.
    #[serde(default)]
    pub open_support_conversation: Option<bool>,
    /// Has (true) or has not (false) a parcel past its promised date.
    #[serde(default)]
    pub late_parcel: Option<bool>,
    /// Churn risk score 0–1.
    #[serde(default)]
    pub churn_risk: Option<Range>,
    /// At least one of these filters.
    #[serde(default)]
    pub any: Vec<Filter>,
    /// None of these filters.
    #[serde(default)]
    pub not: Vec<Filter>,
}

/// An inclusive range; either end may be omitted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Range {
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
}

impl Range {
    pub fn contains(&self, v: f64) -> bool {
        self.min.is_none_or(|m| v >= m) && self.max.is_none_or(|m| v <= m)
    }
}

/// A named segment from the segments file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SegmentDef {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub filter: Filter,
}

/// Scores of one customer: 1 (worst) to 5 (best) each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rfm {
    pub r: u8,
    pub f: u8,
    pub m: u8,
}

/// What segments, filters and the planner know about one customer, loaded in bulk.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerFacts {
    pub id: i64,
    pub name: Option<String>,
    pub email: Option<String>,
    /// Primary language subtag from the locale (`zh`, `en`), or the full locale when
    /// the script matters (`zh-Hant`).
    pub locale: Option<String>,
    pub time_zone: Option<String>,
    pub country: Option<String>,
    pub tags: Vec<String>,
    /// Marketing consent per channel, when stated.
    pub consents: BTreeMap<Channel, bool>,
    /// Channel identities: (channel, the channel's own user id / address).
    pub identities: Vec<(Channel, String)>,
    pub preferred_channel: Option<Channel>,
    pub last_active_channel: Option<Channel>,
    pub orders: u32,
    pub spent_minor: i64,
    pub first_order_at: Option<DateTime<Utc>>,
    pub last_order_at: Option<DateTime<Utc>>,
    pub open_support_conversation: bool,
    pub late_parcel: bool,
    pub rfm: Option<Rfm>,
    /// RFM group (`champions` …), `None` for customers who never ordered.
    pub group: Option<&'static str>,
    pub churn_risk: f64,
}
