//! The clients' history: every request, its attempts and what came of it.

use ledger::{
    chain::TxHash,
    db::Key,
    ledger::{TransferId, TransferRequest},
};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::consistency::{
    isolation::{Status, Txn},
    linearizable::{KvOp, KvOutput, Operation},
};

/// What a client asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Append a command of `bytes` bytes to the log.
    Append { bytes: usize },
    /// Move `amount` from account `from` to account `to`; `None` moves
    /// whatever `from` holds when the transaction reads it.
    Transfer {
        from: i64,
        to: i64,
        amount: Option<u64>,
    },
    /// Pay `amount` on the chain to client `to`'s account.
    Payment { to: u64, amount: u64 },
    /// Ask the ledger for a payout; `bad` names the flaw planted in it.
    Payout {
        request: TransferRequest,
        bad: Option<BadInput>,
    },
}

/// A flaw planted in a request, and the rejection it must get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BadInput {
    ZeroAmount,
    OverflowingAmount,
    UnknownAccount,
    MalformedAddress,
    EmptyRequestId,
    OversizedRequestId,
    /// An account name or payout address one byte or more over the limit.
    OversizedField,
    Overdraw,
    /// An earlier request id of the client, with other parameters.
    ReusedRequestId,
}

impl BadInput {
    /// The flaws a client draws from; an oversized field is had from the
    /// draw of an oversized request id (see the transfers client).
    pub const DRAWN: [BadInput; 8] = [
        BadInput::ZeroAmount,
        BadInput::OverflowingAmount,
        BadInput::UnknownAccount,
        BadInput::MalformedAddress,
        BadInput::EmptyRequestId,
        BadInput::OversizedRequestId,
        BadInput::Overdraw,
        BadInput::ReusedRequestId,
    ];

    /// The kind of rejection the service must answer with.
    pub fn expected_rejection(self) -> &'static str {
        match self {
            BadInput::ZeroAmount => "zero-amount",
            BadInput::OverflowingAmount => "amount-too-large",
            BadInput::UnknownAccount => "unknown-account",
            BadInput::MalformedAddress => "malformed-address",
            BadInput::EmptyRequestId => "empty-request-id",
            BadInput::OversizedRequestId => "request-id-too-long",
            BadInput::OversizedField => "field-too-long",
            BadInput::Overdraw => "overdraw",
            BadInput::ReusedRequestId => "conflict",
        }
    }
}

/// What the system handed back for an acknowledged request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receipt {
    /// Applied at this log index.
    LogIndex(u64),
    /// Committed as this commit (`None` when the client learned it by
    /// reading back the transfer's row after an unknown commit).
    Commit(Option<u64>),
    /// Confirmed on the chain as this transaction, included at this height.
    Tx { hash: TxHash, height: u64 },
    /// Accepted by the ledger as this transfer.
    Transfer(TransferId),
}

/// What a client was finally told about one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Still waiting for an answer.
    Pending,
    Acknowledged {
        receipt: Receipt,
        at: Duration,
    },
    Rejected {
        reason: String,
        /// The rejection's stable kind, when the system gave one.
        kind: Option<String>,
    },
    /// Out of retries: done or not, nobody knows.
    GaveUp,
}

/// The answer to a resend of a request already answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Later {
    pub at: Duration,
    pub outcome: Outcome,
}

impl Later {
    /// The receipt of the late answer, when it acknowledged the request.
    pub fn outcome_receipt(&self) -> Option<Receipt> {
        match self.outcome {
            Outcome::Acknowledged { receipt, .. } => Some(receipt),
            _ => None,
        }
    }
}

/// What a status request said of an accepted payout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusSeen {
    NotFound,
    Rejected {
        kind: String,
    },
    Pending,
    Submitted {
        tx: TxHash,
    },
    /// `depth`: how deep the ledger said the block stood.
    Confirmed {
        tx: TxHash,
        height: u64,
        depth: u64,
    },
}

impl StatusSeen {
    /// How far along a payout the status is: a client's statuses of one
    /// payout never go down.
    pub fn progress(&self) -> u8 {
        match self {
            StatusSeen::NotFound => 0,
            StatusSeen::Rejected { .. } | StatusSeen::Pending => 1,
            StatusSeen::Submitted { .. } => 2,
            StatusSeen::Confirmed { .. } => 3,
        }
    }
}

impl std::fmt::Display for StatusSeen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StatusSeen::NotFound => f.write_str("not found"),
            StatusSeen::Rejected { kind } => write!(f, "rejected ({kind})"),
            StatusSeen::Pending => f.write_str("pending"),
            StatusSeen::Submitted { tx } => write!(f, "submitted as {tx}"),
            StatusSeen::Confirmed { tx, height, .. } => {
                write!(f, "confirmed as {tx} in block {height}")
            }
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Pending => f.write_str("no answer"),
            Outcome::Acknowledged { receipt, .. } => match receipt {
                Receipt::LogIndex(index) => write!(f, "appended at index {index}"),
                Receipt::Commit(Some(commit)) => write!(f, "committed as commit {commit}"),
                Receipt::Commit(None) => f.write_str("found committed"),
                Receipt::Tx { hash, height } => {
                    write!(f, "confirmed as {hash} in block {height}")
                }
                Receipt::Transfer(transfer) => write!(f, "accepted as {transfer}"),
            },
            Outcome::Rejected { reason, .. } => write!(f, "rejected: {reason}"),
            Outcome::GaveUp => f.write_str("given up"),
        }
    }
}

/// One request of one client.
#[derive(Debug, Clone)]
pub struct Op {
    pub client: u64,
    pub seq: u64,
    pub request: Request,
    pub sent_at: Duration,
    pub attempts: u32,
    pub outcome: Outcome,
    /// What a status request first told of an accepted payout's
    /// confirmation: its transaction and block.
    pub confirmed: Option<(TxHash, u64)>,
    /// Answers to resends of the request after it was answered, in order.
    pub later: Vec<Later>,
    /// Every status a status request reported for it, in order.
    pub statuses: Vec<StatusTold>,
}

/// One status a replica told a client, and the log position it answered
/// from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusTold {
    pub at: Duration,
    pub status: StatusSeen,
    /// How far the answering replica's fold of the log had reached.
    pub as_of: u64,
    /// The position the client asked it to be at least at.
    pub seen: u64,
}

/// Requests by what their clients were told.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RequestCounts {
    pub sent: u64,
    pub acknowledged: u64,
    pub rejected: u64,
    /// Given up, or unanswered at the end: either outcome is allowed.
    pub unknown: u64,
}

/// One database transaction a client ran, as the isolation checker reads
/// it, with words for people.
#[derive(Debug, Clone)]
pub struct TxnRecord {
    pub txn: Txn,
    /// Which client ran it, and for what.
    pub label: String,
}

/// A balance a ledger replica reported to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceSeen {
    pub client: u64,
    pub account: String,
    /// The balance told; `None` when the replica said it has no such
    /// account.
    pub amount: Option<u64>,
    /// The log position the replica read it at.
    pub as_of: u64,
    /// The position the client asked it to be at least at.
    pub seen: u64,
    pub at: Duration,
}

/// A request inside an open database transaction that the database
/// answered as for a transaction it does not know: it expired the
/// transaction as idle, or lost it in a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnForgotten {
    /// Which client's transaction, and for what.
    pub label: String,
    /// What the client asked in it.
    pub request: &'static str,
    pub txn: String,
    /// When the client sent the transaction's request before this one (or
    /// its begin): the database last saw the transaction active no earlier.
    pub active_since: Duration,
    /// When the answer came back: the database had forgotten the
    /// transaction by then.
    pub answered_at: Duration,
}

/// A database transaction a client began: the id the database gave it,
/// and whether the client ever asked to commit it. A database commits a
/// transaction only when asked to; the id says which one it committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnBegun {
    /// Which client's transaction, and for what.
    pub label: String,
    /// The id the database gave it (`TxnId`'s bits).
    pub txn: u64,
    /// When the client had the id: the begin's answer came back.
    pub begun_at: Duration,
    /// When the client sent its commit, if it did.
    pub commit_asked_at: Option<Duration>,
    /// The rows it asked to write (put, insert, compare-and-set or
    /// delete), each as `(table, key)`, recorded as the request goes out:
    /// one whose answer was lost may still have been written.
    pub wrote: Vec<(String, Key)>,
    /// The row a refusal of its commit blamed, if the database refused it
    /// for a change since the transaction read something.
    pub refused: Option<Refusal>,
    /// Whether its client left it with no answer to its commit or
    /// rollback: the database may still hold it, until it has been idle
    /// for the database's timeout.
    pub left_open: bool,
}

/// A transaction a client left open, asked about (rolled back by its id)
/// once the run had been quiet for longer than the database may keep an
/// idle transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdleProbe {
    /// Which client's transaction, and for what.
    pub label: String,
    pub txn: u64,
    /// When the database had handled every request of the transaction at
    /// the latest: the answer to a request sent after all of them had
    /// landed, which it handled after them.
    pub quiet_since: Duration,
    /// When the probe was sent.
    pub sent_at: Duration,
    /// What the database answered.
    pub answer: ProbeAnswer,
}

/// The database's answer to a probe of a transaction left open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeAnswer {
    /// It still held the transaction (and rolled it back).
    Held,
    /// It knew no such transaction.
    Gone,
    /// No answer came.
    Unanswered,
}

/// A commit the database refused because a row changed since the
/// transaction read it: a serialization failure (a row read, or where a
/// scan would now come out differently) or a compare-and-set's version
/// mismatch. The row it named, and when the client heard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The refusal in words: `as not serializable`, `for a version
    /// mismatch`.
    pub why: &'static str,
    pub table: String,
    pub key: Key,
    pub at: Duration,
}

/// A key-value operation on the log as its client saw it, times in
/// simulated microseconds.
pub type KvRecord = Operation<KvOp, KvOutput>;

/// A bank client's write once the faults have stopped: a transaction that
/// commits one row, retried until its commit is acknowledged. Clients
/// resolve the outcome of every other commit by reading what it wrote, so
/// without it a database that never answered a commit would pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettleWrite {
    pub client: u64,
    /// Attempts that have ended, acknowledged or not.
    pub attempts: u32,
    /// Why the latest attempt that failed did.
    pub last_failure: Option<String>,
    /// The commit acknowledged, once one is.
    pub acknowledged: Option<SettleCommit>,
}

/// The acknowledged commit of a write since the faults stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettleCommit {
    /// Its sequence number in the database's log of commits.
    pub seq: u64,
    /// When the client was told.
    pub at: Duration,
    /// Which attempt it was, from 1: the value it wrote names it.
    pub attempt: u32,
}

#[derive(Debug, Default, Clone)]
pub struct History {
    ops: Vec<Op>,
    txns: Vec<TxnRecord>,
    kv: Vec<KvRecord>,
    /// The sessions that read once more when the faults stop, each with
    /// that read's place in `kv` once it is made: each must be made and
    /// answered for the run to settle.
    settle_reads: Vec<(u64, Option<usize>)>,
    /// The bank clients that write once more when the faults stop, each
    /// with how that write has fared: each must be acknowledged for the
    /// run to settle.
    settle_writes: Vec<SettleWrite>,
    balances: Vec<BalanceSeen>,
    forgotten: Vec<TxnForgotten>,
    begun: Vec<TxnBegun>,
    idle_probes: Vec<IdleProbe>,
    /// What the acknowledged payouts took from each account, kept as
    /// outcomes are recorded so a client's estimate of a balance costs a
    /// look-up, not a pass over every request.
    accepted_totals: BTreeMap<String, u128>,
    /// The requests still unanswered, and the accepted transfers no status
    /// has reported confirmed, by handle: a settling run asks for them
    /// every few milliseconds, and a pass over every request each time
    /// costs the square of the requests.
    pending: BTreeSet<usize>,
    unconfirmed: BTreeSet<usize>,
}

impl History {
    /// Records a new request; returns its handle.
    pub(crate) fn start(&mut self, client: u64, seq: u64, request: Request, at: Duration) -> usize {
        self.ops.push(Op {
            client,
            seq,
            request,
            sent_at: at,
            attempts: 0,
            outcome: Outcome::Pending,
            confirmed: None,
            later: Vec::new(),
            statuses: Vec::new(),
        });
        let op = self.ops.len() - 1;
        self.reindex(op);
        op
    }

    /// Files `op` as pending, unconfirmed, or neither, as it now stands.
    fn reindex(&mut self, handle: usize) {
        let op = &self.ops[handle];
        let file = |set: &mut BTreeSet<usize>, member: bool| {
            if member {
                set.insert(handle);
            } else {
                set.remove(&handle);
            }
        };
        file(&mut self.pending, op.outcome == Outcome::Pending);
        let unconfirmed = matches!(
            (&op.outcome, op.confirmed),
            (
                Outcome::Acknowledged {
                    receipt: Receipt::Transfer(_),
                    ..
                },
                None
            )
        );
        file(&mut self.unconfirmed, unconfirmed);
    }

    pub(crate) fn attempted(&mut self, op: usize) {
        self.ops[op].attempts += 1;
    }

    pub(crate) fn finish(&mut self, handle: usize, outcome: Outcome) {
        let op = &mut self.ops[handle];
        if let Request::Payout { request, .. } = &op.request {
            let was = matches!(op.outcome, Outcome::Acknowledged { .. });
            let is = matches!(outcome, Outcome::Acknowledged { .. });
            if was != is {
                let total = self
                    .accepted_totals
                    .entry(request.account.clone())
                    .or_default();
                let amount = u128::from(request.amount);
                *total = if is { *total + amount } else { *total - amount };
            }
        }
        op.outcome = outcome;
        self.reindex(handle);
    }

    pub(crate) fn answered_later(&mut self, op: usize, later: Later) {
        self.ops[op].later.push(later);
    }

    pub(crate) fn told_status(&mut self, handle: usize, told: StatusTold) {
        let op = &mut self.ops[handle];
        let first_confirmation = match (op.confirmed, &told.status) {
            (None, StatusSeen::Confirmed { tx, height, .. }) => Some((*tx, *height)),
            _ => None,
        };
        op.statuses.push(told);
        // Most statuses change nothing the index files by.
        if first_confirmation.is_some() {
            op.confirmed = first_confirmation;
            self.reindex(handle);
        }
    }

    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    pub(crate) fn told_balance(&mut self, balance: BalanceSeen) {
        self.balances.push(balance);
    }

    /// The balances replicas reported, in the order clients were told.
    pub fn balances(&self) -> &[BalanceSeen] {
        &self.balances
    }

    pub(crate) fn txn_forgotten(&mut self, forgotten: TxnForgotten) {
        self.forgotten.push(forgotten);
    }

    /// The requests of open transactions the database did not know.
    pub fn forgotten(&self) -> &[TxnForgotten] {
        &self.forgotten
    }

    /// Records a database transaction a client began; returns its handle.
    pub(crate) fn txn_begun(&mut self, begun: TxnBegun) -> usize {
        self.begun.push(begun);
        self.begun.len() - 1
    }

    /// Records that the client of the transaction at `handle` sent its
    /// commit at `at` (the first time, should it send it again).
    pub(crate) fn txn_commit_asked(&mut self, handle: usize, at: Duration) {
        let asked = &mut self.begun[handle].commit_asked_at;
        asked.get_or_insert(at);
    }

    /// Records that the transaction at `handle` asked to write `key` of
    /// `table`.
    pub(crate) fn txn_wrote(&mut self, handle: usize, table: &str, key: &Key) {
        self.begun[handle]
            .wrote
            .push((table.to_owned(), key.clone()));
    }

    /// Records that the database refused the commit of the transaction at
    /// `handle` for a row changed since it was read.
    pub(crate) fn txn_refused(&mut self, handle: usize, refusal: Refusal) {
        self.begun[handle].refused = Some(refusal);
    }

    /// The database transactions clients began, in the order they had them.
    pub fn begun(&self) -> &[TxnBegun] {
        &self.begun
    }

    /// Records that the client of the transaction at `handle` left it
    /// without an answer to its commit or rollback.
    pub(crate) fn txn_left_open(&mut self, handle: usize) {
        self.begun[handle].left_open = true;
    }

    pub(crate) fn idle_probed(&mut self, probe: IdleProbe) {
        self.idle_probes.push(probe);
    }

    /// The transactions left open that were asked about once the run was
    /// quiet, with what the database answered.
    pub fn idle_probes(&self) -> &[IdleProbe] {
        &self.idle_probes
    }

    /// Records a database transaction; returns its handle.
    pub(crate) fn transacted(&mut self, record: TxnRecord) -> usize {
        self.txns.push(record);
        self.txns.len() - 1
    }

    pub(crate) fn txn_ended(&mut self, txn: usize, status: Status) {
        self.txns[txn].txn.status = status;
    }

    /// Records a key-value operation as it is called, unanswered until
    /// [`History::kv_returned`]: one still running when the run ends may
    /// have taken effect. Returns its handle.
    pub(crate) fn kv_called(&mut self, record: KvRecord) -> usize {
        self.kv.push(record);
        self.kv.len() - 1
    }

    /// Notes that `session` will read once more when the faults stop.
    pub(crate) fn expect_settle_read(&mut self, session: u64) {
        self.settle_reads.push((session, None));
    }

    /// Records the read a session makes once the faults have stopped;
    /// returns its handle, as [`History::kv_called`] does.
    pub(crate) fn kv_settle_read(&mut self, record: KvRecord) -> usize {
        let session = record.client;
        let op = self.kv_called(record);
        for (_, read) in self.settle_reads.iter_mut().filter(|(s, _)| *s == session) {
            *read = Some(op);
        }
        op
    }

    /// The sessions whose read since the faults stopped has not been
    /// answered, each with that read if it was made.
    pub fn unanswered_settle_reads(&self) -> impl Iterator<Item = (u64, Option<&KvRecord>)> {
        self.settle_reads
            .iter()
            .filter_map(|(session, read)| match read {
                None => Some((*session, None)),
                Some(op) => {
                    let record = &self.kv[*op];
                    record
                        .returned
                        .is_none()
                        .then_some((*session, Some(record)))
                }
            })
    }

    /// Notes that bank client `client` will write once more when the faults
    /// stop.
    pub(crate) fn expect_settle_write(&mut self, client: u64) {
        self.settle_writes.push(SettleWrite {
            client,
            attempts: 0,
            last_failure: None,
            acknowledged: None,
        });
    }

    /// Notes how one attempt at `client`'s write since the faults stopped
    /// ended: acknowledged with its commit's sequence number, or why not.
    pub(crate) fn settle_write_attempted(
        &mut self,
        client: u64,
        outcome: Result<u64, String>,
        at: Duration,
    ) {
        for write in self.settle_writes.iter_mut().filter(|w| w.client == client) {
            write.attempts += 1;
            match &outcome {
                Ok(seq) => {
                    write.acknowledged = Some(SettleCommit {
                        seq: *seq,
                        at,
                        attempt: write.attempts,
                    });
                }
                Err(why) => write.last_failure = Some(why.clone()),
            }
        }
    }

    /// The writes bank clients make once the faults have stopped.
    pub fn settle_writes(&self) -> &[SettleWrite] {
        &self.settle_writes
    }

    pub(crate) fn kv_returned(&mut self, op: usize, at: u64, output: KvOutput) {
        self.kv[op].returned = Some((at, output));
    }

    /// The key-value operations clients ran on the log, in the order they
    /// were called.
    pub fn kv(&self) -> &[KvRecord] {
        &self.kv
    }

    /// The database transactions clients ran, in the order they ended or
    /// sent their commit.
    pub fn txns(&self) -> &[TxnRecord] {
        &self.txns
    }

    /// The sum of the payouts from `account` the ledger accepted.
    pub fn accepted_total(&self, account: &str) -> u128 {
        self.accepted_totals.get(account).copied().unwrap_or(0)
    }

    /// Requests still waiting for an answer.
    pub fn pending(&self) -> impl Iterator<Item = &Op> {
        self.pending.iter().map(|handle| &self.ops[*handle])
    }

    /// Accepted transfers no status request has reported confirmed yet,
    /// each with the transfer its acceptance named.
    pub fn unconfirmed(&self) -> impl Iterator<Item = (&Op, TransferId)> {
        self.unconfirmed
            .iter()
            .filter_map(|handle| match &self.ops[*handle].outcome {
                Outcome::Acknowledged {
                    receipt: Receipt::Transfer(transfer),
                    ..
                } => Some((&self.ops[*handle], *transfer)),
                _ => None,
            })
    }

    pub fn counts(&self) -> RequestCounts {
        let mut counts = RequestCounts {
            sent: self.ops.len() as u64,
            ..RequestCounts::default()
        };
        for op in &self.ops {
            match op.outcome {
                Outcome::Acknowledged { .. } => counts.acknowledged += 1,
                Outcome::Rejected { .. } => counts.rejected += 1,
                Outcome::Pending | Outcome::GaveUp => counts.unknown += 1,
            }
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(session: u64, call: u64) -> KvRecord {
        Operation {
            client: session,
            call,
            returned: None,
            op: KvOp::Read { key: 7 },
        }
    }

    /// A session that is to read when the faults stop holds the run back
    /// until it has read and been answered; its earlier reads do not count.
    #[test]
    fn a_settle_write_counts_its_attempts_until_one_is_acknowledged() {
        let mut history = History::default();
        history.expect_settle_write(3);
        history.expect_settle_write(4);
        let at = Duration::from_millis;
        history.settle_write_attempted(3, Err("its commit failed".to_owned()), at(100));
        history.settle_write_attempted(3, Ok(9), at(250));
        let [third, fourth] = history.settle_writes() else {
            panic!("two clients write at settle");
        };
        assert_eq!(third.attempts, 2);
        assert_eq!(third.last_failure.as_deref(), Some("its commit failed"));
        assert_eq!(
            third.acknowledged,
            Some(SettleCommit {
                seq: 9,
                at: at(250),
                attempt: 2
            })
        );
        assert_eq!((fourth.attempts, fourth.acknowledged), (0, None));
    }

    #[test]
    fn a_settle_read_is_awaited_until_made_and_answered() {
        let mut history = History::default();
        history.expect_settle_read(208);
        history.kv_called(read(208, 10));
        let waiting: Vec<_> = history.unanswered_settle_reads().collect();
        assert_eq!(waiting, vec![(208, None)]);
        let op = history.kv_settle_read(read(208, 20));
        let waiting: Vec<_> = history
            .unanswered_settle_reads()
            .map(|(session, read)| (session, read.map(|read| read.call)))
            .collect();
        assert_eq!(waiting, vec![(208, Some(20))]);
        history.kv_returned(op, 30, KvOutput::Value(None));
        assert_eq!(history.unanswered_settle_reads().count(), 0);
    }
}
