//! `sim`: the deterministic simulation harness of the ledger.
//!
//! It runs every node of a scenario in one seeded madsim runtime, injects
//! faults, checks invariants against ground truth, and turns a failure into a
//! scenario file that reproduces it. See ARCHITECTURE.md for the map.

#[cfg(not(madsim))]
compile_error!(
    "sim must be built with `--cfg madsim` (set in .cargo/config.toml). \
     A RUSTFLAGS environment variable replaces those flags: unset it, or add `--cfg madsim` to it."
);

pub mod bench;
pub mod check;
pub mod cli;
pub mod control;
pub mod coverage;
pub mod files;
pub mod fuzz;
pub mod logging;
pub mod measure;
pub mod nemesis;
pub mod progress;
pub mod report;
pub mod run;
pub mod scenario;
pub mod shrink;
pub mod streams;
pub mod topology;
pub mod trace;
pub mod workload;
pub mod world;

pub use run::{RunOptions, RunOutcome, Verdict, run};
pub use scenario::{Scenario, ScenarioError, generate, load};
