//! `bad-input`: a request with a planted flaw gets the rejection its flaw
//! calls for, is never accepted by the log, and is never paid; a request
//! with none is rejected only as the committed log decided it (an
//! overdraw), never at the door.

use ledger::ledger::{TransferId, TransferRequest};

use super::{Facts, list};
use ledger::bugs::Checker;

use crate::{
    check::Violation,
    history::{BadInput, Op, Outcome, Request},
};

const CHECKER: Checker = Checker::BadInput;

pub(super) fn check(facts: &Facts<'_>) -> Vec<Violation> {
    let mut violations = Vec::new();
    for op in facts.truth.history.ops() {
        let Request::Payout { request, bad } = &op.request else {
            continue;
        };
        let Some(bad) = bad else {
            violations.extend(unfounded_rejection(facts, op, request));
            continue;
        };
        let who = format!(
            "client {} seq {} ({bad:?}: request id {:?}, account {:?}, to {:?}, amount {})",
            op.client,
            op.seq,
            request.request_id,
            request.account,
            request.to_address,
            request.amount
        );
        let expected = bad.expected_rejection();
        match &op.outcome {
            Outcome::Rejected { kind, reason } if kind.as_deref() != Some(expected) => {
                violations.push(facts.violation(
                    CHECKER,
                    format!(
                        "{who} was rejected with {reason:?}, expected a rejection for {expected}"
                    ),
                ));
            }
            Outcome::Acknowledged { .. } => violations.push(facts.violation(
                CHECKER,
                format!("{who} was accepted, expected a rejection for {expected}"),
            )),
            _ => {}
        }
        if *bad == BadInput::ReusedRequestId {
            // The id's first use is a valid transfer and is paid; that it
            // is paid once is `exactly-once`'s to judge.
            continue;
        }
        let accepted = facts
            .reference
            .decided
            .get(&(op.client, request.request_id.clone()))
            .is_some_and(|decided| decided.verdict.is_ok() && decided.request == *request);
        if accepted {
            violations
                .push(facts.violation(CHECKER, format!("{who} was accepted by the committed log")));
        }
        let paid = facts.paying(&TransferId::of(op.client, &request.request_id).memo());
        if !paid.is_empty() {
            violations
                .push(facts.violation(CHECKER, format!("{who} was paid on chain: {}", list(paid))));
        }
    }
    violations
}

/// A request with no planted flaw that its client was told rejected: the
/// rejection must be the committed log's verdict on it, since only a
/// balance, judged in log order, can refuse such a request. A service that
/// refuses it at the door (a length limit off by one, a stricter rule) or
/// answers with another reason than the log's breaks its promise to the
/// client, and no other checker sees a request the log never took.
fn unfounded_rejection(facts: &Facts<'_>, op: &Op, request: &TransferRequest) -> Option<Violation> {
    let Outcome::Rejected { kind, reason } = &op.outcome else {
        return None;
    };
    let who = format!(
        "client {} seq {} (request id {:?}, account {:?}, to {:?}, amount {})",
        op.client, op.seq, request.request_id, request.account, request.to_address, request.amount
    );
    let decided = facts
        .reference
        .decided
        .get(&(op.client, request.request_id.clone()));
    let fault = match decided {
        Some(decided) if decided.request == *request => match decided.verdict {
            // Told rejected though accepted: `exactly-once` reports it.
            Ok(_) => return None,
            Err(verdict) if kind.as_deref() == Some(verdict) => return None,
            Err(verdict) => format!(
                "the committed log rejected it at index {} for {verdict}",
                decided.index
            ),
        },
        // An earlier request with the same id and other parameters: a
        // conflict, which `exactly-once` holds to the log.
        Some(_) => return None,
        None => match facts.reference.judge(request) {
            // The workload drew a flaw it did not plant: nothing to blame.
            Err(flaw) if flaw != "overdraw" => return None,
            _ => "the log never took it, and it breaks no rule of a request's shape".to_owned(),
        },
    };
    let told = match kind {
        Some(kind) => format!("rejected for {kind} ({reason})"),
        None => format!("refused as malformed ({reason})"),
    };
    Some(facts.violation(
        CHECKER,
        format!("{who}, a valid request, was {told}, but {fault}"),
    ))
}
