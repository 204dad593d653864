//! The chain kind's checks: `exactly-once` for payments, judged on the
//! canonical chain and every mempool, and where an unconfirmed payment is.

use ledger::{
    bugs::Checker,
    chain::{ChainState, TxHash},
};
use std::collections::BTreeMap;

use super::client::payment_memo;
use crate::{
    check::{GroundTruth, Violation, told_before_deep},
    history::{Op, Outcome, Receipt, Request},
};

/// On the chain: each client's payment (named by its memo) is on the
/// canonical chain at most once, no other transaction of it waits in any
/// mempool to land later, none was refused, and each one its client saw
/// confirmed is there exactly once, as the transaction and in the block it
/// was told, and was `confirmations` deep when it was told.
pub(super) fn exactly_once(state: &ChainState, truth: &GroundTruth<'_>) -> Vec<Violation> {
    let confirmations = u64::from(truth.scenario.system.confirmations);
    let mut on_chain: BTreeMap<&str, Vec<(u64, TxHash)>> = BTreeMap::new();
    for block in state.blocks() {
        for tx in &block.transactions {
            on_chain
                .entry(tx.transfer.memo.as_str())
                .or_default()
                .push((block.height, tx.hash()));
        }
    }
    let height = state.height();
    let mut violations = Vec::new();
    for op in truth.history.ops() {
        let Request::Payment { .. } = op.request else {
            continue;
        };
        let memo = payment_memo(op.client, op.seq);
        let found = on_chain
            .get(memo.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let at = match op.outcome {
            Outcome::Acknowledged { at, .. } => at,
            _ => op.sent_at,
        };
        let mut problem = |message: String| {
            violations.push(Violation {
                checker: Checker::ExactlyOnce,
                at,
                message: format!("client {} payment {} ({memo}) {message}", op.client, op.seq),
            });
        };
        // Every payment is signed by its sender at a nonce of its own, from
        // an account that covers all the payments it makes (checked when a
        // scenario loads): a chain that refuses one refuses a payment it
        // owes its sender.
        if let Outcome::Rejected { reason, .. } = &op.outcome {
            problem(format!(
                "was refused by the chain ({reason}), though its sender signed it, at a nonce of its own, from an account that covers every payment it makes"
            ));
        }
        let second = truth.pending.iter().find(|(_, tx)| {
            tx.transfer.memo == memo && found.iter().any(|(_, hash)| *hash != tx.hash())
        });
        if let Some((place, tx)) = second {
            problem(format!(
                "is on the chain, and another transaction of it, {}, waits in {place}'s mempool",
                tx.hash()
            ));
        }
        if found.len() > 1 {
            let places: Vec<String> = found
                .iter()
                .map(|(height, hash)| format!("{hash} at height {height}"))
                .collect();
            problem(format!(
                "is on the chain {} times: {}",
                found.len(),
                places.join(", ")
            ));
            continue;
        }
        if let Outcome::Acknowledged {
            receipt:
                Receipt::Tx {
                    hash,
                    height: told_height,
                },
            at,
        } = op.outcome
        {
            match found.first() {
                None => problem(format!(
                    "was confirmed to its client as {hash}, but is not on the chain"
                )),
                Some((_, included)) if *included != hash => problem(format!(
                    "was confirmed as {hash}, but the chain holds {included}"
                )),
                Some((included_at, _)) if height + 1 - included_at < confirmations => {
                    problem(format!(
                        "was confirmed at height {included_at}, only {} deep in a chain of {height}",
                        height + 1 - included_at
                    ))
                }
                Some((included_at, _)) if *included_at != told_height => problem(format!(
                    "was confirmed as {hash} in block {told_height}, but block {included_at} holds it"
                )),
                Some((included_at, _)) => {
                    let depth = (*included_at, confirmations);
                    if let Some(reached) =
                        told_before_deep(truth.height_times, truth.end, depth, at)
                    {
                        problem(format!(
                            "was confirmed at {:.3}s in block {included_at}, but the chain stood {confirmations} deep above it only at {:.3}s",
                            at.as_secs_f64(),
                            reached.as_secs_f64()
                        ));
                    }
                }
            }
        }
    }
    violations
}

/// Where an unconfirmed payment is stuck, as the chain itself shows it.
pub(super) fn payment_stall(chain: &ChainState, op: &Op) -> String {
    let memo = payment_memo(op.client, op.seq);
    let included = chain.blocks().iter().find_map(|block| {
        block
            .transactions
            .iter()
            .find(|tx| tx.transfer.memo == memo)
            .map(|tx| (block.height, tx.transfer.nonce))
    });
    let pending = chain.pending().find(|tx| tx.transfer.memo == memo);
    let whereabouts = match (included, pending) {
        (Some((height, nonce)), _) => format!(
            "nonce {nonce} is on the chain at height {height}, {} deep",
            chain.height() + 1 - height
        ),
        (None, Some(tx)) => format!("nonce {} waits in the chain's mempool", tx.transfer.nonce),
        (None, None) => "it is pending in no mempool of the chain".to_owned(),
    };
    format!(
        "client {} payment {} ({memo}) is unconfirmed after {} attempts: {whereabouts}",
        op.client, op.seq, op.attempts
    )
}
