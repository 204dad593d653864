//! The projector: writes the fold's effects into the database, and
//! rebuilds the database from the committed log when it has lost them.
//!
//! The projection is idempotent: one database transaction writes a batch
//! of entries' effects (each debit with its payout's outbox row, each
//! intent with its nonce) and moves the recorded position `applied` with a
//! compare-and-set, so a batch lands at most once however many replicas,
//! retries, crashes and unknown commits there are.
//!
//! The database is derived state. When it lost its disk it comes back
//! empty, and its position with it: a projector that finds the position
//! behind entries it had already dropped (as projected) knows the
//! database lost them, folds the committed log again from index 1 in a
//! scratch fold, and projects the lost entries' effects again, in order,
//! through the same fenced transactions. Replicas that rebuild at once race
//! on the position, and one batch wins each round.
//!
//! Every replica folds every entry, but the replica that appended an entry
//! projects it at once, and the others only once it has stayed unprojected
//! for `standby_grace`: one database round trip per batch in the common
//! case rather than one per replica, and the others stand by for an
//! appender that died or is cut off from the database.

mod fenced;

use std::{
    collections::{BTreeMap, VecDeque},
    time::Duration,
};

use super::{
    LedgerConfig, LedgerEvent,
    applier::{READ_BATCH, fold_entry, rules},
    fold::{Effect, Fold},
    schema::{
        APPLIED, BALANCES, META, NEXT_NONCE, NONCES, NonceRow, OUTBOX, OutboxRow, Payout,
        Versioned, encode, int_key, read, write_if_unchanged,
    },
    types::TransferId,
};
use crate::{
    bugs::Bug,
    chain::Transaction,
    db::{DbClient, DbError, Isolation, Key, Txn, TxnError},
    fault_points::CrashPoint,
    log::LogClient,
    node::NodeEnv,
    observe::{Event, Mark},
};

/// What a replica's fold says of the payouts not yet confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenPayouts {
    None,
    /// Some, none of them signed yet.
    Unsigned,
    /// Some, at least one signed.
    Signed,
}

/// Entries projected in one database transaction at most.
const PROJECT_BATCH: usize = 16;

/// Writes folded effects into the database.
pub struct Projector {
    env: NodeEnv,
    config: LedgerConfig,
    db: DbClient,
    /// Folded entries whose effects may not be in the database yet, in
    /// index order.
    unprojected: VecDeque<(u64, Vec<Effect>)>,
    /// Where this replica believes the projection stands: only the planted
    /// bug `applier-not-idempotent` trusts it instead of the database.
    position: Option<u64>,
    /// While a rebuild is under way: the index it must reach.
    rebuilding: Option<u64>,
    /// The index a batch whose commit ended unknown would have moved the
    /// position to: only noted, to mark what the next read finds.
    unknown_commit: Option<u64>,
    /// The last entry folded that this incarnation appended: while it is
    /// unprojected, this replica projects at once.
    own_last: u64,
    /// While only entries other replicas appended are unprojected: when
    /// this replica projects them itself, if their appenders have not.
    standby_until: Option<Duration>,
    /// The position this replica last found or wrote: a replica standing
    /// in projects only once it found the position where it was a grace
    /// before, nobody having projected meanwhile.
    seen_position: Option<u64>,
}

/// What one batch changes in one outbox row.
#[derive(Debug)]
enum RowChange {
    /// A new payout's row.
    Create(OutboxRow),
    /// The row's payout is to be paid with this transaction.
    Sign(Transaction),
    /// The payout is confirmed: the row goes.
    Close,
}

/// Everything one batch writes.
#[derive(Debug, Default)]
struct BatchWrites<'a> {
    debits: BTreeMap<&'a str, u64>,
    rows: BTreeMap<u64, RowChange>,
    nonces: BTreeMap<u64, NonceRow>,
    next_nonce: Option<u64>,
}

impl Projector {
    pub fn new(env: NodeEnv, config: LedgerConfig, db: DbClient) -> Projector {
        Projector {
            env,
            config,
            db,
            unprojected: VecDeque::new(),
            position: None,
            rebuilding: None,
            unknown_commit: None,
            own_last: 0,
            standby_until: None,
            seen_position: None,
        }
    }

    /// Takes the effects of the entry at `index`, just folded; `mine` when
    /// this incarnation appended it.
    pub fn folded(&mut self, index: u64, effects: Vec<Effect>, mine: bool) {
        if mine {
            self.own_last = index;
        }
        if self.standby_until.is_none() {
            self.standby_until = Some(self.env.clock.mono_now() + self.config.standby_grace);
        }
        self.unprojected.push_back((index, effects));
    }

    /// Whether this replica projects now: it holds an entry it appended,
    /// or a rebuild, or entries their appenders left unprojected past the
    /// grace.
    fn due(&self, now: Duration) -> bool {
        self.rebuilding.is_some()
            || self.holds_own()
            || self.standby_until.is_some_and(|until| now >= until)
    }

    /// Whether an entry this incarnation appended is unprojected.
    fn holds_own(&self) -> bool {
        self.unprojected
            .front()
            .is_some_and(|(index, _)| *index <= self.own_last)
    }

    /// Projects one batch; returns whether it moved the projection.
    /// `folded_through` is how far this replica's fold has reached;
    /// `payouts` what the fold says of open payouts; `scanned` the
    /// database's position as the outbox worker's last read found it, if
    /// it read since the last call.
    pub async fn project(
        &mut self,
        log: &mut LogClient,
        folded_through: u64,
        payouts: OpenPayouts,
        scanned: Option<u64>,
    ) -> bool {
        let first_held = self
            .unprojected
            .front()
            .map_or(folded_through + 1, |(index, _)| *index);
        let lost = lost_projected(payouts, scanned, first_held);
        let blind = self.env.bugs.has(Bug::ApplierNotIdempotent);
        if let Some(position) = scanned.filter(|_| !lost && !blind) {
            // Projected by whoever appended them: nothing to do here.
            self.forget_through(position);
        }
        if self.unprojected.is_empty() {
            self.standby_until = None;
        }
        let now = self.env.clock.mono_now();
        if !lost && !self.due(now) {
            return false;
        }
        let standing_in = !lost && self.rebuilding.is_none() && !self.holds_own();
        let result = if blind {
            self.project_blindly().await
        } else {
            self.project_fenced(log, folded_through, payouts, standing_in)
                .await
        };
        self.standby_until = (!self.unprojected.is_empty())
            .then(|| self.env.clock.mono_now() + self.config.standby_grace);
        match result {
            Ok(moved) => {
                if moved && standing_in {
                    self.env.mark(Mark::StandbyProjected);
                }
                moved
            }
            Err(error) => {
                match &error {
                    DbError::CommitUnknown => self.env.mark(Mark::CommitUnknown),
                    DbError::Failed(
                        TxnError::VersionMismatch { .. } | TxnError::Duplicate { .. },
                    ) if self.rebuilding.is_some() => {
                        self.env.mark(Mark::RebuildRaced);
                    }
                    _ => {}
                }
                tracing::debug!(node = %self.env.name, %error, "projection failed; will retry");
                false
            }
        }
    }

    /// The projection: reads the recorded position (with what the batch
    /// after it depends on), writes the effects of the entries after it
    /// and moves it, in two atomic round trips (`fenced`).
    async fn project_fenced(
        &mut self,
        log: &mut LogClient,
        folded_through: u64,
        payouts: OpenPayouts,
        standing_in: bool,
    ) -> Result<bool, DbError> {
        // Most often the database stands right before the entries this
        // replica holds: read what that batch needs along with the position.
        let guess = self.unprojected.front().map(|(index, _)| index - 1);
        let mut reads = self.read_for(guess).await?;
        let position = reads.position.value.unwrap_or(0);
        if let Some(last) = self.unknown_commit.take() {
            self.env.mark(if position >= last {
                Mark::UnknownCommitFoundApplied
            } else {
                Mark::UnknownCommitFoundNotApplied
            });
        }
        let first_held = self
            .unprojected
            .front()
            .map_or(folded_through + 1, |(index, _)| *index);
        if position + 1 < first_held {
            // The database lacks entries this replica saw projected.
            self.rebuild(log, position, first_held - 1, payouts).await;
            return Ok(true);
        }
        if self.rebuilding.is_some_and(|target| position >= target) {
            self.rebuilding = None;
            self.env
                .record(Event::Ledger(LedgerEvent::Rebuilt { through: position }));
        }
        self.forget_through(position);
        let unmoved = self.seen_position.replace(position) == Some(position);
        if standing_in && !unmoved {
            // Someone projected since this replica last looked: the
            // appenders are at work. Look again after the grace.
            return Ok(false);
        }
        let batch = self.batch(position);
        let Some(last) = batch.last().map(|(index, _)| *index) else {
            return Ok(false);
        };
        if self.env.bugs.has(Bug::OutboxDualWrite) {
            return self
                .project_dual_write(reads.position.version, batch, last)
                .await;
        }
        let writes = self.writes_of(&batch);
        if !reads.cover(&writes) {
            reads = self.read_for(Some(position)).await?;
            if reads.position.value.unwrap_or(0) != position {
                // Another replica moved it meanwhile: this batch is stale.
                self.env.mark(Mark::ProjectionBatchStale);
                return Ok(false);
            }
        }
        let ops = fenced::write_ops(&reads, writes, last, self.config.initial_balance)?;
        let committed = self.db.atomic(Isolation::ReadCommitted, ops).await;
        if let Err(DbError::CommitUnknown) = committed {
            self.unknown_commit = Some(last);
        }
        committed?;
        self.seen_position = Some(last);
        self.projected(position, last);
        self.env.crash_point(CrashPoint::ApplierAfterProject).await;
        Ok(true)
    }

    /// Reads the position and, for the batch after `position` when given,
    /// the balances it debits and the rows it signs.
    async fn read_for(&self, position: Option<u64>) -> Result<fenced::Reads, DbError> {
        let batch = position
            .map(|position| self.batch(position))
            .unwrap_or_default();
        let writes = self.writes_of(&batch);
        let accounts: Vec<&str> = writes.debits.keys().copied().collect();
        let slots: Vec<u64> = writes
            .rows
            .iter()
            .filter(|(_, change)| matches!(change, RowChange::Sign(_)))
            .map(|(slot, _)| *slot)
            .collect();
        fenced::read(&self.db, &accounts, &slots).await
    }

    /// Re-derives the effects of entries `position + 1..=through`, which
    /// the database lost, by folding the committed log again from index 1,
    /// and queues them before the entries this replica still holds. A log
    /// that cannot be read leaves the rebuild to the next round.
    async fn rebuild(
        &mut self,
        log: &mut LogClient,
        position: u64,
        through: u64,
        payouts: OpenPayouts,
    ) {
        if self.rebuilding.is_some() {
            self.env.mark(Mark::WipeDuringRebuild);
        }
        match payouts {
            OpenPayouts::Signed => self.env.mark(Mark::WipeWithSignedPayout),
            OpenPayouts::Unsigned => self.env.mark(Mark::WipeWithOnlyUnsignedPayouts),
            OpenPayouts::None => {}
        }
        self.env.record(Event::Ledger(LedgerEvent::Rebuilding {
            from: position + 1,
            through,
        }));
        let mut scratch = Fold::new(rules(&self.config, self.env.bugs));
        let mut lost = Vec::new();
        while scratch.applied() < through {
            let from = scratch.applied() + 1;
            let entries = match log
                .read_committed(from, READ_BATCH, self.config.log_timeout)
                .await
            {
                Ok(entries) if !entries.is_empty() => entries,
                _ => {
                    self.env.mark(Mark::RebuildLogUnreadable);
                    return;
                }
            };
            for entry in entries.iter().take((through + 1 - from) as usize) {
                let index = scratch.applied() + 1;
                let mut effects = fold_entry(&mut scratch, index, entry);
                if self.env.bugs.has(Bug::RebuildSkipsConfirmations) {
                    effects.retain(|effect| !matches!(effect, Effect::Confirm { .. }));
                }
                if index > position {
                    lost.push((index, effects));
                }
            }
        }
        for entry in lost.into_iter().rev() {
            self.unprojected.push_front(entry);
        }
        self.rebuilding = Some(through);
    }

    /// The planted bug `outbox-dual-write`: debits and payouts commit in two
    /// transactions; a crash between loses the payout.
    async fn project_dual_write(
        &mut self,
        version: Option<u64>,
        batch: Vec<(u64, Vec<Effect>)>,
        last: u64,
    ) -> Result<bool, DbError> {
        let position = last - batch.len() as u64;
        let txn = self.db.begin(Isolation::ReadCommitted).await?;
        let writes = self.writes_of(&batch);
        self.write_debits(&txn, &writes.debits, true).await?;
        write_if_unchanged(&txn, META, Key::from(APPLIED), version, &last).await?;
        txn.commit().await?;
        self.projected(position, last);
        self.env
            .crash_point(CrashPoint::ApplierBetweenDebitAndPayout)
            .await;
        let txn = self.db.begin(Isolation::ReadCommitted).await?;
        self.write_rows(&txn, writes.rows, true).await?;
        self.write_nonces(&txn, writes.nonces, writes.next_nonce)
            .await?;
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
        let writes = self.writes_of(&batch);
        self.write_debits(&txn, &writes.debits, false).await?;
        self.write_rows(&txn, writes.rows, false).await?;
        self.write_nonces(&txn, writes.nonces, writes.next_nonce)
            .await?;
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

    /// What `batch` writes: debits by account, each outbox row's change,
    /// and the nonces spent.
    fn writes_of<'a>(&self, batch: &'a [(u64, Vec<Effect>)]) -> BatchWrites<'a> {
        // Under the planted bugs that keep the nonce bookkeeping in the
        // database, the worker writes it, not the projection.
        let bookkeeping = !(self.env.bugs.has(Bug::IntentOnlyInDb)
            || self.env.bugs.has(Bug::NonceFromDbAfterWipe));
        let mut writes = BatchWrites::default();
        for effect in batch.iter().flat_map(|(_, effects)| effects) {
            match effect {
                Effect::Accept {
                    slot,
                    transfer,
                    request,
                } => {
                    *writes.debits.entry(&request.account).or_default() += request.amount;
                    let row = OutboxRow {
                        transfer: *transfer,
                        to_address: request.to_address.clone(),
                        amount: request.amount,
                        state: Payout::Pending,
                        claim: None,
                    };
                    writes.rows.insert(*slot, RowChange::Create(row));
                }
                Effect::Intent {
                    slot,
                    transfer,
                    tx,
                    next_nonce,
                } => {
                    match writes.rows.get_mut(slot) {
                        Some(RowChange::Create(row)) => {
                            row.state = Payout::Signed { tx: tx.clone() };
                        }
                        _ => {
                            writes.rows.insert(*slot, RowChange::Sign(tx.clone()));
                        }
                    }
                    if bookkeeping {
                        writes
                            .nonces
                            .insert(tx.transfer.nonce, spent(*transfer, tx));
                        writes.next_nonce = Some(*next_nonce);
                    }
                }
                Effect::Confirm { slot } => {
                    // Created and confirmed in this very batch: never written.
                    if !matches!(writes.rows.remove(slot), Some(RowChange::Create(_))) {
                        writes.rows.insert(*slot, RowChange::Close);
                    }
                }
            }
        }
        writes
    }

    /// Debits the accounts of accepted transfers.
    async fn write_debits(
        &self,
        txn: &Txn,
        debits: &BTreeMap<&str, u64>,
        fenced: bool,
    ) -> Result<(), DbError> {
        for (account, debit) in debits {
            let balance: Versioned<u64> = read(txn, BALANCES, Key::from(*account)).await?;
            let before = balance.value.unwrap_or(self.config.initial_balance);
            let Some(after) = before.checked_sub(*debit) else {
                // The fold checked every debit against the same history.
                return Err(DbError::Protocol(format!(
                    "account {account} holds {before} in the database, less than the {debit} the log accepted"
                )));
            };
            if fenced {
                write_if_unchanged(txn, BALANCES, Key::from(*account), balance.version, &after)
                    .await?;
            } else {
                txn.put(BALANCES, Key::from(*account), encode(&after))
                    .await?;
            }
        }
        Ok(())
    }

    async fn write_rows(
        &self,
        txn: &Txn,
        rows: BTreeMap<u64, RowChange>,
        fenced: bool,
    ) -> Result<(), DbError> {
        for (slot, change) in rows {
            let key = int_key(slot);
            match change {
                RowChange::Create(row) if fenced => {
                    write_if_unchanged(txn, OUTBOX, key, None, &row).await?;
                }
                RowChange::Create(row) => txn.put(OUTBOX, key, encode(&row)).await?,
                RowChange::Sign(tx) => {
                    // A row the database does not hold is not revived: only
                    // a payout lost to a planted bug has none.
                    let read: Versioned<OutboxRow> = read(txn, OUTBOX, key.clone()).await?;
                    let Some(row) = read.value else { continue };
                    let signed = OutboxRow {
                        state: Payout::Signed { tx },
                        ..row
                    };
                    if fenced {
                        write_if_unchanged(txn, OUTBOX, key, read.version, &signed).await?;
                    } else {
                        txn.put(OUTBOX, key, encode(&signed)).await?;
                    }
                }
                RowChange::Close => txn.delete(OUTBOX, key).await?,
            }
        }
        Ok(())
    }

    /// Records what each nonce was spent on, and the log's next nonce. The
    /// position's compare-and-set fences the whole batch, so plain writes
    /// suffice.
    async fn write_nonces(
        &self,
        txn: &Txn,
        nonces: BTreeMap<u64, NonceRow>,
        next_nonce: Option<u64>,
    ) -> Result<(), DbError> {
        for (nonce, row) in nonces {
            txn.put(NONCES, int_key(nonce), encode(&row)).await?;
        }
        if let Some(next) = next_nonce {
            txn.put(META, Key::from(NEXT_NONCE), encode(&next)).await?;
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

/// The record of a nonce spent on `tx`.
fn spent(transfer: TransferId, tx: &Transaction) -> NonceRow {
    NonceRow {
        transfer,
        tx: tx.hash(),
    }
}

/// Whether the database seems to have lost entries this replica saw
/// projected: the position the outbox worker read is behind the first
/// entry this replica still holds (with none held, behind the fold).
/// Only worth a look while payouts are open (a wipe would
/// leave them without rows, and nobody would pay them until the next
/// entry); with every payout confirmed, a wiped database is rebuilt at the
/// next entry. The worker reads the position with every outbox scan, so
/// noticing a wipe costs no message of its own.
fn lost_projected(payouts: OpenPayouts, scanned: Option<u64>, first_held: u64) -> bool {
    payouts != OpenPayouts::None && scanned.is_some_and(|position| position + 1 < first_held)
}
