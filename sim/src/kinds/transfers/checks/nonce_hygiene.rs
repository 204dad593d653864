//! `nonce-hygiene`: every nonce below the database's next nonce has exactly
//! one recorded transaction, which is on chain or is the transaction of an
//! open payout (anything else is a gap nobody will ever fill, and every
//! later payout waits behind it); every hot-wallet transaction anywhere (on
//! chain, or waiting in any mempool) is the one recorded for its nonce; and
//! once settled the chain's next nonce for the hot wallet equals the
//! database's.

use ledger::{
    db::Key,
    ledger::{HOT_WALLET, schema},
};
use std::collections::{BTreeMap, BTreeSet};

use super::{Facts, db_u64, list};
use crate::check::Violation;
use ledger::bugs::Checker;

const CHECKER: Checker = Checker::NonceHygiene;

pub(super) fn check(facts: &Facts<'_>) -> Vec<Violation> {
    let db = facts.truth.db;
    let next = db_u64(db, schema::META, Key::from(schema::NEXT_NONCE)).unwrap_or(0);
    let mut violations = Vec::new();
    let recorded = recorded_nonces(facts, &mut violations);
    violations.extend(gaps(facts, &recorded, next));
    violations.extend(spent_on_chain(facts, &recorded));
    violations.extend(waiting(facts, &recorded));
    if facts.truth.converged {
        let on_chain = facts.truth.chain.next_nonce(HOT_WALLET);
        if on_chain != next {
            violations.push(facts.violation(
                CHECKER,
                format!(
                    "after settling, the chain's next nonce for {HOT_WALLET} is {on_chain}, the database's is {next}"
                ),
            ));
        }
    }
    violations
}

/// The transaction the database recorded for each nonce; a malformed row
/// is a violation.
fn recorded_nonces(
    facts: &Facts<'_>,
    violations: &mut Vec<Violation>,
) -> BTreeMap<u64, schema::NonceRow> {
    let mut recorded = BTreeMap::new();
    for (key, row) in facts.truth.db.engine.rows(schema::NONCES) {
        let (Key::Int(nonce), Ok(spent)) = (key, schema::decode::<schema::NonceRow>(&row.value))
        else {
            violations.push(facts.violation(CHECKER, format!("nonce row {key} is malformed")));
            continue;
        };
        recorded.insert(*nonce as u64, spent);
    }
    recorded
}

/// Every nonce below `next` has a recorded transaction that is on chain or
/// still open, and none at or above `next` has one.
fn gaps(
    facts: &Facts<'_>,
    recorded: &BTreeMap<u64, schema::NonceRow>,
    next: u64,
) -> Vec<Violation> {
    let mut violations = Vec::new();
    for nonce in (0..next).filter(|nonce| !recorded.contains_key(nonce)) {
        violations.push(facts.violation(
            CHECKER,
            format!(
                "nonce {nonce}, below the database's next nonce {next}, has no recorded transaction"
            ),
        ));
    }
    let open: BTreeSet<_> = facts
        .truth
        .db
        .engine
        .rows(schema::OUTBOX)
        .filter_map(
            |(_, row)| match schema::decode::<schema::OutboxRow>(&row.value) {
                Ok(schema::OutboxRow {
                    state: schema::Payout::Signed { tx },
                    ..
                }) => Some(tx.hash()),
                _ => None,
            },
        )
        .collect();
    for (nonce, spent) in recorded.range(..next) {
        let on_chain = facts.payouts.iter().any(|(_, tx)| tx.hash() == spent.tx);
        if !on_chain && !open.contains(&spent.tx) {
            violations.push(facts.violation(
                CHECKER,
                format!(
                    "nonce {nonce} is recorded for {} (for {}), which is neither on chain nor the transaction of any open payout: nobody will ever send it, and every later payout waits behind it",
                    spent.tx, spent.transfer
                ),
            ));
        }
    }
    for nonce in recorded.range(next..).map(|(nonce, _)| nonce) {
        violations.push(facts.violation(
            CHECKER,
            format!(
                "nonce {nonce} has a recorded transaction, but the database's next nonce is {next}"
            ),
        ));
    }
    violations
}

/// Every nonce spent on chain is spent by the transaction recorded for it.
fn spent_on_chain(facts: &Facts<'_>, recorded: &BTreeMap<u64, schema::NonceRow>) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (height, tx) in &facts.payouts {
        let nonce = tx.transfer.nonce;
        match recorded.get(&nonce) {
            Some(spent) if spent.tx == tx.hash() => {}
            Some(spent) => violations.push(facts.violation_at(
                CHECKER,
                facts.made(*height),
                format!(
                    "nonce {nonce} is spent on chain by {}, but the database recorded {} (for {}) at it",
                    list(&[(*height, tx)]),
                    spent.tx,
                    spent.transfer
                ),
            )),
            None => violations.push(facts.violation_at(
                CHECKER,
                facts.made(*height),
                format!(
                    "nonce {nonce} is spent on chain by {}, which the database never recorded",
                    list(&[(*height, tx)])
                ),
            )),
        }
    }
    violations
}

/// Every hot-wallet transaction waiting in a mempool is the one recorded
/// for its nonce.
fn waiting(facts: &Facts<'_>, recorded: &BTreeMap<u64, schema::NonceRow>) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (place, tx) in facts.truth.pending {
        if tx.transfer.from != HOT_WALLET {
            continue;
        }
        let nonce = tx.transfer.nonce;
        let recorded_as = match recorded.get(&nonce) {
            Some(spent) if spent.tx == tx.hash() => continue,
            Some(spent) => format!(
                "the database recorded {} (for {}) at it",
                spent.tx, spent.transfer
            ),
            None => "the database never recorded it".to_owned(),
        };
        violations.push(facts.violation(
            CHECKER,
            format!(
                "{} (nonce {nonce}, memo {:?}) waits in {place}'s mempool, but {recorded_as}",
                tx.hash(),
                tx.transfer.memo
            ),
        ));
    }
    violations
}
