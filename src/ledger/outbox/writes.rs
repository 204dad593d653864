//! The worker's database writes, each either fenced (checked against the
//! version read, as every correct write is) or blind (planted bugs only).

use super::super::schema::{
    META, NEXT_NONCE, NONCES, NonceRow, OUTBOX, OutboxRow, Payout, Versioned, encode, int_key,
    read, write_if_unchanged,
};
use crate::{
    chain::Transaction,
    db::{DbError, Key, Txn},
};

/// How a step writes a row: checked to be as read, or overwritten blindly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writes {
    Fenced,
    Blind,
}

/// How the steps of one signing write: the outbox row, and the nonce
/// counter with the record of what the nonce was spent on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fencing {
    pub row: Writes,
    pub nonce: Writes,
}

impl Fencing {
    pub const FENCED: Fencing = Fencing {
        row: Writes::Fenced,
        nonce: Writes::Fenced,
    };
    pub const BLIND: Fencing = Fencing {
        row: Writes::Blind,
        nonce: Writes::Blind,
    };
}

/// Writes an outbox row read at `version`.
pub async fn write_row(
    txn: &Txn,
    key: u64,
    writes: Writes,
    version: u64,
    row: &OutboxRow,
) -> Result<(), DbError> {
    match writes {
        Writes::Fenced => write_if_unchanged(txn, OUTBOX, int_key(key), Some(version), row).await,
        Writes::Blind => txn.put(OUTBOX, int_key(key), encode(row)).await,
    }
}

/// The hot wallet's next nonce as the database holds it.
pub async fn next_nonce(txn: &Txn) -> Result<Versioned<u64>, DbError> {
    read(txn, META, Key::from(NEXT_NONCE)).await
}

/// Moves the nonce counter from `next` (as read) to `to`.
pub async fn move_nonce(
    txn: &Txn,
    writes: Writes,
    next: &Versioned<u64>,
    to: u64,
) -> Result<(), DbError> {
    match writes {
        Writes::Fenced => {
            write_if_unchanged(txn, META, Key::from(NEXT_NONCE), next.version, &to).await
        }
        Writes::Blind => txn.put(META, Key::from(NEXT_NONCE), encode(&to)).await,
    }
}

/// Records `tx` as the payout of the outbox row at `key` (read at
/// `version`) and as what its nonce was spent on.
pub async fn record_intent(
    txn: &Txn,
    key: u64,
    fencing: Fencing,
    version: u64,
    row: &OutboxRow,
    tx: &Transaction,
) -> Result<(), DbError> {
    let signed = OutboxRow {
        state: Payout::Signed { tx: tx.clone() },
        ..row.clone()
    };
    write_row(txn, key, fencing.row, version, &signed).await?;
    let spent = NonceRow {
        transfer: row.transfer,
        tx: tx.hash(),
    };
    let nonce = int_key(tx.transfer.nonce);
    match fencing.nonce {
        Writes::Fenced => write_if_unchanged(txn, NONCES, nonce, None, &spent).await,
        Writes::Blind => txn.put(NONCES, nonce, encode(&spent)).await,
    }
}
