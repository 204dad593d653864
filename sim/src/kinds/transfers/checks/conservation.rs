//! `conservation` for the ledger: each account's internal balance in the
//! database is its opening balance minus the amounts the committed log
//! accepted, up to the entry the projection has reached (as the run left
//! it, and on its synced disk at each look mid-run); and every balance
//! a replica reported to a client is that, up to the log position it
//! reported it at, which is never behind what the client had seen (and an
//! account it said does not exist is none of the ledger's). (On
//! chain, the supply and the hot wallet's balance are checked by
//! `chain-safety`.)

use ledger::{db::Key, ledger::schema};

use super::{DbAt, Facts, balances, db_u64, misplaced_read};
use crate::check::Violation;
use ledger::bugs::Checker;

const CHECKER: Checker = Checker::Conservation;

pub(super) fn check(facts: &Facts<'_>) -> Vec<Violation> {
    let mut violations: Vec<Violation> = reported_balances(facts).into_iter().collect();
    violations.extend(projected_balances(facts));
    violations
}

/// The first balance a replica told a client that the committed log does
/// not bear out; one is enough to see what went wrong.
fn reported_balances(facts: &Facts<'_>) -> Option<Violation> {
    let reference = &facts.reference;
    facts.truth.history.balances().iter().find_map(|told| {
        let what = match told.amount {
            Some(amount) => format!("holds {amount}"),
            None => "does not exist".to_owned(),
        };
        let who = format!(
            "client {} was told {} {what} as of log index {}",
            told.client, told.account, told.as_of
        );
        let problem = if let Some(misplaced) =
            misplaced_read(told.as_of, told.seen, reference.entries)
        {
            format!("{who}, {misplaced}")
        } else {
            match reference.balance_after(&told.account, told.as_of) {
                expected if expected == told.amount => return None,
                Some(amount) => format!(
                    "{who}, but the transfers the committed log accepted up to that index leave {amount}"
                ),
                None => format!("{who}, an account the ledger does not have"),
            }
        };
        Some(facts.violation_at(CHECKER, told.at, problem))
    })
}

/// The database's balances, against the committed log up to the
/// projection's position: at each look mid-run and at the end.
fn projected_balances(facts: &Facts<'_>) -> Vec<Violation> {
    facts
        .db_states
        .iter()
        .filter_map(|state| balances_at(facts, state))
        .collect()
}

fn balances_at(facts: &Facts<'_>, state: &DbAt<'_>) -> Option<Violation> {
    let Some(expected) = state
        .projected
        .as_ref()
        .map(|projected| &projected.balances)
    else {
        return Some(facts.violation_in(
            CHECKER,
            state,
            format!(
                "the database says the log is projected up to index {}, beyond the committed log's {} entries",
                state.applied,
                facts.truth.log.len()
            ),
        ));
    };
    let actual = expected
        .keys()
        .map(|account| {
            let balance = db_u64(state.db, schema::BALANCES, Key::from(account.as_str()))
                .unwrap_or(facts.truth.initial_balance);
            (account.clone(), balance)
        })
        .collect();
    (actual != *expected).then(|| {
        facts.violation_in(
            CHECKER,
            state,
            format!(
                "after projecting the log up to index {}, the database holds balances {} where the accepted transfers leave {}",
                state.applied,
                balances(&actual),
                balances(expected)
            ),
        )
    })
}
