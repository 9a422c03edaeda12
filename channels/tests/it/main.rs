//! Integration tests of the channel adapters (one test binary for the crate).
#![allow(clippy::unwrap_used, clippy::expect_used)]

// The bot crate's scripted OpenAI-compatible server, shared rather than copied.
mod discord;
mod email;
#[allow(dead_code)]
#[path = "../../../bot/tests/store/llm_server.rs"]
mod llm_server;
mod shop;
#[allow(dead_code)]
#[path = "../../../tests/e2e/smtp.rs"]
mod smtp;
mod telegram;
mod test_server;
mod web;
