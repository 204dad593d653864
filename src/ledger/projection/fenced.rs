//! The projection's database work in two round trips: one atomic read of
//! everything a batch's writes depend on (the position, the balances it
//! debits, the rows it signs), and one atomic write of the batch in which
//! every value it replaces is checked against the version read, the
//! position included. A replica that raced another to the same position,
//! or read before a wipe, fails the write as a whole and reads again.

use std::collections::BTreeMap;

use super::{BatchWrites, RowChange};
use crate::{
    db::{DbClient, DbError, Isolation, Key, Op, OpResult},
    ledger::schema::{
        APPLIED, BALANCES, META, NEXT_NONCE, NONCES, OUTBOX, OutboxRow, Payout, Versioned, encode,
        fenced_write, int_key,
    },
};

/// What a batch's writes depend on, as one atomic read found it.
pub(super) struct Reads {
    pub(super) position: Versioned<u64>,
    balances: BTreeMap<String, Versioned<u64>>,
    rows: BTreeMap<u64, Versioned<OutboxRow>>,
}

/// Reads the position, the balances of `accounts` and the outbox rows at
/// `slots`, in one transaction.
pub(super) async fn read(
    db: &DbClient,
    accounts: &[&str],
    slots: &[u64],
) -> Result<Reads, DbError> {
    let get = |table: &str, key: Key| Op::Get {
        table: table.to_owned(),
        key,
    };
    let ops: Vec<Op> = std::iter::once(get(META, Key::from(APPLIED)))
        .chain(
            accounts
                .iter()
                .map(|account| get(BALANCES, Key::from(*account))),
        )
        .chain(slots.iter().map(|slot| get(OUTBOX, int_key(*slot))))
        .collect();
    let (results, _) = db.atomic(Isolation::ReadCommitted, ops).await?;
    let mut found = results.into_iter().map(|result| match result {
        OpResult::Found(found) => Ok(found),
        other => Err(DbError::Protocol(format!("a read returned {other:?}"))),
    });
    let mut next = || {
        found
            .next()
            .unwrap_or_else(|| Err(DbError::Protocol("a read went missing".to_owned())))
    };
    let position = Versioned::from(next()?)?;
    let mut balances = BTreeMap::new();
    for account in accounts {
        balances.insert((*account).to_owned(), Versioned::from(next()?)?);
    }
    let mut rows = BTreeMap::new();
    for slot in slots {
        rows.insert(*slot, Versioned::from(next()?)?);
    }
    Ok(Reads {
        position,
        balances,
        rows,
    })
}

impl Reads {
    /// Whether these reads cover everything `writes` depends on.
    pub(super) fn cover(&self, writes: &BatchWrites<'_>) -> bool {
        writes
            .debits
            .keys()
            .all(|account| self.balances.contains_key(*account))
            && writes
                .rows
                .iter()
                .filter(|(_, change)| matches!(change, RowChange::Sign(_)))
                .all(|(slot, _)| self.rows.contains_key(slot))
    }
}

/// The atomic write of `writes`, which moves the position to `last`; every
/// value it replaces is fenced by the version `reads` found.
pub(super) fn write_ops(
    reads: &Reads,
    writes: BatchWrites<'_>,
    last: u64,
    initial_balance: u64,
) -> Result<Vec<Op>, DbError> {
    let mut ops = Vec::new();
    for (account, debit) in &writes.debits {
        let balance = &reads.balances[*account];
        let before = balance.value.unwrap_or(initial_balance);
        let Some(after) = before.checked_sub(*debit) else {
            // The fold checked every debit against the same history.
            return Err(DbError::Protocol(format!(
                "account {account} holds {before} in the database, less than the {debit} the log accepted"
            )));
        };
        ops.push(fenced_write(
            BALANCES,
            Key::from(*account),
            balance.version,
            &after,
        ));
    }
    for (slot, change) in writes.rows {
        let key = int_key(slot);
        match change {
            RowChange::Create(row) => ops.push(fenced_write(OUTBOX, key, None, &row)),
            RowChange::Sign(tx) => {
                // A row the database does not hold is not revived: only a
                // payout lost to a planted bug has none.
                let read = &reads.rows[&slot];
                if let Some(row) = &read.value {
                    let signed = OutboxRow {
                        state: Payout::Signed { tx },
                        ..row.clone()
                    };
                    ops.push(fenced_write(OUTBOX, key, read.version, &signed));
                }
            }
            RowChange::Close => ops.push(Op::Delete {
                table: OUTBOX.to_owned(),
                key,
            }),
        }
    }
    // The position's check fences the whole batch: these plain writes
    // land only with it.
    for (nonce, row) in writes.nonces {
        ops.push(Op::Put {
            table: NONCES.to_owned(),
            key: int_key(nonce),
            value: encode(&row),
        });
    }
    if let Some(next) = writes.next_nonce {
        ops.push(Op::Put {
            table: META.to_owned(),
            key: Key::from(NEXT_NONCE),
            value: encode(&next),
        });
    }
    ops.push(fenced_write(
        META,
        Key::from(APPLIED),
        reads.position.version,
        &last,
    ));
    Ok(ops)
}
