//! The kinds of fault a run counts, by the names summaries and fuzz tallies
//! use. Each is recognised from what the run recorded in exactly one place
//! ([`FaultKind::of_harness`], [`FaultKind::of_system`], and the network's
//! counters), with no catch-all arm: a new harness event must be placed, or
//! the build fails.

use ledger::{chain::ChainEvent, net::NetStats, observe::Event};
use strum::{EnumIter, IntoStaticStr};

use crate::events::HarnessEvent;

/// A kind of fault, as counted in a run's summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, EnumIter, IntoStaticStr)]
#[strum(serialize_all = "kebab-case")]
pub(crate) enum FaultKind {
    Crash,
    Restart,
    /// A node taken out for good (counted as a crash too).
    Retire,
    Pause,
    Resume,
    Partition,
    Heal,
    Clock,
    /// A scheduled fault that could not apply.
    Skipped,
    /// A record torn by a crash.
    TornWrite,
    /// A node's disk lost (the database's): a crash that erases every file.
    DbWipe,
    ChainReorg,
    ChainDrop,
    /// A node crashed at a crash point.
    CrashPoint,
    /// A reply lost at a reply point.
    ReplyLost,
    /// Pending transactions a mempool forgot.
    ChainForgot,
    /// Messages lost, duplicated, delayed or cut at the choke point.
    Drop,
    Duplicate,
    Delay,
    Cut,
}

impl FaultKind {
    pub(crate) fn name(self) -> &'static str {
        self.into()
    }

    /// The fault a harness event records, and how many; `None` for events
    /// that are no fault.
    pub(crate) fn of_harness(event: &HarnessEvent) -> Option<(FaultKind, u64)> {
        let kind = match event {
            HarnessEvent::Crash { .. } => FaultKind::Crash,
            HarnessEvent::Restart { .. } => FaultKind::Restart,
            HarnessEvent::Retire { .. } => FaultKind::Retire,
            HarnessEvent::Pause { .. } => FaultKind::Pause,
            HarnessEvent::Resume { .. } => FaultKind::Resume,
            HarnessEvent::Partition { .. } => FaultKind::Partition,
            HarnessEvent::Heal { .. } => FaultKind::Heal,
            HarnessEvent::Clock { .. } => FaultKind::Clock,
            HarnessEvent::Skipped { .. } => FaultKind::Skipped,
            HarnessEvent::DiskDamage { torn: true, .. } => FaultKind::TornWrite,
            HarnessEvent::DbWipe { .. } => FaultKind::DbWipe,
            HarnessEvent::ChainReorg { .. } => FaultKind::ChainReorg,
            HarnessEvent::ChainDrop { .. } => FaultKind::ChainDrop,
            // Unsynced bytes lost without a tear are what a crash is.
            HarnessEvent::DiskDamage { torn: false, .. }
            | HarnessEvent::Settle
            | HarnessEvent::Request { .. }
            | HarnessEvent::Transfer { .. }
            | HarnessEvent::Acknowledged { .. }
            | HarnessEvent::Payment { .. }
            | HarnessEvent::Confirmed { .. }
            | HarnessEvent::Payout { .. }
            | HarnessEvent::Accepted { .. }
            | HarnessEvent::Committed { .. }
            | HarnessEvent::Rejected { .. }
            | HarnessEvent::GaveUp { .. }
            | HarnessEvent::LateAnswer { .. }
            | HarnessEvent::Status { .. }
            | HarnessEvent::Forged { .. }
            | HarnessEvent::SpedUp { .. } => return None,
        };
        Some((kind, 1))
    }

    /// The fault a system event records, and how many.
    pub(crate) fn of_system(event: &Event) -> Option<(FaultKind, u64)> {
        match event {
            Event::CrashPoint { .. } => Some((FaultKind::CrashPoint, 1)),
            Event::ReplyLost { .. } => Some((FaultKind::ReplyLost, 1)),
            Event::Chain(ChainEvent::Forgotten { transactions }) => {
                Some((FaultKind::ChainForgot, u64::from(*transactions)))
            }
            Event::Chain(ChainEvent::Block { .. })
            | Event::Boot { .. }
            | Event::Message { .. }
            | Event::Log(_)
            | Event::Db(_)
            | Event::Ledger(_) => None,
        }
    }

    /// The faults the network's choke point counted.
    pub(crate) fn of_network(stats: &NetStats) -> [(FaultKind, u64); 4] {
        [
            (FaultKind::Drop, stats.dropped),
            (FaultKind::Duplicate, stats.duplicated),
            (FaultKind::Delay, stats.delayed),
            (FaultKind::Cut, stats.cut),
        ]
    }
}
