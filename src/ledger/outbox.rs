//! The outbox worker: pays out every open row of the outbox, in order.
//!
//! 1. A `Pending` row gets the hot wallet's next nonce and its signed
//!    transaction in one database transaction, before anything is sent:
//!    the intent. A nonce is spent on exactly one transaction, and a
//!    transaction exists nowhere but in the database until recorded there.
//! 2. A `Signed` row's transaction is submitted, and resubmitted unchanged
//!    whenever the chain does not show it: the same transaction can land
//!    only once, so resubmitting is always safe.
//! 3. Once the receipt shows it `confirmations` deep, the confirmation is
//!    appended to the log; the applier then closes the row.
//!
//! Nothing is remembered across a crash but what the database holds: after
//! a restart or an unknown commit the worker reads the rows again and goes
//! on from what they say.

use std::{collections::BTreeMap, time::Duration};

use super::{
    LedgerConfig, LedgerEvent,
    appender::Appender,
    schema::{
        META, NEXT_NONCE, NONCES, NonceRow, OUTBOX, OutboxRow, Payout, Versioned, decode, encode,
        int_key, read, write_if_unchanged,
    },
    types::{Command, Confirmation, TransferId},
};
use crate::{
    bugs::Bug,
    chain::{ChainClient, ChainError, SubmitError, Transaction, Transfer, TxHash},
    db::{DbClient, DbError, Isolation, Key, ScanRange, Txn},
    node::NodeEnv,
    observe::Event,
};

/// Open payouts handled per pass at most.
const MAX_ROWS_PER_PASS: u32 = 256;

/// The address payouts are made from.
pub const HOT_WALLET: &str = "hot-wallet";

pub struct Worker {
    env: NodeEnv,
    config: LedgerConfig,
    db: DbClient,
    chain: ChainClient,
    appender: Appender,
    /// When each transaction was last submitted in this life.
    submitted: BTreeMap<TxHash, Duration>,
    /// Confirmations appended in this life, by transfer, and when: not
    /// appended again until the applier had time to close the row.
    confirming: BTreeMap<TransferId, Duration>,
}

impl Worker {
    pub fn new(
        env: NodeEnv,
        config: LedgerConfig,
        db: DbClient,
        chain: ChainClient,
        appender: Appender,
    ) -> Worker {
        Worker {
            env,
            config,
            db,
            chain,
            appender,
            submitted: BTreeMap::new(),
            confirming: BTreeMap::new(),
        }
    }

    pub async fn run(mut self) {
        loop {
            self.env.sleep(self.config.outbox_poll).await;
            let rows = match self.open_rows().await {
                Ok(rows) => rows,
                Err(error) => {
                    tracing::debug!(node = %self.env.name, %error, "cannot read the outbox");
                    continue;
                }
            };
            for (key, version, row) in rows {
                let outcome = match &row.state {
                    Payout::Pending => self.sign(key, version, &row).await,
                    Payout::Signed { tx } => self.follow(key, version, &row, tx).await,
                };
                if let Err(error) = outcome {
                    tracing::debug!(node = %self.env.name, transfer = %row.transfer, %error, "payout step failed; will retry");
                }
            }
        }
    }

    /// The open rows, in log order, with their versions.
    async fn open_rows(&self) -> Result<Vec<(u64, u64, OutboxRow)>, DbError> {
        let txn = self.db.begin(Isolation::ReadCommitted).await?;
        let range = ScanRange::Between {
            start: Key::Int(0),
            end: Key::Int(i64::MAX),
        };
        let rows = txn.scan(OUTBOX, range, MAX_ROWS_PER_PASS).await?;
        txn.commit().await?;
        rows.into_iter()
            .map(|(key, found)| {
                let Key::Int(index) = key else {
                    return Err(DbError::Protocol(format!("outbox key {key}")));
                };
                let version = found
                    .version
                    .ok_or_else(|| DbError::Protocol("uncommitted outbox row".to_owned()))?;
                Ok((index as u64, version, decode(&found.value)?))
            })
            .collect()
    }

    /// Step 1: spends the next nonce on this payout's transaction and
    /// records both, then submits.
    async fn sign(&mut self, key: u64, version: u64, row: &OutboxRow) -> Result<(), DbError> {
        if self.env.bugs.has(Bug::SubmitBeforeIntent) {
            return self.sign_after_submit(key, version, row).await;
        }
        let txn = self.db.begin(Isolation::ReadCommitted).await?;
        let nonce = take_nonce(&txn, Writes::Fenced).await?;
        let tx = self.sign_transfer(row, nonce);
        record_intent(&txn, key, Writes::Fenced, version, row, &tx).await?;
        match txn.commit().await {
            Ok(_) => {}
            Err(DbError::CommitUnknown) if self.env.bugs.has(Bug::UnknownCommitIsFailure) => {
                return self.sign_again_blindly(key, version, row).await;
            }
            // Reading the rows again next pass tells what happened.
            Err(error) => return Err(error),
        }
        self.record_signed(row.transfer, nonce, &tx);
        self.env.crash_point("outbox.after-intent").await;
        self.submit(row.transfer, &tx).await;
        Ok(())
    }

    /// The planted bug `unknown-commit-is-failure`: an intent whose commit
    /// is unknown is taken as never made, and made again over whatever the
    /// first one wrote.
    async fn sign_again_blindly(
        &mut self,
        key: u64,
        version: u64,
        row: &OutboxRow,
    ) -> Result<(), DbError> {
        let txn = self.db.begin(Isolation::ReadCommitted).await?;
        let nonce = take_nonce(&txn, Writes::Blind).await?;
        let tx = self.sign_transfer(row, nonce);
        record_intent(&txn, key, Writes::Blind, version, row, &tx).await?;
        txn.commit().await?;
        self.record_signed(row.transfer, nonce, &tx);
        self.submit(row.transfer, &tx).await;
        Ok(())
    }

    /// The planted bug `submit-before-intent`: the nonce is taken, the
    /// transaction submitted, and only then recorded. A crash in between
    /// leaves a transaction on its way that the database does not know.
    async fn sign_after_submit(
        &mut self,
        key: u64,
        version: u64,
        row: &OutboxRow,
    ) -> Result<(), DbError> {
        let txn = self.db.begin(Isolation::ReadCommitted).await?;
        let nonce = take_nonce(&txn, Writes::Fenced).await?;
        txn.commit().await?;
        let tx = self.sign_transfer(row, nonce);
        self.submit(row.transfer, &tx).await;
        let txn = self.db.begin(Isolation::ReadCommitted).await?;
        record_intent(&txn, key, Writes::Fenced, version, row, &tx).await?;
        txn.commit().await?;
        self.record_signed(row.transfer, nonce, &tx);
        Ok(())
    }

    fn sign_transfer(&self, row: &OutboxRow, nonce: u64) -> Transaction {
        self.config.hot_wallet_key.sign(Transfer {
            from: HOT_WALLET.to_owned(),
            nonce,
            to: row.to_address.clone(),
            amount: row.amount,
            fee: self.config.fee,
            memo: row.transfer.memo(),
        })
    }

    fn record_signed(&self, transfer: TransferId, nonce: u64, tx: &Transaction) {
        self.env.record(Event::Ledger(LedgerEvent::Signed {
            transfer: transfer.0,
            nonce,
            tx: tx.hash().0,
        }));
    }

    /// Steps 2 and 3 for a signed payout.
    async fn follow(
        &mut self,
        key: u64,
        version: u64,
        row: &OutboxRow,
        tx: &Transaction,
    ) -> Result<(), DbError> {
        let hash = tx.hash();
        let receipt = match self.chain.receipt(hash).await {
            Ok(receipt) => receipt,
            Err(error) => {
                tracing::debug!(node = %self.env.name, %error, "no receipt");
                return Ok(());
            }
        };
        match receipt {
            Some(receipt)
                if receipt.confirmations >= self.config.confirmations
                    || self.env.bugs.has(Bug::ConfirmAtDepth0) =>
            {
                let confirmation = Confirmation {
                    tx: hash,
                    nonce: tx.transfer.nonce,
                    height: receipt.height,
                    depth: receipt.confirmations,
                };
                self.confirm(row.transfer, confirmation).await;
            }
            // Included, not deep enough yet.
            Some(_) => {}
            None => self.resubmit(key, version, row, tx).await?,
        }
        Ok(())
    }

    /// The chain does not show `tx`: it may be in a mempool, on its way,
    /// behind a lagging view, dropped, or reorged out. Submitting it again
    /// is safe in every case; it is done once `resubmit_after` has passed
    /// since the last try, so that a lagging view is given time.
    async fn resubmit(
        &mut self,
        key: u64,
        version: u64,
        row: &OutboxRow,
        tx: &Transaction,
    ) -> Result<(), DbError> {
        let now = self.env.clock.mono_now();
        let due = self
            .submitted
            .get(&tx.hash())
            .is_none_or(|last| now >= *last + self.config.resubmit_after);
        if !due {
            return Ok(());
        }
        if self.env.bugs.has(Bug::ResubmitNewNonce) && self.submitted.contains_key(&tx.hash()) {
            self.submitted.remove(&tx.hash());
            return self.sign_anew(key, version, row).await;
        }
        self.submit(row.transfer, tx).await;
        Ok(())
    }

    /// The planted bug `resubmit-new-nonce`: a transaction that seems gone
    /// is replaced by a new one with the next nonce, while the first may
    /// still land.
    async fn sign_anew(&mut self, key: u64, version: u64, row: &OutboxRow) -> Result<(), DbError> {
        let txn = self.db.begin(Isolation::ReadCommitted).await?;
        let nonce = take_nonce(&txn, Writes::Fenced).await?;
        let fresh = self.sign_transfer(row, nonce);
        record_intent(&txn, key, Writes::Fenced, version, row, &fresh).await?;
        txn.commit().await?;
        self.record_signed(row.transfer, nonce, &fresh);
        self.submit(row.transfer, &fresh).await;
        Ok(())
    }

    /// Submits `tx` through an RPC node. Its verdict changes nothing: the
    /// receipt decides, so a lost answer is harmless.
    async fn submit(&mut self, transfer: TransferId, tx: &Transaction) {
        self.submitted.insert(tx.hash(), self.env.clock.mono_now());
        let verdict = self.chain.submit(tx.clone()).await;
        self.env.crash_point("outbox.after-submit").await;
        match verdict {
            Ok(_) | Err(ChainError::Timeout) => {}
            // The nonce is used: by this very transaction (the chain
            // answers so for one it already included), or the nonce
            // bookkeeping is broken. Only the receipt can tell.
            Err(ChainError::Rejected(SubmitError::NonceTooLow { .. }))
                if self.env.bugs.has(Bug::NonceTooLowIsSuccess) =>
            {
                self.confirm_unseen(transfer, tx).await;
            }
            Err(error) => {
                tracing::debug!(node = %self.env.name, tx = %tx.hash(), %error, "submission refused");
            }
        }
    }

    /// The planted bug `nonce-too-low-is-success`: a used nonce is taken as
    /// proof the payout is done, without a receipt.
    async fn confirm_unseen(&mut self, transfer: TransferId, tx: &Transaction) {
        let confirmation = Confirmation {
            tx: tx.hash(),
            nonce: tx.transfer.nonce,
            height: 0,
            depth: 0,
        };
        self.confirm(transfer, confirmation).await;
    }

    /// Step 3: appends the confirmation to the log.
    async fn confirm(&mut self, transfer: TransferId, confirmation: Confirmation) {
        let now = self.env.clock.mono_now();
        if self
            .confirming
            .get(&transfer)
            .is_some_and(|at| now < *at + self.config.resubmit_after)
        {
            return;
        }
        self.confirming.insert(transfer, now);
        self.env.record(Event::Ledger(LedgerEvent::Confirming {
            transfer: transfer.0,
            tx: confirmation.tx.0,
            height: confirmation.height,
            depth: confirmation.depth,
        }));
        self.env.crash_point("outbox.before-confirm-append").await;
        let command = Command::Confirmed {
            transfer,
            confirmation,
        };
        let appended = self
            .env
            .clock
            .timeout(self.config.log_timeout * 4, self.appender.append(command))
            .await;
        if appended.flatten().is_some() {
            self.env.crash_point("outbox.after-confirm-append").await;
        }
    }
}

/// How a step writes its rows: each checked to be as read (the fencing every
/// correct write goes through), or overwritten blindly (planted bugs).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Writes {
    Fenced,
    Blind,
}

/// Reads the hot wallet's next nonce and moves the counter past it.
async fn take_nonce(txn: &Txn, writes: Writes) -> Result<u64, DbError> {
    let next: Versioned<u64> = read(txn, META, Key::from(NEXT_NONCE)).await?;
    let nonce = next.value.unwrap_or(0);
    match writes {
        Writes::Fenced => {
            write_if_unchanged(txn, META, Key::from(NEXT_NONCE), next.version, &(nonce + 1)).await?
        }
        Writes::Blind => {
            txn.put(META, Key::from(NEXT_NONCE), encode(&(nonce + 1)))
                .await?
        }
    }
    Ok(nonce)
}

/// Records `tx` as the payout of the outbox row at `key` (read at
/// `version`) and as what its nonce was spent on.
async fn record_intent(
    txn: &Txn,
    key: u64,
    writes: Writes,
    version: u64,
    row: &OutboxRow,
    tx: &Transaction,
) -> Result<(), DbError> {
    let signed = OutboxRow {
        state: Payout::Signed { tx: tx.clone() },
        ..row.clone()
    };
    let spent = NonceRow {
        transfer: row.transfer,
        tx: tx.hash(),
    };
    let nonce = int_key(tx.transfer.nonce);
    match writes {
        Writes::Fenced => {
            write_if_unchanged(txn, OUTBOX, int_key(key), Some(version), &signed).await?;
            write_if_unchanged(txn, NONCES, nonce, None, &spent).await
        }
        Writes::Blind => {
            txn.put(OUTBOX, int_key(key), encode(&signed)).await?;
            txn.put(NONCES, nonce, encode(&spent)).await
        }
    }
}
