//! The transfer service: exactly-once payouts on the chain per client
//! request.
//!
//! A replica `ledger-N` ([`run_ledger`]) runs three parts, coordinated only
//! through the log and the database:
//!
//! - the service: a request goes into the Raft log and is answered from
//!   the fold of the committed log, so the log's order decides accepts,
//!   rejects (bad input, overdraws, conflicting reuse of a request id) and
//!   every retry's answer;
//! - the applier: folds the committed log in index order, and the
//!   projector writes the fold into the database idempotently (each debit
//!   with its payout's outbox row, each intent with its nonce, in one
//!   transaction fenced by the recorded position), and rebuilds the
//!   database from the log when it lost its disk;
//! - the outbox worker: claims payouts with leases (which only spread the
//!   work), proposes each payout's intent (its nonce and exact signed
//!   transaction) to the log and sends it only once its own fold shows
//!   the log took it, resubmits that same transaction until the chain
//!   shows it `confirmations` deep, then appends the confirmation.
//!
//! The log is the whole truth: the database holds nothing that cannot be
//! derived from it, so losing the database loses no decision.

mod appender;
mod applier;
mod fold;
mod lease;
mod node;
mod outbox;
mod projection;
mod protocol;
pub mod schema;
mod service;
mod types;

pub use fold::{
    AddressCheck, Answer, Effect, Fold, Idempotency, IntentFence, RequestRecord, Rules,
    SLOTS_PER_ENTRY, Transfer, slot,
};
pub use node::run_ledger;
pub use outbox::HOT_WALLET;
pub use protocol::{
    BalanceReply, LedgerRequest, LedgerResponse, MAX_STATUS_BATCH, StatusReply, TransferReply,
};
pub use types::{
    ADDRESS_PREFIX, Command, Confirmation, MAX_AMOUNT, MAX_NAME_BYTES, MAX_REQUEST_ID_BYTES,
    Rejection, TransferId, TransferRequest, check_parameters, check_shape, decode_batch,
    encode_batch, is_payable_address,
};

use serde::Serialize;
use std::time::Duration;

use crate::{
    chain::{SigningKey, TxHash},
    observe::NodeName,
};

/// A ledger replica's settings.
#[derive(Debug, Clone)]
pub struct LedgerConfig {
    /// This replica's number, from 0: where it starts among the RPC nodes,
    /// and which never-claimed payouts it is first in line for.
    pub replica: usize,
    /// How many ledger replicas there are.
    pub replicas: usize,
    pub log_replicas: Vec<NodeName>,
    pub db: NodeName,
    pub rpc_nodes: Vec<NodeName>,
    /// The internal accounts and their opening balance.
    pub accounts: Vec<String>,
    pub initial_balance: u64,
    pub hot_wallet_key: SigningKey,
    /// The fee every payout pays.
    pub fee: u64,
    /// How deep a payout must be before it counts as done.
    pub confirmations: u64,
    pub log_timeout: Duration,
    pub db_timeout: Duration,
    pub chain_timeout: Duration,
    /// How long a client request may wait for its decision.
    pub request_timeout: Duration,
    /// How often the applier asks the log for news while a request waits
    /// for its entry to be folded.
    pub apply_poll: Duration,
    /// How often the applier asks the log for news when nobody waits:
    /// entries appended by other replicas, confirmations.
    pub idle_poll: Duration,
    /// How often the worker goes over the outbox.
    pub outbox_poll: Duration,
    /// How long a replica leaves work that another replica is first in
    /// line for before it does it itself: projecting the entries another
    /// replica appended, claiming a payout another replica is first in line
    /// for. The first in line does it at once; the others are only the
    /// fallback for one that died or is cut off.
    pub standby_grace: Duration,
    /// How often the worker asks for one transaction's receipt: about
    /// twice a block, since nothing changes in between.
    pub receipt_poll: Duration,
    /// How often the chain makes a block: a receipt more than a block short
    /// of its depth is not asked for again until the blocks it lacks can
    /// have been made.
    pub block_time: Duration,
    /// How long a transaction the chain does not show is given before it
    /// is submitted again.
    pub resubmit_after: Duration,
    /// How long a replica's claim on a payout lasts, on wall clocks.
    pub lease: Duration,
}

/// Trace events of a ledger replica.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "ledger", rename_all = "kebab-case")]
pub enum LedgerEvent {
    /// A client's request for `transfer` was committed in the entry at
    /// `index`.
    Appended {
        client: u64,
        index: u64,
        transfer: TransferId,
    },
    /// The fold reached index `applied`, where `unconfirmed` accepted
    /// transfers wait for their confirmation.
    Folded { applied: u64, unconfirmed: u64 },
    /// Entries `from..=to` were projected into the database.
    Projected { from: u64, to: u64 },
    /// A payout's transaction was signed with `nonce` and is to be sent: on
    /// the correct path, once the log took it as the payout's intent (the
    /// planted bugs that send first record it all the same).
    Signed {
        transfer: TransferId,
        nonce: u64,
        tx: TxHash,
    },
    /// The worker handed a payout's transaction to the chain (again, when
    /// the chain did not show it in time).
    Submitted { transfer: TransferId, tx: TxHash },
    /// The worker claimed a payout whose previous claim, by `from`
    /// (replica#incarnation), had lapsed or outlived its holder.
    Claimed { transfer: TransferId, from: String },
    /// The log refused this replica's intent for `transfer`: another
    /// replica's intent for it, or for the nonce, came first.
    IntentRefused { transfer: TransferId, nonce: u64 },
    /// The database lacks entries `from..=through` this replica saw
    /// projected (it lost its disk); they are being projected again from
    /// the committed log.
    Rebuilding { from: u64, through: u64 },
    /// The rebuild reached the index it had to.
    Rebuilt { through: u64 },
    /// The worker's reads of the outbox started or stopped reaching the
    /// database.
    Database { reachable: bool },
    /// The worker is about to append a confirmation of `tx`, which it saw
    /// in block `height` at `depth`.
    Confirming {
        transfer: TransferId,
        tx: TxHash,
        height: u64,
        depth: u64,
    },
}
