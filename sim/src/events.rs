//! What the harness records in a run's trace beside the system's own events
//! (a fault it injected, what a client was told), and the simulated clock
//! everything is stamped with. A leaf: it depends on nothing of the harness.

use ledger::{chain::TxHash, ledger::TransferId};
use serde::Serialize;
use std::time::Duration;

/// An event the harness records: a fault it injected, or what a client saw.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum HarnessEvent {
    Crash {
        node: String,
    },
    Restart {
        node: String,
    },
    /// A node taken out for good, just after its crash: it is never
    /// restarted, not even by the settle phase.
    Retire {
        node: String,
    },
    Pause {
        node: String,
    },
    Resume {
        node: String,
    },
    /// Partition number `id` cut the links between `groups`.
    Partition {
        id: u64,
        groups: Vec<Vec<String>>,
        one_way: bool,
    },
    /// Partition number `partition` was healed; every one when `None`.
    Heal {
        partition: Option<u64>,
    },
    Clock {
        node: String,
        offset_nanos: i64,
        drift_ppm: i64,
    },
    /// A scheduled fault that could not apply, and why.
    Skipped {
        action: &'static str,
        reason: String,
    },
    /// What a crash did to unsynced writes on one file.
    DiskDamage {
        node: String,
        file: String,
        lost_bytes: u64,
        torn: bool,
    },
    /// The fault phase ended; the settle phase began.
    Settle,
    /// A client sent a new request.
    Request {
        client: u64,
        seq: u64,
    },
    /// A client started a transfer; no amount moves a whole balance.
    Transfer {
        client: u64,
        seq: u64,
        from: i64,
        to: i64,
        #[serde(skip_serializing_if = "Option::is_none")]
        amount: Option<u64>,
    },
    /// An append was applied at `index`.
    Acknowledged {
        client: u64,
        seq: u64,
        index: u64,
    },
    /// A client started a payment on the chain.
    Payment {
        client: u64,
        seq: u64,
        to: u64,
        amount: u64,
    },
    /// A payment was confirmed deep enough, as transaction `tx`.
    Confirmed {
        client: u64,
        seq: u64,
        tx: TxHash,
        height: u64,
    },
    /// A client asked the ledger for a payout; `bad` names a planted flaw.
    Payout {
        client: u64,
        seq: u64,
        request_id: String,
        amount: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        bad: Option<crate::history::BadInput>,
    },
    /// The ledger accepted a payout request as `transfer`.
    Accepted {
        client: u64,
        seq: u64,
        transfer: TransferId,
    },
    /// The nemesis reorganized the chain.
    ChainReorg {
        depth: u64,
        dropped: u64,
    },
    /// The nemesis made the chain's mempool forget everything pending.
    ChainDrop {
        forgotten: u64,
    },
    /// A transfer committed; `commit` is unknown when learned by reading back.
    Committed {
        client: u64,
        seq: u64,
        commit: Option<u64>,
    },
    Rejected {
        client: u64,
        seq: u64,
        reason: String,
    },
    GaveUp {
        client: u64,
        seq: u64,
        attempts: u32,
    },
    /// A request already answered was sent again, and answered so.
    LateAnswer {
        client: u64,
        seq: u64,
        answer: String,
    },
    /// A status request reported this of a payout.
    Status {
        client: u64,
        seq: u64,
        status: String,
    },
    /// The database lost its disk: killed as in a crash, then every file
    /// erased, `lost_bytes` in all, synced or not.
    DbWipe {
        node: String,
        lost_bytes: u64,
    },
    /// A chain client sent a forgery of its payment `seq` (`how`: altered
    /// after signing, or signed with another account's key), which the
    /// chain must refuse, and was told `answer`. (Last: a variant's place
    /// is part of every trace hash.)
    Forged {
        client: u64,
        seq: u64,
        tx: TxHash,
        how: String,
        answer: String,
        /// Whether the answer took it in: what `answer` says, kept out of
        /// the trace, which has it in words already.
        #[serde(skip)]
        accepted: bool,
    },
    /// A chain client's wallet sped up its payment `seq`: signed it again
    /// at its nonce as `tx`, paying `fee`, more than any version sent
    /// before, and was told `answer`. (Last, for the same reason.)
    SpedUp {
        client: u64,
        seq: u64,
        tx: TxHash,
        fee: u64,
        answer: String,
        /// What the answer says of the fee rule, kept out of the trace.
        #[serde(skip)]
        replacement: Replacement,
    },
}

/// What a chain's answer to a speed-up says of its fee rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Replacement {
    /// It took the speed-up in place of `previous`, whose fee the client
    /// knows if it sent `previous` at that nonce itself.
    Replaced {
        previous: TxHash,
        previous_fee: Option<u64>,
    },
    /// It refused the speed-up as paying no more than the pending
    /// transaction's `pending_fee`.
    Underpriced { pending_fee: u64 },
    /// Anything else: taken in as new or known, a spent nonce, no answer.
    Other,
}

/// Simulated time since the run began.
pub(crate) fn now() -> Duration {
    madsim::time::TimeHandle::current().elapsed()
}
