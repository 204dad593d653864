//! Coverage marks: situations worth reaching. The system marks those it
//! meets itself ([`Mark`]); the harness marks those only ground truth shows,
//! such as a lease taken over from a replica the nemesis paused. Fuzzing
//! reports how many seeds reached each, and names those none reached.

use ledger::observe::Mark;

/// A situation only the harness can see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HarnessMark {
    /// A replica took over a payout from a replica paused at that moment.
    LeaseTakenFromPausedReplica,
    /// A reorg replaced a head block holding transactions, each at depth 1.
    ReorgOverTransactionAtDepth1,
}

impl HarnessMark {
    pub const ALL: [HarnessMark; 2] = [
        HarnessMark::LeaseTakenFromPausedReplica,
        HarnessMark::ReorgOverTransactionAtDepth1,
    ];

    pub fn name(self) -> &'static str {
        match self {
            HarnessMark::LeaseTakenFromPausedReplica => "lease-taken-from-paused-replica",
            HarnessMark::ReorgOverTransactionAtDepth1 => "reorg-over-transaction-at-depth-1",
        }
    }
}

/// Every mark's name, the system's first: the catalogue a fuzz summary
/// reports against.
pub fn catalogue() -> Vec<&'static str> {
    Mark::ALL
        .iter()
        .map(|mark| mark.name())
        .chain(HarnessMark::ALL.iter().map(|mark| mark.name()))
        .collect()
}
