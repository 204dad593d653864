//! `exactly-once` for payouts: the committed log decides. Every payout on
//! chain pays a transfer the log accepted, with its parameters, and no
//! transfer is paid twice; what clients were told agrees with the log.

use ledger::ledger::TransferId;
use std::collections::BTreeMap;

use super::{Facts, describe, list};
use crate::{
    check::Violation,
    workload::{Outcome, Receipt, Request},
};

const CHECKER: &str = "exactly-once";

pub(super) fn check(facts: &Facts<'_>) -> Vec<Violation> {
    let reference = &facts.reference;
    let mut violations = Vec::new();
    let mut by_transfer: BTreeMap<TransferId, Vec<_>> = BTreeMap::new();
    let named: BTreeMap<String, TransferId> = reference
        .accepted
        .keys()
        .map(|transfer| (transfer.memo(), *transfer))
        .collect();
    for (height, tx) in &facts.payouts {
        let Some(transfer) = named.get(&tx.transfer.memo) else {
            violations.push(facts.violation(
                CHECKER,
                format!(
                    "{} pays {} to {} with memo {:?}, which names no transfer the committed log accepted",
                    list(&[(*height, tx)]),
                    tx.transfer.amount,
                    tx.transfer.to,
                    tx.transfer.memo
                ),
            ));
            continue;
        };
        let accepted = &reference.accepted[transfer];
        if tx.transfer.amount != accepted.request.amount
            || tx.transfer.to != accepted.request.to_address
        {
            violations.push(facts.violation(
                CHECKER,
                format!(
                    "{} pays {} to {}, but {} asked for {} to {}",
                    list(&[(*height, tx)]),
                    tx.transfer.amount,
                    tx.transfer.to,
                    describe(reference, *transfer),
                    accepted.request.amount,
                    accepted.request.to_address
                ),
            ));
        }
        by_transfer
            .entry(*transfer)
            .or_default()
            .push((*height, *tx));
    }
    for (transfer, txs) in &by_transfer {
        if txs.len() > 1 {
            violations.push(facts.violation(
                CHECKER,
                format!(
                    "{} is paid {} times on chain: {}",
                    describe(reference, *transfer),
                    txs.len(),
                    list(txs)
                ),
            ));
        }
    }
    for op in facts.truth.history.ops() {
        let Request::Payout { request, .. } = &op.request else {
            continue;
        };
        let decided = reference
            .decided
            .get(&(op.client, request.request_id.clone()));
        let who = format!(
            "client {} request {:?} (seq {})",
            op.client, request.request_id, op.seq
        );
        match &op.outcome {
            Outcome::Acknowledged {
                receipt: Receipt::Transfer(told),
                at,
            } => {
                let fine = decided.is_some_and(|decided| {
                    decided.verdict == Ok(*told) && decided.request == *request
                });
                if !fine {
                    violations.push(Violation {
                        checker: CHECKER,
                        at: *at,
                        message: format!(
                            "{who} was told accepted as {told}, but the committed log {}",
                            match decided {
                                None => "never decided it".to_owned(),
                                Some(decided) if decided.request != *request => format!(
                                    "decided it at index {} with other parameters",
                                    decided.index
                                ),
                                Some(decided) => format!(
                                    "decided {:?} at index {}",
                                    decided.verdict, decided.index
                                ),
                            }
                        ),
                    });
                }
            }
            Outcome::Rejected { kind, reason } => {
                let accepted_as_sent = decided
                    .is_some_and(|decided| decided.verdict.is_ok() && decided.request == *request);
                let conflict_without_other = kind.as_deref() == Some("conflict")
                    && !decided.is_some_and(|decided| decided.request != *request);
                if accepted_as_sent || conflict_without_other {
                    violations.push(facts.violation(
                        CHECKER,
                        format!(
                            "{who} was told rejected ({reason}), but the committed log {}",
                            match decided {
                                Some(decided) if accepted_as_sent =>
                                    format!("accepted it at index {}", decided.index),
                                _ => "holds no other use of its request id".to_owned(),
                            }
                        ),
                    ));
                }
            }
            _ => {}
        }
        if let Some((told_tx, told_height)) = op.confirmed {
            let transfer = TransferId::of(op.client, &request.request_id);
            let paid = facts.paying(&transfer.memo());
            let deep = paid.iter().any(|(height, tx)| {
                tx.hash() == told_tx && facts.depth(*height) >= facts.truth.confirmations
            });
            if !deep {
                let holds = match paid.iter().find(|(_, tx)| tx.hash() == told_tx) {
                    Some((height, _)) => format!(
                        "only {} deep, below {}",
                        facts.depth(*height),
                        facts.truth.confirmations
                    ),
                    None if paid.is_empty() => "not on chain; no payout of it is".to_owned(),
                    None => format!("not on chain; the chain pays it as {}", list(&paid)),
                };
                violations.push(facts.violation(
                    CHECKER,
                    format!(
                        "{who} was told its payout was confirmed as {told_tx} in block {told_height}, but that transaction is {holds}"
                    ),
                ));
            }
        }
    }
    violations
}
