//! The applier: folds the committed log in index order and projects each
//! entry's effects into the database.
//!
//! The fold lives in memory and is rebuilt from index 1 at every start, so
//! every replica decides the same. The projection is idempotent: one
//! database transaction writes a batch of entries' effects (each debit
//! together with its payout's outbox row) and moves the recorded position
//! `applied` with a compare-and-set, so a batch lands at most once however
//! many replicas, retries, crashes and unknown commits there are.

use futures::channel::oneshot;
use std::{
    cell::RefCell,
    collections::{BTreeMap, VecDeque},
    rc::Rc,
};

use super::{
    LedgerConfig, LedgerEvent,
    fold::{Effect, Fold, Idempotency},
    schema::{
        APPLIED, BALANCES, META, OUTBOX, OutboxRow, Payout, Versioned, encode, int_key, read,
        write_if_unchanged,
    },
    types::decode_batch,
};
use crate::{
    bugs::Bug,
    db::{DbClient, DbError, Isolation, Key, Txn},
    fault_points::CrashPoint,
    log::{EntryKind, LogClient},
    node::NodeEnv,
    observe::{Event, Mark},
};

/// Entries projected in one database transaction at most.
const PROJECT_BATCH: usize = 16;
/// Committed entries read from the log at once at most.
const READ_BATCH: u32 = 64;

/// The fold and whoever waits for it to reach an index.
pub struct Folded {
    pub fold: Fold,
    waiters: BTreeMap<u64, Vec<oneshot::Sender<()>>>,
    /// Wakes the idle applier when someone starts waiting.
    nudge: Option<oneshot::Sender<()>>,
}

pub type SharedFold = Rc<RefCell<Folded>>;

impl Folded {
    pub fn new(config: &LedgerConfig, env: &NodeEnv) -> SharedFold {
        let idempotency = if env.bugs.has(Bug::NoIdempotencyKey) {
            Idempotency::None
        } else {
            Idempotency::ByRequestId
        };
        Rc::new(RefCell::new(Folded {
            fold: Fold::new(config.accounts.clone(), config.initial_balance, idempotency),
            waiters: BTreeMap::new(),
            nudge: None,
        }))
    }

    /// Resolves once the fold has applied `index`.
    pub fn reached(shared: &SharedFold, index: u64) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let mut folded = shared.borrow_mut();
        if folded.fold.applied() >= index {
            let _ = tx.send(());
        } else {
            folded.waiters.entry(index).or_default().push(tx);
            if let Some(nudge) = folded.nudge.take() {
                let _ = nudge.send(());
            }
        }
        rx
    }

    fn wake(&mut self) {
        let applied = self.fold.applied();
        let later = self.waiters.split_off(&(applied + 1));
        for waiter in std::mem::replace(&mut self.waiters, later)
            .into_values()
            .flatten()
        {
            let _ = waiter.send(());
        }
    }
}

/// Runs the applier of one incarnation.
pub async fn run(
    env: NodeEnv,
    config: LedgerConfig,
    mut log: LogClient,
    db: DbClient,
    shared: SharedFold,
) {
    let mut projector = Projector {
        env: env.clone(),
        config: config.clone(),
        db,
        unprojected: VecDeque::new(),
        position: None,
    };
    loop {
        let from = shared.borrow().fold.applied() + 1;
        let read = log
            .read_committed(from, READ_BATCH, config.log_timeout)
            .await;
        let entries = read.unwrap_or_default();
        let got = entries.len();
        {
            let mut folded = shared.borrow_mut();
            for entry in entries {
                let index = folded.fold.applied() + 1;
                let commands = match &entry.kind {
                    EntryKind::Command { data, .. } => decode_batch(data),
                    EntryKind::Noop => None,
                };
                match commands {
                    Some(commands) => {
                        let effects = folded.fold.apply(index, &commands);
                        projector.unprojected.push_back((index, effects));
                    }
                    None => {
                        folded.fold.skip(index);
                        projector.unprojected.push_back((index, Vec::new()));
                    }
                }
            }
            folded.wake();
            if got > 0 {
                env.record(Event::Ledger(LedgerEvent::Folded {
                    applied: folded.fold.applied(),
                    unconfirmed: folded.fold.unconfirmed().count() as u64,
                }));
            }
        }
        let projected = projector.project().await;
        if got < READ_BATCH as usize && !projected {
            // Someone waits for an entry this replica appended: it is
            // committed, so ask again soon. Otherwise idle until asked.
            let nudged = {
                let mut folded = shared.borrow_mut();
                if folded.waiters.is_empty() {
                    let (tx, rx) = oneshot::channel();
                    folded.nudge = Some(tx);
                    Some(rx)
                } else {
                    None
                }
            };
            match nudged {
                Some(nudged) => {
                    let _ = env.clock.timeout(config.idle_poll, nudged).await;
                }
                None => env.sleep(config.apply_poll).await,
            }
        }
    }
}

/// Writes folded effects into the database.
struct Projector {
    env: NodeEnv,
    config: LedgerConfig,
    db: DbClient,
    /// Folded entries whose effects may not be in the database yet, in
    /// index order.
    unprojected: VecDeque<(u64, Vec<Effect>)>,
    /// Where this replica believes the projection stands: only the planted
    /// bug `applier-not-idempotent` trusts it instead of the database.
    position: Option<u64>,
}

impl Projector {
    /// Projects one batch; returns whether it moved the projection.
    async fn project(&mut self) -> bool {
        if self.unprojected.is_empty() {
            return false;
        }
        let result = if self.env.bugs.has(Bug::ApplierNotIdempotent) {
            self.project_blindly().await
        } else {
            self.project_fenced().await
        };
        match result {
            Ok(moved) => moved,
            Err(error) => {
                if let DbError::CommitUnknown = error {
                    self.env.mark(Mark::CommitUnknown);
                }
                tracing::debug!(node = %self.env.name, %error, "projection failed; will retry");
                false
            }
        }
    }

    /// The projection: reads the recorded position, writes the effects of
    /// the entries after it, and moves it, all in one transaction.
    async fn project_fenced(&mut self) -> Result<bool, DbError> {
        let txn = self.db.begin(Isolation::ReadCommitted).await?;
        let applied: Versioned<u64> = read(&txn, META, Key::from(APPLIED)).await?;
        let position = applied.value.unwrap_or(0);
        self.forget_through(position);
        let batch = self.batch(position);
        let Some(last) = batch.last().map(|(index, _)| *index) else {
            txn.rollback().await;
            return Ok(false);
        };
        if self.env.bugs.has(Bug::OutboxDualWrite) {
            return self
                .project_dual_write(txn, applied.version, batch, last)
                .await;
        }
        let payouts = self.write_debits_and_payouts(&txn, &batch, true).await?;
        self.write_payouts(&txn, payouts, true).await?;
        write_if_unchanged(&txn, META, Key::from(APPLIED), applied.version, &last).await?;
        txn.commit().await?;
        self.projected(position, last);
        self.env.crash_point(CrashPoint::ApplierAfterProject).await;
        Ok(true)
    }

    /// The planted bug `outbox-dual-write`: debits and payouts commit in two
    /// transactions; a crash between loses the payout.
    async fn project_dual_write(
        &mut self,
        txn: Txn,
        version: Option<u64>,
        batch: Vec<(u64, Vec<Effect>)>,
        last: u64,
    ) -> Result<bool, DbError> {
        let position = last - batch.len() as u64;
        let payouts = self.write_debits_and_payouts(&txn, &batch, true).await?;
        write_if_unchanged(&txn, META, Key::from(APPLIED), version, &last).await?;
        txn.commit().await?;
        self.projected(position, last);
        self.env
            .crash_point(CrashPoint::ApplierBetweenDebitAndPayout)
            .await;
        let txn = self.db.begin(Isolation::ReadCommitted).await?;
        self.write_payouts(&txn, payouts, true).await?;
        txn.commit().await?;
        Ok(true)
    }

    /// The planted bug `applier-not-idempotent`: the position is kept in
    /// memory and written blindly, debits and rows are plain writes, and a
    /// batch whose commit is unknown is projected again.
    async fn project_blindly(&mut self) -> Result<bool, DbError> {
        let position = match self.position {
            Some(position) => position,
            None => {
                let txn = self.db.begin(Isolation::ReadCommitted).await?;
                let applied: Versioned<u64> = read(&txn, META, Key::from(APPLIED)).await?;
                txn.commit().await?;
                applied.value.unwrap_or(0)
            }
        };
        self.position = Some(position);
        self.forget_through(position);
        let batch = self.batch(position);
        let Some(last) = batch.last().map(|(index, _)| *index) else {
            return Ok(false);
        };
        let txn = self.db.begin(Isolation::ReadCommitted).await?;
        let payouts = self.write_debits_and_payouts(&txn, &batch, false).await?;
        self.write_payouts(&txn, payouts, false).await?;
        txn.put(META, Key::from(APPLIED), encode(&last)).await?;
        match txn.commit().await {
            Ok(_) => {
                self.position = Some(last);
                self.projected(position, last);
                self.env.crash_point(CrashPoint::ApplierAfterProject).await;
                Ok(true)
            }
            // Taken as not applied: the same batch goes again.
            Err(error) => Err(error),
        }
    }

    /// The contiguous run of entries right after `position`, at most a
    /// batch. Empty when the fold has not reached `position + 1` yet.
    fn batch(&self, position: u64) -> Vec<(u64, Vec<Effect>)> {
        self.unprojected
            .iter()
            .take(PROJECT_BATCH)
            .enumerate()
            .take_while(|(offset, (index, _))| *index == position + 1 + *offset as u64)
            .map(|(_, entry)| entry.clone())
            .collect()
    }

    /// Debits the accounts of accepted transfers; returns the outbox writes
    /// (a new row, or `None` to delete a confirmed one) by row key.
    async fn write_debits_and_payouts(
        &self,
        txn: &Txn,
        batch: &[(u64, Vec<Effect>)],
        fenced: bool,
    ) -> Result<BTreeMap<u64, Option<OutboxRow>>, DbError> {
        let mut debits: BTreeMap<&str, u64> = BTreeMap::new();
        let mut payouts: BTreeMap<u64, Option<OutboxRow>> = BTreeMap::new();
        for effect in batch.iter().flat_map(|(_, effects)| effects) {
            match effect {
                Effect::Accept {
                    slot,
                    transfer,
                    request,
                } => {
                    *debits.entry(&request.account).or_default() += request.amount;
                    let row = OutboxRow {
                        transfer: *transfer,
                        to_address: request.to_address.clone(),
                        amount: request.amount,
                        state: Payout::Pending,
                        claim: None,
                    };
                    payouts.insert(*slot, Some(row));
                }
                Effect::Confirm { slot } => {
                    // Created and confirmed in this very batch: never written.
                    if payouts.remove(slot).is_none() {
                        payouts.insert(*slot, None);
                    }
                }
            }
        }
        for (account, debit) in debits {
            let balance: Versioned<u64> = read(txn, BALANCES, Key::from(account)).await?;
            let before = balance.value.unwrap_or(self.config.initial_balance);
            let Some(after) = before.checked_sub(debit) else {
                // The fold checked every debit against the same history.
                return Err(DbError::Protocol(format!(
                    "account {account} holds {before} in the database, less than the {debit} the log accepted"
                )));
            };
            if fenced {
                write_if_unchanged(txn, BALANCES, Key::from(account), balance.version, &after)
                    .await?;
            } else {
                txn.put(BALANCES, Key::from(account), encode(&after))
                    .await?;
            }
        }
        Ok(payouts)
    }

    async fn write_payouts(
        &self,
        txn: &Txn,
        payouts: BTreeMap<u64, Option<OutboxRow>>,
        fenced: bool,
    ) -> Result<(), DbError> {
        for (slot, row) in payouts {
            match row {
                Some(row) if fenced => {
                    write_if_unchanged(txn, OUTBOX, int_key(slot), None, &row).await?
                }
                Some(row) => txn.put(OUTBOX, int_key(slot), encode(&row)).await?,
                None => txn.delete(OUTBOX, int_key(slot)).await?,
            }
        }
        Ok(())
    }

    /// Drops folded entries up to `position`: they are in the database.
    fn forget_through(&mut self, position: u64) {
        while self
            .unprojected
            .front()
            .is_some_and(|(index, _)| *index <= position)
        {
            self.unprojected.pop_front();
        }
    }

    fn projected(&mut self, from: u64, to: u64) {
        self.forget_through(to);
        self.env
            .record(Event::Ledger(LedgerEvent::Projected { from: from + 1, to }));
    }
}
