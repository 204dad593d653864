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
            | Event::Log(G::Applied { .. } | G::Refused { .. } | G::Voted { .. })
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
    // ----- the log -------------------------------------------------------
    /// A log leader stepped down while clients' appends waited on it.
    LeaderChangeDuringAppend,
    /// A log follower cut off entries that conflicted with its leader's.
    ConflictingEntriesTruncated,
    /// A log follower replaced an entry with its leader's entry of an
    /// earlier term at the same index: the shape of the Raft paper's figure
    /// 8, in which an entry of a later term is lost and an older one, never
    /// committed in its own term, takes its place.
    LaterTermEntryReplacedByEarlier,
    /// The log leader answered a retried append from its client's session,
    /// without appending it again.
    RetryAnsweredFromSession,
    /// A log replica refused its vote to a candidate of its own term whose
    /// log was less up to date than its own: ending in an older term, or in
    /// the same term but shorter.
    VoteRefusedStaleLog,
    /// A log replica refused its vote to an up-to-date candidate of its own
    /// term because it had already voted for another candidate in that term.
    VoteRefusedAlreadyVoted,
    /// A log replica with read leases on refused a candidate's vote request
    /// because it had heard from a leader within the shortest election
    /// timeout: the leader's lease may still hold.
    VoteRefusedLeaderRecent,
    /// A log leader served a key-value read on its lease, without asking a
    /// majority whether it still leads.
    ReadServedOnLease,
    /// A log leader with read leases on took a key-value read after its
    /// lease had lapsed (no majority answered recently enough), and
    /// confirmed its leadership for it instead.
    ReadLeaseLapsed,
    /// A log leader took a key-value read after its lease, counted with the
    /// margin for clock drift, had lapsed, but within the lease as its own
    /// clock alone would count it: the window in which a leader trusting its
    /// clock would still serve reads, while another may already lead.
    LeaseReadInDriftMargin,
    /// A log replica voted for a candidate whose log is shorter than its own
    /// but ends in a later term: should the candidate win, the voter's extra
    /// entries are cut.
    VoteGrantedToShorterLog,
    /// A log candidate's election timed out with no leader heard of, and it
    /// stood again in a new term: a split vote, or its requests were lost.
    ElectionRetried,
    /// A log candidate learned that another replica had won the election of
    /// its own term, from that leader's append, and became its follower.
    CandidateLostToLeader,
    /// A log candidate saw a newer term than its own (in a vote request, a
    /// vote reply or an append) and gave up its election.
    CandidateSawNewerTerm,
    /// A log leader was deposed by a candidate's vote request of a newer
    /// term: a replica that lost touch with it (or came back from a
    /// partition) stood for election.
    LeaderDeposedByCandidate,
    /// A log leader learned of a newer term from a follower's answer to its
    /// append, and stepped down.
    LeaderDeposedByAppendReply,
    /// A replica that still believed itself the log leader received an
    /// append from the leader of a newer term: two leaders of different
    /// terms had been alive at once.
    LeaderDeposedByNewerLeader,
    /// A log follower refused an append from a leader of an older term than
    /// its own: a deposed leader still sending, or a delayed message.
    StaleLeaderAppendRefused,
    /// A log follower refused an append whose previous index lies past the
    /// end of its log: it had missed entries.
    AppendRefusedMissingEntries,
    /// A log follower refused an append because the entry it holds at the
    /// append's previous index is of another term than the leader's: the
    /// two logs diverge there.
    AppendRefusedTermMismatch,
    /// A log leader moved a follower's next index back after the follower
    /// refused an append for an inconsistent or short log.
    NextIndexBackedOff,
    /// A log follower received an append whose entries it held already,
    /// every one: a duplicated, retried or overtaken append, acknowledged
    /// without rewriting its log.
    AppendEntriesAlreadyHeld,
    /// A log follower told of a leader commit index past the last entry the
    /// append vouched for, while its own log held further entries, committed
    /// only up to the append's last entry and not its unverified tail.
    FollowerCommitCappedAtAppend,
    /// A log follower advanced its commit index on an append carrying no
    /// entries: a heartbeat.
    CommitLearnedFromHeartbeat,
    /// A log follower was told to replace an entry it knew committed. Only
    /// a broken leader asks this.
    CommittedEntryOverwritten,
    /// A log leader committed entries of earlier terms, beneath an entry of
    /// its own term that a majority held (Raft figure 8).
    EarlierTermEntriesCommitted,
    /// A log leader found an entry of an earlier term held by a majority and
    /// did not commit it on that count, as no entry of its own term above it
    /// was held by a majority yet (Raft figure 8).
    EarlierTermMajorityNotCounted,
    /// A client's append reached a log replica that is not the leader, and
    /// was redirected to the leader it knows, if any.
    ClientAppendToNonLeader,
    /// A client's retried append reached the log leader while the command
    /// was in its log, not yet applied: the retry waits for that entry
    /// instead of appending the command again.
    RetryJoinedPendingEntry,
    /// A log leader refused a client's append because too many of its
    /// entries were uncommitted: no majority had acknowledged them.
    LeaderBusyUncommitted,
    /// A client's append reached the log leader after the client's session
    /// had moved past it (a very late copy), and was answered stale.
    StaleClientAppend,
    /// A second copy of a command committed, after the first: its session
    /// skipped it and told its waiters the first one's index. A leader's
    /// checks keep a command from being appended twice; only a leader that
    /// lost its sessions appends one again.
    DuplicateCommandSkipped,
    /// A command committed after a later command of its session had been
    /// applied (a late copy of one its client gave up on, reordered behind
    /// its successor), and was skipped as stale.
    StaleCommandSkipped,
    /// A log replica's recovery found its write-ahead log ending in a torn
    /// or unreadable record, and cut it off.
    LogTornTailCut,
    /// A log replica recovered the vote it had cast in its current term (for
    /// itself as candidate, or for another): it may not vote again in it.
    RecoveredWithVote,
    // (end of the log's marks)

    // ----- the database --------------------------------------------------
    /// A SERIALIZABLE commit was refused because a row it read had been
    /// written, inserted or deleted by another commit since.
    SerializableReadChanged,
    /// A SERIALIZABLE commit was refused because a range it scanned held
    /// other rows at commit: a phantom appeared, or a row changed or left.
    SerializableScanChanged,
    /// A SERIALIZABLE commit was refused because a row it read by key had
    /// been deleted since.
    SerializableReadDeleted,
    /// A SERIALIZABLE commit was refused because a row a scan of it
    /// returned had been deleted since.
    SerializableScanRowDeleted,
    /// A compare-and-set found its row at another version at commit (or
    /// gone) than it expected: another commit wrote it after it was read.
    CompareAndSetVersionMismatch,
    /// A compare-and-set expected a row version written on a disk the
    /// database has since lost: the version must match nothing written now.
    CompareAndSetVersionFromLostDisk,
    /// An insert-unique found its key present at commit: another commit,
    /// perhaps an earlier attempt of the same request, inserted it first.
    UniqueInsertConflict,
    /// A READ COMMITTED transaction committed a plain write over a row that
    /// another commit changed after it read it: a lost update, which that
    /// level allows.
    ReadCommittedLostUpdate,
    /// A transaction read a row that another open transaction had written
    /// but not committed, and saw its committed version.
    ReadAroundUncommittedWrite,
    /// A scan's range held more rows, as its transaction sees them, than its
    /// limit: it returned the first ones.
    ScanHitLimit,
    /// The database refused to begin a transaction: the most it keeps open
    /// were open.
    TooManyOpenTransactions,
    /// The database aborted a transaction left idle past its timeout.
    IdleTransactionExpired,
    /// A commit arrived for a transaction the database had aborted as idle:
    /// its client, slow or cut off, came back too late.
    CommitOfExpiredTransaction,
    /// A commit arrived for a transaction of this incarnation that had
    /// already ended (committed, rolled back or failed): a duplicated or
    /// retried commit, refused as unknown.
    CommitOfFinishedTransaction,
    /// A commit arrived for a transaction begun in an earlier incarnation of
    /// the database, lost in its crash or with its disk, and was refused.
    CommitFromEarlierIncarnation,
    /// Such a commit arrived while this incarnation had a transaction open
    /// under the same counter: transaction ids that did not name their
    /// incarnation would have let the old commit finish the new transaction.
    EarlierIncarnationCommitMatchesOpenCounter,
    /// The database's recovery found its write-ahead log ending in a torn
    /// or unreadable record, and cut it off.
    DbTornTailCut,
    /// The database restarted to find no commit on its disk (the disk was
    /// lost, or nothing was synced before the crash): it numbers its commits
    /// past every earlier disk's.
    RestartedOnEmptyDisk,
    // (end of the database's marks)

    // ----- the chain -----------------------------------------------------
    /// The chain refused a transaction it had already included, as "nonce
    /// too low": the submitter learns only from a receipt that its
    /// transaction landed, and not that another spent its nonce.
    SubmitOfIncludedTransaction,
    /// The chain refused a transaction as "nonce too low" because another
    /// transaction of the same sender had spent that nonce: two
    /// transactions were signed for one nonce, and only one can land.
    NonceSpentByOtherTransaction,
    /// A transaction reached the chain's mempool while another transaction
    /// of the same sender and nonce was pending there: one replaced the
    /// other, or was refused as underpriced.
    NonceContestedInMempool,
    /// The chain took a transaction into its mempool whose nonce is beyond
    /// its sender's next, with the nonce right before it neither spent nor
    /// pending: it cannot be included until that gap is filled.
    NonceGapInMempool,
    /// The chain made a block with no transaction while its mempool held
    /// some: every pending transaction waited behind a nonce gap.
    BlockStalledOnNonceGap,
    /// An RPC node asked the chain for the blocks after a tip a reorg had
    /// replaced: it is resent blocks from before the fork.
    FollowerOnReplacedFork,
    /// An RPC node answered a submission as accepted although the chain
    /// never answered it: the transaction is only in that node's mempool,
    /// which a crash of the node empties.
    RpcSubmitUnanswered,
    /// An RPC node's view replaced blocks it had been answering from with
    /// different ones: it caught up across a reorg.
    RpcViewReorged,
    /// An RPC node's view got shorter as it caught up across a reorg: for a
    /// while it answers from a chain shorter than the one it answered from
    /// before.
    RpcViewShrank,
    /// An RPC node's view lost a transaction it had answered as included: a
    /// reorg removed its block, and what replaced the block does not hold
    /// it.
    RpcReportedInclusionLost,
    /// An RPC node answered a receipt as unknown while the block including
    /// the transaction was already on its way to its view: a stale view
    /// denied a transaction the chain holds.
    RpcReceiptUnknownWhileArriving,
    /// The chain refused a transaction an RPC node rebroadcast from its
    /// mempool, and the node forgot it: most often one the chain had
    /// included before the node's view showed it.
    RpcRebroadcastRefused,
    // (end of the chain's marks)

    // ----- the ledger ----------------------------------------------------
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
    /// A ledger replica found the database without entries it had seen
    /// projected, while payouts were open and none of them signed yet.
    WipeWithOnlyUnsignedPayouts,
    /// The database lost its disk again while a replica was rebuilding it.
    WipeDuringRebuild,
    /// A rebuilding replica's projection lost a race with another replica
    /// writing the same position.
    RebuildRaced,
    /// A transfer request too malformed to be keyed or recorded (an empty
    /// or oversized request id, an oversized field) was refused without
    /// reaching the log.
    TransferRefusedAtTheDoor,
    /// A transfer request whose request id the replica's fold already held
    /// was answered from the fold without being appended again: a client's
    /// retry or late resend, or a reuse of the id (answered as a conflict).
    TransferRetryAnsweredFromFold,
    /// A transfer request was not decided within the request timeout and
    /// was answered unavailable: its append may still land, and its
    /// client retries.
    TransferUndecidedInTime,
    /// The log held a transfer request a second time with the same
    /// parameters (a retry or resend appended before the replica it reached
    /// had folded the first): the fold answered it from the first.
    DuplicateTransferInLog,
    /// The log held a request id a second time with other parameters: the
    /// fold kept the first and answers the second as a conflict.
    RequestIdReusedInLog,
    /// The fold rejected a transfer whose account, after what the log
    /// ordered before it, holds less than its amount.
    OverdrawRejected,
    /// The log held a second, different intent for a payout that already
    /// had one (two replicas proposed for it, or one proposed again with
    /// another nonce): the later intent was refused.
    IntentForPayoutWithIntent,
    /// The log held the same intent twice for a payout (proposed again
    /// after its outcome was unknown): the second changed nothing.
    IntentRepeatedInLog,
    /// The log held an intent whose nonce was not the log's next one:
    /// another payout's intent had taken that nonce first, and this one
    /// was refused.
    IntentNonceOutOfOrder,
    /// The log held a second confirmation of a payout already confirmed
    /// (another replica, or a retry, confirmed it too): the first counts.
    ConfirmedTwiceInLog,
    /// A command reached the log after whoever appended it had stopped
    /// waiting (a request timed out, a worker gave up on an intent or a
    /// confirmation): the log holds it all the same.
    CommittedAfterCallerGaveUp,
    /// A status read named a log position the replica's fold had not
    /// reached yet, and waited for the fold to catch up.
    StatusWaitedForFold,
    /// A status read was answered unavailable: the replica's fold did not
    /// reach the position the client had seen in time.
    StatusUnavailable,
    /// A worker's proposal of a payout's intent ended with its outcome
    /// unknown: the log may still take it, and the next pass reads the
    /// fold.
    IntentOutcomeUnknown,
    /// A worker's intent whose outcome had been unknown turned up in its
    /// fold as the payout's intent: the log took it after all.
    UnknownIntentFoundTaken,
    /// A worker's intent whose outcome had been unknown lost: its fold
    /// shows another transaction as the payout's intent.
    UnknownIntentFoundLost,
    /// A replica took over a payout from another replica before the log
    /// held any intent for it: the previous holder may have one on its
    /// way, and both may propose.
    TakeoverBeforeIntent,
    /// A replica took over a payout from another replica after the log had
    /// taken its intent, before it was confirmed: the new holder follows
    /// the previous holder's transaction.
    TakeoverOfSignedPayout,
    /// A restarted replica took back a payout its earlier life still held
    /// an unexpired lease on.
    ClaimOfEarlierLifeTaken,
    /// A replica renewed its own claim on a payout after the claim had
    /// lapsed on its own clock: another replica may have taken it
    /// meanwhile, and only the row's version decides.
    LapsedClaimRenewed,
    /// A payout's transaction the chain had shown a worker as included was
    /// no longer shown: reorged out, possibly dropped, or asked of an RPC
    /// node further behind. The worker goes back to resubmitting it.
    IncludedTransactionVanished,
    /// A replica holding a payout's lease found the payout already
    /// confirmed in the log, though it had not confirmed it in this life:
    /// another replica, or its own earlier life, worked the payout too.
    ConfirmedByAnotherWorker,
    /// A worker whose reads of the outbox had stopped reaching the
    /// database reached it again.
    OutboxReachableAgain,
    /// A projection batch found the recorded position moved between its
    /// reads (another replica projected, or the database lost its disk):
    /// the batch was stale and was dropped.
    ProjectionBatchStale,
    /// The projection's re-read after a batch whose commit ended unknown
    /// found the position at or past the batch's end: the batch landed (or
    /// another replica's batch of the same entries did).
    UnknownCommitFoundApplied,
    /// The projection's re-read after a batch whose commit ended unknown
    /// found the position short of the batch's end: it did not land (or a
    /// wipe took it), and the entries are projected again.
    UnknownCommitFoundNotApplied,
    /// The rebuild of a wiped database could not read the committed log
    /// it had to fold again: the database stays without the lost entries
    /// until a later round.
    RebuildLogUnreadable,
    /// A replica projected entries that other replicas appended, their
    /// appenders having left them unprojected past the grace: an appender
    /// died, or is cut off from the database.
    StandbyProjected,
    /// A replica claimed a payout nobody had claimed, another replica being
    /// first in line for it and having left it unclaimed past the grace.
    UnclaimedPayoutTakenByStandby,
    /// A pass of the outbox worker had as many receipts due as one request
    /// may ask for, and asked for exactly that many: the RPC node's bound
    /// at its edge.
    ReceiptsAskedAtBatchLimit,
    // (end of the ledger's marks)
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
