//! What the trace says about the cluster: who leads, and how far each replica
//! has applied. The nemesis resolves `log-leader` with it; the settle phase
//! decides convergence with it.

use ledger::{
    chain::{BlockHash, ChainEvent},
    ledger::LedgerEvent,
    log::LogEvent,
    observe::{Event, NodeName},
};
use std::collections::{BTreeMap, BTreeSet};

use std::time::Duration;

use crate::{coverage::HarnessMark, events::HarnessEvent, trace::Subscriber};

#[derive(Debug, Default)]
pub(crate) struct ClusterView {
    /// The leader of the highest term seen, until it steps down, crashes or
    /// restarts.
    leader: Option<Leader>,
    /// The highest index each replica has applied in its current life;
    /// `None` from a crash until the replica has booted again.
    applied: BTreeMap<NodeName, Option<u64>>,
    /// What each ledger replica's fold last reported in its current life:
    /// how far it has folded the log, and how many accepted transfers it
    /// holds unconfirmed there.
    folded: BTreeMap<NodeName, (u64, u64)>,
    /// Each node's incarnation, while it runs.
    lives: BTreeMap<NodeName, u64>,
    /// Ledger replicas whose last read of the outbox did not reach the
    /// database, in their current life.
    cut_off_from_db: BTreeSet<NodeName>,
    /// Nodes the nemesis has paused and not resumed.
    paused: BTreeSet<NodeName>,
    /// When each block was made, reorged away or not: violations about
    /// what a block holds are stamped with its time.
    blocks: BTreeMap<BlockHash, Duration>,
}

#[derive(Debug)]
struct Leader {
    term: u64,
    node: NodeName,
    /// Whether it has applied an entry of its own term, which shows it holds
    /// a working majority.
    committed_in_term: bool,
}

impl ClusterView {
    fn observe(&mut self, node: &NodeName, event: &Event) {
        match event {
            Event::Boot { incarnation } => {
                self.forget_leader(node);
                self.folded.remove(node);
                self.cut_off_from_db.remove(node);
                self.lives.insert(node.clone(), *incarnation);
                self.applied.insert(node.clone(), Some(0));
            }
            Event::Log(LogEvent::Elected { term })
                if self
                    .leader
                    .as_ref()
                    .is_none_or(|leader| *term >= leader.term) =>
            {
                self.leader = Some(Leader {
                    term: *term,
                    node: node.clone(),
                    committed_in_term: false,
                });
            }
            Event::Log(LogEvent::SteppedDown { .. }) => self.forget_leader(node),
            Event::Ledger(LedgerEvent::Folded {
                applied,
                unconfirmed,
            }) => {
                self.folded.insert(node.clone(), (*applied, *unconfirmed));
            }
            Event::Ledger(LedgerEvent::Database { reachable }) => {
                if *reachable {
                    self.cut_off_from_db.remove(node);
                } else {
                    self.cut_off_from_db.insert(node.clone());
                }
            }
            Event::Log(LogEvent::Applied { index, term, .. }) => {
                self.applied.insert(node.clone(), Some(*index));
                if let Some(leader) = &mut self.leader
                    && leader.node == *node
                    && leader.term == *term
                {
                    leader.committed_in_term = true;
                }
            }
            _ => {}
        }
    }

    /// Learns of crashes from the harness (a lost disk is one too): a
    /// crashed node leads nothing and its progress is unknown until it boots
    /// again.
    fn observe_harness(&mut self, event: &HarnessEvent) {
        match event {
            HarnessEvent::Pause { node } => {
                self.paused.insert(NodeName::new(node));
            }
            HarnessEvent::Resume { node } => {
                self.paused.remove(&NodeName::new(node));
            }
            _ => {}
        }
        if let HarnessEvent::Crash { node } | HarnessEvent::DbWipe { node, .. } = event {
            let node = NodeName::new(node);
            self.paused.remove(&node);
            self.forget_leader(&node);
            self.lives.remove(&node);
            self.cut_off_from_db.remove(&node);
            if let Some(applied) = self.applied.get_mut(&node) {
                *applied = None;
            }
        }
    }

    /// Whether the nemesis holds `node` paused.
    pub(crate) fn paused(&self, node: &str) -> bool {
        self.paused.contains(&NodeName::new(node))
    }

    /// The leader of the highest term seen, and that term.
    pub(crate) fn leader(&self) -> Option<(u64, &NodeName)> {
        self.leader
            .as_ref()
            .map(|leader| (leader.term, &leader.node))
    }

    /// Whether the leader has committed an entry of its own term.
    pub(crate) fn leader_committed_in_term(&self) -> bool {
        self.leader
            .as_ref()
            .is_some_and(|leader| leader.committed_in_term)
    }

    /// Whether a ledger replica has folded the log up to `index` and found
    /// every accepted transfer confirmed there.
    pub(crate) fn payouts_settled(&self, index: u64) -> bool {
        self.folded
            .values()
            .any(|(applied, unconfirmed)| *applied >= index && *unconfirmed == 0)
    }

    /// The highest index `node` has applied in its current life; `None`
    /// while it is down or booting.
    pub(crate) fn applied(&self, node: &str) -> Option<u64> {
        self.applied.get(&NodeName::new(node)).copied().flatten()
    }

    /// Each running node's incarnation.
    /// When each block was made.
    pub(crate) fn block_times(&self) -> &BTreeMap<BlockHash, Duration> {
        &self.blocks
    }

    pub(crate) fn lives(&self) -> &BTreeMap<NodeName, u64> {
        &self.lives
    }

    /// The ledger replicas that last failed to reach the database.
    pub(crate) fn cut_off_from_db(&self) -> impl Iterator<Item = &NodeName> {
        self.cut_off_from_db.iter()
    }

    fn forget_leader(&mut self, node: &NodeName) {
        if self
            .leader
            .as_ref()
            .is_some_and(|leader| leader.node == *node)
        {
            self.leader = None;
        }
    }
}

impl Subscriber for ClusterView {
    fn system(
        &mut self,
        at: Duration,
        node: &NodeName,
        event: &Event,
        marks: &mut Vec<HarnessMark>,
    ) {
        if let Event::Chain(ChainEvent::Block { hash, .. }) = event {
            self.blocks.insert(*hash, at);
        }
        // Only the view knows who is paused: a takeover from a paused holder
        // is the case leases exist for.
        if let Event::Ledger(LedgerEvent::Claimed { from, .. }) = event
            && from
                .split_once('#')
                .is_some_and(|(holder, _)| holder != node.as_str() && self.paused(holder))
        {
            marks.push(HarnessMark::LeaseTakenFromPausedReplica);
        }
        self.observe(node, event);
    }

    fn harness(&mut self, _at: Duration, _node: &str, event: &HarnessEvent) {
        self.observe_harness(event);
    }
}
