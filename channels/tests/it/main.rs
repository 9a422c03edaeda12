//! Integration tests of the channel adapters (one test binary for the crate).
#![allow(clippy::unwrap_used, clippy::expect_used)]

// The bot crate's scripted OpenAI-compatible server, shared rather than copied.
mod discord;
#[allow(dead_code)]
#[path = "../../../bot/tests/store/llm_server.rs"]
mod llm_server;
mod shop;
mod telegram;
mod test_server;
mod web;
