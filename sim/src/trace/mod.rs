//! The event trace of a run: every explicit event of the system's nodes and
//! of the harness, with its simulated time, folded into a stable hash, fed to
//! the online checkers and the cluster view, and kept as JSONL on request.

use ledger::{
    chain::{ChainEvent, ChainState},
    ledger::LedgerEvent,
    log::DurableLog,
    observe::{Event, Mark, NodeName, Observer},
    stable_hash::Fnv1a,
};
use serde::Serialize;
use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use crate::{check::Online, coverage::HarnessMark, world::ClusterView};

/// An event the harness records: a fault it injected, or what a client saw.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum HarnessEvent {
    Crash {
        node: String,
    },
    Restart {
        node: String,
    },
    Pause {
        node: String,
    },
    Resume {
        node: String,
    },
    Partition {
        groups: Vec<Vec<String>>,
        one_way: bool,
    },
    Heal,
    Clock {
        node: String,
        offset_nanos: i64,
        drift_ppm: i64,
    },
    /// A scheduled fault that could not apply, and why.
    Skipped {
        action: &'static str,
        reason: String,
    },
    /// What a crash did to unsynced writes on one file.
    DiskDamage {
        node: String,
        file: String,
        lost_bytes: u64,
        torn: bool,
    },
    /// The fault phase ended; the settle phase began.
    Settle,
    /// A client sent a new request.
    Request {
        client: u64,
        seq: u64,
    },
    /// A client started a transfer; no amount moves a whole balance.
    Transfer {
        client: u64,
        seq: u64,
        from: i64,
        to: i64,
        #[serde(skip_serializing_if = "Option::is_none")]
        amount: Option<u64>,
    },
    /// An append was applied at `index`.
    Acknowledged {
        client: u64,
        seq: u64,
        index: u64,
    },
    /// A client started a payment on the chain.
    Payment {
        client: u64,
        seq: u64,
        to: u64,
        amount: u64,
    },
    /// A payment was confirmed deep enough, as transaction `tx`.
    Confirmed {
        client: u64,
        seq: u64,
        tx: u64,
        height: u64,
    },
    /// A client asked the ledger for a payout; `bad` names a planted flaw.
    Payout {
        client: u64,
        seq: u64,
        request_id: String,
        amount: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        bad: Option<crate::workload::BadInput>,
    },
    /// The ledger accepted a payout request as `transfer`.
    Accepted {
        client: u64,
        seq: u64,
        transfer: u64,
    },
    /// The nemesis reorganized the chain.
    ChainReorg {
        depth: u64,
        dropped: u64,
    },
    /// The nemesis made the chain's mempool forget everything pending.
    ChainDrop {
        forgotten: u64,
    },
    /// A transfer committed; `commit` is unknown when learned by reading back.
    Committed {
        client: u64,
        seq: u64,
        commit: Option<u64>,
    },
    Rejected {
        client: u64,
        seq: u64,
        reason: String,
    },
    GaveUp {
        client: u64,
        seq: u64,
        attempts: u32,
    },
    /// A request already answered was sent again, and answered so.
    LateAnswer {
        client: u64,
        seq: u64,
        answer: String,
    },
    /// A status request reported this of a payout.
    Status {
        client: u64,
        seq: u64,
        status: String,
    },
}

/// One trace line: when, where, what.
#[derive(Serialize)]
struct Line<'a, E: Serialize> {
    t_us: u64,
    node: &'a str,
    #[serde(flatten)]
    event: &'a E,
}

/// A coverage mark as a trace line.
#[derive(Serialize)]
#[serde(tag = "event", rename = "mark")]
struct MarkLine {
    mark: &'static str,
}

/// The trace of one run; the observer every node records into.
pub struct Trace {
    state: Mutex<TraceState>,
}

struct TraceState {
    /// The canonical chain, probed by the chain-safety checker after every
    /// block. Locked only while the trace is, never the other way round.
    chain: Option<Arc<Mutex<ChainState>>>,
    hasher: Fnv1a,
    events: u64,
    lines: Option<Vec<String>>,
    online: Online,
    view: ClusterView,
    faults: BTreeMap<&'static str, u64>,
    /// How often each coverage mark was reached.
    marks: BTreeMap<&'static str, u64>,
}

/// What a finished trace hands to the report.
pub struct TraceSummary {
    pub hash: u64,
    pub events: u64,
    pub lines: Option<Vec<String>>,
    /// The online checkers, for the final probe and verdicts.
    pub online: Online,
    /// Faults injected, by kind.
    pub faults: BTreeMap<&'static str, u64>,
    /// Coverage marks reached, by name.
    pub marks: BTreeMap<&'static str, u64>,
}

impl Trace {
    /// A new trace; `keep_lines` keeps every event as a JSONL line.
    pub fn new(keep_lines: bool, replicas: usize) -> Arc<Trace> {
        Arc::new(Trace {
            state: Mutex::new(TraceState {
                chain: None,
                hasher: Fnv1a::default(),
                events: 0,
                lines: keep_lines.then(Vec::new),
                online: Online::new(replicas),
                view: ClusterView::default(),
                faults: BTreeMap::new(),
                marks: BTreeMap::new(),
            }),
        })
    }

    /// Records a harness event on behalf of `node` (`nemesis`, a client).
    pub fn harness(&self, node: &str, event: HarnessEvent) {
        let now = now();
        let mut state = self.lock();
        if let Some(kind) = fault_kind(&event) {
            *state.faults.entry(kind).or_default() += 1;
        }
        state.view.observe_harness(&event);
        state.online.observe_harness(&event);
        state.fold(now, node, &event);
    }

    /// Notes that the harness saw a situation worth reaching.
    pub fn harness_mark(&self, mark: HarnessMark) {
        let now = now();
        self.lock().mark(now, "nemesis", mark.name());
    }

    /// Lets the chain-safety checker watch `chain`, and the ledger-chain
    /// checker judge confirmations against it when `confirmations` is set.
    pub fn watch_chain(&self, chain: Arc<Mutex<ChainState>>, confirmations: Option<u64>) {
        let mut state = self.lock();
        state.chain = Some(chain);
        if let Some(confirmations) = confirmations {
            state.online.watch_confirmations(confirmations);
        }
    }

    /// Checks the watched chain as it stands.
    pub fn probe_chain(&self) {
        let now = now();
        self.lock().probe_chain(now);
    }

    /// Probes the replicas' synced logs with the online checkers.
    pub fn probe(&self, replicas: &BTreeMap<String, DurableLog>) {
        let now = now();
        self.lock().online.probe(now, replicas);
    }

    /// Reads the cluster view the trace maintains.
    pub fn view<R>(&self, read: impl FnOnce(&ClusterView) -> R) -> R {
        read(&self.lock().view)
    }

    /// Adds counts of faults the harness tallies elsewhere (the network's).
    pub fn count_faults(&self, counts: impl IntoIterator<Item = (&'static str, u64)>) {
        let mut state = self.lock();
        for (kind, count) in counts {
            if count > 0 {
                *state.faults.entry(kind).or_default() += count;
            }
        }
    }

    /// Ends the trace.
    pub fn finish(&self) -> TraceSummary {
        let mut state = self.lock();
        let online = std::mem::replace(&mut state.online, Online::new(0));
        TraceSummary {
            hash: state.hasher.digest(),
            events: state.events,
            lines: state.lines.take(),
            online,
            faults: std::mem::take(&mut state.faults),
            marks: std::mem::take(&mut state.marks),
        }
    }

    fn lock(&self) -> MutexGuard<'_, TraceState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl TraceState {
    fn probe_chain(&mut self, now: Duration) {
        if let Some(chain) = self.chain.clone() {
            let chain = chain.lock().unwrap_or_else(PoisonError::into_inner);
            self.online.probe_chain(now, &chain);
        }
    }

    /// Folds one event into the hash through its stable encoding (see
    /// `ledger::stable_hash`), so a seed hashes the same on every machine.
    fn fold<E: Serialize>(&mut self, now: Duration, node: &str, event: &E) {
        self.events += 1;
        self.hasher.feed(&(now.as_nanos() as u64, node, event));
        self.line(now, node, event);
    }

    /// Counts a coverage mark and keeps it as a trace line, without
    /// hashing it: marks are bookkeeping, not behaviour.
    fn mark(&mut self, now: Duration, node: &str, mark: &'static str) {
        *self.marks.entry(mark).or_default() += 1;
        self.line(now, node, &MarkLine { mark });
    }

    fn line<E: Serialize>(&mut self, now: Duration, node: &str, event: &E) {
        if let Some(lines) = &mut self.lines {
            let line = Line {
                t_us: now.as_micros() as u64,
                node,
                event,
            };
            lines.push(serde_json::to_string(&line).expect("trace events serialize"));
        }
    }
}

impl Observer for Trace {
    fn mark(&self, node: &NodeName, mark: Mark) {
        let now = now();
        self.lock().mark(now, node.as_str(), mark.name());
    }

    fn record(&self, node: &NodeName, event: Event) {
        let now = now();
        let mut state = self.lock();
        match &event {
            Event::CrashPoint { .. } => *state.faults.entry("crash-point").or_default() += 1,
            Event::ReplyLost { .. } => *state.faults.entry("reply-lost").or_default() += 1,
            Event::Chain(ChainEvent::Forgotten { transactions }) => {
                *state.faults.entry("chain-forgot").or_default() += u64::from(*transactions)
            }
            _ => {}
        }
        if let Event::Ledger(LedgerEvent::Claimed { from, .. }) = &event
            && from
                .split_once('#')
                .is_some_and(|(holder, _)| holder != node.as_str() && state.view.paused(holder))
        {
            state.mark(
                now,
                node.as_str(),
                HarnessMark::LeaseTakenFromPausedReplica.name(),
            );
        }
        state.online.observe(now, node, &event);
        state.view.observe(node, &event);
        state.fold(now, node.as_str(), &event);
        match &event {
            Event::Chain(ChainEvent::Block { .. }) => state.probe_chain(now),
            Event::Ledger(ledger_event) => {
                if let Some(chain) = state.chain.clone() {
                    let chain = chain.lock().unwrap_or_else(PoisonError::into_inner);
                    state.online.observe_ledger(now, node, ledger_event, &chain);
                }
            }
            _ => {}
        }
    }
}

/// Simulated time since the run began.
pub fn now() -> Duration {
    madsim::time::TimeHandle::current().elapsed()
}

fn fault_kind(event: &HarnessEvent) -> Option<&'static str> {
    Some(match event {
        HarnessEvent::Crash { .. } => "crash",
        HarnessEvent::Restart { .. } => "restart",
        HarnessEvent::Pause { .. } => "pause",
        HarnessEvent::Resume { .. } => "resume",
        HarnessEvent::Partition { .. } => "partition",
        HarnessEvent::Heal => "heal",
        HarnessEvent::Clock { .. } => "clock",
        HarnessEvent::Skipped { .. } => "skipped",
        HarnessEvent::DiskDamage { torn: true, .. } => "torn-write",
        HarnessEvent::ChainReorg { .. } => "chain-reorg",
        HarnessEvent::ChainDrop { .. } => "chain-drop",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An event is hashed through its bincode encoding, spelled out here
    /// byte for byte (the time, the node's name, the serde tag, the
    /// fields), never through a `Hash` derive whose feed the standard
    /// library may change: a seed gives the same hash on every machine.
    #[test]
    fn an_event_is_hashed_through_its_stable_encoding() {
        let mut traced = Fnv1a::default();
        traced.feed(&(1_000u64, "log-1", &Event::Boot { incarnation: 2 }));
        let mut by_hand = Fnv1a::default();
        for bytes in [
            &1_000u64.to_le_bytes()[..],
            &5u64.to_le_bytes(),
            b"log-1",
            &4u64.to_le_bytes(),
            b"boot",
            &2u64.to_le_bytes(),
        ] {
            by_hand.update(bytes);
        }
        assert_eq!(traced.digest(), by_hand.digest());
    }
}
