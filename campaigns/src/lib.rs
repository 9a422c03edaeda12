//! The campaign engine: campaigns as YAML, RFM segments, planning, a durable outbox,
//! rate-limited delivery, experiments and reports. Campaigns read shop data through
//! [`kefu_bot::store::Store`], which also owns the campaign tables.

pub mod deliver;
pub mod plan;
pub mod rules;
pub mod segments;
pub mod spec;
pub mod triggers;
