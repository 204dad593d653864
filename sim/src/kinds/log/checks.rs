//! The log kind's final check, `exactly-once` over the committed log:
//! replayed by the checkers' own model of client sessions
//! (`check::exactly_once`), never by the code under test.

use ledger::{
    bugs::Checker,
    log::{EntryId, MAX_COMMAND_BYTES},
};
use std::collections::BTreeMap;

use crate::{
    check::{GroundTruth, Violation, exactly_once::Sessions, majority_log},
    history::{Outcome, Receipt, Request},
};

/// Every acknowledged command is applied exactly once by the committed log,
/// at the index its client was told, and every later answer to a resend of
/// it names that index too; a command the log refused (only one over the
/// size limit may be) is nowhere in it. The sessions are the model's, not
/// the code's under test.
pub(super) fn final_check(truth: &GroundTruth<'_>) -> Vec<Violation> {
    let log = majority_log(truth.replicas);
    let history = truth.history;
    let mut sessions = Sessions::default();
    let mut held = BTreeMap::new();
    for (offset, entry) in log.iter().enumerate() {
        if let EntryId::Command { client, seq } = entry.id() {
            let index = offset as u64 + 1;
            sessions.apply(index, client, seq);
            held.entry((client, seq)).or_insert(index);
        }
    }
    let mut violations = Vec::new();
    for op in history.ops() {
        let Request::Append { bytes } = op.request else {
            continue;
        };
        let who = format!("client {} seq {}", op.client, op.seq);
        match &op.outcome {
            Outcome::Acknowledged {
                receipt: Receipt::LogIndex(index),
                at,
            } => {
                // Beyond the agreed log the durability checker speaks.
                if *index <= log.len() as u64 {
                    let actual = sessions.applied_at(op.client, op.seq);
                    if actual != Some(*index) {
                        violations.push(Violation {
                            checker: Checker::ExactlyOnce,
                            at: *at,
                            message: format!(
                                "{who} was acknowledged at index {index}, but the committed log applies it {}",
                                match actual {
                                    Some(index) => format!("at index {index}"),
                                    None => "nowhere".to_owned(),
                                }
                            ),
                        });
                    }
                }
                for later in &op.later {
                    if later.outcome_receipt() != Some(Receipt::LogIndex(*index)) {
                        violations.push(Violation {
                            checker: Checker::ExactlyOnce,
                            at: later.at,
                            message: format!(
                                "{who} was acknowledged at index {index}, but sent again later it was {}",
                                later.outcome
                            ),
                        });
                    }
                }
            }
            Outcome::Rejected { reason, .. } => {
                let problem = if bytes <= MAX_COMMAND_BYTES {
                    Some(format!(
                        "{who} ({bytes} bytes, within the limit of {MAX_COMMAND_BYTES}) was rejected: {reason}"
                    ))
                } else {
                    held.get(&(op.client, op.seq)).map(|index| {
                        format!("{who} ({bytes} bytes) was rejected, but the committed log holds it at index {index}")
                    })
                };
                if let Some(message) = problem {
                    violations.push(Violation {
                        checker: Checker::ExactlyOnce,
                        at: op.sent_at,
                        message,
                    });
                }
            }
            _ => {}
        }
    }
    violations
}
