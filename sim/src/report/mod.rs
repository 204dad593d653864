//! Human-facing output: the summary a person reads at a glance.
//! Wall-clock figures never appear here, so summaries can be snapshotted.

use std::fmt::Write;

use crate::run::{RunOutcome, Verdict};

/// The summary of one run, as the README's "Reading a run's summary" shows it.
pub fn summary(outcome: &RunOutcome) -> String {
    let mut out = String::new();
    let line = |out: &mut String, label: &str, value: String| {
        let _ = writeln!(out, "{label:<10} {value}");
    };
    line(&mut out, "scenario", outcome.scenario.clone());
    let generator = outcome
        .generator
        .as_ref()
        .map(|generator| format!(" (generator {generator})"))
        .unwrap_or_default();
    line(&mut out, "seed", format!("{}{generator}", outcome.seed));
    line(&mut out, "workload", outcome.workload.clone());
    if !outcome.bugs.is_empty() {
        line(&mut out, "bugs", outcome.bugs.join(", "));
    }
    line(
        &mut out,
        "sim time",
        format!(
            "{:.3}s (faults {:.3}s, settle {:.3}s, quiet tail {:.3}s)",
            outcome.sim_time.as_secs_f64(),
            outcome.fault_phase.as_secs_f64(),
            outcome.settle_phase.as_secs_f64(),
            outcome.quiet_tail.as_secs_f64()
        ),
    );
    if !outcome.quiet_tail.is_zero() {
        line(
            &mut out,
            "in flight",
            format!("when the quiet tail began: {}", outcome.in_flight_at_tail),
        );
    }
    line(
        &mut out,
        "events",
        format!("{}, trace hash {}", outcome.events, outcome.trace_hash),
    );
    let requests = &outcome.requests;
    line(
        &mut out,
        "requests",
        format!(
            "sent {}, acknowledged {}, rejected {}, unknown {}",
            requests.sent, requests.acknowledged, requests.rejected, requests.unknown
        ),
    );
    let faults = if outcome.faults.is_empty() {
        "none".to_owned()
    } else {
        outcome
            .faults
            .iter()
            .map(|(kind, count)| format!("{kind} {count}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    line(&mut out, "faults", faults);
    let _ = writeln!(out, "checks");
    if let Some(crash) = &outcome.crash {
        let _ = writeln!(out, "  ✗ the simulation crashed: {crash}");
    }
    for check in &outcome.checks {
        match check.violations.first() {
            None => {
                let _ = writeln!(out, "  ✓ {}", check.checker);
            }
            Some(first) => {
                let _ = writeln!(
                    out,
                    "  ✗ {} at {:.3}s: {}",
                    check.checker,
                    first.at.as_secs_f64(),
                    first.message
                );
                for more in &check.violations[1..] {
                    let _ = writeln!(
                        out,
                        "      also at {:.3}s: {}",
                        more.at.as_secs_f64(),
                        more.message
                    );
                }
            }
        }
    }
    let verdict = match (outcome.verdict, &outcome.expected_violation) {
        (Verdict::Pass, Some(expected)) => {
            format!("PASS (the expected {expected} violation was found)")
        }
        (Verdict::Pass, None) => "PASS".to_owned(),
        (Verdict::ExpectationUnmet, Some(expected)) => {
            format!("FAIL (expected a {expected} violation, found none; exit 1)")
        }
        (verdict, _) => format!(
            "FAIL ({}; exit {})",
            verdict_words(verdict),
            verdict.exit_code()
        ),
    };
    line(&mut out, "verdict", verdict);
    out
}

fn verdict_words(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "pass",
        Verdict::SafetyViolation => "safety violation",
        Verdict::ExpectationUnmet => "expectation unmet",
        Verdict::LivenessFailure => "liveness failure",
        Verdict::SimulationCrash => "the simulation crashed",
    }
}
