//! kefu's knowledge base: the shop's FAQ and policy documents, from Markdown with front
//! matter to search with citations. This crate is a leaf: it knows nothing of storage,
//! channels or the agent.

pub mod document;

pub use document::{Document, DocumentError, LanguageTag, parse_markdown};
