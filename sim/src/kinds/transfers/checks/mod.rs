//! The checkers of the `transfers` workload, judged against ground truth:
//! the committed log (replayed by [`reference`]), the canonical chain, the
//! database's synced state and the clients' history.

mod at_least_once;
mod bad_input;
mod conservation;
mod disk_numbering;
mod exactly_once;
#[cfg(test)]
mod fold_agreement;
mod ledger_chain;
mod nonce_hygiene;
mod projection;
mod records;
pub(crate) mod reference;
mod stall;

pub(super) use stall::unconfirmed as stall_reasons;

use ledger::{
    chain::{BlockHash, ChainState, Transaction},
    db::{Key, Recovered},
    ledger::{HOT_WALLET, schema},
    log::Entry,
};
use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use crate::{
    check::{DbLook, LostDisk, Violation},
    history::History,
};
use ledger::bugs::Checker;
use reference::Reference;

/// Everything the transfer checkers read.
pub(super) struct PayoutTruth<'a> {
    /// The committed log: the prefix a majority of synced logs agree on.
    pub(super) log: Vec<Entry>,
    pub(super) db: &'a Recovered,
    /// The database disks the run lost, in order, with the commits each
    /// held.
    pub(super) lost_disks: &'a [LostDisk],
    /// The database's synced disk at moments mid-run.
    pub(super) db_looks: &'a [DbLook],
    pub(super) chain: &'a ChainState,
    pub(super) history: &'a History,
    pub(super) accounts: Vec<String>,
    pub(super) initial_balance: u64,
    /// What the log holds payout intents to.
    pub(super) rules: reference::PayoutRules,
    pub(super) confirmations: u64,
    /// Whether the settle phase converged: only then must every payout be
    /// done.
    pub(super) converged: bool,
    /// Transactions still waiting in a mempool at the end, and where.
    pub(super) pending: &'a [(String, Transaction)],
    /// Each node's incarnation at the end, for nodes still running.
    pub(super) lives: &'a BTreeMap<String, u64>,
    /// The nodes taken out for good.
    pub(super) retired: &'a BTreeSet<String>,
    /// When each block was made.
    pub(super) block_times: &'a BTreeMap<BlockHash, Duration>,
    /// When the chain first reached each height.
    pub(super) height_times: &'a BTreeMap<u64, Duration>,
    pub(super) end: Duration,
}

/// What the checks share, computed once.
struct Facts<'a> {
    truth: &'a PayoutTruth<'a>,
    reference: Reference,
    /// The hot wallet's transactions on the canonical chain, with the
    /// height of their block, in chain order.
    payouts: Vec<(u64, &'a Transaction)>,
    /// `payouts` by memo, each in chain order: every transfer's payouts
    /// are looked up, so a pass over all of them each time would cost the
    /// square of the payouts.
    by_memo: BTreeMap<&'a str, Vec<(u64, &'a Transaction)>>,
    /// The projection's position in the database.
    db_applied: u64,
    /// The database at each look mid-run, then as the run left it.
    db_states: Vec<DbAt<'a>>,
}

/// The database as the checks judge it: as a look mid-run found its synced
/// disk, or as the run left it.
struct DbAt<'a> {
    db: &'a Recovered,
    /// The projection's position there.
    applied: u64,
    /// The committed log replayed up to `applied`; `None` when `applied`
    /// is past the committed log.
    projected: Option<Reference>,
    /// The look that found it; `None` for the run's end.
    look: Option<&'a DbLook>,
}

impl<'a> DbAt<'a> {
    fn new(db: &'a Recovered, look: Option<&'a DbLook>) -> DbAt<'a> {
        DbAt {
            db,
            applied: db_u64(db, schema::META, Key::from(schema::APPLIED)).unwrap_or(0),
            projected: None,
            look,
        }
    }
}

impl<'a> Facts<'a> {
    fn new(truth: &'a PayoutTruth<'a>) -> Facts<'a> {
        let mut db_states: Vec<DbAt<'a>> = truth
            .db_looks
            .iter()
            .map(|look| DbAt::new(&look.db, Some(look)))
            .chain([DbAt::new(truth.db, None)])
            .collect();
        let db_applied = db_states.last().map_or(0, |end| end.applied);
        // One pass over the log, in the order of the positions the states
        // stand at, keeps the reference at each of them on the way.
        let mut reference = Reference::new(&truth.accounts, truth.initial_balance, truth.rules);
        let mut by_position: Vec<&mut DbAt<'a>> = db_states.iter_mut().collect();
        by_position.sort_by_key(|state| state.applied);
        for state in by_position {
            if state.applied <= truth.log.len() as u64 {
                reference.replay_to(&truth.log, state.applied);
                state.projected = Some(reference.clone());
            }
        }
        reference.replay_to(&truth.log, truth.log.len() as u64);
        let payouts: Vec<(u64, &'a Transaction)> = truth
            .chain
            .blocks()
            .iter()
            .flat_map(|block| {
                block
                    .transactions
                    .iter()
                    .filter(|tx| tx.transfer.from == HOT_WALLET)
                    .map(move |tx| (block.height, tx))
            })
            .collect();
        let mut by_memo: BTreeMap<&'a str, Vec<_>> = BTreeMap::new();
        for &(height, tx) in &payouts {
            by_memo
                .entry(tx.transfer.memo.as_str())
                .or_default()
                .push((height, tx));
        }
        Facts {
            truth,
            reference,
            payouts,
            by_memo,
            db_applied,
            db_states,
        }
    }

    fn depth(&self, height: u64) -> u64 {
        self.truth.chain.height() + 1 - height
    }

    /// The payouts on chain whose memo is `memo`.
    fn paying(&self, memo: &str) -> &[(u64, &'a Transaction)] {
        self.by_memo.get(memo).map_or(&[], Vec::as_slice)
    }

    /// A violation seen only in the state the run ended in.
    fn violation(&self, checker: Checker, message: String) -> Violation {
        self.violation_at(checker, self.truth.end, message)
    }

    /// A violation found in the database at `state`: dated at its look,
    /// and saying where the disk was read, or at the end.
    fn violation_in(&self, checker: Checker, state: &DbAt<'_>, message: String) -> Violation {
        match state.look {
            None => self.violation(checker, message),
            Some(look) => self.violation_at(
                checker,
                look.at,
                format!("on the database's synced disk {}: {message}", look.moment),
            ),
        }
    }

    /// A violation that became true at `at`.
    fn violation_at(&self, checker: Checker, at: Duration, message: String) -> Violation {
        Violation {
            checker,
            at,
            message,
        }
    }

    /// When the canonical block at `height` was made (the end of the run,
    /// should the trace not show it).
    fn made(&self, height: u64) -> Duration {
        self.truth
            .chain
            .blocks()
            .iter()
            .find(|block| block.height == height)
            .and_then(|block| self.truth.block_times.get(&block.hash))
            .copied()
            .unwrap_or(self.truth.end)
    }
}

/// What is wrong with the log position `as_of` a replica answered a read
/// from, for a client that had seen `seen`: behind it, or beyond the
/// committed log's `entries`; `None` when neither.
fn misplaced_read(as_of: u64, seen: u64, entries: u64) -> Option<String> {
    if as_of < seen {
        Some(format!("behind index {seen} it had already seen"))
    } else if as_of > entries {
        Some(format!("beyond the committed log's {entries} entries"))
    } else {
        None
    }
}

/// A `u64` row of the recovered database.
fn db_u64(db: &Recovered, table: &str, key: Key) -> Option<u64> {
    let row = db.engine.committed(table, &key)?;
    schema::decode::<u64>(&row.value).ok()
}

/// Runs every final check of the transfers workload.
pub(super) fn final_checks(truth: &PayoutTruth<'_>) -> Vec<Violation> {
    let facts = Facts::new(truth);
    let mut violations = Vec::new();
    violations.extend(exactly_once::check(&facts));
    violations.extend(at_least_once::check(&facts));
    violations.extend(ledger_chain::check(&facts));
    violations.extend(conservation::check(&facts));
    violations.extend(nonce_hygiene::check(&facts));
    violations.extend(projection::check(&facts));
    violations.extend(disk_numbering::check(&facts));
    violations.extend(bad_input::check(&facts));
    violations
}

/// Names a transfer for messages: its id, client and request id, and the
/// log index that accepted it.
fn describe(reference: &Reference, transfer: ledger::ledger::TransferId) -> String {
    match reference.accepted.get(&transfer) {
        Some(accepted) => format!(
            "transfer {transfer} (client {} request {:?}, accepted at log index {})",
            accepted.client, accepted.request.request_id, accepted.index
        ),
        None => format!("transfer {transfer}"),
    }
}

/// Shown for a list of transactions.
fn list(txs: &[(u64, &Transaction)]) -> String {
    txs.iter()
        .map(|(height, tx)| {
            format!(
                "{} (nonce {}, height {height})",
                tx.hash(),
                tx.transfer.nonce
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The balances a map holds, keyed by account, for messages.
fn balances(map: &BTreeMap<String, u64>) -> String {
    map.iter()
        .map(|(account, balance)| format!("{account}={balance}"))
        .collect::<Vec<_>>()
        .join(" ")
}
