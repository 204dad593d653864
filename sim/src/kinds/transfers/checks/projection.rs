//! `projection`: the database is the projection of the committed log. At
//! the position the database records (`applied`), its outbox holds a row
//! for exactly the payouts the log accepted and had not confirmed by then,
//! each with the transfer's address and amount and, once the log took an
//! intent for it, that intent's transaction; its record of each nonce the
//! log's intents spent is that intent; and its next-nonce counter is past
//! every one of them. The projection is computed here independently, by
//! replaying the log's prefix.
//!
//! It is judged on the database as the run left it and on its synced disk
//! at each look mid-run (each crash of the database, each lost disk): a
//! run that converged has no payout open at its end, so how open
//! payouts are projected shows only mid-run.
//!
//! Balances are `conservation`'s to judge. What the log does not decide is
//! not judged: a row's claim (leases only spread work), and records a
//! design keeps in the database beyond the log's (a signed row, a nonce
//! record, or a counter ahead of the log's intents).

use ledger::{
    db::Key,
    ledger::{TransferId, schema},
};
use std::collections::BTreeMap;

use super::{DbAt, Facts, db_u64, reference::Reference};
use crate::check::Violation;
use ledger::bugs::Checker;

const CHECKER: Checker = Checker::Projection;

pub(super) fn check(facts: &Facts<'_>) -> Vec<Violation> {
    facts
        .db_states
        .iter()
        .flat_map(|state| {
            // Past the committed log: conservation reports it.
            let Some(projected) = &state.projected else {
                return Vec::new();
            };
            let mut violations = rows(facts, state, projected);
            violations.extend(nonces(facts, state, projected));
            violations
        })
        .collect()
}

/// The outbox against the payouts open at the database's position.
fn rows(facts: &Facts<'_>, state: &DbAt<'_>, projected: &Reference) -> Vec<Violation> {
    let mut violations = Vec::new();
    let mut expected: BTreeMap<u64, TransferId> = projected
        .accepted
        .iter()
        .filter(|(transfer, _)| !projected.confirmed.contains_key(transfer))
        .map(|(transfer, accepted)| (accepted.slot, *transfer))
        .collect();
    for (key, row) in state.db.engine.rows(schema::OUTBOX) {
        let slot = match key {
            Key::Int(slot) => *slot as u64,
            other => {
                violations.push(at(
                    facts,
                    state,
                    format!("outbox row key {other} is not a slot"),
                ));
                continue;
            }
        };
        let Ok(row) = schema::decode::<schema::OutboxRow>(&row.value) else {
            violations.push(at(facts, state, format!("outbox row {slot} is malformed")));
            continue;
        };
        let Some(transfer) = expected.remove(&slot) else {
            let why = match projected.confirmed.get(&row.transfer) {
                Some(confirmed) => format!("the log confirmed it at index {}", confirmed.index),
                None => "the log accepted no payout there".to_owned(),
            };
            violations.push(at(
                facts,
                state,
                format!(
                    "outbox row {slot} holds an open payout of {}, but {why}",
                    row.transfer
                ),
            ));
            continue;
        };
        let accepted = &projected.accepted[&transfer];
        if row.transfer != transfer
            || row.to_address != accepted.request.to_address
            || row.amount != accepted.request.amount
        {
            violations.push(at(
                facts,
                state,
                format!(
                    "outbox row {slot} pays {} to {} for {}, but the log accepted {transfer} to {} for {}",
                    row.amount, row.to_address, row.transfer, accepted.request.to_address, accepted.request.amount
                ),
            ));
        }
        if let Some(intent) = projected.intents.get(&transfer) {
            let signed = match &row.state {
                schema::Payout::Signed { tx } => Some(tx.hash()),
                schema::Payout::Pending => None,
            };
            if signed != Some(intent.tx.hash()) {
                let holds = signed.map_or("no transaction".to_owned(), |tx| tx.to_string());
                violations.push(at(
                    facts,
                    state,
                    format!(
                        "outbox row {slot} of {transfer} holds {holds}, but the log took {} as its intent at index {}",
                        intent.tx.hash(),
                        intent.index
                    ),
                ));
            }
        }
    }
    for (slot, transfer) in expected {
        violations.push(at(
            facts,
            state,
            format!(
                "the log accepted {transfer} at index {} and has not confirmed it, but the outbox has no row {slot} for it",
                projected.accepted[&transfer].index
            ),
        ));
    }
    violations
}

/// Each nonce the log's intents spent is recorded as that intent.
fn nonces(facts: &Facts<'_>, state: &DbAt<'_>, projected: &Reference) -> Vec<Violation> {
    let db = state.db;
    let mut violations = Vec::new();
    for (nonce, (transfer, tx)) in &projected.nonces {
        let recorded = db
            .engine
            .committed(schema::NONCES, &schema::int_key(*nonce))
            .and_then(|row| schema::decode::<schema::NonceRow>(&row.value).ok());
        let matches = recorded
            .as_ref()
            .is_some_and(|row| row.tx == *tx && row.transfer == *transfer);
        if !matches {
            let holds = recorded.map_or("nothing".to_owned(), |row| {
                format!("{} (for {})", row.tx, row.transfer)
            });
            violations.push(at(
                facts,
                state,
                format!(
                    "the log spent nonce {nonce} on {tx} (for {transfer}), but the database records {holds} at it"
                ),
            ));
        }
    }
    // A counter behind a spent nonce would hand that nonce out again to
    // whoever trusted it.
    let counter = db_u64(db, schema::META, Key::from(schema::NEXT_NONCE)).unwrap_or(0);
    if counter < projected.next_nonce {
        violations.push(at(
            facts,
            state,
            format!(
                "the log's intents spent nonces up to {}, but the database's next-nonce counter is {counter}",
                projected.next_nonce - 1
            ),
        ));
    }
    violations
}

fn at(facts: &Facts<'_>, state: &DbAt<'_>, message: String) -> Violation {
    facts.violation_in(
        CHECKER,
        state,
        format!(
            "at log index {}, the database's position: {message}",
            state.applied
        ),
    )
}
