//! kefu's conversational core: the conversation and handoff state machine, the shop
//! domain (customers, orders, shipments, documents, conversations), the storage API with
//! its SQLite and PostgreSQL adapter, the importers for shop data, and the seeded demo shop.

pub mod agent;
pub mod conversation;
pub mod countries;
pub mod demo;
pub mod import;
pub mod intent;
pub mod intent_model;
pub mod language;
pub mod shop;
pub mod slots;
pub mod sources;
pub mod store;
pub mod translations;
pub mod triggers;
