//! Messages between database clients and the server. Every operation of an
//! interactive transaction is its own message, so transactions interleave
//! as on a real server.

use serde::{Deserialize, Serialize};

use super::{
    engine::{Found, TxnError},
    types::{Isolation, Key, ScanRange, TxnId},
};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum DbRequest {
    Begin {
        isolation: Isolation,
    },
    Get {
        txn: TxnId,
        table: String,
        key: Key,
    },
    Scan {
        txn: TxnId,
        table: String,
        range: ScanRange,
        limit: u32,
    },
    Put {
        txn: TxnId,
        table: String,
        key: Key,
        #[serde(with = "crate::codec::bytes")]
        value: Vec<u8>,
    },
    InsertUnique {
        txn: TxnId,
        table: String,
        key: Key,
        #[serde(with = "crate::codec::bytes")]
        value: Vec<u8>,
    },
    CompareAndSet {
        txn: TxnId,
        table: String,
        key: Key,
        expected: u64,
        #[serde(with = "crate::codec::bytes")]
        value: Vec<u8>,
    },
    Delete {
        txn: TxnId,
        table: String,
        key: Key,
    },
    Commit {
        txn: TxnId,
    },
    Rollback {
        txn: TxnId,
    },
    /// A whole transaction in one message: begun, every operation applied
    /// in order, committed, as if sent one by one with nothing between. The
    /// first failing operation aborts it. What real databases offer as
    /// batched statements, and what a client whose writes are all fenced
    /// needs: one round trip instead of one per operation.
    Atomic {
        isolation: Isolation,
        ops: Vec<Op>,
    },
}

/// One operation of an [`DbRequest::Atomic`] transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    Get {
        table: String,
        key: Key,
    },
    Scan {
        table: String,
        range: ScanRange,
        limit: u32,
    },
    Put {
        table: String,
        key: Key,
        #[serde(with = "crate::codec::bytes")]
        value: Vec<u8>,
    },
    InsertUnique {
        table: String,
        key: Key,
        #[serde(with = "crate::codec::bytes")]
        value: Vec<u8>,
    },
    CompareAndSet {
        table: String,
        key: Key,
        expected: u64,
        #[serde(with = "crate::codec::bytes")]
        value: Vec<u8>,
    },
    Delete {
        table: String,
        key: Key,
    },
}

/// What one operation of an atomic transaction returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpResult {
    Found(Option<Found>),
    Rows(Vec<(Key, Found)>),
    Done,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DbResponse {
    Begun {
        txn: TxnId,
    },
    Found(Option<Found>),
    Rows(Vec<(Key, Found)>),
    Done,
    /// Committed and durable; `seq` is the commit's sequence number, `None`
    /// for a transaction that wrote nothing.
    Committed {
        seq: Option<u64>,
    },
    Failed(TxnError),
    /// An atomic transaction committed (durable; `seq` as for `Committed`),
    /// with what each of its operations returned.
    AtomicCommitted {
        results: Vec<OpResult>,
        seq: Option<u64>,
    },
    /// The request itself is unacceptable (malformed, too large).
    Rejected {
        reason: String,
    },
}
