//! The bank kind's probe once a run has gone quiet: every transaction a
//! client left open is asked about, and a correct database knows none.

use sim::{RunOptions, Verdict, generate_kind, run, scenario::WorkloadKind};

/// A `bank` run of the correct system whose clients left transactions
/// open ends with the probe: once the quiet tail is over, the first
/// client rolls each back by its id, and the database knows none. In
/// this seed 18 of them were still open in the database when their
/// clients gave up on them: with a database that never sweeps them
/// (`idle-sweep-measures-backwards` in `tests/mutants.toml`) this run
/// fails `liveness` naming them.
#[test]
fn a_quiet_bank_run_asks_about_every_transaction_left_open_and_none_is_held() {
    let mut scenario = generate_kind(1, WorkloadKind::Bank);
    // No client sends anything once the run is quiet but the prober.
    scenario.workload.late_resends = 0.0;
    let options = RunOptions {
        keep_trace: true,
        ..RunOptions::default()
    };
    let outcome = run(&scenario, &options);
    assert_eq!(
        outcome.verdict,
        Verdict::Pass,
        "{:?}",
        outcome.first_failure()
    );
    let quiet = (outcome.fault_phase + outcome.settle_phase + outcome.quiet_tail).as_micros();
    assert!(!outcome.final_probe.is_zero());
    let lines = outcome.trace_lines.expect("the trace is kept");
    let after_the_tail = |line: &&String| {
        let event: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        u128::from(event["t_us"].as_u64().expect("a time")) > quiet
    };
    let sent = |from: &str, kind: &str| {
        lines
            .iter()
            .filter(after_the_tail)
            .filter(|line| {
                line.contains(&format!("\"node\":\"{from}\""))
                    && line.contains("\"event\":\"message\"")
                    && line.contains(&format!("\"kind\":\"{kind}\""))
            })
            .count()
    };
    // The barrier's begin and rollback, then one rollback per
    // transaction left open.
    let probes = sent("client-1", "Rollback")
        .checked_sub(1)
        .expect("the barrier's rollback at least");
    assert!(probes >= 18, "only {probes} transactions were left open");
    assert_eq!(sent("client-1", "Begin"), 1);
    assert_eq!(sent("db", "Done"), 1, "only the barrier is rolled back");
    assert_eq!(sent("db", "Failed"), probes);
}
