//! The campaign engine: campaigns as YAML, RFM segments, planning, a durable outbox,
//! rate-limited delivery, experiments and reports. Campaigns read shop data through
//! [`kefu_bot::store::Store`]; their tables arrive with the campaign migrations.
