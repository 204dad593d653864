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
        value: Vec<u8>,
    },
    InsertUnique {
        txn: TxnId,
        table: String,
        key: Key,
        value: Vec<u8>,
    },
    CompareAndSet {
        txn: TxnId,
        table: String,
        key: Key,
        expected: u64,
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
    /// The request itself is unacceptable (malformed, too large).
    Rejected {
        reason: String,
    },
}
