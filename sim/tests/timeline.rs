//! The picture of a run: a planted bug's timeline shows its lanes, its
//! faults, the violation, and the whole life of the transfer paid twice;
//! `sim explain` tells the same life in text.

mod common;

use common::{sim, stdout};
use std::path::{Path, PathBuf};

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../scenarios/{name}.toml"))
}

fn timeline_of(name: &str) -> sim::timeline::Timeline {
    let scenario = sim::load(&scenario(name)).expect("a valid scenario");
    let outcome = sim::run(
        &scenario,
        &sim::RunOptions {
            timeline: true,
            ..sim::RunOptions::default()
        },
    );
    outcome.timeline.expect("a recorded timeline")
}

#[test]
fn a_double_payout_is_drawn_from_request_to_violation() {
    let timeline = timeline_of("lease-no-fencing");
    let lanes: Vec<&str> = timeline
        .lanes
        .iter()
        .map(|lane| lane.node.as_str())
        .collect();
    for node in [
        "log-1",
        "db",
        "ledger-1",
        "ledger-2",
        "chain",
        "chain-rpc-1",
        "client-1",
    ] {
        assert!(lanes.contains(&node), "{node} missing from {lanes:?}");
    }
    let violation = timeline
        .violations
        .iter()
        .find(|violation| violation.checker == "exactly-once")
        .expect("the double payout");
    assert!(violation.expected);
    let id = violation.transfers.first().expect("it names its transfer");
    let life = timeline
        .transfers
        .iter()
        .find(|life| &life.id == id)
        .expect("the transfer's life");
    let kinds: Vec<&str> = life.steps.iter().map(|step| step.kind.as_str()).collect();
    for kind in [
        "request",
        "appended",
        "answer",
        "projected",
        "signed",
        "submitted",
        "included",
        "confirming",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    // It was signed twice, with two nonces: the hazard the bug plants (a
    // transaction sent before the log took it as the payout's intent).
    let mut signed: Vec<&str> = life
        .steps
        .iter()
        .filter(|step| step.kind == "signed")
        .map(|step| step.what.as_str())
        .collect();
    signed.dedup();
    assert!(signed.len() >= 2, "{signed:?}");
    // The violation is stamped when the second payout landed, not at the end.
    let landed = life
        .steps
        .iter()
        .filter(|step| step.kind == "included")
        .map(|step| step.at_us)
        .max()
        .expect("included");
    assert_eq!(violation.at_us, landed);
    assert!(violation.at_us < timeline.end_us);
    assert!(timeline.steps_in_order(), "steps go forward in time");
    assert!(!timeline.terms.is_empty() && timeline.marks.iter().any(|mark| mark.kind == "block"));
    assert!(timeline.messages_total > 0 && !timeline.messages.is_empty());
}

#[test]
fn partitions_crashes_and_skews_are_spans_on_their_lanes() {
    let timeline = timeline_of("ledger-replicas-paused-skewed-cut-off");
    for kind in ["paused", "cut", "skewed"] {
        assert!(
            timeline.spans.iter().any(|span| span.kind == kind),
            "no {kind} span"
        );
    }
    let cut = timeline
        .spans
        .iter()
        .find(|span| span.kind == "cut")
        .expect("a partition");
    assert!(cut.label.contains("side"), "{}", cut.label);
    let timeline = timeline_of("log-leader-crashes");
    assert!(timeline.spans.iter().any(|span| span.kind == "down"));
    assert!(timeline.terms.len() >= 2, "the leader changes");
}

#[test]
fn explain_tells_the_violating_transfer_step_by_step() {
    let file = scenario("lease-no-fencing");
    let output = sim(&["explain", file.to_str().expect("utf-8"), "--violation"]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    let first = text.lines().next().expect("a header");
    assert!(first.starts_with("transfer tr-"), "{text}");
    for step in [
        "request",
        "appended",
        "signed",
        "submitted",
        "included",
        "confirming",
        "violation",
    ] {
        assert!(
            text.lines()
                .any(|line| line.split_whitespace().nth(2) == Some(step)),
            "no {step} line in\n{text}"
        );
    }
    let id = first.split_whitespace().nth(1).expect("an id");
    let again = sim(&["explain", file.to_str().expect("utf-8"), "--transfer", id]);
    assert_eq!(
        stdout(&again).lines().nth(1),
        text.lines().nth(2),
        "the same life"
    );
    let unknown = sim(&[
        "explain",
        file.to_str().expect("utf-8"),
        "--transfer",
        "tr-0000000000000000",
    ]);
    assert_eq!(unknown.status.code(), Some(2));
    let malformed = sim(&[
        "explain",
        file.to_str().expect("utf-8"),
        "--transfer",
        "c1-r1",
    ]);
    assert_eq!(malformed.status.code(), Some(2));
}

#[test]
fn ids_in_the_trace_are_spelled_as_the_report_spells_them() {
    let dir = common::scratch();
    let trace = dir.join("ids.jsonl");
    let file = scenario("lease-no-fencing");
    let output = sim(&[
        "run",
        file.to_str().expect("utf-8"),
        "--trace",
        trace.to_str().expect("utf-8"),
    ]);
    let report = stdout(&output);
    let id = report
        .split_whitespace()
        .find(|word| word.starts_with("tr-") && word.len() >= 19)
        .map(|word| &word[..19])
        .expect("the report names a transfer");
    let lines = std::fs::read_to_string(&trace).expect("the trace");
    assert!(
        lines.contains(&format!("\"{id}\"")),
        "{id} not in the trace"
    );
    let tx = report
        .split(|c: char| !c.is_ascii_hexdigit() && c != 'x')
        .find(|word| word.starts_with("0x") && word.len() == 18)
        .expect("the report names a transaction");
    assert!(
        lines.contains(&format!("\"{tx}\"")),
        "{tx} not in the trace"
    );
}

/// `--log info` tells the system's decisions with node and simulated
/// time; the simulator's own lines stay out unless asked for.
#[test]
fn logs_tell_the_systems_decisions_not_the_simulators() {
    let file = scenario("lease-no-fencing");
    let file = file.to_str().expect("utf-8");
    let info = common::stderr(&sim(&["run", file, "--log", "info"]));
    for decision in ["Elected", "Signed", "Submitted", "Confirming", "Block"] {
        assert!(info.contains(decision), "no {decision} at info:\n{info}");
    }
    // Each line starts with the simulated time, and the decision names its
    // node.
    let signed = info
        .lines()
        .find(|line| line.contains("Signed"))
        .expect("a signed payout");
    let time = signed.split_whitespace().next().expect("a time");
    assert!(
        time.ends_with('s') && time.trim_end_matches('s').parse::<f64>().is_ok(),
        "{signed}"
    );
    assert!(signed.contains("node=ledger-"), "{signed}");
    assert!(
        info.contains("tr-e8710a73efed6b70"),
        "ids as reports spell them"
    );
    let debug = common::stderr(&sim(&["run", file, "--log", "debug"]));
    assert!(debug.contains("Projected") && !debug.contains("madsim::"));
    let asked = common::stderr(&sim(&["run", file, "--log", "debug,madsim=debug"]));
    assert!(asked.contains("madsim::"));
}

/// A failure line names every checker that fired, not only the first.
#[test]
fn a_hunts_failure_line_names_every_checker_that_fired() {
    let out = common::scratch().join("every-checker");
    let output = sim(&[
        "fuzz",
        "--bug",
        "lease-no-fencing",
        "--seeds",
        "0..1",
        "--no-shrink",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    let text = stdout(&output);
    let line = text
        .lines()
        .find(|line| line.starts_with("seed 0:"))
        .expect("the catch");
    assert!(
        line.contains("exactly-once (also violated: at-least-once, nonce-hygiene, liveness)"),
        "{line}"
    );
}
