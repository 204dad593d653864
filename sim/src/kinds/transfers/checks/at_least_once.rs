//! `at-least-once`: no accepted transfer is lost. A payout the committed
//! log accepted must be on its way for as long as it is not paid, and it is
//! *lost* when the system's durable state (log and database) leaves no
//! path by which a correct worker could still pay it:
//!
//! - never projected: the database's projection has passed the entry that
//!   accepted it, yet it has no outbox row and the log no confirmation, so
//!   no worker will ever look at it;
//! - unpayable intent: every transaction recorded for it (the log's intent,
//!   the database row's) has its nonce spent on chain by another
//!   transaction, so resubmitting it (the only safe move) can never land
//!   it.
//!
//! Everything else an unpaid transfer can be doing is progress that has not
//! happened yet (not projected yet, no nonce yet, signed and on its way):
//! the liveness checker's to explain when a run does not settle. A lost
//! payout is a broken promise whether or not the run settled.

use ledger::{
    chain::{Transaction, TxHash},
    ledger::{HOT_WALLET, schema},
};

use super::{Facts, describe, list, records::Records};
use crate::check::Violation;
use ledger::bugs::Checker;

const CHECKER: Checker = Checker::AtLeastOnce;

pub(super) fn check(facts: &Facts<'_>) -> Vec<Violation> {
    let (truth, reference) = (facts.truth, &facts.reference);
    // A projection past the committed log is conservation's to report; an
    // entry it holds that this log lacks cannot be judged here.
    if facts.db_applied > truth.log.len() as u64 {
        return Vec::new();
    }
    let records = Records::of(facts);
    let mut violations = Vec::new();
    for (transfer, accepted) in &reference.accepted {
        if reference.confirmed.contains_key(transfer) {
            continue;
        }
        let row = truth
            .db
            .engine
            .committed(schema::OUTBOX, &schema::int_key(accepted.slot));
        let recorded: Vec<&Transaction> = records
            .open
            .get(transfer)
            .into_iter()
            .flatten()
            .filter_map(|hash| records.open_txs.get(hash))
            .collect();
        let lost = if row.is_none() && facts.db_applied >= accepted.index {
            format!(
                "the database's projection passed its entry (it stands at index {}), yet it has no outbox row and the log no confirmation: it was never projected, and no worker will ever pay it",
                facts.db_applied
            )
        } else {
            let blocked: Vec<_> = recorded
                .iter()
                .map(|tx| (tx, spent_by_another(facts, tx)))
                .collect();
            if blocked.is_empty() || blocked.iter().any(|(_, other)| other.is_none()) {
                continue;
            }
            blocked
                .iter()
                .map(|(tx, other)| {
                    format!(
                        "its recorded transaction {} can never land: nonce {} is spent on chain by {}",
                        tx.hash(),
                        tx.transfer.nonce,
                        list(&[other.expect("checked above")])
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        };
        violations.push(facts.violation(
            CHECKER,
            format!("{} is lost: {lost}", describe(reference, *transfer)),
        ));
    }
    violations
}

/// The hot-wallet transaction on chain that used `tx`'s nonce, when it is
/// not `tx` itself.
fn spent_by_another<'a>(facts: &Facts<'a>, tx: &Transaction) -> Option<(u64, &'a Transaction)> {
    let hash: TxHash = tx.hash();
    facts.payouts.iter().copied().find(|(_, included)| {
        included.transfer.from == HOT_WALLET
            && included.transfer.nonce == tx.transfer.nonce
            && included.hash() != hash
    })
}
