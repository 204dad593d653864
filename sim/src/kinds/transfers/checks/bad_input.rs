//! `bad-input`: a request with a planted flaw gets the rejection its flaw
//! calls for, is never accepted by the log, and is never paid.

use ledger::ledger::TransferId;

use super::{Facts, list};
use ledger::bugs::Checker;

use crate::{
    check::Violation,
    history::{BadInput, Outcome, Request},
};

const CHECKER: Checker = Checker::BadInput;

pub(super) fn check(facts: &Facts<'_>) -> Vec<Violation> {
    let mut violations = Vec::new();
    for op in facts.truth.history.ops() {
        let Request::Payout {
            request,
            bad: Some(bad),
        } = &op.request
        else {
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
            violations.push(
                facts.violation(CHECKER, format!("{who} was paid on chain: {}", list(&paid))),
            );
        }
    }
    violations
}
