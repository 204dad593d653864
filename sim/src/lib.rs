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

// The command line's surface: what `main.rs` and the integration tests use.
pub mod bench;
pub mod cli;
pub mod color;
pub mod consistency;
pub mod control;
pub mod coverage;
pub mod files;
pub mod fuzz;
pub mod guided;
pub mod logging;
pub mod measure;
pub mod profile;
pub mod progress;
pub mod report;
pub mod reproduce;
pub mod run;
pub mod scenario;
pub mod shrink;
pub mod timeline;
pub mod words;

// The harness's inside: a run's parts, in the order a run meets them.
mod actions;
mod check;
mod events;
mod faults;
mod generate;
mod history;
mod kinds;
mod nemesis;
mod pool;
mod streams;
mod tables;
#[cfg(test)]
mod testing;
mod trace;
mod validate;
mod watchdog;
mod workload;
mod world;

pub use generate::{GENERATOR, generate, generate_kind};
pub use kinds::checkers_for;
pub use run::{RunOptions, RunOutcome, Verdict, run};
pub use scenario::{Scenario, ScenarioError, WorkloadKind};
pub use validate::{load, parse, validate};
pub use world::World;
