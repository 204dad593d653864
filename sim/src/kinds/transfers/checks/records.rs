//! What the system's durable state records of payouts: the intents the log
//! took (ground truth, replayed by the reference), together with the
//! database's own records. The database is a projection of the log, but a
//! design may also keep intents there (the planted bug `intent-only-in-db`
//! does); a transaction recorded in either place is one the system meant
//! to send, and anything else on the wire is one it did not.

use ledger::{
    chain::{Transaction, TxHash},
    db::Key,
    ledger::{TransferId, schema},
};
use std::collections::{BTreeMap, BTreeSet};

use super::{Facts, db_u64};

/// The recorded transactions of each nonce, and of each open payout.
pub(super) struct Records {
    /// Every transaction recorded at each nonce, with its payout.
    pub(super) by_nonce: BTreeMap<u64, BTreeSet<(TxHash, TransferId)>>,
    /// The transaction of each payout not yet confirmed: the log's intent,
    /// and the database row's signed transaction.
    pub(super) open: BTreeMap<TransferId, BTreeSet<TxHash>>,
    /// Every transaction of an open payout, by hash.
    pub(super) open_txs: BTreeMap<TxHash, Transaction>,
    /// The next nonce the records imply: past every recorded nonce, and no
    /// less than the log's or the database's counter.
    pub(super) next: u64,
    /// Database rows that do not decode.
    pub(super) malformed: Vec<String>,
}

impl Records {
    pub(super) fn of(facts: &Facts<'_>) -> Records {
        let (reference, db) = (&facts.reference, facts.truth.db);
        let mut records = Records {
            by_nonce: BTreeMap::new(),
            open: BTreeMap::new(),
            open_txs: BTreeMap::new(),
            next: 0,
            malformed: Vec::new(),
        };
        for (nonce, (transfer, tx)) in &reference.nonces {
            records.spend(*nonce, *tx, *transfer);
        }
        for (transfer, intent) in &reference.intents {
            if !reference.confirmed.contains_key(transfer) {
                records.keep_open(*transfer, &intent.tx);
            }
        }
        for (key, row) in db.engine.rows(schema::NONCES) {
            match (key, schema::decode::<schema::NonceRow>(&row.value)) {
                (Key::Int(nonce), Ok(spent)) => {
                    records.spend(*nonce as u64, spent.tx, spent.transfer);
                }
                _ => records.malformed.push(format!("nonce row {key}")),
            }
        }
        for (key, row) in db.engine.rows(schema::OUTBOX) {
            match schema::decode::<schema::OutboxRow>(&row.value) {
                Ok(schema::OutboxRow {
                    transfer,
                    state: schema::Payout::Signed { tx },
                    ..
                }) if !reference.confirmed.contains_key(&transfer) => {
                    records.keep_open(transfer, &tx);
                }
                Ok(_) => {}
                Err(_) => records.malformed.push(format!("outbox row {key}")),
            }
        }
        let db_next = db_u64(db, schema::META, Key::from(schema::NEXT_NONCE)).unwrap_or(0);
        let past_recorded = records
            .by_nonce
            .keys()
            .next_back()
            .map_or(0, |nonce| nonce + 1);
        records.next = reference.next_nonce.max(db_next).max(past_recorded);
        records
    }

    fn spend(&mut self, nonce: u64, tx: TxHash, transfer: TransferId) {
        self.by_nonce
            .entry(nonce)
            .or_default()
            .insert((tx, transfer));
    }

    fn keep_open(&mut self, transfer: TransferId, tx: &Transaction) {
        self.open.entry(transfer).or_default().insert(tx.hash());
        self.open_txs.insert(tx.hash(), tx.clone());
    }

    /// Whether `tx` is recorded at `nonce`.
    pub(super) fn holds(&self, nonce: u64, tx: TxHash) -> bool {
        self.by_nonce
            .get(&nonce)
            .is_some_and(|spent| spent.iter().any(|(recorded, _)| *recorded == tx))
    }

    /// Whether `tx` is the transaction of a payout still open.
    pub(super) fn is_open(&self, tx: TxHash) -> bool {
        self.open_txs.contains_key(&tx)
    }
}
