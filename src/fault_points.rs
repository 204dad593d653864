//! Fault points: named places in the system's code where the harness may
//! inject a fault that random timing alone would rarely produce.
//!
//! At a crash point the node may crash right there (FoundationDB's BUGGIFY
//! idea): random crashes rarely land in windows a few milliseconds wide,
//! such as between a reply and the sync it depends on. At a reply point the
//! reply may be lost after its work is done, so the caller cannot know the
//! outcome (an unknown commit). Outside a simulation nothing fires.

use serde::{Serialize, Serializer};
use strum::{EnumIter, IntoStaticStr};

use crate::observe::NodeName;

/// A place in the code where the node may crash. Named in traces and
/// summaries by its dotted name (`log.vote.before-sync`); every one is
/// listed in [`CrashPoint::iter`], so a fuzz run can say which it never
/// reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, EnumIter, IntoStaticStr)]
pub enum CrashPoint {
    /// A replica's vote is written, not yet synced.
    #[strum(serialize = "log.vote.before-sync")]
    LogVoteBeforeSync,
    /// A follower's appended entries are written, not yet synced (with
    /// `raft-ack-before-persist`: after the reply, before the sync).
    #[strum(serialize = "log.append.before-sync")]
    LogAppendBeforeSync,
    /// The leader's own entries are written, not yet synced.
    #[strum(serialize = "log.leader.before-sync")]
    LogLeaderBeforeSync,
    /// The leader persisted a client's entry and sent it nowhere.
    #[strum(serialize = "log.leader.before-replicate")]
    LogLeaderBeforeReplicate,
    /// The leader moved its commit index, before applying.
    #[strum(serialize = "log.leader.after-commit")]
    LogLeaderAfterCommit,
    /// A commit record is written, not yet synced.
    #[strum(serialize = "db.commit.before-sync")]
    DbCommitBeforeSync,
    /// A commit is synced and applied, its reply not sent.
    #[strum(serialize = "db.commit.before-reply")]
    DbCommitBeforeReply,
    /// A batch of log entries was projected into the database.
    #[strum(serialize = "applier.after-project")]
    ApplierAfterProject,
    /// With `outbox-dual-write`: debits committed, payouts not yet.
    #[strum(serialize = "applier.between-debit-and-payout")]
    ApplierBetweenDebitAndPayout,
    /// A payout's intent (nonce and signed transaction) is recorded.
    #[strum(serialize = "outbox.after-intent")]
    OutboxAfterIntent,
    /// A payout's transaction was handed to an RPC node.
    #[strum(serialize = "outbox.after-submit")]
    OutboxAfterSubmit,
    /// A confirmation is about to be appended to the log.
    #[strum(serialize = "outbox.before-confirm-append")]
    OutboxBeforeConfirmAppend,
    /// A confirmation was appended to the log.
    #[strum(serialize = "outbox.after-confirm-append")]
    OutboxAfterConfirmAppend,
}

/// A place where the node's reply may be lost after its work is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, EnumIter, IntoStaticStr)]
pub enum ReplyPoint {
    /// The database's reply to a commit: the commit stands, the client
    /// cannot know it (`CommitUnknown`).
    #[strum(serialize = "db.commit.reply")]
    DbCommitReply,
}

impl CrashPoint {
    pub fn name(self) -> &'static str {
        self.into()
    }
}

impl ReplyPoint {
    pub fn name(self) -> &'static str {
        self.into()
    }
}

// Traced by name, so that a trace reads (and hashes) as the dotted name.
impl Serialize for CrashPoint {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl Serialize for ReplyPoint {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// Decides faults at fault points. Implemented by the harness.
pub trait FaultPoints: Send + Sync {
    /// Whether `node` crashes at `point`. When this returns true the
    /// implementation has already killed the node; the caller must not make
    /// any further progress.
    fn crash_here(&self, node: &NodeName, point: CrashPoint) -> bool;

    /// Whether the reply `node` is about to send at `point` is lost.
    fn lose_reply_here(&self, node: &NodeName, point: ReplyPoint) -> bool;
}

/// Fault points that never fire.
pub struct NoFaults;

impl FaultPoints for NoFaults {
    fn crash_here(&self, _node: &NodeName, _point: CrashPoint) -> bool {
        false
    }

    fn lose_reply_here(&self, _node: &NodeName, _point: ReplyPoint) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::IntoEnumIterator;

    #[test]
    fn crash_points_are_named_once_each() {
        let names: std::collections::BTreeSet<&str> =
            CrashPoint::iter().map(CrashPoint::name).collect();
        assert_eq!(names.len(), CrashPoint::iter().count());
        assert!(names.contains("outbox.after-submit"));
    }
}
