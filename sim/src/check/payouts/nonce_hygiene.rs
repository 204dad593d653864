//! `nonce-hygiene`: every nonce below the database's next nonce has exactly
//! one recorded transaction, every hot-wallet transaction on chain is the
//! one recorded for its nonce, and once settled the chain's next nonce for
//! the hot wallet equals the database's.

use ledger::{
    db::Key,
    ledger::{HOT_WALLET, schema},
};

use super::{Facts, db_u64, list};
use crate::check::Violation;

const CHECKER: &str = "nonce-hygiene";

pub(super) fn check(facts: &Facts<'_>) -> Vec<Violation> {
    let db = facts.truth.db;
    let next = db_u64(db, schema::META, Key::from(schema::NEXT_NONCE)).unwrap_or(0);
    let mut recorded = std::collections::BTreeMap::new();
    let mut violations = Vec::new();
    for (key, row) in db.engine.rows(schema::NONCES) {
        let (Key::Int(nonce), Ok(spent)) = (key, schema::decode::<schema::NonceRow>(&row.value))
        else {
            violations.push(facts.violation(CHECKER, format!("nonce row {key} is malformed")));
            continue;
        };
        recorded.insert(*nonce as u64, spent);
    }
    for nonce in 0..next {
        if !recorded.contains_key(&nonce) {
            violations.push(facts.violation(
                CHECKER,
                format!("nonce {nonce}, below the database's next nonce {next}, has no recorded transaction"),
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
    for (height, tx) in &facts.payouts {
        let nonce = tx.transfer.nonce;
        match recorded.get(&nonce) {
            Some(spent) if spent.tx == tx.hash() => {}
            Some(spent) => violations.push(facts.violation(
                CHECKER,
                format!(
                    "nonce {nonce} is spent on chain by {}, but the database recorded {} (for {}) at it",
                    list(&[(*height, tx)]),
                    spent.tx,
                    spent.transfer
                ),
            )),
            None => violations.push(facts.violation(
                CHECKER,
                format!(
                    "nonce {nonce} is spent on chain by {}, which the database never recorded",
                    list(&[(*height, tx)])
                ),
            )),
        }
    }
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
