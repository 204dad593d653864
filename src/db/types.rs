//! Keys, rows and the vocabulary of transactions.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A row key: an integer or a string. Integers sort before strings.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Key {
    Int(i64),
    Str(String),
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Int(value) => write!(f, "{value}"),
            Key::Str(value) => write!(f, "{value:?}"),
        }
    }
}

impl From<i64> for Key {
    fn from(value: i64) -> Key {
        Key::Int(value)
    }
}

impl From<&str> for Key {
    fn from(value: &str) -> Key {
        Key::Str(value.to_owned())
    }
}

/// A committed row: its value and the version of the commit that wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    #[serde(with = "crate::codec::bytes")]
    pub value: Vec<u8>,
    pub version: u64,
}

/// What a transaction reads, as its isolation level defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Isolation {
    /// Each read sees the latest committed version; plain writes overwrite at
    /// commit, so an unconditional read-modify-write can lose an update
    /// (PostgreSQL's default).
    ReadCommitted,
    /// Commit fails with a serialization error if anything the transaction
    /// read (rows or scanned ranges) has changed since.
    Serializable,
}

/// Which rows a scan covers, in key order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScanRange {
    /// String keys starting with the prefix.
    Prefix(String),
    /// Keys from `start` (inclusive) to `end` (exclusive).
    Between { start: Key, end: Key },
}

impl ScanRange {
    pub fn contains(&self, key: &Key) -> bool {
        match (self, key) {
            (ScanRange::Prefix(prefix), Key::Str(key)) => key.starts_with(prefix.as_str()),
            (ScanRange::Prefix(_), Key::Int(_)) => false,
            (ScanRange::Between { start, end }, key) => start <= key && key < end,
        }
    }
}

/// A transaction id. It embeds the server's incarnation, so ids never repeat
/// across restarts, nor across a lost disk (see `NodeEnv::boot`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TxnId(pub u64);

impl fmt::Display for TxnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "txn {}.{}", self.0 >> 32, self.0 & 0xffff_ffff)
    }
}
