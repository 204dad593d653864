//! The database client library. Every operation is one call with a timeout;
//! nothing is retried here. A commit whose outcome the client cannot know
//! (no reply, or the server no longer knows the transaction) is
//! [`DbError::CommitUnknown`]; resolving it is the caller's job.

use std::time::Duration;
use thiserror::Error;

use super::{
    engine::{Found, TxnError},
    protocol::{DbRequest, DbResponse, Op, OpResult},
    types::{Isolation, Key, ScanRange, TxnId},
};
use crate::{net::Rpc, observe::NodeName};

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DbError {
    #[error("no reply in time")]
    Timeout,
    #[error(transparent)]
    Failed(TxnError),
    /// The commit may or may not have happened.
    #[error("the commit's outcome is unknown")]
    CommitUnknown,
    #[error("rejected: {0}")]
    Rejected(String),
    #[error("unexpected reply: {0}")]
    Protocol(String),
}

/// A client's handle on the database.
#[derive(Clone)]
pub struct DbClient {
    rpc: Rpc,
    server: NodeName,
    timeout: Duration,
}

/// An open transaction.
pub struct Txn {
    client: DbClient,
    id: TxnId,
}

impl DbClient {
    pub fn new(rpc: Rpc, server: NodeName, timeout: Duration) -> DbClient {
        DbClient {
            rpc,
            server,
            timeout,
        }
    }

    pub async fn begin(&self, isolation: Isolation) -> Result<Txn, DbError> {
        match self.call(DbRequest::Begin { isolation }).await? {
            DbResponse::Begun { txn } => Ok(Txn {
                client: self.clone(),
                id: txn,
            }),
            other => Err(unexpected(other)),
        }
    }

    /// Rolls back transaction `txn`, by its id: `Ok` once the server
    /// dropped it, `Failed(Unknown)` when it held no such transaction (one
    /// ended, aborted as idle, or lost in a restart).
    pub async fn rollback(&self, txn: TxnId) -> Result<(), DbError> {
        match self.call(DbRequest::Rollback { txn }).await? {
            DbResponse::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Runs `ops` as one transaction in one round trip (see
    /// [`DbRequest::Atomic`]): what each returned, and the commit's
    /// sequence number (`None` when it wrote nothing). A lost reply to one
    /// that writes is `CommitUnknown`, resolved by the caller as for
    /// [`Txn::commit`]; one that only reads is a plain `Timeout`.
    pub async fn atomic(
        &self,
        isolation: Isolation,
        ops: Vec<Op>,
    ) -> Result<(Vec<OpResult>, Option<u64>), DbError> {
        let writes = ops
            .iter()
            .any(|op| !matches!(op, Op::Get { .. } | Op::Scan { .. }));
        match self.call(DbRequest::Atomic { isolation, ops }).await {
            Ok(DbResponse::AtomicCommitted { results, seq }) => Ok((results, seq)),
            Ok(other) => Err(unexpected(other)),
            Err(DbError::Timeout) if writes => Err(DbError::CommitUnknown),
            Err(error) => Err(error),
        }
    }

    async fn call(&self, request: DbRequest) -> Result<DbResponse, DbError> {
        match self.rpc.call(&self.server, &request, self.timeout).await {
            Ok(DbResponse::Failed(error)) => Err(DbError::Failed(error)),
            Ok(DbResponse::Rejected { reason }) => Err(DbError::Rejected(reason)),
            Ok(response) => Ok(response),
            Err(_) => Err(DbError::Timeout),
        }
    }
}

impl Txn {
    pub fn id(&self) -> TxnId {
        self.id
    }

    pub async fn get(&self, table: &str, key: Key) -> Result<Option<Found>, DbError> {
        let request = DbRequest::Get {
            txn: self.id,
            table: table.to_owned(),
            key,
        };
        match self.client.call(request).await? {
            DbResponse::Found(found) => Ok(found),
            other => Err(unexpected(other)),
        }
    }

    pub async fn scan(
        &self,
        table: &str,
        range: ScanRange,
        limit: u32,
    ) -> Result<Vec<(Key, Found)>, DbError> {
        let request = DbRequest::Scan {
            txn: self.id,
            table: table.to_owned(),
            range,
            limit,
        };
        match self.client.call(request).await? {
            DbResponse::Rows(rows) => Ok(rows),
            other => Err(unexpected(other)),
        }
    }

    pub async fn put(&self, table: &str, key: Key, value: Vec<u8>) -> Result<(), DbError> {
        let (txn, table) = (self.id, table.to_owned());
        self.done(DbRequest::Put {
            txn,
            table,
            key,
            value,
        })
        .await
    }

    pub async fn insert_unique(
        &self,
        table: &str,
        key: Key,
        value: Vec<u8>,
    ) -> Result<(), DbError> {
        let (txn, table) = (self.id, table.to_owned());
        self.done(DbRequest::InsertUnique {
            txn,
            table,
            key,
            value,
        })
        .await
    }

    pub async fn compare_and_set(
        &self,
        table: &str,
        key: Key,
        expected: u64,
        value: Vec<u8>,
    ) -> Result<(), DbError> {
        let (txn, table) = (self.id, table.to_owned());
        self.done(DbRequest::CompareAndSet {
            txn,
            table,
            key,
            expected,
            value,
        })
        .await
    }

    pub async fn delete(&self, table: &str, key: Key) -> Result<(), DbError> {
        let (txn, table) = (self.id, table.to_owned());
        self.done(DbRequest::Delete { txn, table, key }).await
    }

    /// Commits; `Ok(Some(seq))` once durable, `Ok(None)` for a transaction
    /// that wrote nothing. Never retried: a lost reply is `CommitUnknown`.
    pub async fn commit(self) -> Result<Option<u64>, DbError> {
        match self.client.call(DbRequest::Commit { txn: self.id }).await {
            Ok(DbResponse::Committed { seq }) => Ok(seq),
            Ok(other) => Err(unexpected(other)),
            // The server no longer knows the transaction: an earlier copy of
            // this commit may have committed it, or a restart may have lost it.
            Err(DbError::Timeout | DbError::Failed(TxnError::Unknown(_))) => {
                Err(DbError::CommitUnknown)
            }
            Err(error) => Err(error),
        }
    }

    /// Abandons the transaction. Best effort: a caller may ignore a lost
    /// answer, since an idle transaction also times out on the server
    /// ([`super::idle_abort_within`]).
    pub async fn rollback(self) -> Result<(), DbError> {
        self.client.rollback(self.id).await
    }

    async fn done(&self, request: DbRequest) -> Result<(), DbError> {
        match self.client.call(request).await? {
            DbResponse::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }
}

fn unexpected(response: DbResponse) -> DbError {
    DbError::Protocol(format!("{response:?}"))
}
