//! `conservation` for the ledger: each account's internal balance in the
//! database is its opening balance minus the amounts the committed log
//! accepted, up to the entry the projection has reached. (On chain, the
//! supply and the hot wallet's balance are checked by `chain-safety`.)

use ledger::{db::Key, ledger::schema};

use super::{Facts, balances, db_u64};
use crate::check::Violation;
use ledger::bugs::Checker;

const CHECKER: Checker = Checker::Conservation;

pub(super) fn check(facts: &Facts<'_>) -> Vec<Violation> {
    let Some(expected) = &facts.reference.snapshot else {
        return vec![facts.violation(
            CHECKER,
            format!(
                "the database says the log is projected up to index {}, beyond the committed log's {} entries",
                facts.db_applied,
                facts.truth.log.len()
            ),
        )];
    };
    let actual = expected
        .keys()
        .map(|account| {
            let balance = db_u64(
                facts.truth.db,
                schema::BALANCES,
                Key::from(account.as_str()),
            )
            .unwrap_or(facts.truth.initial_balance);
            (account.clone(), balance)
        })
        .collect();
    if actual == *expected {
        return Vec::new();
    }
    vec![facts.violation(
        CHECKER,
        format!(
            "after projecting the log up to index {}, the database holds balances {} where the accepted transfers leave {}",
            facts.db_applied,
            balances(&actual),
            balances(expected)
        ),
    )]
}
