//! The `db-wipe` fault end to end, as the harness sees it: the database is
//! killed and its disk erased when the event says, it comes back empty
//! after its downtime, the trace and the timeline record it, and the same
//! seed runs the same way. (Whether the ledger rebuilds its projection is
//! the checkers' business, not this file's.)

use sim::{RunOptions, RunOutcome, Scenario, run::run};

/// A small transfers run with `extra` appended.
fn scenario(seed: u64, extra: &str) -> Scenario {
    let text = format!(
        "name = \"wipe\"\nseed = {seed}\nduration = \"10s\"\n[cluster]\nclients = 1\n[workload]\nrequests = 10\n{extra}"
    );
    sim::parse(&text, "wipe.toml").unwrap_or_else(|error| panic!("{error}"))
}

fn traced(scenario: &Scenario) -> RunOutcome {
    run(
        scenario,
        &RunOptions {
            keep_trace: true,
            timeline: true,
            ..RunOptions::default()
        },
    )
}

/// The database's trace lines, its own and the nemesis's about it, as
/// (time, event, line).
fn db_lines(outcome: &RunOutcome) -> Vec<(u64, String, serde_json::Value)> {
    outcome
        .trace_lines
        .as_ref()
        .expect("kept lines")
        .iter()
        .filter_map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).expect("JSON");
            // A harness event names its node after the recorder's, and the
            // last `node` wins: the node it was done to.
            (value["node"] == "db").then(|| {
                let at = value["t_us"].as_u64().expect("a time");
                let event = value["event"].as_str().expect("an event").to_owned();
                (at, event, value)
            })
        })
        .collect()
}

const WIPE: &str = "[[events]]\nat = \"3s\"\naction = \"db-wipe\"\nfor = \"500ms\"\n";

#[test]
fn a_wiped_database_is_down_for_its_downtime_and_comes_back_empty() {
    let outcome = traced(&scenario(1, WIPE));
    assert_eq!(
        outcome.faults.get("db-wipe"),
        Some(&1),
        "{:?}",
        outcome.faults
    );
    let lines = db_lines(&outcome);
    let wipe = lines
        .iter()
        .position(|(_, event, _)| event == "db-wipe")
        .expect("the wipe is traced");
    let (at, _, line) = &lines[wipe];
    assert_eq!(*at, 3_000_000);
    assert!(
        line["lost_bytes"].as_u64().is_some_and(|lost| lost > 0),
        "{line}"
    );
    let lives_before = lines[..wipe]
        .iter()
        .filter(|(_, event, _)| event == "boot")
        .count();
    assert_eq!(lives_before, 1);
    // Nothing of the database happens while it is down; it comes back at
    // the end of `for` (madsim wakes a sleeper a tick late), in a life past
    // its earlier one, on an empty disk with nothing to recover.
    let after: Vec<&str> = lines[wipe + 1..]
        .iter()
        .take(4)
        .map(|(_, event, _)| event.as_str())
        .collect();
    assert_eq!(after, ["restart", "boot", "mark", "db"], "{lines:?}");
    let back = 3_500_000..3_501_000;
    assert!(back.contains(&lines[wipe + 1].0), "{lines:?}");
    assert_eq!(lines[wipe + 2].2["incarnation"], 2);
    assert_eq!(lines[wipe + 3].2["mark"], "restarted-on-empty-disk");
    let recovered = &lines[wipe + 4].2;
    assert_eq!(recovered["db"], "recovered");
    assert_eq!(recovered["commits"], 0, "{recovered}");

    let timeline = outcome.timeline.as_ref().expect("a timeline");
    let mark = timeline
        .marks
        .iter()
        .find(|mark| mark.kind == "db-wipe")
        .expect("a db-wipe mark");
    assert_eq!((mark.node.as_str(), mark.at_us), ("db", 3_000_000));
    let down = timeline
        .spans
        .iter()
        .find(|span| span.node == "db" && span.kind == "down")
        .expect("the database down");
    assert_eq!(down.from_us, 3_000_000);
    assert!(down.to_us.is_some_and(|to| back.contains(&to)), "{down:?}");
    assert!(down.label.contains("wiped"), "{}", down.label);
    // Every transfer projected before the wipe lost its projection.
    let wiped = timeline
        .transfers
        .iter()
        .flat_map(|life| &life.steps)
        .filter(|step| step.kind == "wiped")
        .count();
    assert!(wiped > 0, "no projected transfer lost its projection");
    assert!(timeline.steps_in_order());
}

#[test]
fn a_wipe_is_deterministic() {
    // Scheduled with `for`, without it (a drawn downtime), and at random.
    let without_for = "[[events]]\nat = \"3s\"\naction = \"db-wipe\"\n";
    for extra in [WIPE, without_for, "[faults]\ndb_wipe_every = \"3s\"\n"] {
        let first = traced(&scenario(4, extra));
        let wipes = first.faults.get("db-wipe").copied().unwrap_or(0);
        assert!(wipes > 0, "{extra}");
        // Each comes back, once.
        assert_eq!(first.faults.get("restart"), Some(&wipes), "{extra}");
        let second = traced(&scenario(4, extra));
        assert_eq!(first.trace_hash, second.trace_hash, "{extra}");
        assert_eq!(first.trace_lines, second.trace_lines, "{extra}");
        let other = traced(&scenario(5, extra));
        assert_ne!(first.trace_hash, other.trace_hash, "{extra}");
    }
}

#[test]
fn a_database_already_down_is_not_wiped() {
    let outcome = traced(&scenario(
        1,
        "[[events]]\nat = \"2s\"\naction = \"crash\"\nnode = \"db\"\nfor = \"3s\"\n[[events]]\nat = \"3s\"\naction = \"db-wipe\"\n",
    ));
    assert_eq!(outcome.faults.get("db-wipe"), None, "{:?}", outcome.faults);
    assert_eq!(
        outcome.faults.get("skipped"),
        Some(&1),
        "{:?}",
        outcome.faults
    );
}
