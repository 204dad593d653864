//! The checkers every workload kind shares: the online ones that watch the
//! run as it happens (a trace [`Subscriber`]: Raft safety, the log's
//! sessions, durability of acknowledged appends, the chain's safety and
//! what each reorg hands back, each
//! confirmation a ledger replica makes, each rebuild of the database's
//! projection, each command the log refuses a ledger replica, and the
//! answer to each forgery a chain client sends), and `liveness`. A kind's own
//! final checks live with its kind (`kinds/`) and read the same
//! [`GroundTruth`].
//!
//! Every violation names its checker, the simulated time and the objects
//! involved. Only the checkers a kind names judge its runs: one that cannot
//! judge a run says nothing rather than pass.

mod chain_safety;
mod confirmations;
mod durability;
pub(crate) mod exactly_once;
mod forgeries;
mod liveness;
mod raft_safety;
mod rebuilds;
mod refusals;
pub(crate) mod reorgs;
mod replacements;

pub use liveness::Stall;
pub(crate) use liveness::final_check as liveness_check;

use ledger::{
    bugs::Checker,
    chain::{BlockHash, ChainState, Reorg, SigningKey, Transaction},
    db::Recovered,
    log::{DurableLog, DurableReader, Entry, LogEvent},
    observe::{Event, Mark, NodeName},
    storage::Disk,
};
use serde::Serialize;
use std::{
    borrow::Borrow,
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use crate::{
    coverage::HarnessMark, events::HarnessEvent, history::History, scenario::Scenario,
    trace::Subscriber,
};

/// A database disk the nemesis erased: ground truth for the numbering of
/// the commits of the disks that replaced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LostDisk {
    pub(crate) node: String,
    /// When it was lost.
    pub(crate) at: Duration,
    /// The first and the last synced commit it held, read with the
    /// database's own recovery; `None` when it held none.
    pub(crate) commits: Option<(u64, u64)>,
}

/// The database's synced disk as it stood at a moment mid-run, read with
/// the database's own recovery. What the database holds must be the
/// committed log's projection at every moment, not only where the run
/// ended: a run that converged has no payout open at its end, so a fault
/// in how open payouts are projected shows only here.
#[derive(Debug)]
pub(crate) struct DbLook {
    pub(crate) at: Duration,
    pub(crate) moment: DbMoment,
    pub(crate) db: Recovered,
}

/// When the harness looked at the database's disk: where the nemesis
/// killed the database, by a crash that leaves the disk for recovery or
/// just before its disk is lost. Only there: the synced disk of a running
/// database may hold a state between two commits that belong together,
/// which does harm only if a kill comes between them, and a look that
/// stood in for the kill would catch such a bug without its hazard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DbMoment {
    Crash,
    Wipe,
}

impl std::fmt::Display for DbMoment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DbMoment::Crash => "as a crash left it",
            DbMoment::Wipe => "before it was lost",
        })
    }
}

/// Violations kept per checker; the first ones explain a failure.
const MAX_VIOLATIONS_PER_CHECKER: usize = 8;

/// One broken invariant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub checker: Checker,
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
    pub checker: Checker,
    /// The first violations found, at most `MAX_VIOLATIONS_PER_CHECKER`.
    pub violations: Vec<Violation>,
    /// How many violations were found in all.
    pub total: usize,
}

impl CheckResult {
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}

/// The checkers that watch the run as it happens: trace events, probes of
/// the synced logs after every crash of a replica, and of the chain after
/// every block and reorg.
pub(crate) struct Online {
    raft: raft_safety::Online,
    sessions: exactly_once::Online,
    durability: durability::Online,
    chain_safety: chain_safety::Online,
    confirmations: Option<confirmations::Online>,
    rebuilds: rebuilds::Online,
    /// Whether the log's clients are ledger replicas, held to sending only
    /// commands it takes.
    ledger_commands: bool,
    /// Violations found beyond those kept, by checker.
    uncounted: BTreeMap<Checker, usize>,
    /// The canonical chain, when the run has one. Locked only inside this
    /// checker's lock, never the other way round.
    chain: Option<Arc<Mutex<ChainState>>>,
    /// Each log replica's disk, with this checker's own reader of its
    /// synced log: a replica that votes or is elected is held to the logs
    /// as they stood.
    log_disks: BTreeMap<String, (Arc<Disk>, DurableReader)>,
    violations: Vec<Violation>,
}

impl Online {
    pub(crate) fn new(replicas: usize) -> Online {
        Online {
            raft: raft_safety::Online::new(replicas),
            sessions: exactly_once::Online::default(),
            durability: durability::Online::default(),
            chain_safety: chain_safety::Online::default(),
            confirmations: None,
            rebuilds: rebuilds::Online::default(),
            ledger_commands: false,
            uncounted: BTreeMap::new(),
            chain: None,
            log_disks: BTreeMap::new(),
            violations: Vec::new(),
        }
    }

    /// Reads each log replica's synced log, from `disks`, as it votes and
    /// as it is elected.
    pub(crate) fn watch_log_disks(&mut self, disks: impl IntoIterator<Item = (String, Arc<Disk>)>) {
        self.log_disks = disks
            .into_iter()
            .map(|(name, disk)| (name, (disk, DurableReader::default())))
            .collect();
    }

    /// Watches `chain`: its safety after every block and reorg, and, when
    /// `confirmations` is set, every confirmation a ledger replica records
    /// against it.
    pub(crate) fn watch_chain(
        &mut self,
        chain: Arc<Mutex<ChainState>>,
        confirmations: Option<u64>,
    ) {
        self.chain = Some(chain);
        self.confirmations = confirmations.map(confirmations::Online::new);
    }

    /// Holds the log's clients, ledger replicas, to sending only commands
    /// the log takes.
    pub(crate) fn watch_ledger_commands(&mut self) {
        self.ledger_commands = true;
    }

    /// Checks that everything applied or acknowledged so far is in the synced
    /// logs of a majority of the log replicas, as their disks hold them now.
    pub(crate) fn probe_synced_logs(&mut self, at: Duration) {
        if self.log_disks.is_empty() {
            return;
        }
        let replicas = synced_logs(&mut self.log_disks);
        let raft = self.raft.probe(&replicas);
        let durability = self.durability.probe(&replicas);
        for message in raft {
            self.push(Checker::RaftSafety, at, message);
        }
        for message in durability {
            self.push(Checker::Durability, at, message);
        }
    }

    /// Each log replica's synced log as its disk holds it now, for good:
    /// the ground truth of the final checks.
    pub(crate) fn take_synced_logs(&mut self) -> BTreeMap<String, DurableLog> {
        std::mem::take(&mut self.log_disks)
            .into_iter()
            .map(|(name, (disk, reader))| {
                let log = reader.finish(&disk);
                (name, log)
            })
            .collect()
    }

    /// Checks the watched chain as it stands.
    pub(crate) fn probe_chain(&mut self, at: Duration) {
        let Some(chain) = self.chain.clone() else {
            return;
        };
        let chain = chain.lock().unwrap_or_else(PoisonError::into_inner);
        for message in self.chain_safety.probe(&chain) {
            self.push(Checker::ChainSafety, at, message);
        }
    }

    /// Judges a reorg of the watched chain, just made: what it did against
    /// what it replaced (`fork`), then the chain as it stands.
    pub(crate) fn reorged(&mut self, at: Duration, fork: &reorgs::Fork, reorg: &Reorg, drop: f64) {
        let Some(chain) = self.chain.clone() else {
            return;
        };
        let problems = {
            let chain = chain.lock().unwrap_or_else(PoisonError::into_inner);
            reorgs::check(fork, reorg, drop, &chain)
        };
        for message in problems {
            self.push(Checker::ChainSafety, at, message);
        }
        self.probe_chain(at);
    }

    /// What the online checkers found.
    pub(crate) fn violations(&self) -> &[Violation] {
        &self.violations
    }

    /// Violations found beyond those kept, by checker.
    pub(crate) fn uncounted(&self) -> &BTreeMap<Checker, usize> {
        &self.uncounted
    }

    fn push(&mut self, checker: Checker, at: Duration, message: String) {
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
        } else {
            *self.uncounted.entry(checker).or_default() += 1;
        }
    }
}

impl Subscriber for Online {
    fn system(
        &mut self,
        at: Duration,
        node: &NodeName,
        event: &Event,
        _marks: &mut Vec<HarnessMark>,
    ) {
        if let Event::Log(LogEvent::Elected { term }) = event {
            self.raft.elected_at(*term, at);
        }
        if let Some(message) = self.raft.observe(node, event) {
            self.push(Checker::RaftSafety, at, message);
        }
        if let Some(commit) = self.raft.take_just_committed()
            && !self.log_disks.is_empty()
        {
            let replicas = synced_logs(&mut self.log_disks);
            if let Some(message) = self.raft.electable_without(commit, &replicas) {
                self.push(Checker::RaftSafety, at, message);
            }
        }
        if let Event::Log(event @ (LogEvent::Elected { .. } | LogEvent::Voted { .. })) = event
            && let Some((disk, reader)) = self.log_disks.get_mut(node.as_str())
            && let Some(message) = self.raft.against_synced_log(node, event, reader.read(disk))
        {
            self.push(Checker::RaftSafety, at, message);
        }
        if let Some(message) = self.sessions.observe(node, event) {
            self.push(Checker::ExactlyOnce, at, message);
        }
        match event {
            Event::Chain(ledger::chain::ChainEvent::Block { .. }) => self.probe_chain(at),
            Event::Log(log_event) if self.ledger_commands => {
                if let Some(message) = refusals::observe(node, log_event) {
                    self.push(Checker::Liveness, at, message);
                }
            }
            Event::Ledger(ledger_event) => {
                let found = match (&mut self.confirmations, &self.chain) {
                    (Some(online), Some(chain)) => {
                        let chain = chain.lock().unwrap_or_else(PoisonError::into_inner);
                        online.observe(node, ledger_event, &chain)
                    }
                    _ => None,
                };
                if let Some(message) = found {
                    self.push(Checker::LedgerChain, at, message);
                }
                if let Some(message) = self.rebuilds.observe(node, ledger_event) {
                    self.push(Checker::Projection, at, message);
                }
            }
            _ => {}
        }
    }

    /// The system marks a read it takes on its leader's lease: the lease's
    /// promise is what makes that read linearizable.
    fn mark(&mut self, at: Duration, node: &NodeName, mark: Mark, _marks: &mut Vec<HarnessMark>) {
        if mark == Mark::ReadServedOnLease
            && let Some(message) = self.raft.read_on_lease(node, at)
        {
            self.push(Checker::Linearizable, at, message);
        }
    }

    fn harness(&mut self, at: Duration, _node: &str, event: &HarnessEvent) {
        if let HarnessEvent::Retire { node } = event {
            self.raft.retired(node);
        }
        self.durability.observe_harness(event);
        self.rebuilds.observe_harness(event);
        if let Some(message) = forgeries::observe(event) {
            self.push(Checker::ChainSafety, at, message);
        }
        if let Some(message) = replacements::observe(event) {
            self.push(Checker::ChainSafety, at, message);
        }
    }
}

/// Everything the final checks read, gathered after the run: each log
/// replica's and the database's synced state (read with their own recovery
/// code), the canonical chain and what is left in mempools, and the
/// clients' history.
pub(crate) struct GroundTruth<'a> {
    pub(crate) scenario: &'a Scenario,
    pub(crate) history: &'a History,
    /// Each log replica's synced state; empty when the run has no log.
    pub(crate) replicas: &'a BTreeMap<String, DurableLog>,
    /// The database's synced state, when the run has one.
    pub(crate) database: Option<&'a Recovered>,
    /// The database disks the run lost, in order, with the commits each
    /// held.
    pub(crate) lost_disks: &'a [LostDisk],
    /// The database's synced disk at each moment the harness looked at it
    /// mid-run, in order (only in runs with ledger replicas, whose
    /// projection it holds).
    pub(crate) db_looks: &'a [DbLook],
    /// The canonical chain, when the run has one.
    pub(crate) chain: Option<&'a ChainState>,
    /// Transactions still waiting in a mempool at the end, and where.
    pub(crate) pending: &'a [(String, Transaction)],
    /// Each node's incarnation at the end, for nodes still running.
    pub(crate) lives: &'a BTreeMap<String, u64>,
    /// The nodes taken out for good.
    pub(crate) retired: &'a BTreeSet<String>,
    /// When each block was made, including blocks reorged away.
    pub(crate) block_times: &'a BTreeMap<BlockHash, Duration>,
    /// When the chain first reached each height.
    pub(crate) height_times: &'a BTreeMap<u64, Duration>,
    /// When the nemesis crashed each node or lost its disk.
    pub(crate) crash_times: &'a BTreeMap<String, Vec<Duration>>,
    /// Each commit the database applied: when, and the transaction's id.
    pub(crate) db_commits: &'a [(Duration, u64)],
    /// Why the run did not settle, if it did not.
    pub(crate) stall: Option<&'a Stall>,
    /// Simulated time at the end of the run.
    pub(crate) end: Duration,
}

/// When a transaction told confirmed at `told_at`, in block `height`, was
/// told too soon: the chain did not yet stand `confirmations` deep above
/// it, so a reorg could still have taken it back. Returns when the chain
/// first reached that depth. Only for a block that deep on the final
/// chain: blocks that deep are never reorged away, so the final chain
/// shows where the transaction stood when it was told. A reorg replaces
/// blocks but never lowers the tip, so the first time the chain reached a
/// height (`height_times`) is when a block that high first existed; a
/// height the record lacks was reached by the `end` at the latest.
pub(crate) fn told_before_deep(
    height_times: &BTreeMap<u64, Duration>,
    end: Duration,
    (height, confirmations): (u64, u64),
    told_at: Duration,
) -> Option<Duration> {
    let deep_at = height + confirmations - 1;
    let reached = height_times.get(&deep_at).copied().unwrap_or(end);
    (reached > told_at).then_some(reached)
}

/// Whether `key` signed `tx`: the checkers sign its transfer again rather
/// than trust the system's own verification.
pub(crate) fn signed_by(key: SigningKey, tx: &Transaction) -> bool {
    key.sign(tx.transfer.clone()).signature == tx.signature
}

/// The results of the checkers `checkers`, from everything found and the
/// count of those found but not kept.
pub(crate) fn results(
    checkers: &[Checker],
    found: &[Violation],
    uncounted: &BTreeMap<Checker, usize>,
) -> Vec<CheckResult> {
    checkers
        .iter()
        .map(|checker| {
            let mine: Vec<&Violation> = found
                .iter()
                .filter(|violation| violation.checker == *checker)
                .collect();
            CheckResult {
                checker: *checker,
                total: mine.len() + uncounted.get(checker).copied().unwrap_or(0),
                violations: mine
                    .into_iter()
                    .take(MAX_VIOLATIONS_PER_CHECKER)
                    .cloned()
                    .collect(),
            }
        })
        .collect()
}

/// Each log replica's synced log as its disk holds it now, read on from
/// where its reader last stopped.
fn synced_logs(
    log_disks: &mut BTreeMap<String, (Arc<Disk>, DurableReader)>,
) -> BTreeMap<String, &DurableLog> {
    log_disks
        .iter_mut()
        .map(|(name, (disk, reader))| (name.clone(), reader.read(disk)))
        .collect()
}

/// The committed log as the synced logs show it: the longest prefix a
/// majority of replicas agree on.
pub(crate) fn majority_log(replicas: &BTreeMap<String, DurableLog>) -> Vec<Entry> {
    exactly_once::majority_log(replicas)
}

/// The replicas holding an entry matching `matches` at `index` in their
/// synced logs.
fn holders<L: Borrow<DurableLog>>(
    replicas: &BTreeMap<String, L>,
    index: u64,
    matches: impl Fn(&Entry) -> bool,
) -> Vec<&str> {
    replicas
        .iter()
        .filter(|(_, log)| {
            let log: &DurableLog = (*log).borrow();
            index >= 1 && log.entries.get(index as usize - 1).is_some_and(&matches)
        })
        .map(|(name, _)| name.as_str())
        .collect()
}

fn majority(replicas: usize) -> usize {
    replicas / 2 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_confirmation_is_told_in_time_only_once_the_chain_is_that_high() {
        let secs = Duration::from_secs;
        let heights = BTreeMap::from([(3, secs(3)), (4, secs(5)), (5, secs(6))]);
        let end = secs(10);
        // Block 3, two confirmations: deep once height 4 exists, at 5s.
        assert_eq!(told_before_deep(&heights, end, (3, 2), secs(5)), None);
        assert_eq!(told_before_deep(&heights, end, (3, 2), secs(7)), None);
        assert_eq!(
            told_before_deep(&heights, end, (3, 2), secs(4)),
            Some(secs(5))
        );
        assert_eq!(
            told_before_deep(&heights, end, (3, 3), secs(5)),
            Some(secs(6))
        );
        assert_eq!(told_before_deep(&heights, end, (5, 1), secs(6)), None);
        // A height the record lacks was reached by the end at the latest.
        assert_eq!(told_before_deep(&heights, end, (5, 5), secs(8)), Some(end));
        assert_eq!(told_before_deep(&heights, end, (5, 5), end), None);
    }
}
