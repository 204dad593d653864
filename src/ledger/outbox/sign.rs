//! Step 1 of the worker: spending a nonce on a payout's transaction and
//! recording both before anything is sent, and the planted bugs that get
//! it wrong.

use super::{
    HOT_WALLET, StepError, Worker,
    writes::{Fencing, Writes, move_nonce, next_nonce, record_intent},
};
use crate::{
    bugs::Bug,
    chain::{Transaction, Transfer},
    db::{DbError, Isolation, Txn},
    fault_points::CrashPoint,
    ledger::{LedgerEvent, schema::OutboxRow, types::TransferId},
    observe::Event,
};

impl Worker {
    /// Spends the next nonce on this payout's transaction and records both
    /// in one transaction, fenced by the row's version, then submits.
    pub(super) async fn sign(
        &mut self,
        key: u64,
        version: u64,
        row: &OutboxRow,
    ) -> Result<(), StepError> {
        if self.env.bugs.has(Bug::SubmitBeforeIntent) {
            return self.sign_after_submit(key, version, row).await;
        }
        let fencing = self.fencing();
        let txn = self.db.begin(Isolation::ReadCommitted).await?;
        let nonce = self.take_nonce(&txn, fencing.nonce).await?;
        let tx = self.sign_transfer(row, nonce);
        record_intent(&txn, key, fencing, version, row, &tx).await?;
        match txn.commit().await {
            Ok(_) => {}
            Err(DbError::CommitUnknown) if self.env.bugs.has(Bug::UnknownCommitIsFailure) => {
                return self.sign_again_blindly(key, version, row).await;
            }
            // Reading the rows again next pass tells what happened.
            Err(error) => return Err(error.into()),
        }
        self.record_signed(row.transfer, nonce, &tx);
        self.env.crash_point(CrashPoint::OutboxAfterIntent).await;
        self.submit(row.transfer, &tx).await;
        Ok(())
    }

    /// How this worker's signing writes: fenced, but for planted bugs.
    fn fencing(&self) -> Fencing {
        let bugs = self.env.bugs;
        let blind_nonce = bugs.has(Bug::NonceReadModifyWrite) || bugs.has(Bug::NonceFromRpc);
        Fencing {
            row: self.row_writes(),
            nonce: if blind_nonce {
                Writes::Blind
            } else {
                Writes::Fenced
            },
        }
    }

    /// Reads the hot wallet's next nonce and moves the counter past it.
    /// Under the planted bug `nonce-from-rpc` the nonce comes from an RPC
    /// node's view of the account instead, which knows nothing of nonces
    /// spent on transactions not yet included.
    async fn take_nonce(&mut self, txn: &Txn, writes: Writes) -> Result<u64, StepError> {
        let next = next_nonce(txn).await?;
        let nonce = if self.env.bugs.has(Bug::NonceFromRpc) {
            self.chain.account(HOT_WALLET).await?.1
        } else {
            next.value.unwrap_or(0)
        };
        move_nonce(txn, writes, &next, nonce + 1).await?;
        Ok(nonce)
    }

    /// The planted bug `unknown-commit-is-failure`: an intent whose commit
    /// is unknown is taken as never made, and made again over whatever the
    /// first one wrote.
    async fn sign_again_blindly(
        &mut self,
        key: u64,
        version: u64,
        row: &OutboxRow,
    ) -> Result<(), StepError> {
        self.sign_and_submit(key, version, row, Fencing::BLIND)
            .await
    }

    /// The planted bug `submit-before-intent`: the nonce is taken, the
    /// transaction submitted, and only then recorded. A crash in between
    /// leaves a transaction on its way that the database does not know.
    async fn sign_after_submit(
        &mut self,
        key: u64,
        version: u64,
        row: &OutboxRow,
    ) -> Result<(), StepError> {
        let txn = self.db.begin(Isolation::ReadCommitted).await?;
        let nonce = self.take_nonce(&txn, Writes::Fenced).await?;
        txn.commit().await?;
        let tx = self.sign_transfer(row, nonce);
        self.submit(row.transfer, &tx).await;
        let txn = self.db.begin(Isolation::ReadCommitted).await?;
        record_intent(&txn, key, Fencing::FENCED, version, row, &tx).await?;
        txn.commit().await?;
        self.record_signed(row.transfer, nonce, &tx);
        Ok(())
    }

    /// The planted bug `resubmit-new-nonce`: a transaction that seems gone
    /// is replaced by a new one with the next nonce, while the first may
    /// still land.
    pub(super) async fn sign_anew(
        &mut self,
        key: u64,
        version: u64,
        row: &OutboxRow,
    ) -> Result<(), StepError> {
        self.sign_and_submit(key, version, row, Fencing::FENCED)
            .await
    }

    /// Takes a nonce, records the intent and submits, as `fencing` says,
    /// with none of the correct path's care for unknown commits.
    async fn sign_and_submit(
        &mut self,
        key: u64,
        version: u64,
        row: &OutboxRow,
        fencing: Fencing,
    ) -> Result<(), StepError> {
        let txn = self.db.begin(Isolation::ReadCommitted).await?;
        let nonce = self.take_nonce(&txn, fencing.nonce).await?;
        let tx = self.sign_transfer(row, nonce);
        record_intent(&txn, key, fencing, version, row, &tx).await?;
        txn.commit().await?;
        self.record_signed(row.transfer, nonce, &tx);
        self.submit(row.transfer, &tx).await;
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
            transfer,
            nonce,
            tx: tx.hash(),
        }));
    }
}
