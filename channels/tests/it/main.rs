//! Integration tests of the channel adapters (one test binary for the crate).

mod test_server;
