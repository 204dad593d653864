//! Human-facing output: the summary a person reads at a glance.
//! Wall-clock figures never appear here, so summaries can be snapshotted.

use ledger::bugs::{Bug, BugClass, Checker};
use std::{fmt::Write, time::Duration};

use crate::{
    check::CheckResult,
    run::{RunOutcome, Verdict},
    tables,
};

/// The summary of one run, as the README's "Reading a run's summary" shows it.
pub fn summary(outcome: &RunOutcome) -> String {
    let mut out = String::new();
    what_ran(&mut out, outcome);
    checks(&mut out, outcome);
    line(&mut out, "verdict", verdict(outcome));
    out
}

/// One labelled line.
fn line(out: &mut String, label: &str, value: String) {
    let _ = writeln!(out, "{label:<10} {value}");
}

/// What ran: the scenario, its seed and workload, its phases, its requests
/// and the faults it took.
fn what_ran(out: &mut String, outcome: &RunOutcome) {
    line(out, "scenario", outcome.scenario.clone());
    let generator = outcome
        .generator
        .as_ref()
        .map(|generator| format!(" (generator {generator})"))
        .unwrap_or_default();
    line(out, "seed", format!("{}{generator}", outcome.seed));
    line(out, "workload", outcome.workload.clone());
    if !outcome.bugs.is_empty() {
        line(out, "bugs", outcome.bugs.join(", "));
    }
    // A probe with nothing to ask about ends within the instant it began.
    let probe = if outcome.final_probe < Duration::from_millis(1) {
        String::new()
    } else {
        format!(", final probe {:.3}s", outcome.final_probe.as_secs_f64())
    };
    line(
        out,
        "sim time",
        format!(
            "{:.3}s (faults {:.3}s, settle {:.3}s, quiet tail {:.3}s{probe})",
            outcome.sim_time.as_secs_f64(),
            outcome.fault_phase.as_secs_f64(),
            outcome.settle_phase.as_secs_f64(),
            outcome.quiet_tail.as_secs_f64()
        ),
    );
    if !outcome.quiet_tail.is_zero() {
        line(
            out,
            "in flight",
            format!("when the quiet tail began: {}", outcome.in_flight_at_tail),
        );
    }
    line(
        out,
        "events",
        format!("{}, trace hash {}", outcome.events, outcome.trace_hash),
    );
    let requests = &outcome.requests;
    line(
        out,
        "requests",
        format!(
            "sent {}, acknowledged {}, rejected {}, unknown {}",
            requests.sent, requests.acknowledged, requests.rejected, requests.unknown
        ),
    );
    // Checks that judged no completed request pass on nothing: a reader
    // must not take such a pass for evidence.
    if requests.sent > 0 && requests.acknowledged == 0 {
        line(
            out,
            "note",
            format!(
                "none of the {} requests sent was acknowledged: the checks had no completed request to judge, so the verdict says little",
                requests.sent
            ),
        );
    }
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
    line(out, "faults", faults);
}

/// Each checker's verdict, with its violations.
fn checks(out: &mut String, outcome: &RunOutcome) {
    let _ = writeln!(out, "checks");
    if let Some(crash) = &outcome.crash {
        let _ = writeln!(out, "  ✗ the simulation crashed: {crash}");
    }
    for check in &outcome.checks {
        out.push_str(&check_lines(check, outcome.expected_violation));
    }
}

/// One checker's lines: a tick, or its violations, each saying whether it
/// was the one `[expect]` named, and how many more were found.
fn check_lines(check: &CheckResult, expected: Option<Checker>) -> String {
    let mut out = String::new();
    let Some(first) = check.violations.first() else {
        let _ = writeln!(out, "  ✓ {}", check.checker);
        return out;
    };
    // With an `[expect]`, the violation it names and any other are told
    // apart at a glance.
    let whose = match expected {
        Some(expected) if expected == check.checker => " (expected)",
        Some(_) => " (NOT expected)",
        None => "",
    };
    let _ = writeln!(
        out,
        "  ✗ {}{whose} at {:.3}s: {}",
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
    if check.total > check.violations.len() {
        let _ = writeln!(
            out,
            "      and {} more ({} in all)",
            check.total - check.violations.len(),
            check.total
        );
    }
    out
}

/// The verdict in words, with its exit code when it fails.
fn verdict(outcome: &RunOutcome) -> String {
    match (outcome.verdict, &outcome.expected_violation) {
        (Verdict::Pass, Some(expected)) => {
            let others: Vec<&str> = outcome
                .checks
                .iter()
                .filter(|check| !check.passed() && check.checker != *expected)
                .map(|check| check.checker.name())
                .collect();
            if others.is_empty() {
                format!("PASS (the expected {expected} violation was found)")
            } else {
                format!(
                    "PASS (the expected {expected} violation was found; also found, not expected: {})",
                    others.join(", ")
                )
            }
        }
        (Verdict::Pass, None) => "PASS".to_owned(),
        (Verdict::ExpectationUnmet, Some(expected)) => {
            let a = crate::words::article(expected.name());
            format!("FAIL (expected {a} {expected} violation, found none; exit 1)")
        }
        (verdict, _) => format!(
            "FAIL ({}; exit {})",
            verdict_words(verdict),
            verdict.exit_code()
        ),
    }
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

/// The planted bugs: each one's class, the checkers that catch it, what it
/// needs to show, and the hazard it plants.
pub fn bug_catalogue() -> String {
    let mut table = tables::table(&["bug", "class", "caught by", "trigger", "hazard"], &[]);
    for bug in Bug::all() {
        let class = match bug.class() {
            BugClass::Safety => "safety",
            BugClass::Liveness => "liveness",
        };
        let checkers: Vec<&str> = bug
            .expected_checkers()
            .iter()
            .map(|checker| checker.name())
            .collect();
        table.add_row(vec![
            bug.name(),
            class,
            &checkers.join(" or "),
            bug.trigger().name(),
            bug.hazard(),
        ]);
    }
    tables::render(&table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{Violation, results};
    use std::{collections::BTreeMap, time::Duration};

    fn violation(checker: Checker, at: u64) -> Violation {
        Violation {
            checker,
            at: Duration::from_millis(at),
            message: format!("broken at {at}"),
        }
    }

    /// Past the eight kept, violations are counted, and the count told.
    #[test]
    fn a_checker_says_how_many_more_it_found() {
        let found: Vec<Violation> = (1..=11)
            .map(|at| violation(Checker::ExactlyOnce, at))
            .collect();
        let uncounted = BTreeMap::from([(Checker::ExactlyOnce, 4)]);
        let checks = results(&[Checker::ExactlyOnce], &found, &uncounted);
        assert_eq!(checks[0].violations.len(), 8);
        assert_eq!(checks[0].total, 15);
        let lines = check_lines(&checks[0], None);
        assert!(lines.ends_with("      and 7 more (15 in all)\n"), "{lines}");
        let none = results(&[Checker::Liveness], &found, &uncounted);
        assert_eq!(check_lines(&none[0], None), "  ✓ liveness\n");
    }

    /// With an `[expect]`, the expected violation and any other read apart.
    #[test]
    fn expected_and_unexpected_violations_read_apart() {
        let found = [
            violation(Checker::ExactlyOnce, 1),
            violation(Checker::LedgerChain, 2),
        ];
        let checks = results(
            &[Checker::ExactlyOnce, Checker::LedgerChain],
            &found,
            &BTreeMap::new(),
        );
        let expected = Some(Checker::ExactlyOnce);
        assert!(
            check_lines(&checks[0], expected).starts_with("  ✗ exactly-once (expected) at 0.001s")
        );
        assert!(
            check_lines(&checks[1], expected)
                .starts_with("  ✗ ledger-chain (NOT expected) at 0.002s")
        );
        assert!(check_lines(&checks[1], None).starts_with("  ✗ ledger-chain at 0.002s"));
    }

    #[test]
    fn the_bug_catalogue_lines_up() {
        insta::assert_snapshot!(super::bug_catalogue());
    }
}
