//! Every regression scenario in `scenarios/` replays to its expected verdict,
//! and its summary matches the reviewed snapshot. A scenario whose `[expect]`
//! names a checker passes only when that checker reports a violation.

use std::path::{Path, PathBuf};

fn scenario_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("scenarios/ exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_scenario_file_replays_to_its_snapshot() {
    let files = scenario_files();
    assert!(
        files.len() >= 16,
        "the regression scenarios are missing: {files:?}"
    );
    for file in files {
        let scenario = sim::load(&file).unwrap_or_else(|error| panic!("{error}"));
        let outcome = sim::run(&scenario, &sim::RunOptions::default());
        let summary = sim::report::summary(&outcome);
        assert_eq!(outcome.exit_code(), 0, "{}:\n{summary}", file.display());
        let name = file
            .file_stem()
            .and_then(|stem| stem.to_str())
            .expect("a file name");
        insta::assert_snapshot!(name, summary);
    }
}

#[test]
fn each_planted_bug_has_a_scenario_that_catches_it() {
    for bug in ledger::bugs::Bug::ALL {
        let pinned = scenario_files().into_iter().any(|file| {
            let scenario = sim::load(&file).expect("valid scenario");
            scenario.system.bugs == [bug.name()]
                && scenario.expect.is_some_and(|expect| {
                    bug.expected_checkers().contains(&expect.violation.as_str())
                })
        });
        assert!(
            pinned,
            "no scenario pins {bug} with one of its expected checkers"
        );
    }
}

/// The coverage marks are real: the scenario built to pause, skew and cut
/// off ledger replicas reaches the lease takeovers it exists for, and the
/// fencing that makes them safe.
#[test]
fn the_replica_scenario_reaches_its_coverage_marks() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/ledger-replicas-paused-skewed-cut-off.toml");
    let scenario = sim::load(&file).unwrap_or_else(|error| panic!("{error}"));
    let outcome = sim::run(&scenario, &sim::RunOptions::default());
    for mark in [
        "lease-taken-over",
        "lease-taken-from-paused-replica",
        "fenced-write-rejected",
    ] {
        assert!(
            outcome.marks.get(mark).is_some_and(|count| *count > 0),
            "{mark} not reached: {:?}",
            outcome.marks
        );
    }
    let catalogue = sim::coverage::catalogue();
    assert!(outcome.marks.keys().all(|mark| catalogue.contains(mark)));
}
