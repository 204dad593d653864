//! Messages between clients and ledger replicas.

use serde::{Deserialize, Serialize};

use super::types::{Rejection, TransferId, TransferRequest};
use crate::chain::TxHash;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum LedgerRequest {
    /// Pay out `request`; `client` scopes its request id.
    Transfer {
        client: u64,
        request: TransferRequest,
    },
    /// What became of each of `request_ids` of `client`, at most
    /// [`MAX_STATUS_BATCH`] of them: a client asks after all the payouts it
    /// follows in one message. `seen` is the highest `as_of` the client has
    /// had in any answer: the replies come from a fold at least that far, so
    /// a client's reads never go back in time.
    Status {
        client: u64,
        request_ids: Vec<String>,
        seen: u64,
    },
    /// The balance of internal account `account`, read as statuses are:
    /// from a fold at least at `seen`.
    Balance {
        client: u64,
        account: String,
        seen: u64,
    },
}

/// The most request ids one status request may name.
pub const MAX_STATUS_BATCH: usize = 64;

/// Every answer says how far the answering replica's fold of the log had
/// reached (`as_of`). Replicas fold at their own pace; a client that hands
/// the highest `as_of` it has had back as `seen` gets monotonic reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LedgerResponse {
    Transfer {
        reply: TransferReply,
        as_of: u64,
    },
    /// One reply per request id asked about, in the order asked.
    Status {
        replies: Vec<StatusReply>,
        as_of: u64,
    },
    /// The request could not be decoded.
    Malformed {
        reason: String,
    },
    /// The balance asked for, as the fold at `as_of` holds it.
    Balance {
        reply: BalanceReply,
        as_of: u64,
    },
}

/// The answer to a balance request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BalanceReply {
    /// What the account holds after every transfer the log accepted up to
    /// `as_of` (payouts in flight included: they are debited on acceptance).
    Balance { amount: u64 },
    /// No such internal account.
    UnknownAccount,
    /// This replica's fold has not reached `seen` in time.
    Unavailable { reason: String },
}

/// The answer to a transfer request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransferReply {
    /// Recorded in the log: it will be paid out exactly once.
    Accepted { transfer: TransferId },
    /// Refused for good, moving nothing.
    Rejected { reason: Rejection },
    /// Not decided in time: the outcome is unknown. Retrying with the same
    /// request id is safe.
    Unavailable { reason: String },
}

/// The answer to a status request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StatusReply {
    /// This replica knows of no such request (yet).
    NotFound,
    Rejected {
        reason: Rejection,
    },
    /// Accepted; no transaction signed yet.
    Pending {
        transfer: TransferId,
    },
    /// Accepted; paid out by `tx`, not yet confirmed.
    Submitted {
        transfer: TransferId,
        tx: TxHash,
    },
    /// Paid out by `tx` in block `height`, seen `depth` deep.
    Confirmed {
        transfer: TransferId,
        tx: TxHash,
        height: u64,
        depth: u64,
    },
    Unavailable {
        reason: String,
    },
}
