//! kefu-knowledge-qdrant's one test binary: the knowledge family's conformance suite and a
//! few backend-specific cases against a Qdrant server named by `KEFU_TEST_QDRANT_URL`
//! (gRPC, `http://localhost:6334`; `KEFU_TEST_QDRANT_API_KEY` if it wants one), each in a
//! collection of its own that is dropped afterwards; without the variable they print that
//! they were skipped and pass. Then what needs no server: the requests this backend sends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

// The suite's own `conformance_cases!` goes unused: see ours below.
#[allow(unused_macros)]
#[macro_use]
#[path = "../../../tests/conformance/mod.rs"]
mod conformance;

mod requests;
mod server;

/// Replaces the suite's `conformance_cases!`, which `conformance_tests!` expands to: the
/// same tests, except that each asks [`server::store`] for a collection first and returns
/// when there is no server. Defined after the suite's include, so it shadows the suite's
/// own. Were it ever not picked up, the suite's version would hand the cases an
/// `Option`, which does not compile, rather than run them without a server.
macro_rules! conformance_cases {
    ($store:path; $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let Some(store) = $store(stringify!($case)).await else {
                    return;
                };
                crate::conformance::$case(&store).await;
            }
        )+
    };
}

mod conformance_on_a_server {
    conformance_tests!(crate::server::store);
}
