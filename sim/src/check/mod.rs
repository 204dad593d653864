//! The checkers: each invariant checked against ground truth (the replicas'
//! and the database's synced storage, read with their own recovery code, and
//! the clients' history), online while the run goes and finally after it.
//!
//! Every violation names its checker, the simulated time and the objects
//! involved. Only the checkers that apply to a workload kind are run and
//! reported: one that cannot judge a run says nothing rather than pass.

mod chain_safety;
mod conservation;
mod durability;
mod exactly_once;
mod liveness;
pub mod payouts;
mod raft_safety;

pub use liveness::Stall;
pub use payouts::PayoutTruth;

use ledger::{
    chain::{ChainState, Transaction},
    db::Recovered,
    log::DurableLog,
    observe::{Event, NodeName},
};
use serde::Serialize;
use std::{collections::BTreeMap, time::Duration};

use crate::{scenario::WorkloadKind, workload::History};

/// Every checker, in report order.
pub const CHECKER_NAMES: [&str; 10] = [
    "raft-safety",
    "chain-safety",
    "exactly-once",
    "at-least-once",
    "ledger-chain",
    "conservation",
    "nonce-hygiene",
    "durability",
    "bad-input",
    "liveness",
];

/// The checkers that judge runs of `kind`, in report order.
pub fn checkers_for(kind: WorkloadKind) -> &'static [&'static str] {
    match kind {
        WorkloadKind::Log => &["raft-safety", "exactly-once", "durability", "liveness"],
        WorkloadKind::Bank => &["conservation", "durability", "liveness"],
        WorkloadKind::Chain => &["chain-safety", "exactly-once", "liveness"],
        WorkloadKind::Transfers => &CHECKER_NAMES,
    }
}

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

/// The checkers that watch the run as it happens: trace events, and probes
/// of the synced logs after every crash of a replica.
pub struct Online {
    raft: raft_safety::Online,
    exactly_once: exactly_once::Online,
    durability: durability::Online,
    chain: chain_safety::Online,
    ledger_chain: Option<payouts::LedgerChainOnline>,
    violations: Vec<Violation>,
}

impl Online {
    pub fn new(replicas: usize) -> Online {
        Online {
            raft: raft_safety::Online::new(replicas),
            exactly_once: exactly_once::Online::default(),
            durability: durability::Online::default(),
            chain: chain_safety::Online::default(),
            ledger_chain: None,
            violations: Vec::new(),
        }
    }

    /// Checks every confirmation a ledger replica records against the
    /// canonical chain, which payouts need `confirmations` deep.
    pub fn watch_confirmations(&mut self, confirmations: u64) {
        self.ledger_chain = Some(payouts::LedgerChainOnline { confirmations });
    }

    /// Checks a ledger replica's event against the canonical chain as it
    /// stands.
    pub fn observe_ledger(
        &mut self,
        at: Duration,
        node: &NodeName,
        event: &ledger::ledger::LedgerEvent,
        chain: &ChainState,
    ) {
        let found = self
            .ledger_chain
            .as_ref()
            .and_then(|online| online.observe(node, event, chain));
        if let Some(message) = found {
            self.push("ledger-chain", at, message);
        }
    }

    pub fn observe_harness(&mut self, event: &crate::trace::HarnessEvent) {
        self.durability.observe_harness(event);
    }

    /// Checks that everything applied or acknowledged so far is in the synced
    /// logs of a majority of `replicas`.
    pub fn probe(&mut self, at: Duration, replicas: &BTreeMap<String, DurableLog>) {
        for message in self.raft.probe(replicas) {
            self.push("raft-safety", at, message);
        }
        for message in self.durability.probe(replicas) {
            self.push("durability", at, message);
        }
    }

    /// Checks the canonical chain as it stands.
    pub fn probe_chain(&mut self, at: Duration, chain: &ChainState) {
        for message in self.chain.probe(chain) {
            self.push("chain-safety", at, message);
        }
    }

    fn push(&mut self, checker: &'static str, at: Duration, message: String) {
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

    pub fn observe(&mut self, at: Duration, node: &NodeName, event: &Event) {
        let found = [
            ("raft-safety", self.raft.observe(node, event)),
            ("exactly-once", self.exactly_once.observe(node, event)),
        ];
        for (checker, message) in found {
            if let Some(message) = message {
                self.push(checker, at, message);
            }
        }
    }
}

/// The log's ground truth.
pub struct LogTruth<'a> {
    /// Each log replica's synced state, read with the replica's own recovery.
    pub replicas: &'a BTreeMap<String, DurableLog>,
}

/// The database's ground truth.
pub struct BankTruth<'a> {
    /// The database's synced state, read with the server's own recovery.
    pub recovered: &'a Recovered,
    pub accounts: u32,
    pub initial_balance: u64,
}

/// The chain's ground truth.
pub struct ChainTruth<'a> {
    /// The canonical chain, read through the harness's handle.
    pub state: &'a ChainState,
    /// Transactions still waiting in a mempool at the end, and where.
    pub pending: &'a [(String, Transaction)],
    pub confirmations: u64,
}

/// Everything the final checks read, gathered after the run.
pub struct GroundTruth<'a> {
    pub kind: WorkloadKind,
    pub history: &'a History,
    pub log: Option<LogTruth<'a>>,
    pub bank: Option<BankTruth<'a>>,
    pub chain: Option<ChainTruth<'a>>,
    pub payouts: Option<PayoutTruth<'a>>,
    /// Why the settle phase did not converge, if it did not.
    pub stall: Option<&'a Stall>,
    /// Simulated time at the end of the run.
    pub end: Duration,
}

/// Runs the checkers of the run's kind: what the online checkers found, a
/// last probe of the synced logs, and the final checks.
pub fn verdicts(online: &mut Online, truth: &GroundTruth<'_>) -> Vec<CheckResult> {
    if let Some(log) = &truth.log {
        online.probe(truth.end, log.replicas);
    }
    if let Some(chain) = &truth.chain {
        online.probe_chain(truth.end, chain.state);
    }
    let mut violations = online.violations.clone();
    if let Some(log) = &truth.log {
        violations.extend(exactly_once::final_check(log, truth.history));
    }
    if let Some(chain) = &truth.chain {
        violations.extend(exactly_once::chain_check(chain, truth.history));
    }
    if let Some(payouts) = &truth.payouts {
        violations.extend(payouts::final_checks(payouts));
    }
    if let Some(bank) = &truth.bank {
        violations.extend(conservation::final_check(bank, truth.end));
        violations.extend(durability::bank_check(bank, truth.history));
    }
    violations.extend(liveness::final_check(truth));
    checkers_for(truth.kind)
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

/// The committed log as the synced logs show it: the longest prefix a
/// majority of replicas agree on.
pub fn majority_log(replicas: &BTreeMap<String, DurableLog>) -> Vec<ledger::log::Entry> {
    exactly_once::majority_log(&LogTruth { replicas })
}

/// The replicas holding an entry matching `matches` at `index` in their
/// synced logs.
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
