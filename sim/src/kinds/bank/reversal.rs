//! Reversals: a SERIALIZABLE transaction that undoes a committed transfer,
//! moving its amount back and deleting its row, so that the database's
//! deletes meet its serializable validation.
//!
//! Every reversal goes for the same transfer, the last row of the
//! transfers table in key order (see [`SCAN_LIMIT`]), so reversals of
//! different clients race for one row. What keeps a transfer from being reversed twice is the
//! validation alone: a reversal read the row, and the row is gone when a
//! rival committed first. Half the reversals find the row with a scan
//! inside the transaction (the scan must come out the same at commit:
//! no row vanished from it), half with a read of its key after a READ
//! COMMITTED look-up outside (the read must too). A reversal that would
//! overdraw the transfer's recipient is refused, and none is retried:
//! like an audit it proves nothing by succeeding, only by what committed.
//!
//! A reversed transfer's key is written to the table of reversals, so a
//! transfer sent again after its reversal is found done instead of moving
//! money again. That write is a plain put, not an insert that must be
//! unique: a second reversal is kept out by the read of the row, not by a
//! clash on its tombstone.

use ledger::db::{DbClient, DbError, Isolation, Key};

use super::{
    client::{
        ACCOUNTS, Recorded, TRANSFERS, all_rows, between, decode_transfer, encode_written,
        read_accounts, row_name, status_of,
    },
    watched::Watched,
};
use crate::{consistency::isolation::Status, workload::Workload};

/// One key per reversed transfer: the transfer's own key.
pub(super) const REVERSED: &str = "reversed";

/// Rows one scan of the transfers table returns at most (the database's
/// own cap): past that many transfers, the "last" row is the last of the
/// first thousand, which every reversal still agrees on.
const SCAN_LIMIT: u32 = 1000;

/// How a reversal finds the transfer it undoes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lookup {
    /// A scan of the whole table inside the reversal.
    Scan,
    /// A READ COMMITTED scan outside, then a read of the key inside.
    Get,
}

/// Undoes the last transfer in key order, in one SERIALIZABLE transaction
/// that goes to the history; `label` names it there.
pub(super) async fn reverse(workload: &Workload, db: &DbClient, lookup: Lookup, label: String) {
    let known = match lookup {
        Lookup::Scan => None,
        Lookup::Get => match last_transfer_outside(db, workload, &label).await {
            Some(key) => Some(key),
            None => return,
        },
    };
    let Ok(txn) = Watched::begin(db, workload, &label, Isolation::Serializable).await else {
        return;
    };
    let mut record = Recorded::new(workload, Isolation::Serializable, label);
    let writer = record.id();
    match undo(&txn, known, writer, &mut record).await {
        Ok(true) => {
            let committing = record.committing(workload);
            let status = status_of(&txn.commit().await);
            workload.txn_ended(committing, status);
        }
        Ok(false) | Err(_) => {
            txn.rollback().await;
            record.end(workload, Status::Aborted);
        }
    }
}

/// The key of the last transfer row, as a READ COMMITTED transaction finds it.
async fn last_transfer_outside(db: &DbClient, workload: &Workload, label: &str) -> Option<Key> {
    let label = format!("{label}, its lookup");
    let txn = Watched::begin(db, workload, &label, Isolation::ReadCommitted)
        .await
        .ok()?;
    let rows = transfer_rows(&txn).await;
    txn.rollback().await;
    rows.ok()?.pop().map(|(key, _)| key)
}

/// The transfer rows in key order (the first [`SCAN_LIMIT`]), with their
/// values.
async fn transfer_rows(txn: &Watched<'_>) -> Result<Vec<(Key, Vec<u8>)>, DbError> {
    let rows = txn
        .scan(TRANSFERS, between(&all_rows()), SCAN_LIMIT)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(key, found)| (key, found.value))
        .collect())
}

/// Moves the transfer's amount back and deletes its row; false when there
/// is nothing to undo or the recipient cannot give the amount back.
async fn undo(
    txn: &Watched<'_>,
    known: Option<Key>,
    writer: u64,
    record: &mut Recorded,
) -> Result<bool, DbError> {
    let malformed =
        |key: &Key| DbError::Protocol(format!("transfer row {} is malformed", row_name(key)));
    let found = match known {
        // The history holds the row the reversal undoes and, when the scan
        // reached the table's end, the next few of its client's rows
        // absent (the last row is last only while none is inserted after
        // it); not the whole scan, whose gaps would hold every row inserted
        // later, each an rw edge, for every reversal.
        None => {
            let mut rows = transfer_rows(txn).await?;
            let complete = rows.len() < SCAN_LIMIT as usize;
            let last = rows.pop();
            if let Some((key, value)) = &last {
                if !record.read_row(key, Some(value)) {
                    return Err(malformed(key));
                }
                if complete {
                    record.absent_after(key);
                }
            }
            last
        }
        Some(key) => {
            let value = txn
                .get(TRANSFERS, key.clone())
                .await?
                .map(|found| found.value);
            if !record.read_row(&key, value.as_deref()) {
                return Err(malformed(&key));
            }
            value.map(|value| (key, value))
        }
    };
    let Some((key, value)) = found else {
        return Ok(false);
    };
    let Some((from, to, amount)) = decode_transfer(&value) else {
        return Err(malformed(&key));
    };
    // The recipient gives back what the sender gets back.
    let (payer, payee) = read_accounts(txn, to, from, record).await?;
    let (Some(debited), Some(credited)) = (
        payer.balance.checked_sub(amount),
        payee.balance.checked_add(amount),
    ) else {
        return Ok(false);
    };
    txn.put(ACCOUNTS, Key::Int(to), encode_written(debited, writer))
        .await?;
    txn.put(ACCOUNTS, Key::Int(from), encode_written(credited, writer))
        .await?;
    record.write(to);
    record.write(from);
    txn.delete(TRANSFERS, key.clone()).await?;
    record.delete_row(&key);
    txn.put(REVERSED, key, value).await?;
    Ok(true)
}
