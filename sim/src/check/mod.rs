//! The checkers: each invariant checked against ground truth (the committed
//! log as the replicas' synced storage holds it, and the clients' history),
//! online while the run goes and finally after it.
//!
//! Every violation names its checker, the simulated time and the objects
//! involved.

mod durability;
mod exactly_once;
mod liveness;
mod raft_safety;

pub use liveness::Stall;
pub use raft_safety::AppliedEntry;

use ledger::{
    log::DurableLog,
    observe::{Event, NodeName},
};
use serde::Serialize;
use std::{collections::BTreeMap, time::Duration};

use crate::workload::History;

/// Every checker, in report order.
pub const CHECKER_NAMES: [&str; 4] = ["raft-safety", "exactly-once", "durability", "liveness"];

/// Checkers whose violation is a safety failure (exit 1); the rest are
/// liveness failures (exit 3).
pub fn is_safety(checker: &str) -> bool {
    checker != "liveness"
}

/// Violations kept per checker; the first ones explain a failure.
const MAX_VIOLATIONS_PER_CHECKER: usize = 8;

/// One broken invariant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub checker: &'static str,
    /// Simulated time at which it was seen.
    #[serde(rename = "at_us", serialize_with = "micros")]
    pub at: Duration,
    pub message: String,
}

fn micros<S: serde::Serializer>(at: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(at.as_micros() as u64)
}

/// The verdict of one checker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    pub checker: &'static str,
    pub violations: Vec<Violation>,
}

impl CheckResult {
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}

/// The checkers that watch trace events as they happen.
pub struct Online {
    raft: raft_safety::Online,
    exactly_once: exactly_once::Online,
    violations: Vec<Violation>,
}

impl Online {
    pub fn new(replicas: usize) -> Online {
        Online {
            raft: raft_safety::Online::new(replicas),
            exactly_once: exactly_once::Online::default(),
            violations: Vec::new(),
        }
    }

    pub fn observe(&mut self, at: Duration, node: &NodeName, event: &Event) {
        let found = [
            ("raft-safety", self.raft.observe(node, event)),
            ("exactly-once", self.exactly_once.observe(node, event)),
        ];
        for (checker, message) in found {
            if let Some(message) = message {
                let kept = self
                    .violations
                    .iter()
                    .filter(|v| v.checker == checker)
                    .count();
                if kept < MAX_VIOLATIONS_PER_CHECKER {
                    self.violations.push(Violation {
                        checker,
                        at,
                        message,
                    });
                }
            }
        }
    }

    /// Ends online checking: the violations seen, and every entry applied
    /// at each index, for the final checks.
    pub fn finish(self) -> (Vec<Violation>, BTreeMap<u64, AppliedEntry>) {
        (self.violations, self.raft.into_applied())
    }
}

/// Everything the final checks read, gathered after the run.
pub struct GroundTruth<'a> {
    /// Each log replica's synced state, read with the replica's own recovery.
    pub replicas: &'a BTreeMap<String, DurableLog>,
    pub history: &'a History,
    /// Every index some replica applied, with the entry it applied there.
    pub applied: &'a BTreeMap<u64, AppliedEntry>,
    /// Why the settle phase did not converge, if it did not.
    pub stall: Option<&'a Stall>,
    /// Simulated time at the end of the run.
    pub end: Duration,
}

/// Runs every checker: the online violations plus the final checks.
pub fn verdicts(online_violations: Vec<Violation>, truth: &GroundTruth<'_>) -> Vec<CheckResult> {
    let mut violations = online_violations;
    violations.extend(raft_safety::final_check(truth));
    violations.extend(exactly_once::final_check(truth));
    violations.extend(durability::final_check(truth));
    violations.extend(liveness::final_check(truth));
    CHECKER_NAMES
        .iter()
        .map(|checker| CheckResult {
            checker,
            violations: violations
                .iter()
                .filter(|violation| violation.checker == *checker)
                .take(MAX_VIOLATIONS_PER_CHECKER)
                .cloned()
                .collect(),
        })
        .collect()
}

/// The replicas holding `(term, id)` at `index` in their synced logs.
fn holders(
    replicas: &BTreeMap<String, DurableLog>,
    index: u64,
    matches: impl Fn(&ledger::log::Entry) -> bool,
) -> Vec<&str> {
    replicas
        .iter()
        .filter(|(_, log)| index >= 1 && log.entries.get(index as usize - 1).is_some_and(&matches))
        .map(|(name, _)| name.as_str())
        .collect()
}

fn majority(replicas: usize) -> usize {
    replicas / 2 + 1
}
