//! The eval runner: conversations from case files run through the real agent, scored for
//! answer quality, grounding, safety and multilingual behaviour. `kefu eval` is its
//! command line; the case format is in `docs/evals.md`.

pub mod case;
pub mod judge;
pub mod leak;
pub mod report;
pub mod run;

pub use case::{Case, CaseError, Expect};
pub use judge::{Judge, JudgeSummary, Verdict};
pub use leak::Directory;
pub use report::{Metrics, Report, Thresholds};
pub use run::{CaseResult, RunError, run_all, run_case};
