//! Integration tests of the knowledge crate: the OpenAI-compatible embedder over real HTTP
#![allow(clippy::unwrap_used, clippy::expect_used)]
//! against an embeddings server started here, and incremental re-indexing on the embedded
//! index.

mod embeddings_server;
mod openai;
mod reindex;
