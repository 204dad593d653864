//! The catalogue of planted bugs: deliberate faults in the system's logic that
//! prove each checker can fail.
//!
//! A bug set travels in every node's configuration ([`crate::node::NodeEnv`]),
//! never in a global, so simulations running side by side stay isolated. The set
//! is empty by default; nothing outside a test or `sim fuzz --bug` enables one.

use serde::{Deserialize, Serialize};
use std::fmt;
use strum::{EnumIter, EnumString, IntoEnumIterator, IntoStaticStr};

/// A checker of the harness, by the stable name summaries, scenario files
/// (`[expect] violation`) and this catalogue use. The catalogue names the
/// checkers that catch each bug, so the vocabulary lives here.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    EnumIter,
    EnumString,
    IntoStaticStr,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Checker {
    RaftSafety,
    ChainSafety,
    ExactlyOnce,
    AtLeastOnce,
    LedgerChain,
    Conservation,
    NonceHygiene,
    Projection,
    Durability,
    Isolation,
    Linearizable,
    BadInput,
    Liveness,
}

impl Checker {
    /// The checker's stable name.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// Whether a violation is a broken promise (exit 1) rather than a stuck
    /// run (exit 3).
    pub fn is_safety(self) -> bool {
        self != Checker::Liveness
    }

    /// Every checker, in report order.
    pub fn all() -> impl Iterator<Item = Checker> {
        Checker::iter()
    }
}

impl fmt::Display for Checker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// One planted bug. Each variant documents the hazard it plants and the checker
/// that is expected to catch it.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    EnumIter,
    EnumString,
    IntoStaticStr,
)]
#[strum(serialize_all = "kebab-case")]
pub enum Bug {
    /// A log replica acknowledges an append, or grants a vote, before syncing it
    /// to disk. A crash right after loses what it promised: a committed entry
    /// can vanish, or the replica votes twice in one term.
    RaftAckBeforePersist,
    /// Recovery replays the synced log without rebuilding the client sessions,
    /// so a duplicate of an already-applied append is applied again.
    RaftForgetSessions,
    /// A new leader skips its term's no-op and commits entries of earlier terms
    /// by counting replicas (Raft paper, figure 8): a later leader can overwrite
    /// an entry that was reported committed.
    RaftCommitOldTerm,
    /// A replica grants its vote without comparing the candidate's log with
    /// its own (Raft's election restriction, paper §5.4.1): a candidate
    /// missing committed entries can win, and as leader it overwrites them.
    RaftVoteIgnoresLog,
    /// A follower answers a key-value read from its own applied state
    /// instead of sending the client to the leader: a lagging or cut-off
    /// follower serves stale values.
    ReadFromFollower,
    /// The leader's read lease runs the full shortest election timeout on
    /// its own clock, without the margin for clock drift: a leader whose
    /// clock runs slow, or followers whose clocks run fast, let a new
    /// leader be elected while the old one still serves reads on its lease.
    LeaseReadIgnoresDrift,
    /// The bank workload moves money with an unconditional read-modify-write
    /// under READ COMMITTED: two concurrent transfers lose an update.
    DbLostUpdate,
    /// The database acknowledges a commit before syncing its record: a crash
    /// loses a commit a client was told about.
    DbAckBeforeSync,
    /// Recovery replays the commit log without checking checksums, so a torn
    /// record is applied as if whole.
    DbSkipChecksum,
    /// Transaction ids restart after a crash, so a late duplicate of an old
    /// `commit` commits a new, unfinished transaction (and an old write lands
    /// in it): money moves wrongly, or a client is told of a commit that never
    /// happened.
    DbTxnIdReuse,
    /// After a restart the database commits (synced, applied) but never
    /// acknowledges a commit, as though its reply path were set up on first
    /// boot only: clients that resolve an unknown commit by reading what it
    /// wrote still finish, and no promise is broken, but nothing a client
    /// commits is ever confirmed to it again.
    DbMuteAfterRestart,
    /// SERIALIZABLE validates at commit only the reads of rows the
    /// transaction also writes: a read-only transaction, or one reading rows
    /// it leaves alone, commits on a snapshot that changed under it (read
    /// skew, write skew).
    DbSerializableSkipsReads,
    /// A reorg hands its transactions back for re-inclusion without checking
    /// their nonces, so one the replacing fork already holds is included
    /// twice.
    ChainDoubleInclude,
    /// A reorg forgets the transactions of the blocks it replaces instead
    /// of handing them back to the mempool, and says nothing of it: a
    /// payment the replaced branch held is gone unless its sender sends it
    /// again, as if the reorg's `drop` share were all of them.
    ReorgLosesTransactions,
    /// The chain takes a transaction into its mempool without verifying
    /// its signature: a payment altered in flight, or signed with another
    /// account's key, spends from an account whose holder never signed it,
    /// and the genuine payment it outbids at the same nonce is refused.
    ChainSkipsSignature,
    /// The chain's mempool compares a replacement's fee the wrong way
    /// round: a wallet's speed-up, the same payment at the same nonce with
    /// a higher fee, is refused as underpriced, and a cheaper transaction
    /// pushes out the one it contests.
    ReplacementFeeInverted,
    /// The ledger's fold forgets to deduplicate by request id: a request
    /// appended twice (a client's retry reaching a replica whose fold has
    /// not seen the first append yet, or a duplicated message) is accepted
    /// twice, debited twice and paid out twice under the same transfer id.
    NoIdempotencyKey,
    /// The applier keeps its position in memory and writes blindly: a batch
    /// another replica projected meanwhile, or one whose commit is unknown,
    /// is projected again, debiting twice and resetting payouts already
    /// signed.
    ApplierNotIdempotent,
    /// The debit and the payout's outbox row commit in two transactions; a
    /// crash, a lost reply or a timeout between them loses the payout of an
    /// accepted transfer.
    OutboxDualWrite,
    /// The worker signs a payout with the log's next nonce and submits it
    /// before the log has taken its intent; when the log then refuses it
    /// (another payout took that nonce first) or the append is lost, the
    /// transaction is on its way anyway: the payout is signed again with
    /// another nonce, and both land.
    SubmitBeforeIntent,
    /// A transaction the chain does not show is replaced by a new one with
    /// the next nonce, sent without waiting for the log's verdict, while
    /// the first may still land: paid twice.
    ResubmitNewNonce,
    /// "Nonce too low" is taken as proof the payout landed, and it is
    /// confirmed without a receipt.
    NonceTooLowIsSuccess,
    /// Payouts are confirmed as soon as they are included, before they are
    /// `confirmations` deep, so a reorg can take back a confirmed payout.
    #[strum(serialize = "confirm-at-depth-0")]
    ConfirmAtDepth0,
    /// The worker trusts its lease: holding the payout's lease, it sends
    /// the transaction it proposed as soon as the intent is on its way,
    /// without waiting for the log's verdict. When the log refuses it
    /// (another replica's intent took the nonce, or the payout: a lease
    /// that lapsed in a pause or on a clock behind) the transaction is on
    /// the wire anyway, and the payout is paid twice, or another one can
    /// never land.
    LeaseNoFencing,
    /// The log takes an intent's nonce without checking it is still the
    /// next one: two replicas signing at once from the same view spend one
    /// nonce on two payouts, and one of them can never land.
    NonceReadModifyWrite,
    /// The previous design: a payout's intent (its nonce and signed
    /// transaction) is recorded only in the database, never in the log. A
    /// database rebuilt from the log after losing its disk has the payout
    /// `Pending` again, and it is signed again with a fresh nonce (the lost
    /// counter restarts from the chain's count): a payout already signed,
    /// on its way or included but not yet confirmed, is paid twice.
    IntentOnlyInDb,
    /// The rebuild of a lost database skips the log's confirmations: payouts
    /// long confirmed come back as open rows, so the database is no longer
    /// the projection of the log.
    RebuildSkipsConfirmations,
    /// The nonce bookkeeping stays the database's own (a counter moved by
    /// compare-and-set, and a row per nonce spent), and the log takes each
    /// intent's nonce on trust. Safe while the database lives; once it
    /// loses its disk, the rebuilt database's counter starts again from
    /// zero and nonces already spent on chain are spent again: those
    /// payouts can never land.
    NonceFromDbAfterWipe,
    /// A database that comes back on an empty disk numbers its commits from
    /// 1 again, as its first disk did. A commit's number is the version of
    /// every row it writes, so a version a replica read before the disk was
    /// lost can name a different row written after: the compare-and-set
    /// that fences every projection and claim write then passes on state it
    /// never saw.
    DbVersionsRestart,
    /// A ledger replica answers a status or balance request from its fold
    /// as it is, without waiting to reach the log position the client has
    /// seen: a lagging replica reports an accepted transfer unknown, a
    /// payout a stage behind what the client was told, or a balance from
    /// before transfers the client already saw.
    StaleStatusRead,
    /// The fold checks a payout address for its prefix alone, not for the
    /// digits after it: a transfer to a malformed address such as
    /// `user-12ab` is accepted, debited and paid to an address nobody
    /// holds.
    LaxAddressCheck,
    /// The worker submits a payout's transaction once and, in the same
    /// life, never again: a transaction the chain's mempool forgot, a
    /// reorg dropped or a lost submission never reached is not sent again,
    /// and the payout stays open for good (until the replica restarts).
    NoResubmit,
}

/// What a bug breaks: a promise (caught only by a safety checker), or
/// progress (caught by the liveness checker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BugClass {
    Safety,
    Liveness,
}

/// What must happen in a run for a bug to show. Without it the bug is
/// harmless, so a run without it, the bug planted, must pass: the control
/// that proves a catch came through the hazard and not a side effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Crashes: scheduled, random, or at crash points.
    Crashes,
    /// Records torn by a crash.
    TornWrites,
    /// Chain reorganizations.
    Reorgs,
    /// The database losing its disk, and the rebuild that follows.
    Wipes,
    /// A request id sent more than once: client retries and late resends,
    /// the timeouts and duplicated messages that cause them, and a client
    /// reusing an accepted id for another transfer (an invalid request).
    Retries,
    /// Any fault at all: the bug needs something to go wrong (a lost
    /// reply, a slow chain, a lapsed lease), and a faultless run shows
    /// nothing.
    Faults,
    /// Work done concurrently: two clients, two replicas, or payouts
    /// pending at once (faults make work overlap too, so the control of a
    /// concurrency bug has neither: one client, one replica, requests far
    /// apart, no fault).
    Concurrency,
    /// Clocks that are set off or run at the wrong rate.
    Clocks,
    /// Requests a correct system must refuse: the clients' planted flaws
    /// and forgeries (`invalid_fraction`).
    InvalidInput,
    /// Wallets speeding up a pending payment: the same payment signed
    /// again at its nonce with a higher fee (`fee_bumps`).
    FeeBumps,
    /// Nothing: the mistake shows in every run that takes its code path.
    Always,
}

impl Trigger {
    pub fn name(self) -> &'static str {
        match self {
            Trigger::Crashes => "crashes",
            Trigger::TornWrites => "torn writes",
            Trigger::Reorgs => "reorgs",
            Trigger::Wipes => "database wipes",
            Trigger::Retries => "retries",
            Trigger::Faults => "faults",
            Trigger::Concurrency => "concurrency",
            Trigger::Clocks => "clock faults",
            Trigger::InvalidInput => "invalid requests",
            Trigger::FeeBumps => "fee bumps",
            Trigger::Always => "none",
        }
    }
}

impl Bug {
    /// Every planted bug, in catalogue order.
    pub fn all() -> impl Iterator<Item = Bug> {
        Bug::iter()
    }

    /// The bug's stable name, used on the command line and in scenario files.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// Looks a bug up by its stable name.
    pub fn from_name(name: &str) -> Option<Bug> {
        name.parse().ok()
    }

    /// The hazard the bug plants, in one sentence.
    pub fn hazard(self) -> &'static str {
        match self {
            Bug::RaftAckBeforePersist => {
                "a log replica acknowledges an append or grants a vote before syncing it"
            }
            Bug::RaftForgetSessions => {
                "log recovery replays entries without rebuilding client sessions"
            }
            Bug::RaftCommitOldTerm => {
                "a new leader skips the term no-op and commits earlier-term entries by counting replicas"
            }
            Bug::RaftVoteIgnoresLog => {
                "a log replica grants its vote without checking the candidate's log is as up to date as its own"
            }
            Bug::ReadFromFollower => {
                "a log follower answers a key-value read from its own applied state"
            }
            Bug::LeaseReadIgnoresDrift => {
                "the log leader's read lease trusts its own clock with no margin for drift"
            }
            Bug::DbLostUpdate => {
                "bank transfers read-modify-write balances unconditionally under READ COMMITTED"
            }
            Bug::DbAckBeforeSync => "the database acknowledges a commit before syncing it",
            Bug::DbSkipChecksum => {
                "database recovery applies a torn record without checking its checksum"
            }
            Bug::DbTxnIdReuse => {
                "transaction ids restart after a crash; a duplicated old commit commits a new transaction"
            }
            Bug::DbMuteAfterRestart => {
                "after a restart the database commits but never acknowledges a commit"
            }
            Bug::StaleStatusRead => {
                "a ledger replica answers status and balance reads from a lagging fold as if it were current"
            }
            Bug::DbSerializableSkipsReads => {
                "SERIALIZABLE validates only the reads of rows a transaction writes: read and write skew"
            }
            Bug::ChainDoubleInclude => "a reorged transaction is re-included without a nonce check",
            Bug::ReorgLosesTransactions => {
                "a reorg forgets the transactions of the blocks it replaces instead of returning them to the mempool"
            }
            Bug::ChainSkipsSignature => {
                "the chain takes a transaction without verifying its signature"
            }
            Bug::ReplacementFeeInverted => {
                "the mempool refuses a replacement paying a higher fee and takes one paying less"
            }
            Bug::NoIdempotencyKey => {
                "the ledger's fold does not deduplicate request ids: a request appended twice is paid twice"
            }
            Bug::ApplierNotIdempotent => {
                "the applier trusts its own position and writes blindly: a batch is projected twice"
            }
            Bug::OutboxDualWrite => "the debit and the payout row commit in separate transactions",
            Bug::SubmitBeforeIntent => {
                "the worker submits a payout before the log has taken its intent"
            }
            Bug::ResubmitNewNonce => {
                "a payout that seems gone is signed again with a new nonce and sent at once"
            }
            Bug::NonceTooLowIsSuccess => "\"nonce too low\" is taken as proof of payout",
            Bug::ConfirmAtDepth0 => "payouts are confirmed as soon as they are included",
            Bug::LeaseNoFencing => {
                "the worker trusts its lease and sends its intent's transaction before the log takes it"
            }
            Bug::NonceReadModifyWrite => {
                "the log takes an intent's nonce without checking it is the next one"
            }
            Bug::IntentOnlyInDb => {
                "a payout's intent is recorded only in the database, never in the log"
            }
            Bug::RebuildSkipsConfirmations => {
                "the rebuild of a lost database skips the log's confirmations"
            }
            Bug::NonceFromDbAfterWipe => {
                "nonces come from the database's counter, which a wipe resets, and the log trusts them"
            }
            Bug::DbVersionsRestart => {
                "a database back on an empty disk numbers its commits from 1 again: old versions match new rows"
            }
            Bug::LaxAddressCheck => {
                "the fold checks a payout address's prefix alone: a malformed address is paid"
            }
            Bug::NoResubmit => {
                "a payout's transaction is submitted once per life: one the chain lost is never sent again"
            }
        }
    }

    /// Whether the bug breaks a promise or stops progress.
    pub fn class(self) -> BugClass {
        match self {
            Bug::NoResubmit | Bug::DbMuteAfterRestart => BugClass::Liveness,
            _ => BugClass::Safety,
        }
    }

    /// The checkers expected to catch it, each of its class; the first is
    /// the primary one.
    pub fn expected_checkers(self) -> &'static [Checker] {
        match self {
            Bug::RaftAckBeforePersist => &[Checker::RaftSafety, Checker::Durability],
            Bug::RaftForgetSessions => &[Checker::ExactlyOnce],
            Bug::RaftCommitOldTerm | Bug::RaftVoteIgnoresLog => {
                &[Checker::RaftSafety, Checker::Durability]
            }
            Bug::DbLostUpdate => &[Checker::Conservation],
            Bug::DbAckBeforeSync => &[Checker::Durability],
            Bug::DbSkipChecksum => &[Checker::Durability, Checker::Conservation],
            Bug::DbTxnIdReuse => &[Checker::Conservation, Checker::Durability],
            Bug::DbMuteAfterRestart => &[Checker::Liveness],
            Bug::DbSerializableSkipsReads => &[Checker::Isolation],
            Bug::ReadFromFollower | Bug::LeaseReadIgnoresDrift => &[Checker::Linearizable],
            Bug::StaleStatusRead => &[Checker::ExactlyOnce, Checker::Conservation],
            Bug::ChainDoubleInclude => &[Checker::ChainSafety, Checker::ExactlyOnce],
            Bug::ReorgLosesTransactions => &[Checker::ChainSafety],
            Bug::ChainSkipsSignature => &[Checker::ChainSafety, Checker::ExactlyOnce],
            Bug::ReplacementFeeInverted => &[Checker::ChainSafety],
            Bug::NoIdempotencyKey => &[Checker::ExactlyOnce, Checker::Conservation],
            Bug::ApplierNotIdempotent => &[Checker::Conservation, Checker::ExactlyOnce],
            Bug::OutboxDualWrite => &[Checker::AtLeastOnce, Checker::Projection],
            Bug::SubmitBeforeIntent => &[Checker::ExactlyOnce, Checker::NonceHygiene],
            Bug::ResubmitNewNonce => &[Checker::ExactlyOnce, Checker::NonceHygiene],
            Bug::NonceTooLowIsSuccess => &[Checker::LedgerChain, Checker::ExactlyOnce],
            Bug::ConfirmAtDepth0 => &[Checker::LedgerChain, Checker::ExactlyOnce],
            Bug::LeaseNoFencing => &[Checker::ExactlyOnce, Checker::NonceHygiene],
            Bug::NonceReadModifyWrite => &[
                Checker::NonceHygiene,
                Checker::AtLeastOnce,
                Checker::Projection,
            ],
            Bug::IntentOnlyInDb => &[Checker::ExactlyOnce, Checker::NonceHygiene],
            Bug::RebuildSkipsConfirmations | Bug::DbVersionsRestart => &[Checker::Projection],
            Bug::NonceFromDbAfterWipe => &[Checker::AtLeastOnce, Checker::NonceHygiene],
            Bug::LaxAddressCheck => &[Checker::BadInput, Checker::ExactlyOnce],
            Bug::NoResubmit => &[Checker::Liveness],
        }
    }

    /// What a run needs for the bug to show.
    pub fn trigger(self) -> Trigger {
        match self {
            Bug::RaftAckBeforePersist
            | Bug::RaftForgetSessions
            | Bug::DbAckBeforeSync
            | Bug::DbTxnIdReuse
            | Bug::DbMuteAfterRestart => Trigger::Crashes,
            Bug::DbSkipChecksum => Trigger::TornWrites,
            Bug::ChainDoubleInclude | Bug::ReorgLosesTransactions => Trigger::Reorgs,
            Bug::ChainSkipsSignature | Bug::LaxAddressCheck => Trigger::InvalidInput,
            Bug::ReplacementFeeInverted => Trigger::FeeBumps,
            Bug::NoIdempotencyKey => Trigger::Retries,
            Bug::RaftCommitOldTerm
            | Bug::RaftVoteIgnoresLog
            | Bug::OutboxDualWrite
            | Bug::ResubmitNewNonce
            | Bug::NonceTooLowIsSuccess
            | Bug::NoResubmit => Trigger::Faults,
            Bug::DbLostUpdate
            | Bug::DbSerializableSkipsReads
            | Bug::ApplierNotIdempotent
            | Bug::SubmitBeforeIntent
            | Bug::LeaseNoFencing
            | Bug::NonceReadModifyWrite
            | Bug::StaleStatusRead
            | Bug::ReadFromFollower => Trigger::Concurrency,
            Bug::IntentOnlyInDb
            | Bug::RebuildSkipsConfirmations
            | Bug::NonceFromDbAfterWipe
            | Bug::DbVersionsRestart => Trigger::Wipes,
            Bug::ConfirmAtDepth0 => Trigger::Always,
            Bug::LeaseReadIgnoresDrift => Trigger::Clocks,
        }
    }

    /// The workload kind whose generated scenarios exercise this bug.
    pub fn workload(self) -> &'static str {
        match self {
            Bug::RaftAckBeforePersist
            | Bug::RaftForgetSessions
            | Bug::RaftCommitOldTerm
            | Bug::RaftVoteIgnoresLog
            | Bug::ReadFromFollower
            | Bug::LeaseReadIgnoresDrift => "log",
            Bug::DbLostUpdate
            | Bug::DbAckBeforeSync
            | Bug::DbSkipChecksum
            | Bug::DbTxnIdReuse
            | Bug::DbMuteAfterRestart
            | Bug::DbSerializableSkipsReads => "bank",
            Bug::ChainDoubleInclude
            | Bug::ReorgLosesTransactions
            | Bug::ChainSkipsSignature
            | Bug::ReplacementFeeInverted => "chain",
            Bug::NoIdempotencyKey
            | Bug::ApplierNotIdempotent
            | Bug::OutboxDualWrite
            | Bug::SubmitBeforeIntent
            | Bug::ResubmitNewNonce
            | Bug::NonceTooLowIsSuccess
            | Bug::ConfirmAtDepth0
            | Bug::LeaseNoFencing
            | Bug::NonceReadModifyWrite
            | Bug::IntentOnlyInDb
            | Bug::RebuildSkipsConfirmations
            | Bug::NonceFromDbAfterWipe
            | Bug::DbVersionsRestart
            | Bug::StaleStatusRead
            | Bug::LaxAddressCheck
            | Bug::NoResubmit => "transfers",
        }
    }
}

impl fmt::Display for Bug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// A set of enabled planted bugs, cheap to copy and to test.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bugs(u64);

impl Bugs {
    /// No planted bug: the system as it should be.
    pub const NONE: Bugs = Bugs(0);

    /// The set holding exactly `bugs`.
    pub fn of(bugs: impl IntoIterator<Item = Bug>) -> Bugs {
        bugs.into_iter()
            .fold(Bugs::NONE, |set, bug| Bugs(set.0 | Self::bit(bug)))
    }

    /// Whether `bug` is enabled.
    pub fn has(self, bug: Bug) -> bool {
        self.0 & Self::bit(bug) != 0
    }

    /// The enabled bugs, in catalogue order.
    pub fn iter(self) -> impl Iterator<Item = Bug> {
        Bug::iter().filter(move |bug| self.has(*bug))
    }

    fn bit(bug: Bug) -> u64 {
        1 << (bug as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for bug in Bug::all() {
            assert_eq!(Bug::from_name(bug.name()), Some(bug));
        }
        let mut names: Vec<_> = Bug::all().map(Bug::name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Bug::all().count());
        assert_eq!(Bug::NoIdempotencyKey.name(), "no-idempotency-key");
        assert_eq!(Bug::ConfirmAtDepth0.name(), "confirm-at-depth-0");
        assert_eq!(Checker::AtLeastOnce.name(), "at-least-once");
        assert_eq!(Bug::from_name("no-such-bug"), None);
    }

    /// Summaries write checkers through serde, reports through their names:
    /// one spelling for both.
    #[test]
    fn a_checker_serializes_as_its_name() {
        for checker in Checker::all() {
            let json = serde_json::to_string(&checker).expect("a checker serializes");
            assert_eq!(json, format!("\"{}\"", checker.name()));
        }
    }

    #[test]
    fn a_set_holds_exactly_what_it_was_given() {
        let set = Bugs::of([Bug::RaftCommitOldTerm]);
        assert!(set.has(Bug::RaftCommitOldTerm));
        assert!(!set.has(Bug::RaftForgetSessions));
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![Bug::RaftCommitOldTerm]);
        assert!(Bug::all().all(|bug| !Bugs::NONE.has(bug)));
    }
}
