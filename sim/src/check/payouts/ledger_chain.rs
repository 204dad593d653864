//! `ledger-chain`: the confirmations the log records are exactly the hot
//! wallet's transactions at least `confirmations` deep, matched by hash.
//! Online, each confirmation a replica is about to record is checked
//! against the canonical chain at that moment: a payout that deep can never
//! be taken back by a reorg (they stay shallower), so anything less is a
//! promise the chain may break.

use ledger::{chain::ChainState, ledger::LedgerEvent, observe::NodeName};
use std::collections::BTreeMap;

use super::{Facts, describe, list};
use crate::check::Violation;

const CHECKER: &str = "ledger-chain";

#[derive(Debug)]
pub struct Online {
    pub confirmations: u64,
}

impl Online {
    pub fn observe(
        &self,
        node: &NodeName,
        event: &LedgerEvent,
        chain: &ChainState,
    ) -> Option<String> {
        let LedgerEvent::Confirming {
            transfer,
            tx,
            height,
            depth,
        } = event
        else {
            return None;
        };
        let found = chain.blocks().iter().find_map(|block| {
            block
                .transactions
                .iter()
                .any(|included| included.hash().0 == *tx)
                .then_some(block.height)
        });
        let problem = match found {
            None => "is not on the canonical chain".to_owned(),
            Some(included) if chain.height() + 1 - included < self.confirmations => format!(
                "is only {} deep on the canonical chain (block {included}), below {}",
                chain.height() + 1 - included,
                self.confirmations
            ),
            Some(_) => return None,
        };
        Some(format!(
            "{node} confirms transfer tr-{transfer:016x} as tx 0x{tx:016x} (block {height}, {depth} deep as it saw it), but it {problem}"
        ))
    }
}

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
                    list(&paid)
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
            violations.push(facts.violation(
                CHECKER,
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
