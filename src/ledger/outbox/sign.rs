//! Step 1 of the worker: the payout's intent, decided by the log before
//! anything is sent, and the planted bugs that get it wrong.

use super::{
    HOT_WALLET, Prefetched, StepError, Worker,
    writes::{move_nonce, next_nonce, record_intent},
};
use crate::{
    bugs::Bug,
    chain::{Transaction, Transfer},
    db::Isolation,
    fault_points::CrashPoint,
    ledger::{
        LedgerEvent,
        schema::{OutboxRow, Payout},
        types::{Command, TransferId, TransferRequest},
    },
    observe::{Event, Mark},
};

impl Worker {
    /// Proposes `tx`, signed with the log's next nonce as this fold knows
    /// it, as the intent of `transfer`'s payout, and sends it only if this
    /// fold then shows the log took it.
    pub(super) async fn propose(
        &mut self,
        transfer: TransferId,
        request: &TransferRequest,
    ) -> Result<(), StepError> {
        let nonce = self.fold.borrow().fold.next_nonce();
        let tx = self.sign_transfer(transfer, &request.to_address, request.amount, nonce);
        let submit_first = self.env.bugs.has(Bug::SubmitBeforeIntent);
        if submit_first {
            self.submit(transfer, &tx).await;
        }
        let intent = Command::Intent {
            transfer,
            tx: tx.clone(),
        };
        if self.env.bugs.has(Bug::LeaseNoFencing) {
            return self.send_on_lease(intent, transfer, nonce, &tx).await;
        }
        if !self.append_and_fold(intent).await {
            // Unknown: the next pass reads what the log decided.
            self.env.mark(Mark::IntentOutcomeUnknown);
            self.unknown_intents.insert(transfer, tx.hash());
            return Ok(());
        }
        // Known: whatever an earlier unknown proposal became, this one's
        // verdict follows.
        self.unknown_intents.remove(&transfer);
        if !self.log_took(transfer, &tx) {
            self.env.mark(Mark::IntentRefused);
            self.env.record(Event::Ledger(LedgerEvent::IntentRefused {
                transfer,
                nonce,
            }));
            return Ok(());
        }
        self.record_signed(transfer, nonce, &tx);
        self.env.crash_point(CrashPoint::OutboxAfterIntent).await;
        if !submit_first {
            self.submit(transfer, &tx).await;
        }
        Ok(())
    }

    /// The planted bug `lease-no-fencing`: the worker holds the payout's
    /// lease, so it takes the payout as its own and sends its transaction
    /// as soon as the intent is on its way to the log, without waiting for
    /// the log's verdict.
    async fn send_on_lease(
        &mut self,
        intent: Command,
        transfer: TransferId,
        nonce: u64,
        tx: &Transaction,
    ) -> Result<(), StepError> {
        let appender = self.appender.clone();
        madsim::task::spawn_local(async move {
            appender.append(intent).await;
        });
        self.record_signed(transfer, nonce, tx);
        self.submit(transfer, tx).await;
        Ok(())
    }

    /// Whether this replica's fold holds `tx` as `transfer`'s intent.
    fn log_took(&self, transfer: TransferId, tx: &Transaction) -> bool {
        let folded = self.fold.borrow();
        folded
            .fold
            .transfer(transfer)
            .and_then(|accepted| accepted.intent.as_ref())
            == Some(tx)
    }

    /// The planted bugs that keep the nonce bookkeeping in the database,
    /// as before intents were in the log: a `Pending` row gets the
    /// database's next nonce and its signed transaction in one database
    /// transaction. Under `intent-only-in-db` that is the whole intent;
    /// under `nonce-from-db-after-wipe` the intent then goes to the log,
    /// which takes its nonce on trust. A lost counter restarts: from the
    /// chain's count of the hot wallet's transactions (`intent-only-in-db`,
    /// the recovery a database-only design would have), or from zero.
    pub(super) async fn step_from_db(
        &mut self,
        key: u64,
        version: u64,
        row: &OutboxRow,
        receipts: &mut Prefetched,
    ) -> Result<(), StepError> {
        let tx = match &row.state {
            Payout::Signed { tx } => tx.clone(),
            Payout::Pending => {
                let txn = self.db.begin(Isolation::ReadCommitted).await?;
                let next = next_nonce(&txn).await?;
                let nonce = match next.value {
                    Some(nonce) => nonce,
                    None if self.env.bugs.has(Bug::IntentOnlyInDb) => {
                        self.chain.account(HOT_WALLET).await?.1
                    }
                    None => 0,
                };
                let tx = self.sign_transfer(row.transfer, &row.to_address, row.amount, nonce);
                move_nonce(&txn, &next, nonce + 1).await?;
                record_intent(&txn, key, version, row, &tx).await?;
                txn.commit().await?;
                self.record_signed(row.transfer, nonce, &tx);
                self.env.crash_point(CrashPoint::OutboxAfterIntent).await;
                tx
            }
        };
        if self.env.bugs.has(Bug::NonceFromDbAfterWipe) {
            let intent = Command::Intent {
                transfer: row.transfer,
                tx: tx.clone(),
            };
            if !self.append_and_fold(intent).await || !self.log_took(row.transfer, &tx) {
                return Ok(());
            }
            return self.follow(row, &tx, receipts).await;
        }
        self.follow(row, &tx, receipts).await
    }

    /// The planted bug `resubmit-new-nonce`: a transaction that seems gone
    /// is replaced by a new one with the log's next nonce, proposed and
    /// sent without waiting for the log's verdict, while the first may
    /// still land.
    pub(super) async fn sign_anew(&mut self, row: &OutboxRow) -> Result<(), StepError> {
        let nonce = self.fold.borrow().fold.next_nonce();
        let tx = self.sign_transfer(row.transfer, &row.to_address, row.amount, nonce);
        let intent = Command::Intent {
            transfer: row.transfer,
            tx: tx.clone(),
        };
        let appender = self.appender.clone();
        madsim::task::spawn_local(async move {
            appender.append(intent).await;
        });
        self.record_signed(row.transfer, nonce, &tx);
        self.submit(row.transfer, &tx).await;
        Ok(())
    }

    fn sign_transfer(
        &self,
        transfer: TransferId,
        to: &str,
        amount: u64,
        nonce: u64,
    ) -> Transaction {
        self.config.hot_wallet_key.sign(Transfer {
            from: HOT_WALLET.to_owned(),
            nonce,
            to: to.to_owned(),
            amount,
            fee: self.config.fee,
            memo: transfer.memo(),
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
