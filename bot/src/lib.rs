//! kefu's conversational core. Today it holds the shop domain (customers, orders,
//! shipments, documents, conversations), the storage API with its SQLite and PostgreSQL
//! adapter, the importers for shop data, and the seeded demo shop.

pub mod demo;
pub mod import;
pub mod shop;
pub mod store;
