//! The log kind's final checks: `exactly-once` over the committed log,
//! replayed by the checkers' own model of client sessions
//! (`check::exactly_once`), never by the code under test; and
//! `linearizable` over the key-value operations clients saw.

use ledger::{
    bugs::Checker,
    log::{EntryId, MAX_COMMAND_BYTES},
};
use std::{collections::BTreeMap, time::Duration};

use crate::{
    check::{GroundTruth, Violation, exactly_once::Sessions, majority_log},
    consistency::linearizable::{self, KvOp, KvOutput, Register, Verdict},
    history::{History, KvRecord, Outcome, Receipt, Request},
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

/// The clients' key-value operations are linearizable: some order of them,
/// each taking effect between its call and its return (an unanswered one
/// at any time after its call, or never), explains every value read.
pub(super) fn linearizable(history: &History, end: Duration) -> Vec<Violation> {
    let ops = history.kv();
    let verdict = linearizable::check(
        ops,
        &Register::default(),
        KvOp::key,
        linearizable::DEFAULT_STEPS,
    );
    let violation = |at: Duration, message: String| Violation {
        checker: Checker::Linearizable,
        at,
        message,
    };
    match verdict {
        Verdict::Linearizable => Vec::new(),
        Verdict::TooLarge {
            partition_ops,
            steps,
        } => vec![violation(
            end,
            format!(
                "undecided: a key's history of {partition_ops} operations took more than {steps} search steps"
            ),
        )],
        Verdict::Violated(found) => {
            let culprit = &ops[found.culprit];
            let at = culprit
                .returned
                .as_ref()
                .map_or(end, |(at, _)| Duration::from_micros(*at));
            let mut message = format!(
                "{} fits no order of the operations on its key",
                describe(culprit)
            );
            if let Some(write) = latest_write_before(ops, culprit) {
                message += &format!(
                    "; the latest write of its key acknowledged before it was called: {}",
                    describe(write)
                );
            }
            message += &format!("; beside it: {}", beside(ops, &found.window));
            vec![violation(at, message)]
        }
    }
}

/// Operations shown beside a culprit at most: an operation never answered
/// overlaps everything after its call, so a long run has many.
const MAX_BESIDE: usize = 8;

/// The operations overlapping a culprit in words, those answered first,
/// at most [`MAX_BESIDE`].
fn beside(ops: &[KvRecord], window: &[usize]) -> String {
    if window.is_empty() {
        return "none".to_owned();
    }
    let (answered, unanswered): (Vec<usize>, Vec<usize>) = window
        .iter()
        .copied()
        .partition(|index| ops[*index].returned.is_some());
    // The unanswered ones called last are the likeliest to matter.
    let shown: Vec<usize> = answered
        .into_iter()
        .chain(unanswered.into_iter().rev())
        .take(MAX_BESIDE)
        .collect();
    let mut words: Vec<String> = shown.iter().map(|index| describe(&ops[*index])).collect();
    if window.len() > shown.len() {
        words.push(format!(
            "{} more never answered",
            window.len() - shown.len()
        ));
    }
    words.join("; ")
}

/// The write (or swap) of `op`'s key whose acknowledgement came last before
/// `op` was called: a read that misses it is stale.
fn latest_write_before<'a>(ops: &'a [KvRecord], op: &KvRecord) -> Option<&'a KvRecord> {
    ops.iter()
        .filter(|other| other.op.key() == op.op.key())
        .filter(|other| match (&other.op, &other.returned) {
            (KvOp::Write { .. }, Some((returned, _)))
            | (KvOp::Cas { .. }, Some((returned, KvOutput::Swapped(true)))) => *returned < op.call,
            _ => false,
        })
        .max_by_key(|other| other.returned.as_ref().map(|(returned, _)| *returned))
}

/// One operation in words: who, what, when, what it returned.
fn describe(op: &KvRecord) -> String {
    let seconds = |micros: u64| format!("{:.3}s", micros as f64 / 1e6);
    let outcome = match &op.returned {
        Some((at, output)) => {
            let output = match output {
                KvOutput::Value(Some(value)) => format!("read {value}"),
                KvOutput::Value(None) => "read nothing".to_owned(),
                KvOutput::Written => "written".to_owned(),
                KvOutput::Swapped(swapped) => format!("swapped: {swapped}"),
                KvOutput::Committed => "committed, not told whether it swapped".to_owned(),
            };
            format!("{} → {}, {output}", seconds(op.call), seconds(*at))
        }
        None => format!("{} → never answered", seconds(op.call)),
    };
    format!("session {} {} ({outcome})", op.client, op.op)
}
