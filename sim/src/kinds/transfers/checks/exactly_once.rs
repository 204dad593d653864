//! `exactly-once` for payouts: the committed log decides. Every payout on
//! chain pays a transfer the log accepted, with its parameters, and no
//! transfer is paid twice; what clients were told agrees with the log: the
//! first answer to each request, every later answer to a resend of it, and
//! every status they were told, which never goes back.

use ledger::{
    chain::TxHash,
    ledger::{TransferId, TransferRequest},
};
use std::collections::BTreeMap;

use super::{Facts, describe, list, misplaced_read};
use ledger::bugs::Checker;

use crate::{
    check::{Violation, told_before_deep},
    history::{Op, Outcome, Receipt, Request, StatusSeen, StatusTold},
};

const CHECKER: Checker = Checker::ExactlyOnce;

pub(super) fn check(facts: &Facts<'_>) -> Vec<Violation> {
    let mut violations = on_chain(facts);
    for op in facts.truth.history.ops() {
        let Request::Payout { request, .. } = &op.request else {
            continue;
        };
        let who = format!(
            "client {} request {:?} (seq {})",
            op.client, request.request_id, op.seq
        );
        violations.extend(first_answer(facts, op, request, &who));
        violations.extend(late_answers(op, &who));
        violations.extend(statuses(op, &who));
        violations.extend(statuses_against_log(facts, op, request, &who));
        violations.extend(told_confirmed(facts, op, request, &who));
    }
    violations
}

/// Every payout on chain pays a transfer the log accepted, as asked, and
/// none is paid twice.
fn on_chain(facts: &Facts<'_>) -> Vec<Violation> {
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
            violations.push(facts.violation_at(
                CHECKER,
                facts.made(*height),
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
            violations.push(facts.violation_at(
                CHECKER,
                facts.made(*height),
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
            // True from the moment the second payout landed.
            let second = txs.iter().map(|(height, _)| *height).nth(1).unwrap_or(0);
            violations.push(facts.violation_at(
                CHECKER,
                facts.made(second),
                format!(
                    "{} is paid {} times on chain: {}",
                    describe(reference, *transfer),
                    txs.len(),
                    list(txs)
                ),
            ));
        }
    }
    violations
}

/// A request's first answer is what the committed log decided for it: an
/// acceptance names the transfer the log made of it, with its parameters;
/// a rejection never hides an acceptance, and a conflict names another use
/// of its request id.
fn first_answer(
    facts: &Facts<'_>,
    op: &Op,
    request: &TransferRequest,
    who: &str,
) -> Option<Violation> {
    let decided = facts
        .reference
        .decided
        .get(&(op.client, request.request_id.clone()));
    match &op.outcome {
        Outcome::Acknowledged {
            receipt: Receipt::Transfer(told),
            at,
        } => {
            let fine = decided
                .is_some_and(|decided| decided.verdict == Ok(*told) && decided.request == *request);
            (!fine).then(|| Violation {
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
                        Some(decided) =>
                            format!("decided {:?} at index {}", decided.verdict, decided.index),
                    }
                ),
            })
        }
        Outcome::Rejected { kind, reason } => {
            let accepted_as_sent = decided
                .is_some_and(|decided| decided.verdict.is_ok() && decided.request == *request);
            let conflict_without_other = kind.as_deref() == Some("conflict")
                && !decided.is_some_and(|decided| decided.request != *request);
            (accepted_as_sent || conflict_without_other).then(|| {
                facts.violation(
                    CHECKER,
                    format!(
                        "{who} was told rejected ({reason}), but the committed log {}",
                        match decided {
                            Some(decided) if accepted_as_sent =>
                                format!("accepted it at index {}", decided.index),
                            _ => "holds no other use of its request id".to_owned(),
                        }
                    ),
                )
            })
        }
        _ => None,
    }
}

/// A payout its client was told confirmed is on chain as that transaction,
/// at least `confirmations` deep.
fn told_confirmed(
    facts: &Facts<'_>,
    op: &Op,
    request: &TransferRequest,
    who: &str,
) -> Option<Violation> {
    let (told_tx, told_height) = op.confirmed?;
    let transfer = TransferId::of(op.client, &request.request_id);
    let paid = facts.paying(&transfer.memo());
    let confirmations = facts.truth.confirmations;
    let deep = paid
        .iter()
        .find(|(height, tx)| tx.hash() == told_tx && facts.depth(*height) >= confirmations);
    if let Some((height, _)) = deep {
        return told_too_soon(facts, op, (told_tx, told_height), *height, who);
    }
    let holds = match paid.iter().find(|(_, tx)| tx.hash() == told_tx) {
        Some((height, _)) => format!(
            "only {} deep, below {}",
            facts.depth(*height),
            facts.truth.confirmations
        ),
        None if paid.is_empty() => "not on chain; no payout of it is".to_owned(),
        None => format!("not on chain; the chain pays it as {}", list(paid)),
    };
    Some(facts.violation(
        CHECKER,
        format!(
            "{who} was told its payout was confirmed as {told_tx} in block {told_height}, but that transaction is {holds}"
        ),
    ))
}

/// A payout told confirmed, and that deep on the final chain, was told so
/// in the block that holds it, once the chain stood `confirmations` deep
/// above it, and at least as deep as it was told, which is no less than
/// `confirmations`.
fn told_too_soon(
    facts: &Facts<'_>,
    op: &Op,
    (told_tx, told_height): (TxHash, u64),
    height: u64,
    who: &str,
) -> Option<Violation> {
    let told = op.statuses.iter().find_map(|told| match told.status {
        StatusSeen::Confirmed { depth, .. } => Some((told.at, depth)),
        _ => None,
    });
    let told_at = told.map_or(facts.truth.end, |(at, _)| at);
    if told_height != height {
        return Some(facts.violation_at(
            CHECKER,
            told_at,
            format!(
                "{who} was told its payout was confirmed as {told_tx} in block {told_height}, but block {height} holds that transaction"
            ),
        ));
    }
    let truth = facts.truth;
    let required = (height, truth.confirmations);
    if let Some(reached) = told_before_deep(truth.height_times, truth.end, required, told_at) {
        return Some(facts.violation_at(
            CHECKER,
            told_at,
            format!(
                "{who} was told at {:.3}s that its payout {told_tx} in block {height} was confirmed, but block {}, {} deep above it, was made only at {:.3}s",
                told_at.as_secs_f64(),
                height + truth.confirmations - 1,
                truth.confirmations,
                reached.as_secs_f64(),
            ),
        ));
    }
    let (_, told_depth) = told?;
    if told_depth < truth.confirmations {
        return Some(facts.violation_at(
            CHECKER,
            told_at,
            format!(
                "{who} was told at {:.3}s that its payout {told_tx} in block {height} was confirmed {told_depth} deep, below the {} a payout needs",
                told_at.as_secs_f64(),
                truth.confirmations,
            ),
        ));
    }
    let reached = told_before_deep(truth.height_times, truth.end, (height, told_depth), told_at)?;
    Some(facts.violation_at(
        CHECKER,
        told_at,
        format!(
            "{who} was told at {:.3}s that its payout {told_tx} in block {height} stood {told_depth} deep, but block {}, that deep above it, was made only at {:.3}s",
            told_at.as_secs_f64(),
            height + told_depth - 1,
            reached.as_secs_f64(),
        ),
    ))
}

/// Every answer to a resend of an answered request is its first answer.
fn late_answers(op: &Op, who: &str) -> Vec<Violation> {
    op.later
        .iter()
        .filter(|later| !same_decision(&op.outcome, &later.outcome))
        .map(|later| Violation {
            checker: CHECKER,
            at: later.at,
            message: format!(
                "{who} was first {}, but sent again later it was {}",
                op.outcome, later.outcome
            ),
        })
        .collect()
}

fn same_decision(first: &Outcome, later: &Outcome) -> bool {
    match (first, later) {
        (
            Outcome::Acknowledged { receipt: first, .. },
            Outcome::Acknowledged { receipt: later, .. },
        ) => first == later,
        (Outcome::Rejected { kind: first, .. }, Outcome::Rejected { kind: later, .. }) => {
            first == later
        }
        _ => false,
    }
}

/// Every status is what the committed log had decided up to the position
/// the replica answered from, and that position is no earlier than the one
/// the client had seen: a replica reports its fold, never a stage the log
/// has not reached or one it has passed. The first status per request that
/// is not is reported.
fn statuses_against_log(
    facts: &Facts<'_>,
    op: &Op,
    request: &TransferRequest,
    who: &str,
) -> Option<Violation> {
    let reference = &facts.reference;
    op.statuses.iter().find_map(|told| {
        // Written only for a status found wrong: most are right.
        let said = || {
            format!(
                "{who} was told at {:.3}s that its payout was {} as of log index {}",
                told.at.as_secs_f64(),
                told.status,
                told.as_of
            )
        };
        let problem =
            if let Some(misplaced) = misplaced_read(told.as_of, told.seen, reference.entries) {
                format!("{}, {misplaced}", said())
            } else {
                let due = reference.status_after(op.client, &request.request_id, told.as_of);
                // A confirmation is due as the log recorded it: the same
                // transaction, block and depth (that the chain bore the
                // depth out is judged apart).
                if told.status == due {
                    return None;
                }
                // Naming an intent the log does hold, refused by the rules
                // only for its nonce, tells the client the truth about the
                // log. Taking it is judged where its harm shows (a payout
                // that cannot land, a nonce spent twice): without the
                // hazard that makes the order matter, it is no violation.
                if let (StatusSeen::Submitted { tx }, StatusSeen::Pending) = (&told.status, &due)
                    && reference.out_of_turn_by(op.client, &request.request_id, *tx, told.as_of)
                {
                    return None;
                }
                match (&told.status, due) {
                    (_, StatusSeen::NotFound) => {
                        format!("{}, but the committed log decides it only later", said())
                    }
                    (
                        StatusSeen::Confirmed { tx, height, depth },
                        StatusSeen::Confirmed {
                            tx: due_tx,
                            height: due_height,
                            depth: recorded,
                        },
                    ) if (tx, height) == (&due_tx, &due_height) => format!(
                        "{}, {depth} blocks deep, but the log recorded that confirmation {recorded} blocks deep",
                        said()
                    ),
                    (_, due) => format!(
                        "{}, but the committed log up to that index has it {due}",
                        said()
                    ),
                }
            };
        Some(facts.violation_at(CHECKER, told.at, problem))
    })
}

/// The statuses a client was told of an accepted payout never go back: the
/// request is never forgotten or refused, a payout never returns from
/// submitted or confirmed to an earlier stage, and its transaction and
/// block never change once named.
fn statuses(op: &Op, who: &str) -> Vec<Violation> {
    let mut violations = Vec::new();
    let accepted = matches!(op.outcome, Outcome::Acknowledged { .. });
    let mut previous: Option<&StatusSeen> = None;
    for StatusTold { at, status, .. } in &op.statuses {
        let problem = match (previous, status) {
            (_, StatusSeen::NotFound | StatusSeen::Rejected { .. }) if accepted => Some(format!(
                "{who} was accepted, but a status request later said {status}"
            )),
            (Some(before), now) if now.progress() < before.progress() => {
                Some(format!("{who}'s status went back from {before} to {now}"))
            }
            (Some(StatusSeen::Submitted { tx: before }), StatusSeen::Submitted { tx: now })
                if before != now =>
            {
                Some(format!(
                    "{who}'s status named {before}, then {now}, as its submitted payout"
                ))
            }
            (
                Some(before @ StatusSeen::Confirmed { tx, height, .. }),
                now @ StatusSeen::Confirmed {
                    tx: now_tx,
                    height: now_height,
                    ..
                },
            ) if (tx, height) != (now_tx, now_height) => {
                Some(format!("{who}'s status said {before}, then {now}"))
            }
            _ => None,
        };
        if let Some(message) = problem {
            violations.push(Violation {
                checker: CHECKER,
                at: *at,
                message,
            });
        }
        previous = Some(status);
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Later;
    use ledger::{chain::TxHash, ledger::TransferRequest};
    use std::time::Duration;

    fn accepted(transfer: u64) -> Outcome {
        Outcome::Acknowledged {
            receipt: Receipt::Transfer(TransferId(transfer)),
            at: Duration::from_secs(1),
        }
    }

    fn op(outcome: Outcome, later: Vec<Outcome>, statuses: Vec<StatusSeen>) -> Op {
        Op {
            client: 1,
            seq: 1,
            request: Request::Payout {
                request: TransferRequest {
                    request_id: "c1-r1".to_owned(),
                    account: "acct-0".to_owned(),
                    to_address: "user-1".to_owned(),
                    amount: 5,
                },
                bad: None,
            },
            sent_at: Duration::ZERO,
            attempts: 1,
            outcome,
            confirmed: None,
            later: later
                .into_iter()
                .map(|outcome| Later {
                    at: Duration::from_secs(2),
                    outcome,
                })
                .collect(),
            statuses: statuses
                .into_iter()
                .map(|status| StatusTold {
                    at: Duration::from_secs(3),
                    status,
                    as_of: 1,
                    seen: 1,
                })
                .collect(),
        }
    }

    fn found(op: &Op) -> Vec<String> {
        late_answers(op, "c1")
            .into_iter()
            .chain(statuses(op, "c1"))
            .map(|violation| violation.message)
            .collect()
    }

    #[test]
    fn a_late_answer_must_be_the_first_one() {
        assert!(found(&op(accepted(7), vec![accepted(7)], vec![])).is_empty());
        let rejected = Outcome::Rejected {
            reason: "overdraw".to_owned(),
            kind: Some("overdraw".to_owned()),
        };
        assert_eq!(
            found(&op(
                accepted(7),
                vec![accepted(8), rejected.clone()],
                vec![]
            ))
            .len(),
            2
        );
        assert!(found(&op(rejected.clone(), vec![rejected], vec![])).is_empty());
    }

    #[test]
    fn statuses_never_go_back() {
        let (x, y) = (TxHash(1), TxHash(2));
        let confirmed = StatusSeen::Confirmed {
            tx: x,
            height: 4,
            depth: 3,
        };
        let forward = vec![
            StatusSeen::Pending,
            StatusSeen::Submitted { tx: x },
            confirmed.clone(),
            // A later answer may tell the block deeper: it is the same
            // confirmation.
            StatusSeen::Confirmed {
                tx: x,
                height: 4,
                depth: 5,
            },
        ];
        assert!(found(&op(accepted(7), vec![], forward)).is_empty());
        for backwards in [
            vec![confirmed.clone(), StatusSeen::Pending],
            vec![StatusSeen::Submitted { tx: x }, StatusSeen::Pending],
            vec![
                StatusSeen::Submitted { tx: x },
                StatusSeen::Submitted { tx: y },
            ],
            vec![
                confirmed.clone(),
                StatusSeen::Confirmed {
                    tx: y,
                    height: 4,
                    depth: 3,
                },
            ],
            vec![StatusSeen::Pending, StatusSeen::NotFound],
        ] {
            assert_eq!(
                found(&op(accepted(7), vec![], backwards.clone())).len(),
                1,
                "{backwards:?}"
            );
        }
    }
}
