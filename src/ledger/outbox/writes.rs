//! The worker's database writes, each checked against the version read.

use super::super::schema::{
    META, NEXT_NONCE, NONCES, NonceRow, OUTBOX, OutboxRow, Payout, Versioned, encode, int_key,
    read, write_if_unchanged,
};
use crate::{
    chain::Transaction,
    db::{DbError, Key, Op, Txn},
};

/// Writes an outbox row read at `version`.
pub async fn write_row(txn: &Txn, key: u64, version: u64, row: &OutboxRow) -> Result<(), DbError> {
    write_if_unchanged(txn, OUTBOX, int_key(key), Some(version), row).await
}

/// The write of an outbox row read at `version`, for an atomic transaction.
pub fn fenced_row(key: u64, version: u64, row: &OutboxRow) -> Op {
    Op::CompareAndSet {
        table: OUTBOX.to_owned(),
        key: int_key(key),
        expected: version,
        value: encode(row),
    }
}

/// The database's own nonce counter: only the planted bugs that keep the
/// nonce bookkeeping in the database allocate from it.
pub async fn next_nonce(txn: &Txn) -> Result<Versioned<u64>, DbError> {
    read(txn, META, Key::from(NEXT_NONCE)).await
}

/// Moves the nonce counter from `next` (as read) to `to`.
pub async fn move_nonce(txn: &Txn, next: &Versioned<u64>, to: u64) -> Result<(), DbError> {
    write_if_unchanged(txn, META, Key::from(NEXT_NONCE), next.version, &to).await
}

/// Records `tx` as the payout of the outbox row at `key` (read at
/// `version`) and as what its nonce was spent on.
pub async fn record_intent(
    txn: &Txn,
    key: u64,
    version: u64,
    row: &OutboxRow,
    tx: &Transaction,
) -> Result<(), DbError> {
    let signed = OutboxRow {
        state: Payout::Signed { tx: tx.clone() },
        ..row.clone()
    };
    write_row(txn, key, version, &signed).await?;
    let spent = NonceRow {
        transfer: row.transfer,
        tx: tx.hash(),
    };
    write_if_unchanged(txn, NONCES, int_key(tx.transfer.nonce), None, &spent).await
}
