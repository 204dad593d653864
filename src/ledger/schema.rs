//! The ledger's tables in the database, and their rows.
//!
//! | table | key | value |
//! |---|---|---|
//! | `ledger_meta` | `"applied"` | the last log index projected |
//! | `ledger_meta` | `"next_nonce"` | the hot wallet's next nonce |
//! | `ledger_balances` | account | its internal balance |
//! | `ledger_outbox` | the accepting command's slot (log index and position) | an open payout ([`OutboxRow`]) |
//! | `ledger_nonces` | nonce | the transaction signed with it ([`NonceRow`]) |
//!
//! A missing counter or balance holds its starting value.

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use super::types::TransferId;
use crate::{
    chain::{Transaction, TxHash},
    codec,
    db::{DbError, Found, Key, Op, Txn},
};

pub const META: &str = "ledger_meta";
pub const BALANCES: &str = "ledger_balances";
pub const OUTBOX: &str = "ledger_outbox";
pub const NONCES: &str = "ledger_nonces";

pub const APPLIED: &str = "applied";
pub const NEXT_NONCE: &str = "next_nonce";

/// A payout waiting to be confirmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxRow {
    pub transfer: TransferId,
    pub to_address: String,
    pub amount: u64,
    pub state: Payout,
    /// The replica working on it, if any.
    pub claim: Option<Claim>,
}

/// A replica's lease on an outbox row. It only spreads the work and keeps
/// replicas from stepping on each other; it protects nothing. Every write
/// to the row is a compare-and-set on the version read, and each claim
/// bumps that version, so a holder whose lease lapsed unnoticed (a pause, a
/// clock behind) fails its next write instead of overwriting a successor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub holder: String,
    pub incarnation: u64,
    /// When it lapses, on the wall clocks of the replicas, in nanoseconds.
    pub until: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Payout {
    /// No nonce yet.
    Pending,
    /// Signed with `nonce`, recorded before it was ever submitted.
    Signed { tx: Transaction },
}

/// What a nonce was spent on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NonceRow {
    pub transfer: TransferId,
    pub tx: TxHash,
}

pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    codec::encode(value)
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DbError> {
    codec::decode(bytes).map_err(|error| DbError::Protocol(format!("bad row: {error}")))
}

/// A row read in a transaction: its decoded value and committed version
/// (`None` when the row does not exist).
pub struct Versioned<T> {
    pub value: Option<T>,
    pub version: Option<u64>,
}

impl<T: DeserializeOwned> Versioned<T> {
    /// A row as a read found it (`None`: missing).
    pub fn from(found: Option<Found>) -> Result<Versioned<T>, DbError> {
        match found {
            None => Ok(Versioned {
                value: None,
                version: None,
            }),
            Some(found) => Ok(Versioned {
                value: Some(decode(&found.value)?),
                version: found.version,
            }),
        }
    }
}

/// Reads a row with its version.
pub async fn read<T: DeserializeOwned>(
    txn: &Txn,
    table: &str,
    key: Key,
) -> Result<Versioned<T>, DbError> {
    Versioned::from(txn.get(table, key).await?)
}

/// The write of `value` for an atomic transaction, only if the row is
/// still as read: at `version`, or still missing.
pub fn fenced_write<T: Serialize>(table: &str, key: Key, version: Option<u64>, value: &T) -> Op {
    let (table, value) = (table.to_owned(), encode(value));
    match version {
        Some(expected) => Op::CompareAndSet {
            table,
            key,
            expected,
            value,
        },
        None => Op::InsertUnique { table, key, value },
    }
}

/// Writes `value` only if the row is still as read: at `version`, or still
/// missing. The fencing every ledger write goes through.
pub async fn write_if_unchanged<T: Serialize>(
    txn: &Txn,
    table: &str,
    key: Key,
    version: Option<u64>,
    value: &T,
) -> Result<(), DbError> {
    match version {
        Some(version) => {
            txn.compare_and_set(table, key, version, encode(value))
                .await
        }
        None => txn.insert_unique(table, key, encode(value)).await,
    }
}

/// The row key of a log index or a nonce.
pub fn int_key(value: u64) -> Key {
    Key::Int(i64::try_from(value).expect("indexes and nonces fit in i64"))
}
