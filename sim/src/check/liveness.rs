//! `liveness`: once faults stop, the cluster converges: a leader, every
//! replica caught up, every client's request answered. When it does not, the
//! checker says why.

use serde::Serialize;

use ledger::bugs::Checker;

use super::{GroundTruth, Violation};

/// Why the settle phase did not converge: each reason in plain words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stall {
    pub reasons: Vec<String>,
}

pub(crate) fn final_check(truth: &GroundTruth<'_>) -> Vec<Violation> {
    let Some(stall) = truth.stall else {
        return Vec::new();
    };
    vec![Violation {
        checker: Checker::Liveness,
        at: truth.end,
        message: format!(
            "the settle phase ended unconverged: {}",
            stall.reasons.join("; ")
        ),
    }]
}
