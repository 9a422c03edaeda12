//! The campaign engine's integration tests, in one binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod segments;
mod delivery;
mod spec;
