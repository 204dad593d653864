//! Coverage marks: situations worth reaching. The system marks those it
//! meets itself ([`Mark`]); the harness marks those only ground truth shows,
//! such as a lease taken over from a replica the nemesis paused. Fuzzing
//! reports how many seeds reached each, and names those none reached.

use ledger::observe::Mark;

/// A situation only the harness can see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumIter, strum::IntoStaticStr)]
#[strum(serialize_all = "kebab-case")]
pub(crate) enum HarnessMark {
    /// A replica took over a payout from a replica paused at that moment.
    LeaseTakenFromPausedReplica,
    /// A reorg replaced a head block holding transactions, each at depth 1.
    #[strum(serialize = "reorg-over-transaction-at-depth-1")]
    ReorgOverTransactionAtDepth1,
    /// A log leader was elected while the leader of an earlier term, cut
    /// off but up, still led in its own eyes.
    LeaderElectedBesideLeader,
    /// The same, with the new leader's clock running faster than the old
    /// one's: the case the lease's drift margin is for.
    LeaderElectedBesideSlowerClock,
    /// A read arrived at a leader inside its lease as counted without the
    /// drift margin but past it as counted with, once a leader of a later
    /// term had been elected: the margin kept that read from being stale.
    DriftMarginReadAtDeposedLeader,
    /// The same, once that later leader had applied a command the deposed
    /// one had not: without the margin, the read would have missed it.
    StaleReadKeptByDriftMargin,
}

impl HarnessMark {
    pub(crate) fn name(self) -> &'static str {
        self.into()
    }
}

/// Every mark's name, the system's first: the catalogue a fuzz summary
/// reports against.
pub fn catalogue() -> Vec<&'static str> {
    Mark::all()
        .map(Mark::name)
        .chain(<HarnessMark as strum::IntoEnumIterator>::iter().map(HarnessMark::name))
        .collect()
}
