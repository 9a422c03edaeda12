//! Integration tests of the channel adapters (one test binary for the crate).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod shop;
mod telegram;
mod test_server;
mod web;
