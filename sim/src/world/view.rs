//! What the trace says about the cluster: who leads, and how far each replica
//! has applied. The nemesis resolves `log-leader` with it; the settle phase
//! decides convergence with it.

use ledger::{
    chain::{BlockHash, ChainEvent},
    db::DbEvent,
    ledger::LedgerEvent,
    log::{EntryId, LogEvent},
    observe::{Event, Mark, NodeName},
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
    /// Database nodes that have recovered (a fresh disk's genesis synced)
    /// and serve, in their current life.
    serving_db: BTreeSet<NodeName>,
    /// Nodes the nemesis has paused and not resumed.
    paused: BTreeSet<NodeName>,
    /// Each node's clock drift, as the nemesis last set it.
    drift_ppm: BTreeMap<NodeName, i64>,
    /// When each block was made, reorged away or not: violations about
    /// what a block holds are stamped with its time.
    blocks: BTreeMap<BlockHash, Duration>,
    /// When the chain first reached each height: a reorg replaces blocks
    /// but never lowers the tip, so this is when a block that high existed.
    heights: BTreeMap<u64, Duration>,
    /// When the nemesis crashed each node or lost its disk: every open
    /// database transaction is lost then.
    crashes: BTreeMap<String, Vec<Duration>>,
    /// Each commit the database applied, when, by transaction id, in
    /// order: what it committed, to hold against what clients asked for.
    db_commits: Vec<(Duration, u64)>,
}

#[derive(Debug)]
struct Leader {
    term: u64,
    node: NodeName,
    /// Whether it has applied an entry of its own term, which shows it holds
    /// a working majority.
    committed_in_term: bool,
    /// The highest index of a command it applied while leading (0 for
    /// none): state a replica that has applied less does not hold.
    applied_command: u64,
}

impl ClusterView {
    fn observe(&mut self, node: &NodeName, event: &Event) {
        match event {
            Event::Boot { incarnation } => {
                self.forget_leader(node);
                self.folded.remove(node);
                self.cut_off_from_db.remove(node);
                self.serving_db.remove(node);
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
                    applied_command: 0,
                });
            }
            Event::Log(LogEvent::SteppedDown { .. }) => self.forget_leader(node),
            Event::Db(DbEvent::Recovered { .. }) => {
                self.serving_db.insert(node.clone());
            }
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
            Event::Log(LogEvent::Applied {
                index,
                term,
                entry,
                duplicate,
                ..
            }) => {
                self.applied.insert(node.clone(), Some(*index));
                if let Some(leader) = &mut self.leader
                    && leader.node == *node
                {
                    leader.committed_in_term |= leader.term == *term;
                    if matches!(entry, EntryId::Command { .. }) && !duplicate {
                        leader.applied_command = *index;
                    }
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
            HarnessEvent::Clock {
                node, drift_ppm, ..
            } => {
                self.drift_ppm.insert(NodeName::new(node), *drift_ppm);
            }
            _ => {}
        }
        if let HarnessEvent::Crash { node } | HarnessEvent::DbWipe { node, .. } = event {
            let node = NodeName::new(node);
            self.paused.remove(&node);
            self.forget_leader(&node);
            self.lives.remove(&node);
            self.cut_off_from_db.remove(&node);
            self.serving_db.remove(&node);
            if let Some(applied) = self.applied.get_mut(&node) {
                *applied = None;
            }
        }
    }

    /// Whether the database node `node` has recovered and serves.
    pub(crate) fn serving_db(&self, node: &str) -> bool {
        self.serving_db.contains(&NodeName::new(node))
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

    /// How many accepted transfers the ledger replica furthest along the log
    /// has yet to see confirmed (0 with no replica up).
    pub(crate) fn unconfirmed_payouts(&self) -> u64 {
        self.folded
            .values()
            .max_by_key(|(applied, unconfirmed)| (*applied, std::cmp::Reverse(*unconfirmed)))
            .map_or(0, |(_, unconfirmed)| *unconfirmed)
    }

    /// The highest index `node` has applied in its current life; `None`
    /// while it is down or booting.
    pub(crate) fn applied(&self, node: &str) -> Option<u64> {
        self.applied.get(&NodeName::new(node)).copied().flatten()
    }

    /// When each block was made.
    pub(crate) fn block_times(&self) -> &BTreeMap<BlockHash, Duration> {
        &self.blocks
    }

    /// When the nemesis crashed each node or lost its disk.
    pub(crate) fn crash_times(&self) -> &BTreeMap<String, Vec<Duration>> {
        &self.crashes
    }

    /// When the chain first reached each height.
    pub(crate) fn height_times(&self) -> &BTreeMap<u64, Duration> {
        &self.heights
    }

    /// Each commit the database applied: when, and the transaction's id.
    pub(crate) fn db_commits(&self) -> &[(Duration, u64)] {
        &self.db_commits
    }

    /// Each running node's incarnation.
    pub(crate) fn lives(&self) -> &BTreeMap<NodeName, u64> {
        &self.lives
    }

    /// The ledger replicas that last failed to reach the database.
    pub(crate) fn cut_off_from_db(&self) -> impl Iterator<Item = &NodeName> {
        self.cut_off_from_db.iter()
    }

    /// Marks `node` elected in `term` while the leader of an earlier term
    /// still leads in its own eyes (cut off, not crashed, never stepped
    /// down): two leaders at once, which only leases keep apart. Worse when
    /// the new leader's clock runs faster than the old one's, for then each
    /// counts the same real time differently.
    fn mark_overlapping_leaders(&self, node: &NodeName, term: u64, marks: &mut Vec<HarnessMark>) {
        let Some(old) = self
            .leader
            .as_ref()
            .filter(|old| old.node != *node && old.term < term)
        else {
            return;
        };
        marks.push(HarnessMark::LeaderElectedBesideLeader);
        let drift = |node: &NodeName| self.drift_ppm.get(node).copied().unwrap_or(0);
        if drift(node) > drift(&old.node) {
            marks.push(HarnessMark::LeaderElectedBesideSlowerClock);
        }
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
        match event {
            Event::Chain(ChainEvent::Block { hash, height, .. }) => {
                self.blocks.insert(*hash, at);
                self.heights.entry(*height).or_insert(at);
            }
            Event::Db(DbEvent::Committed { txn, .. }) => self.db_commits.push((at, *txn)),
            _ => {}
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
        if let Event::Log(LogEvent::Elected { term }) = event {
            self.mark_overlapping_leaders(node, *term, marks);
        }
        self.observe(node, event);
    }

    /// A read the leader `node` refused only for its drift margin is the
    /// margin at work when a later leader is already elected: the reply a
    /// lease without the margin would have given is stale.
    fn mark(&mut self, _at: Duration, node: &NodeName, mark: Mark, marks: &mut Vec<HarnessMark>) {
        if mark != Mark::LeaseReadInDriftMargin {
            return;
        }
        let Some(leader) = self.leader.as_ref().filter(|leader| leader.node != *node) else {
            return;
        };
        marks.push(HarnessMark::DriftMarginReadAtDeposedLeader);
        if leader.applied_command > self.applied(node.as_str()).unwrap_or(0) {
            marks.push(HarnessMark::StaleReadKeptByDriftMargin);
        }
    }

    fn harness(&mut self, at: Duration, _node: &str, event: &HarnessEvent) {
        if let HarnessEvent::Crash { node } | HarnessEvent::DbWipe { node, .. } = event {
            self.crashes.entry(node.clone()).or_default().push(at);
        }
        self.observe_harness(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elected(view: &mut ClusterView, node: &str, term: u64) -> Vec<HarnessMark> {
        let mut marks = Vec::new();
        let event = Event::Log(LogEvent::Elected { term });
        view.system(Duration::ZERO, &NodeName::new(node), &event, &mut marks);
        marks
    }

    fn drift_margin_read(view: &mut ClusterView, node: &str) -> Vec<HarnessMark> {
        let mut marks = Vec::new();
        let mark = Mark::LeaseReadInDriftMargin;
        view.mark(Duration::ZERO, &NodeName::new(node), mark, &mut marks);
        marks
    }

    /// Two leaders at once only while the earlier one still leads in its
    /// own eyes: one that stepped down or crashed is no overlap.
    #[test]
    fn a_leader_elected_beside_a_leader_still_leading_is_marked() {
        let mut view = ClusterView::default();
        assert!(elected(&mut view, "log-1", 1).is_empty());
        assert!(drift_margin_read(&mut view, "log-1").is_empty());
        view.harness(
            Duration::ZERO,
            "nemesis",
            &HarnessEvent::Clock {
                node: "log-1".to_owned(),
                offset_nanos: 0,
                drift_ppm: -50_000,
            },
        );
        assert_eq!(
            elected(&mut view, "log-2", 2),
            [
                HarnessMark::LeaderElectedBesideLeader,
                HarnessMark::LeaderElectedBesideSlowerClock
            ]
        );
        assert_eq!(
            drift_margin_read(&mut view, "log-1"),
            [HarnessMark::DriftMarginReadAtDeposedLeader]
        );

        let stepped_down = Event::Log(LogEvent::SteppedDown { term: 2 });
        view.system(
            Duration::ZERO,
            &NodeName::new("log-2"),
            &stepped_down,
            &mut Vec::new(),
        );
        assert!(elected(&mut view, "log-3", 3).is_empty());
        view.harness(
            Duration::ZERO,
            "nemesis",
            &HarnessEvent::Crash {
                node: "log-3".to_owned(),
            },
        );
        assert!(elected(&mut view, "log-1", 4).is_empty());
    }

    fn applied(view: &mut ClusterView, node: &str, index: u64, entry: EntryId, duplicate: bool) {
        let event = Event::Log(LogEvent::Applied {
            index,
            term: 2,
            entry,
            duplicate,
            commands: index,
        });
        view.system(
            Duration::ZERO,
            &NodeName::new(node),
            &event,
            &mut Vec::new(),
        );
    }

    /// The margin kept a read from being stale only once the later leader
    /// holds a command the deposed one lacks: its own no-op, a duplicate,
    /// or a command the deposed leader applied too, changes nothing a read
    /// could miss.
    #[test]
    fn a_read_the_margin_kept_from_missing_a_command_is_marked() {
        let mut view = ClusterView::default();
        elected(&mut view, "log-1", 1);
        applied(
            &mut view,
            "log-1",
            2,
            EntryId::Command { client: 1, seq: 1 },
            false,
        );
        elected(&mut view, "log-2", 2);
        applied(&mut view, "log-2", 3, EntryId::Noop, false);
        applied(
            &mut view,
            "log-2",
            4,
            EntryId::Command { client: 1, seq: 1 },
            true,
        );
        assert_eq!(
            drift_margin_read(&mut view, "log-1"),
            [HarnessMark::DriftMarginReadAtDeposedLeader]
        );
        applied(
            &mut view,
            "log-2",
            5,
            EntryId::Command { client: 2, seq: 1 },
            false,
        );
        assert_eq!(
            drift_margin_read(&mut view, "log-1"),
            [
                HarnessMark::DriftMarginReadAtDeposedLeader,
                HarnessMark::StaleReadKeptByDriftMargin
            ]
        );
        applied(
            &mut view,
            "log-1",
            5,
            EntryId::Command { client: 2, seq: 1 },
            false,
        );
        assert_eq!(
            drift_margin_read(&mut view, "log-1"),
            [HarnessMark::DriftMarginReadAtDeposedLeader]
        );
    }
}
