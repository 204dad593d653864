//! `ledger-chain`: the confirmations the log records are exactly the hot
//! wallet's transactions at least `confirmations` deep, matched by hash.
//! (Its online part, each confirmation checked as it is made, is
//! `check::confirmations`.)

use std::collections::BTreeMap;

use super::{Facts, describe, list};
use crate::check::Violation;
use ledger::bugs::Checker;

const CHECKER: Checker = Checker::LedgerChain;

pub(super) fn check(facts: &Facts<'_>) -> Vec<Violation> {
    let reference = &facts.reference;
    let confirmations = facts.truth.confirmations;
    let mut violations = Vec::new();
    for (transfer, confirmed) in &reference.confirmed {
        let paid = facts.paying(&transfer.memo());
        let matching = paid.iter().find(|(_, tx)| tx.hash() == confirmed.tx);
        let problem = match matching {
            None => format!(
                "the chain holds {}",
                if paid.is_empty() {
                    "no payout of it".to_owned()
                } else {
                    list(paid)
                }
            ),
            Some((height, _)) if facts.depth(*height) < confirmations => {
                format!("it is only {} deep (block {height})", facts.depth(*height))
            }
            Some(_) => continue,
        };
        violations.push(facts.violation(
            CHECKER,
            format!(
                "the log confirms {} as {} (nonce {}, block {}) at index {}, but {problem}",
                describe(reference, *transfer),
                confirmed.tx,
                confirmed.nonce,
                confirmed.height,
                confirmed.index
            ),
        ));
    }
    if !facts.truth.converged {
        return violations;
    }
    let confirmed_hashes: BTreeMap<_, _> = reference
        .confirmed
        .iter()
        .map(|(transfer, confirmed)| (confirmed.tx, *transfer))
        .collect();
    for (height, tx) in &facts.payouts {
        if facts.depth(*height) >= confirmations && !confirmed_hashes.contains_key(&tx.hash()) {
            // True once the block that made it deep enough was made.
            violations.push(facts.violation_at(
                CHECKER,
                facts.made(height + confirmations - 1),
                format!(
                    "{} is {} deep on chain with memo {:?}, but the log records no confirmation of it",
                    list(&[(*height, tx)]),
                    facts.depth(*height),
                    tx.transfer.memo
                ),
            ));
        }
    }
    violations
}
