//! `nonce-hygiene`: the hot wallet's nonces are spent as recorded. The
//! records are the intents the log took and the database's rows
//! ([`Records`]). Each nonce below the next one has exactly one recorded
//! transaction, which is on chain or is the transaction of an open payout
//! (anything else is a gap nobody will ever fill, and every later payout
//! waits behind it); every hot-wallet transaction anywhere (on chain, or
//! waiting in any mempool) is one recorded for its nonce; and once settled
//! the chain's next nonce for the hot wallet is the recorded next nonce.

use ledger::{chain::TxHash, ledger::HOT_WALLET};
use std::collections::BTreeSet;

use super::{Facts, list, records::Records};
use crate::check::Violation;
use ledger::bugs::Checker;

const CHECKER: Checker = Checker::NonceHygiene;

pub(super) fn check(facts: &Facts<'_>) -> Vec<Violation> {
    let records = Records::of(facts);
    let mut violations: Vec<Violation> = records
        .malformed
        .iter()
        .map(|row| facts.violation(CHECKER, format!("{row} is malformed")))
        .collect();
    violations.extend(gaps(facts, &records));
    violations.extend(spent_on_chain(facts, &records));
    violations.extend(waiting(facts, &records));
    if facts.truth.converged {
        let on_chain = facts.truth.chain.next_nonce(HOT_WALLET);
        if on_chain != records.next {
            violations.push(facts.violation(
                CHECKER,
                format!(
                    "after settling, the chain's next nonce for {HOT_WALLET} is {on_chain}, the records' is {}",
                    records.next
                ),
            ));
        }
    }
    violations
}

/// Every nonce below the next has one recorded transaction, on chain or
/// still open.
fn gaps(facts: &Facts<'_>, records: &Records) -> Vec<Violation> {
    let mut violations = Vec::new();
    let on_chain: BTreeSet<TxHash> = facts.payouts.iter().map(|(_, paid)| paid.hash()).collect();
    for nonce in 0..records.next {
        let Some(spent) = records.by_nonce.get(&nonce) else {
            violations.push(facts.violation(
                CHECKER,
                format!(
                    "nonce {nonce}, below the next nonce {}, has no recorded transaction",
                    records.next
                ),
            ));
            continue;
        };
        if spent.len() > 1 {
            let all: Vec<String> = spent
                .iter()
                .map(|(tx, transfer)| format!("{tx} (for {transfer})"))
                .collect();
            violations.push(facts.violation(
                CHECKER,
                format!(
                    "nonce {nonce} is recorded for {} transactions: {}",
                    spent.len(),
                    all.join(", ")
                ),
            ));
        }
        for (tx, transfer) in spent {
            if !on_chain.contains(tx) && !records.is_open(*tx) {
                violations.push(facts.violation(
                    CHECKER,
                    format!(
                        "nonce {nonce} is recorded for {tx} (for {transfer}), which is neither on chain nor the transaction of any open payout: nobody will ever send it, and every later payout waits behind it"
                    ),
                ));
            }
        }
    }
    violations
}

/// Every nonce spent on chain is spent by a transaction recorded for it.
fn spent_on_chain(facts: &Facts<'_>, records: &Records) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (height, tx) in &facts.payouts {
        let nonce = tx.transfer.nonce;
        if records.holds(nonce, tx.hash()) {
            continue;
        }
        let recorded_as = match records.by_nonce.get(&nonce) {
            Some(spent) => format!(
                "the records hold {} at it",
                spent
                    .iter()
                    .map(|(tx, transfer)| format!("{tx} (for {transfer})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None => "nothing records it".to_owned(),
        };
        violations.push(facts.violation_at(
            CHECKER,
            facts.made(*height),
            format!(
                "nonce {nonce} is spent on chain by {}, but {recorded_as}",
                list(&[(*height, tx)])
            ),
        ));
    }
    violations
}

/// Every hot-wallet transaction waiting in a mempool is one recorded for
/// its nonce.
fn waiting(facts: &Facts<'_>, records: &Records) -> Vec<Violation> {
    facts
        .truth
        .pending
        .iter()
        .filter(|(_, tx)| {
            tx.transfer.from == HOT_WALLET && !records.holds(tx.transfer.nonce, tx.hash())
        })
        .map(|(place, tx)| {
            facts.violation(
                CHECKER,
                format!(
                    "{} (nonce {}, memo {:?}) waits in {place}'s mempool, but no record holds it",
                    tx.hash(),
                    tx.transfer.nonce,
                    tx.transfer.memo
                ),
            )
        })
        .collect()
}
