//! The database node `db`: named tables of versioned rows, interactive
//! transactions over the network, READ COMMITTED by default and SERIALIZABLE
//! on request, commits synced before they are acknowledged.
//!
//! | | guarantee |
//! |---|---|
//! | READ COMMITTED | each read sees the latest committed version; plain writes overwrite at commit (an unconditional read-modify-write can lose an update) |
//! | SERIALIZABLE | commit fails with a serialization error if any row or range read has changed since |
//! | both | unique inserts and compare-and-set are checked atomically at commit |
//! | crash | every acknowledged commit survives; open transactions are aborted; unsynced commits are lost |
//! | lost disk | everything is lost; the node starts empty, and no transaction id or row version of an earlier life is handed out again |
//! | `CommitUnknown` | the reply was lost or the transaction is gone: it may or may not have committed |

mod client;
mod engine;
mod protocol;
mod server;
mod types;
mod wal;

pub use client::{DbClient, DbError, Txn};
pub use engine::{CommitRecord, Engine, Found, MAX_OPEN_TXNS, MAX_SCAN_ROWS, TxnError};
pub use protocol::{DbRequest, DbResponse, Op, OpResult};
pub use server::{DbConfig, idle_abort_within, run_db};
pub use types::{Isolation, Key, Row, ScanRange, TxnId};
pub use wal::{DurableReader, Recovered, read_durable};

use serde::Serialize;

/// Trace events of the database node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "db", rename_all = "kebab-case")]
pub enum DbEvent {
    /// Recovery replayed `commits` records, up to `last_commit`, and (on a
    /// fresh disk, once its genesis is synced) the database serves.
    Recovered { last_commit: u64, commits: u64 },
    /// A commit was applied (and, but for a planted bug, is durable).
    Committed { txn: u64, seq: u64 },
}
