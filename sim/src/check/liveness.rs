//! `liveness`: once faults stop, the cluster converges: a leader, every
//! replica caught up, every client's request answered. When it does not, the
//! checker says why.

use serde::Serialize;

use ledger::bugs::Checker;

use super::{GroundTruth, Violation};

/// Why the settle phase did not converge, or the quiet tail after it did
/// not stay settled: each reason in plain words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stall {
    pub reasons: Vec<String>,
    /// The settle phase converged, and the quiet tail found it unsettled
    /// again (a payout resubmitted at the end, say) or never quiet.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub in_quiet_tail: bool,
}

pub(crate) fn final_check(truth: &GroundTruth<'_>) -> Vec<Violation> {
    let Some(stall) = truth.stall else {
        return Vec::new();
    };
    vec![Violation {
        checker: Checker::Liveness,
        at: truth.end,
        message: format!(
            "{}: {}",
            if stall.in_quiet_tail {
                "the settle phase converged, but the quiet tail ended unsettled"
            } else {
                "the settle phase ended unconverged"
            },
            stall.reasons.join("; ")
        ),
    }]
}
