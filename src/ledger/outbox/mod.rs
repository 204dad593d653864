//! The outbox worker: pays out every open row of the outbox, in order.
//!
//! 0. A replica works only on rows it holds a lease on ([`super::lease`]),
//!    taken and renewed by compare-and-set on the row's version. The lease
//!    spreads the work and nothing else: what a payout is paid with is
//!    decided by the log, so two replicas that both believe they hold it
//!    (a pause, a clock behind, a database rebuilt without its claims)
//!    still send one transaction. A row nobody ever claimed is claimed at
//!    once by the replica first in line for it (its key modulo the number
//!    of replicas), and by the others only once it stayed unclaimed for
//!    `standby_grace`: one claim per payout rather than a race of every
//!    replica, and a fallback for a first in line that died or is cut off.
//! 1. A payout without an intent in this replica's fold gets one proposed:
//!    the log's next nonce (as far as this fold knows it) and the signed
//!    transaction, appended to the log as [`Command::Intent`]. Only once
//!    this replica's own fold shows the log took this very transaction is
//!    it sent; a refused intent (another replica's came first, or the
//!    nonce was taken) sends nothing, and the next pass follows the
//!    winner. A transaction exists nowhere but in this replica's memory
//!    until the log holds it.
//! 2. The intent's transaction is submitted, and resubmitted unchanged
//!    whenever the chain does not show it: the same transaction can land
//!    only once, so resubmitting is always safe.
//! 3. Once the receipt shows it `confirmations` deep, the confirmation is
//!    appended to the log; the applier then closes the row.
//!
//! Nothing is remembered across a crash but what the log holds: the outbox
//! says which payouts are open, the fold what each is paid with. An append
//! whose outcome is unknown is resolved by folding the log, never assumed.

mod sign;
mod writes;

use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};
use thiserror::Error;

use super::{
    LedgerConfig, LedgerEvent,
    appender::Appender,
    applier::{Folded, SharedFold},
    lease::{Holder, Standing},
    schema::{APPLIED, META, OUTBOX, OutboxRow, Versioned, decode},
    types::{Command, Confirmation, TransferId, TransferRequest},
};
use crate::{
    bugs::Bug,
    chain::{ChainClient, ChainError, MAX_RECEIPTS, Receipt, SubmitError, Transaction, TxHash},
    db::{DbClient, DbError, Isolation, Key, Op, OpResult, ScanRange, TxnError},
    fault_points::CrashPoint,
    node::NodeEnv,
    observe::{Event, Mark},
};
use writes::fenced_row;

/// Open payouts handled per pass at most.
const MAX_ROWS_PER_PASS: u32 = 256;

/// The address payouts are made from.
pub const HOT_WALLET: &str = "hot-wallet";

/// Why one step on one payout failed; the next pass tries again.
#[derive(Debug, Error)]
enum StepError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Chain(#[from] ChainError),
}

pub struct Worker {
    env: NodeEnv,
    config: LedgerConfig,
    me: Holder,
    db: DbClient,
    chain: ChainClient,
    appender: Appender,
    /// This replica's fold of the log: what each payout is paid with.
    fold: SharedFold,
    /// Whether the last read of the outbox reached the database.
    db_reachable: Option<bool>,
    /// When each transaction (by its payout) was last submitted in this
    /// life.
    submitted: BTreeMap<(TransferId, TxHash), Duration>,
    /// When each transaction's receipt may be asked for again in this
    /// life.
    next_receipt: BTreeMap<(TransferId, TxHash), Duration>,
    /// Confirmations appended in this life, by transfer, and when: not
    /// appended again until the applier had time to close the row.
    confirming: BTreeMap<TransferId, Duration>,
    /// Transactions the chain showed included in this life: only noted,
    /// to mark one that vanishes again.
    included: BTreeSet<(TransferId, TxHash)>,
    /// Intents proposed in this life whose outcome was unknown, by
    /// transfer: only noted, to mark how the fold resolves them.
    unknown_intents: BTreeMap<TransferId, TxHash>,
    /// When this life first found each never-claimed row it is not first
    /// in line for, by payout.
    unclaimed_since: BTreeMap<TransferId, Duration>,
}

impl Worker {
    pub fn new(
        env: NodeEnv,
        config: LedgerConfig,
        incarnation: u64,
        db: DbClient,
        chain: ChainClient,
        appender: Appender,
        fold: SharedFold,
    ) -> Worker {
        let me = Holder {
            name: env.name.to_string(),
            incarnation,
        };
        Worker {
            env,
            config,
            me,
            db,
            chain,
            appender,
            fold,
            db_reachable: None,
            submitted: BTreeMap::new(),
            next_receipt: BTreeMap::new(),
            confirming: BTreeMap::new(),
            included: BTreeSet::new(),
            unknown_intents: BTreeMap::new(),
            unclaimed_since: BTreeMap::new(),
        }
    }

    pub async fn run(mut self) {
        loop {
            self.env.sleep(self.config.outbox_poll).await;
            // The fold knows whether any payout is open; the outbox can
            // hold no work it does not. A replica that last found the
            // database unreachable keeps looking, so that it notices (and
            // says) when it is back.
            let idle = self.fold.borrow().fold.unconfirmed().next().is_none();
            if idle && self.db_reachable == Some(true) {
                continue;
            }
            let rows = self.open_rows().await;
            self.note_reachability(&rows);
            let rows = match rows {
                Ok(rows) => rows,
                Err(error) => {
                    tracing::debug!(node = %self.env.name, %error, "cannot read the outbox");
                    continue;
                }
            };
            self.forget_closed(&rows);
            let mut rows = rows;
            self.renew_held(&mut rows).await;
            let mut receipts = self.prefetch_receipts(&rows).await;
            for (key, version, row) in rows {
                let outcome = match self.hold(key, version, row).await {
                    Ok(Some((version, row))) => self.step(key, version, &row, &mut receipts).await,
                    Ok(None) => Ok(()),
                    Err(error) => Err(error),
                };
                if let Err(error) = outcome {
                    self.mark_failure(&error);
                    tracing::debug!(node = %self.env.name, %error, "payout step failed; will retry");
                }
            }
        }
    }

    /// Marks the failures worth reaching: an unknown commit, and a fenced
    /// write that found its row changed.
    fn mark_failure(&self, error: &StepError) {
        match error {
            StepError::Db(DbError::CommitUnknown) => self.env.mark(Mark::CommitUnknown),
            StepError::Db(DbError::Failed(TxnError::VersionMismatch { .. })) => {
                self.env.mark(Mark::FencedWriteRejected);
            }
            _ => {}
        }
    }

    /// The open rows, in log order, with their versions. The projection's
    /// position is read along, for the projector (see `Folded`).
    async fn open_rows(&self) -> Result<Vec<(u64, u64, OutboxRow)>, DbError> {
        let scan = Op::Scan {
            table: OUTBOX.to_owned(),
            range: ScanRange::Between {
                start: Key::Int(0),
                end: Key::Int(i64::MAX),
            },
            limit: MAX_ROWS_PER_PASS,
        };
        let position = Op::Get {
            table: META.to_owned(),
            key: Key::from(APPLIED),
        };
        let (results, _) = self
            .db
            .atomic(Isolation::ReadCommitted, vec![scan, position])
            .await?;
        let mut results = results.into_iter();
        let (Some(OpResult::Rows(rows)), Some(OpResult::Found(position))) =
            (results.next(), results.next())
        else {
            return Err(DbError::Protocol(
                "a scan returned no rows, or a read no row".to_owned(),
            ));
        };
        let position = Versioned::<u64>::from(position)?;
        self.fold.borrow_mut().scanned_position = Some(position.value.unwrap_or(0));
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

    /// Drops what this life remembers of payouts no longer open. Keyed by
    /// payout, so that no transaction needs hashing on every pass.
    fn forget_closed(&mut self, rows: &[(u64, u64, OutboxRow)]) {
        let open: BTreeSet<TransferId> = rows.iter().map(|(_, _, row)| row.transfer).collect();
        self.submitted
            .retain(|(transfer, _), _| open.contains(transfer));
        self.next_receipt
            .retain(|(transfer, _), _| open.contains(transfer));
        self.included
            .retain(|(transfer, _)| open.contains(transfer));
        self.confirming
            .retain(|transfer, _| open.contains(transfer));
        self.unknown_intents
            .retain(|transfer, _| open.contains(transfer));
        self.unclaimed_since
            .retain(|transfer, _| open.contains(transfer));
    }

    /// Records when the database becomes reachable or unreachable, so that
    /// a stalled run can say which replica is cut off.
    fn note_reachability<T>(&mut self, read: &Result<T, DbError>) {
        let reachable = !matches!(read, Err(DbError::Timeout));
        if self.db_reachable != Some(reachable) {
            if reachable && self.db_reachable == Some(false) {
                self.env.mark(Mark::OutboxReachableAgain);
            }
            self.db_reachable = Some(reachable);
            self.env
                .record(Event::Ledger(LedgerEvent::Database { reachable }));
        }
    }

    /// The receipts this pass will ask for, in one round trip when more than
    /// one is due: of each payout this replica holds whose intent its fold
    /// has and whose receipt is due. Empty when one or none is.
    async fn prefetch_receipts(&mut self, rows: &[(u64, u64, OutboxRow)]) -> Prefetched {
        let (wall, now) = (self.env.clock.wall_now(), self.env.clock.mono_now());
        let due: Vec<TxHash> = {
            let folded = self.fold.borrow();
            rows.iter()
                .filter(|(_, _, row)| {
                    matches!(
                        self.me
                            .standing(row.claim.as_ref(), wall, self.config.lease),
                        Standing::Mine | Standing::Renew
                    )
                })
                .filter_map(|(_, _, row)| {
                    // Read in place: nothing of the payout is copied but the hash.
                    let accepted = folded.fold.transfer(row.transfer)?;
                    let tx = accepted
                        .intent
                        .as_ref()
                        .filter(|_| accepted.confirmation.is_none())?;
                    Some((row.transfer, tx.hash()))
                })
                .filter(|key| self.next_receipt.get(key).is_none_or(|at| now >= *at))
                .map(|(_, hash)| hash)
                .take(MAX_RECEIPTS)
                .collect()
        };
        if due.len() < 2 {
            return Prefetched::new();
        }
        if due.len() == MAX_RECEIPTS {
            self.env.mark(Mark::ReceiptsAskedAtBatchLimit);
        }
        match self.chain.receipts(due.clone()).await {
            Ok(found) => due.into_iter().zip(found.into_iter().map(Ok)).collect(),
            Err(error) => due
                .into_iter()
                .map(|hash| (hash, Err(error.clone())))
                .collect(),
        }
    }

    /// Renews every claim this replica holds in one write, once any of
    /// them is due: one lease cycle for all of a replica's payouts rather
    /// than a round trip per row per cycle. A failed write (a row moved
    /// meanwhile) leaves each row to be renewed on its own.
    async fn renew_held(&mut self, rows: &mut [(u64, u64, OutboxRow)]) {
        let now = self.env.clock.wall_now();
        let lease = self.config.lease;
        let standings: Vec<Standing> = rows
            .iter()
            .map(|(_, _, row)| self.me.standing(row.claim.as_ref(), now, lease))
            .collect();
        let held: Vec<usize> = standings
            .iter()
            .enumerate()
            .filter(|(_, standing)| matches!(standing, Standing::Mine | Standing::Renew))
            .map(|(at, _)| at)
            .collect();
        let due = standings
            .iter()
            .any(|standing| matches!(standing, Standing::Renew));
        // One row alone is renewed by the step that holds it.
        if !due || held.len() < 2 {
            return;
        }
        let claim = self.me.claim(now, lease);
        let ops = held
            .iter()
            .map(|&at| {
                let (key, version, row) = &rows[at];
                let renewed = OutboxRow {
                    claim: Some(claim.clone()),
                    ..row.clone()
                };
                fenced_row(*key, *version, &renewed)
            })
            .collect();
        match self.db.atomic(Isolation::ReadCommitted, ops).await {
            Ok((_, Some(version))) => {
                for at in held {
                    let (_, row_version, row) = &mut rows[at];
                    if row.claim.as_ref().is_some_and(|old| old.until <= now) {
                        self.env.mark(Mark::LapsedClaimRenewed);
                    }
                    *row_version = version;
                    row.claim = Some(claim.clone());
                }
            }
            Ok((_, None)) => {}
            Err(error) => self.mark_failure(&StepError::Db(error)),
        }
    }

    /// Step 0: the row with this replica's lease on it, at the version that
    /// fences the next write, or `None` when another replica holds it.
    async fn hold(
        &mut self,
        key: u64,
        version: u64,
        row: OutboxRow,
    ) -> Result<Option<(u64, OutboxRow)>, StepError> {
        let now = self.env.clock.wall_now();
        let lapsed = row.claim.as_ref().is_some_and(|claim| claim.until <= now);
        let mut standby = false;
        let took_over = match self.me.standing(row.claim.as_ref(), now, self.config.lease) {
            Standing::Held => return Ok(None),
            Standing::Mine => return Ok(Some((version, row))),
            Standing::Renew => None,
            Standing::Free { from: None } => match self.unclaimed_turn(key, row.transfer) {
                Turn::Wait => return Ok(None),
                Turn::First => None,
                Turn::Standby => {
                    standby = true;
                    None
                }
            },
            Standing::Free { from } => from,
        };
        let renewing = took_over.is_none();
        let claimed = OutboxRow {
            claim: Some(self.me.claim(now, self.config.lease)),
            ..row
        };
        let claim = fenced_row(key, version, &claimed);
        let (_, seq) = self
            .db
            .atomic(Isolation::ReadCommitted, vec![claim])
            .await?;
        let Some(version) = seq else {
            return Err(DbError::Protocol("a claim wrote nothing".to_owned()).into());
        };
        if renewing && lapsed {
            self.env.mark(Mark::LapsedClaimRenewed);
        }
        if standby {
            self.env.mark(Mark::UnclaimedPayoutTakenByStandby);
        }
        if let Some(from) = took_over {
            if !from.starts_with(&format!("{}#", self.me.name)) {
                self.env.mark(Mark::LeaseTakenOver);
                match self.payout_signed(claimed.transfer) {
                    Some(false) => self.env.mark(Mark::TakeoverBeforeIntent),
                    Some(true) => self.env.mark(Mark::TakeoverOfSignedPayout),
                    None => {}
                }
            } else if !lapsed {
                self.env.mark(Mark::ClaimOfEarlierLifeTaken);
            }
            self.env.record(Event::Ledger(LedgerEvent::Claimed {
                transfer: claimed.transfer,
                from,
            }));
        }
        Ok(Some((version, claimed)))
    }

    /// Whether this replica claims the never-claimed row at `key` now: at
    /// once when it is first in line for it, and otherwise once the row
    /// has stayed unclaimed for the grace since this life first found it.
    fn unclaimed_turn(&mut self, key: u64, transfer: TransferId) -> Turn {
        let replicas = self.config.replicas.max(1) as u64;
        if key % replicas == self.config.replica as u64 {
            return Turn::First;
        }
        let now = self.env.clock.mono_now();
        let since = *self.unclaimed_since.entry(transfer).or_insert(now);
        if now < since + self.config.standby_grace {
            Turn::Wait
        } else {
            Turn::Standby
        }
    }

    /// Steps 1 to 3 for a payout this replica holds, by what the log says
    /// of it.
    async fn step(
        &mut self,
        key: u64,
        version: u64,
        row: &OutboxRow,
        receipts: &mut Prefetched,
    ) -> Result<(), StepError> {
        match self.payout_in_log(row.transfer) {
            // This fold has not reached the entry that accepted it.
            InLog::Unknown => Ok(()),
            // Or it has reached the confirmation that closes it.
            InLog::Confirmed => {
                if !self.confirming.contains_key(&row.transfer) {
                    self.env.mark(Mark::ConfirmedByAnotherWorker);
                }
                Ok(())
            }
            InLog::Open {
                intent: Some(tx), ..
            } => {
                if let Some(proposed) = self.unknown_intents.remove(&row.transfer) {
                    self.env.mark(if proposed == tx.hash() {
                        Mark::UnknownIntentFoundTaken
                    } else {
                        Mark::UnknownIntentFoundLost
                    });
                }
                self.follow(row, &tx, receipts).await
            }
            InLog::Open {
                intent: None,
                request,
            } => {
                let bugs = self.env.bugs;
                if bugs.has(Bug::IntentOnlyInDb) || bugs.has(Bug::NonceFromDbAfterWipe) {
                    return self.step_from_db(key, version, row, receipts).await;
                }
                self.propose(row.transfer, &request).await
            }
        }
    }

    /// What this replica's fold says of `transfer`'s payout.
    fn payout_in_log(&self, transfer: TransferId) -> InLog {
        let folded = self.fold.borrow();
        match folded.fold.transfer(transfer) {
            None => InLog::Unknown,
            Some(accepted) if accepted.confirmation.is_some() => InLog::Confirmed,
            Some(accepted) => InLog::Open {
                intent: accepted.intent.clone(),
                request: accepted.request.clone(),
            },
        }
    }

    /// Whether `transfer`'s payout, open in this replica's fold, has its
    /// intent there; `None` when the fold has it closed or not at all.
    fn payout_signed(&self, transfer: TransferId) -> Option<bool> {
        let folded = self.fold.borrow();
        let accepted = folded.fold.transfer(transfer)?;
        accepted
            .confirmation
            .is_none()
            .then_some(accepted.intent.is_some())
    }

    /// Appends `command` and waits, within bounds, until this replica's
    /// fold has applied the entry holding it. `false` when the outcome is
    /// unknown: the log may still take it, and the next pass reads the fold.
    async fn append_and_fold(&self, command: Command) -> bool {
        let bound = self.config.log_timeout * 4;
        let Some(Some(index)) = self
            .env
            .clock
            .timeout(bound, self.appender.append(command))
            .await
        else {
            return false;
        };
        self.env
            .clock
            .timeout(bound, Folded::reached(&self.fold, index))
            .await
            .is_some_and(|reached| reached.is_ok())
    }

    /// Steps 2 and 3 for a signed payout.
    async fn follow(
        &mut self,
        row: &OutboxRow,
        tx: &Transaction,
        receipts: &mut Prefetched,
    ) -> Result<(), StepError> {
        let hash = tx.hash();
        let key = (row.transfer, hash);
        let now = self.env.clock.mono_now();
        if self.next_receipt.get(&key).is_some_and(|at| now < *at) {
            return Ok(());
        }
        self.next_receipt
            .insert(key, now + self.config.receipt_poll);
        let receipt = match receipts.remove(&hash) {
            Some(prefetched) => prefetched?,
            None => self.chain.receipt(hash).await?,
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
                self.included.insert(key);
                self.confirm(row.transfer, confirmation).await;
            }
            // Included, not deep enough yet: nothing can change that
            // before the blocks it lacks are made, so ask again only in
            // the last of them (a reorg that drops it meanwhile is noticed
            // then, and the transaction sent again).
            Some(receipt) => {
                self.included.insert(key);
                let lacking = self
                    .config
                    .confirmations
                    .saturating_sub(receipt.confirmations);
                if lacking > 1 {
                    let blocks = u32::try_from(lacking - 1).unwrap_or(u32::MAX);
                    let wait = self.config.block_time.saturating_mul(blocks);
                    self.next_receipt
                        .insert(key, now + wait + self.config.receipt_poll);
                }
            }
            None => {
                if self.included.remove(&key) {
                    self.env.mark(Mark::IncludedTransactionVanished);
                }
                self.resubmit(row, tx).await?
            }
        }
        Ok(())
    }

    /// The chain does not show `tx`: it may be in a mempool, on its way,
    /// behind a lagging view, dropped, or reorged out. Submitting it again
    /// is safe in every case; it is done once `resubmit_after` has passed
    /// since the last try, so that a lagging view is given time.
    async fn resubmit(&mut self, row: &OutboxRow, tx: &Transaction) -> Result<(), StepError> {
        let now = self.env.clock.mono_now();
        let key = (row.transfer, tx.hash());
        if within(&self.submitted, &key, now, self.config.resubmit_after) {
            return Ok(());
        }
        if self.env.bugs.has(Bug::NoResubmit) && self.submitted.contains_key(&key) {
            return Ok(());
        }
        if self.env.bugs.has(Bug::ResubmitNewNonce) && self.submitted.contains_key(&key) {
            self.submitted.remove(&key);
            return self.sign_anew(row).await;
        }
        if self.submitted.contains_key(&key) {
            self.env.mark(Mark::Resubmitted);
        }
        self.submit(row.transfer, tx).await;
        Ok(())
    }

    /// Submits `tx` through an RPC node. Its verdict changes nothing: the
    /// receipt decides, so a lost answer is harmless.
    async fn submit(&mut self, transfer: TransferId, tx: &Transaction) {
        let hash = tx.hash();
        self.submitted
            .insert((transfer, hash), self.env.clock.mono_now());
        self.env
            .record(Event::Ledger(LedgerEvent::Submitted { transfer, tx: hash }));
        let verdict = self.chain.submit(tx.clone()).await;
        self.env.crash_point(CrashPoint::OutboxAfterSubmit).await;
        if let Err(ChainError::Rejected(SubmitError::NonceTooLow { .. })) = verdict {
            self.env.mark(Mark::NonceTooLow);
        }
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
        if within(&self.confirming, &transfer, now, self.config.resubmit_after) {
            return;
        }
        self.confirming.insert(transfer, now);
        self.env.record(Event::Ledger(LedgerEvent::Confirming {
            transfer,
            tx: confirmation.tx,
            height: confirmation.height,
            depth: confirmation.depth,
        }));
        self.env
            .crash_point(CrashPoint::OutboxBeforeConfirmAppend)
            .await;
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
            self.env
                .crash_point(CrashPoint::OutboxAfterConfirmAppend)
                .await;
        }
    }
}

/// Receipts fetched at the start of a pass, by transaction: what the chain
/// answered, or why it did not.
type Prefetched = BTreeMap<TxHash, Result<Option<Receipt>, ChainError>>;

/// Whether a replica claims a never-claimed payout now.
enum Turn {
    /// It is first in line for it.
    First,
    /// Another replica is, and left it unclaimed past the grace.
    Standby,
    /// Another replica is first in line; the grace has not passed.
    Wait,
}

/// A payout as this replica's fold of the log knows it.
enum InLog {
    Unknown,
    Open {
        intent: Option<Transaction>,
        request: TransferRequest,
    },
    Confirmed,
}

/// Whether `key` was last acted on less than `period` before `now`.
fn within<K: Ord>(times: &BTreeMap<K, Duration>, key: &K, now: Duration, period: Duration) -> bool {
    times.get(key).is_some_and(|last| now < *last + period)
}
