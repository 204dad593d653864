//! The database judged mid-run: at each of its crashes the harness reads
//! its synced disk, and `projection` holds what it finds there to the
//! committed log, not only what the run left at its end.

use ledger::bugs::Checker;
use sim::{RunOptions, Verdict, generate_kind, run, scenario::WorkloadKind};

/// With `outbox-dual-write` planted, a batch's debits and position commit
/// before its payout rows. A crash of the database between the two leaves
/// a disk whose position says the batch is projected while its rows are
/// missing; the look at that crash sees it, dated at the crash, while the
/// run is still in its fault phase. The correct system passes the same
/// seed.
#[test]
fn a_crash_between_the_two_commits_of_a_dual_write_is_judged_where_it_left_the_disk() {
    let mut scenario = generate_kind(1, WorkloadKind::Transfers);
    assert_eq!(
        run(&scenario, &RunOptions::default()).verdict,
        Verdict::Pass
    );
    scenario.system.bugs = vec!["outbox-dual-write".to_owned()];
    let outcome = run(
        &scenario,
        &RunOptions {
            keep_trace: true,
            ..RunOptions::default()
        },
    );
    let projection = outcome
        .checks
        .iter()
        .find(|check| check.checker == Checker::Projection)
        .expect("transfers runs are judged by projection");
    let first = projection.violations.first().expect("a violation");
    assert!(
        first
            .message
            .starts_with("on the database's synced disk as a crash left it: "),
        "{}",
        first.message
    );
    assert!(first.at < outcome.fault_phase, "{:?}", first.at);
    let crashed_then = outcome
        .trace_lines
        .as_ref()
        .expect("the trace is kept")
        .iter()
        .any(|line| {
            let event: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            event["event"] == "crash"
                && event["node"] == "db"
                && u128::from(event["t_us"].as_u64().expect("a time")) == first.at.as_micros()
        });
    assert!(crashed_then, "no crash of the database at {:?}", first.at);
}
