//! What a node tells the outside world about itself: explicit trace events.
//!
//! The harness hashes these events into the run's trace hash, feeds them to its
//! online checkers and can write them out as JSONL. They are recorded on
//! purpose, at the points that matter, and never derived from log output.

use serde::{Serialize, Serializer};
use std::{fmt, sync::Arc};

use crate::{
    chain::ChainEvent,
    db::DbEvent,
    fault_points::{CrashPoint, ReplyPoint},
    ledger::LedgerEvent,
    log::LogEvent,
};

/// A node's name, such as `log-2`: cheap to clone, printed as itself.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeName(Arc<str>);

impl NodeName {
    pub fn new(name: &str) -> NodeName {
        NodeName(Arc::from(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for NodeName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// What became of one message at the network choke point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fate {
    /// Sent on at once.
    Sent,
    /// Held back by an extra delay, so later messages may overtake it.
    Delayed,
    /// Lost by the per-message drop probability.
    Dropped,
    /// Lost because a partition cuts the link.
    Cut,
}

/// One trace event of a node.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// The node started, or started again after a crash, with this incarnation.
    Boot { incarnation: u64 },
    /// A crash point the harness chose to crash the node at.
    CrashPoint { point: CrashPoint },
    /// A reply point at which the harness lost the node's reply.
    ReplyLost { point: ReplyPoint },
    /// A message left the node through the choke point. It takes
    /// `latency_us` to cross unless it is lost; a delayed one arrives
    /// `delay_us` later still, and a second copy follows `duplicate_after_us`
    /// after it when one does.
    Message {
        to: NodeName,
        /// Its top-level variant (`Append`, `Atomic`, `Status`).
        kind: &'static str,
        bytes: u32,
        fate: Fate,
        latency_us: u64,
        #[serde(skip_serializing_if = "is_zero")]
        delay_us: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        duplicate_after_us: Option<u64>,
    },
    /// Something the Raft log did.
    Log(LogEvent),
    /// Something the database did.
    Db(DbEvent),
    /// Something the chain did.
    Chain(ChainEvent),
    /// Something a ledger replica did.
    Ledger(LedgerEvent),
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

impl Event {
    /// Whether the event is a decision worth a line at `info`: a node's
    /// life, a leader, a block, and every step of a payout.
    pub fn is_decision(&self) -> bool {
        use crate::{
            chain::ChainEvent as C, db::DbEvent as D, ledger::LedgerEvent as L, log::LogEvent as G,
        };
        match self {
            Event::Boot { .. } | Event::CrashPoint { .. } | Event::ReplyLost { .. } => true,
            Event::Log(G::Elected { .. } | G::SteppedDown { .. } | G::Recovered { .. }) => true,
            Event::Db(D::Recovered { .. }) => true,
            Event::Chain(C::Block { .. } | C::Forgotten { .. }) => true,
            Event::Ledger(
                L::Claimed { .. }
                | L::Signed { .. }
                | L::Submitted { .. }
                | L::Confirming { .. }
                | L::IntentRefused { .. }
                | L::Rebuilding { .. }
                | L::Rebuilt { .. }
                | L::Database { .. },
            ) => true,
            Event::Message { .. }
            | Event::Log(G::Applied { .. })
            | Event::Db(D::Committed { .. })
            | Event::Ledger(L::Appended { .. } | L::Folded { .. } | L::Projected { .. }) => false,
        }
    }
}

/// Where a node's trace events go. Implemented by the harness; each node holds
/// one in its [`crate::node::NodeEnv`].
pub trait Observer: Send + Sync {
    /// Records `event` as happening now on `node`.
    fn record(&self, node: &NodeName, event: Event);

    /// Notes that `node` reached the situation `mark`.
    fn mark(&self, node: &NodeName, mark: Mark);
}

/// An observer that forgets everything, for code exercised outside a run.
pub struct Discard;

impl Observer for Discard {
    fn record(&self, _node: &NodeName, _event: Event) {}

    fn mark(&self, _node: &NodeName, _mark: Mark) {}
}

/// A situation worth reaching, marked by the system where it meets one.
/// Fuzzing reports how often each was reached and names those never
/// reached, so a generator that stops reaching one is noticed. Marks are
/// counted, not traced: they never change a run's trace hash.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, strum::EnumIter, strum::IntoStaticStr,
)]
#[strum(serialize_all = "kebab-case")]
pub enum Mark {
    /// A log leader stepped down while clients' appends waited on it.
    LeaderChangeDuringAppend,
    /// A log follower cut off entries that conflicted with its leader's.
    ConflictingEntriesTruncated,
    /// The log leader answered a retried append from its client's session,
    /// without appending it again.
    RetryAnsweredFromSession,
    /// A ledger replica's database commit ended with its result unknown.
    CommitUnknown,
    /// A ledger write fenced by a row version found the row changed: the
    /// replica had lost its lease, or raced another one.
    FencedWriteRejected,
    /// A ledger replica took over a payout claimed by another replica.
    LeaseTakenOver,
    /// A signed transaction the chain did not show was submitted again.
    Resubmitted,
    /// The chain answered a submission with "nonce too low".
    NonceTooLow,
    /// The log refused a replica's payout intent: another replica's intent
    /// for the payout, or for the nonce, was ordered first.
    IntentRefused,
    /// A ledger replica found the database without entries it had seen
    /// projected, while a signed payout was still unconfirmed.
    WipeWithSignedPayout,
    /// The database lost its disk again while a replica was rebuilding it.
    WipeDuringRebuild,
    /// A rebuilding replica's projection lost a race with another replica
    /// writing the same position.
    RebuildRaced,
}

impl Mark {
    /// Every mark, in catalogue order.
    pub fn all() -> impl Iterator<Item = Mark> {
        <Mark as strum::IntoEnumIterator>::iter()
    }

    /// The mark's name in reports.
    pub fn name(self) -> &'static str {
        self.into()
    }
}
