//! A bank client's database transaction, watched: the id the database gave
//! it and whether its client asked to commit it go to the history, for the
//! check that the database commits only what it is asked to; the rows it
//! asked to write and a commit refused for a row changed since it was read
//! (not serializable, or a compare-and-set's version mismatch) go there
//! too, for the check that every such refusal names a row another
//! transaction wrote meanwhile; and each
//! request inside it that the database answers as for a transaction it
//! does not know goes there too, with when the client last made the
//! transaction active, for the check that the database keeps an open
//! transaction for its whole idle timeout; and whether the client left it
//! with no answer to its commit or rollback, for the probe of whether the
//! database aborts it once it has been idle for that timeout
//! ([`super::idle_probe`]).

use ledger::db::{DbClient, DbError, Found, Isolation, Key, ScanRange, Txn, TxnError};
use std::{cell::Cell, time::Duration};

use crate::{
    events::now,
    history::{Refusal, TxnBegun, TxnForgotten},
    workload::Workload,
};

pub(super) struct Watched<'w> {
    txn: Txn,
    workload: &'w Workload,
    /// Which client's transaction, and for what.
    label: String,
    /// When the transaction's latest request (or its begin) was sent: the
    /// database saw it active no earlier than that.
    active_since: Cell<Duration>,
    /// Its record in the history.
    begun: usize,
}

impl<'w> Watched<'w> {
    pub(super) async fn begin(
        db: &DbClient,
        workload: &'w Workload,
        label: &str,
        isolation: Isolation,
    ) -> Result<Watched<'w>, DbError> {
        let sent = now();
        let txn = db.begin(isolation).await?;
        let begun = workload.txn_begun(TxnBegun {
            label: label.to_owned(),
            txn: txn.id().0,
            begun_at: now(),
            commit_asked_at: None,
            wrote: Vec::new(),
            refused: None,
            left_open: false,
        });
        Ok(Watched {
            txn,
            workload,
            label: label.to_owned(),
            active_since: Cell::new(sent),
            begun,
        })
    }

    pub(super) async fn get(&self, table: &str, key: Key) -> Result<Option<Found>, DbError> {
        self.watch("get", self.txn.get(table, key)).await
    }

    pub(super) async fn scan(
        &self,
        table: &str,
        range: ScanRange,
        limit: u32,
    ) -> Result<Vec<(Key, Found)>, DbError> {
        self.watch("scan", self.txn.scan(table, range, limit)).await
    }

    pub(super) async fn put(&self, table: &str, key: Key, value: Vec<u8>) -> Result<(), DbError> {
        self.wrote(table, &key);
        self.watch("put", self.txn.put(table, key, value)).await
    }

    pub(super) async fn insert_unique(
        &self,
        table: &str,
        key: Key,
        value: Vec<u8>,
    ) -> Result<(), DbError> {
        self.wrote(table, &key);
        let insert = self.txn.insert_unique(table, key, value);
        self.watch("insert", insert).await
    }

    pub(super) async fn compare_and_set(
        &self,
        table: &str,
        key: Key,
        expected: u64,
        value: Vec<u8>,
    ) -> Result<(), DbError> {
        self.wrote(table, &key);
        let swap = self.txn.compare_and_set(table, key, expected, value);
        self.watch("compare-and-set", swap).await
    }

    pub(super) async fn delete(&self, table: &str, key: Key) -> Result<(), DbError> {
        self.wrote(table, &key);
        self.watch("delete", self.txn.delete(table, key)).await
    }

    /// Commits. Not watched for forgetting: an "unknown transaction" answer
    /// to a commit may be a late copy's, after the first copy committed it.
    pub(super) async fn commit(self) -> Result<Option<u64>, DbError> {
        self.workload.txn_commit_asked(self.begun);
        let answer = self.txn.commit().await;
        let blamed = match &answer {
            Err(DbError::Failed(TxnError::Serialization { table, key })) => {
                Some(("as not serializable", table, key))
            }
            // Every compare-and-set a bank client makes expects a version
            // it read in the same transaction.
            Err(DbError::Failed(TxnError::VersionMismatch { table, key, .. })) => {
                Some(("for a version mismatch", table, key))
            }
            _ => None,
        };
        // A commit whose answer was lost may never have arrived: the
        // database may hold the transaction until it is idle for its
        // timeout. (`CommitUnknown` also covers a transaction the database
        // said it did not know; asking about it again is harmless.)
        if matches!(answer, Err(DbError::CommitUnknown)) {
            self.workload.txn_left_open(self.begun);
        }
        if let Some((why, table, key)) = blamed {
            let refusal = Refusal {
                why,
                table: table.clone(),
                key: key.clone(),
                at: now(),
            };
            self.workload.txn_refused(self.begun, refusal);
        }
        answer
    }

    /// Notes a write as its request goes out: whether or not its answer
    /// comes back, the database may have taken it.
    fn wrote(&self, table: &str, key: &Key) {
        self.workload.txn_wrote(self.begun, table, key);
    }

    /// Rolls back, best effort: with no answer the database may still
    /// hold the transaction, until it has been idle for its timeout.
    pub(super) async fn rollback(self) {
        if let Err(DbError::Timeout | DbError::Rejected(_) | DbError::Protocol(_)) =
            self.txn.rollback().await
        {
            self.workload.txn_left_open(self.begun);
        }
    }

    async fn watch<T>(
        &self,
        request: &'static str,
        call: impl Future<Output = Result<T, DbError>>,
    ) -> Result<T, DbError> {
        let active_since = self.active_since.replace(now());
        let answer = call.await;
        if let Err(DbError::Failed(TxnError::Unknown(txn))) = &answer {
            self.workload.txn_forgotten(TxnForgotten {
                label: self.label.clone(),
                request,
                txn: txn.to_string(),
                active_since,
                answered_at: now(),
            });
        }
        answer
    }
}
