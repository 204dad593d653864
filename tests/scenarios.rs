//! Every regression scenario in `scenarios/` replays to its expected verdict,
//! and its summary matches the reviewed snapshot. A scenario whose `[expect]`
//! names a checker passes only when that checker reports a violation.
//!
//! A custom harness (libtest-mimic), so that each file is its own trial
//! (`replay::<stem>`, and `controls::<stem>` for a planted bug's file), found
//! when the tests start: a new file needs no code, and one mismatch neither
//! hides the others nor stops them. Trials run in parallel and filter by name
//! (`cargo test --test scenarios -- log-smoke`).

use std::path::{Path, PathBuf};

use libtest_mimic::{Arguments, Trial};

fn main() -> std::process::ExitCode {
    let args = Arguments::from_args();
    let files = scenario_files();
    let mut trials = vec![
        trial(
            "the_regression_scenarios_are_all_there",
            the_regression_scenarios_are_all_there,
        ),
        trial(
            "each_planted_bug_has_a_scenario_that_catches_it",
            each_planted_bug_has_a_scenario_that_catches_it,
        ),
        trial(
            "the_replica_scenario_reaches_its_coverage_marks",
            the_replica_scenario_reaches_its_coverage_marks,
        ),
        trial(
            "the_three_wipes_reach_their_coverage_marks",
            the_three_wipes_reach_their_coverage_marks,
        ),
        trial(
            "the_lease_scenario_without_its_bug_reaches_the_margin_at_work",
            the_lease_scenario_without_its_bug_reaches_the_margin_at_work,
        ),
        trial(
            "the_cut_off_leader_on_fast_clocks_meets_refused_votes_and_the_margin",
            the_cut_off_leader_on_fast_clocks_meets_refused_votes_and_the_margin,
        ),
        trial(
            "the_racing_projectors_meet_stale_batches",
            the_racing_projectors_meet_stale_batches,
        ),
        trial(
            "the_second_intent_scenario_meets_a_refused_intent",
            the_second_intent_scenario_meets_a_refused_intent,
        ),
        trial(
            "the_earlier_term_entries_commit_only_behind_the_noop",
            the_earlier_term_entries_commit_only_behind_the_noop,
        ),
        trial(
            "the_reversals_race_meets_deleted_rows",
            the_reversals_race_meets_deleted_rows,
        ),
        trial(
            "the_receipts_batch_reaches_its_limit",
            the_receipts_batch_reaches_its_limit,
        ),
        trial(
            "the_replicas_lost_for_good_stay_lost_and_their_claims_are_taken_over",
            the_replicas_lost_for_good_stay_lost_and_their_claims_are_taken_over,
        ),
    ];
    for file in files {
        let stem = stem(&file).to_owned();
        // A file that does not load gets no controls trial, but its replay
        // trial fails on it.
        if let Ok(scenario) = sim::load(&file)
            && let [bug] = scenario.system.bugs.as_slice()
        {
            let bug = bug.clone();
            let file = file.clone();
            trials.push(trial(format!("controls::{stem}"), move || {
                pinned_bug_passes_its_controls(&file, &scenario, &bug)
            }));
        }
        trials.push(trial(format!("replay::{stem}"), move || {
            replays_to_its_snapshot(&file)
        }));
    }
    libtest_mimic::run(&args, trials).exit_code()
}

/// A trial that fails when `test` panics, as a `#[test]` does.
fn trial(name: impl Into<String>, test: impl FnOnce() + Send + 'static) -> Trial {
    Trial::test(name, move || {
        test();
        Ok(())
    })
}

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

fn stem(file: &Path) -> &str {
    file.file_stem()
        .and_then(|stem| stem.to_str())
        .expect("a file name")
}

/// Trials come from the files found: without this, an emptied `scenarios/`
/// would pass with no trials at all.
fn the_regression_scenarios_are_all_there() {
    let files = scenario_files();
    assert!(
        files.len() >= 16,
        "the regression scenarios are missing: {files:?}"
    );
}

// insta names the snapshot file after the module path and `name`: this must
// stay in the crate root to keep `tests/snapshots/scenarios__<stem>.snap`.
fn replays_to_its_snapshot(file: &Path) {
    let scenario = sim::load(file).unwrap_or_else(|error| panic!("{error}"));
    let outcome = sim::run(&scenario, &sim::RunOptions::default());
    let summary = sim::report::summary(&outcome);
    assert_eq!(outcome.exit_code(), 0, "{}:\n{summary}", file.display());
    let name = stem(file);
    insta::assert_snapshot!(name, summary);
}

fn each_planted_bug_has_a_scenario_that_catches_it() {
    for bug in ledger::bugs::Bug::all() {
        let pinned = scenario_files().into_iter().any(|file| {
            let scenario = sim::load(&file).expect("valid scenario");
            scenario.system.bugs == [bug.name()]
                && scenario
                    .expect
                    .is_some_and(|expect| bug.expected_checkers().contains(&expect.violation))
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
fn the_replica_scenario_reaches_its_coverage_marks() {
    reaches_marks(
        &load_scenario("ledger-replicas-paused-skewed-cut-off"),
        &[
            "lease-taken-over",
            "lease-taken-from-paused-replica",
            "fenced-write-rejected",
        ],
    );
}

/// The scenario of three database wipes hits what it is built for: a wipe
/// while signed payouts are unconfirmed, a wipe in the middle of a rebuild,
/// and replicas racing each other's rebuilds (one of them the replica that
/// was paused through the third wipe).
fn the_three_wipes_reach_their_coverage_marks() {
    reaches_marks(
        &load_scenario("transfers-three-db-wipes"),
        &[
            "wipe-with-signed-payout",
            "wipe-during-rebuild",
            "rebuild-raced",
        ],
    );
}

/// The scenario of a replica with hundreds of payouts due asks an RPC node
/// for as many receipts at once as it answers: its bound is met at its
/// edge, where a bound off by one refuses every pass.
fn the_receipts_batch_reaches_its_limit() {
    reaches_marks(
        &load_scenario("transfers-receipts-asked-at-the-batch-limit"),
        &["receipts-asked-at-batch-limit"],
    );
}

/// The reversals scenario exists for serializable validation meeting a row
/// deleted since it was read, by key and by a scan: a database that let
/// either commit would pay a transfer back twice.
fn the_reversals_race_meets_deleted_rows() {
    reaches_marks(
        &load_scenario("bank-reversals-race"),
        &["serializable-read-deleted", "serializable-scan-row-deleted"],
    );
}

/// The drift margin is what keeps a deposed leader from a stale read: the
/// lease bug's scenario, with the bug taken out, reaches a leader elected
/// while the previous one, on a slower clock, still leads in its own eyes,
/// and a read that only the margin refused at that deposed leader, once the
/// new leader had applied a command the deposed one lacked.
fn the_lease_scenario_without_its_bug_reaches_the_margin_at_work() {
    let pinned = load_scenario("lease-read-ignores-drift");
    reaches_marks(
        &sim::control::without_bug(&pinned),
        &[
            "leader-elected-beside-leader",
            "leader-elected-beside-slower-clock",
            "drift-margin-read-at-deposed-leader",
            "stale-read-kept-by-drift-margin",
        ],
    );
}

/// The leader cut off on fast clocks meets both halves of the lease: votes
/// refused for a leader heard from recently, and reads in the drift margin
/// kept off the lease (confirmed by a round of appends instead). A
/// follower that forgets when it heard its leader fails this scenario
/// (`linearizable`), so it must keep reaching them.
fn the_cut_off_leader_on_fast_clocks_meets_refused_votes_and_the_margin() {
    reaches_marks(
        &load_scenario("log-leader-cut-off-on-fast-clocks"),
        &[
            "vote-refused-leader-recent",
            "lease-read-in-drift-margin",
            "read-lease-lapsed",
        ],
    );
}

/// The racing projectors find the position moved after re-reading for
/// their batch, and write nothing. A projector that does not check it
/// again fails this scenario (`projection`), so it must keep reaching it.
fn the_racing_projectors_meet_stale_batches() {
    reaches_marks(
        &load_scenario("transfers-five-projectors-racing-a-stale-batch"),
        &["projection-batch-stale"],
    );
}

/// Two replicas propose intents for one payout and the log refuses the
/// second. A worker that takes any intent for its own sends the refused
/// transaction too and fails this scenario (`exactly-once`), so it must
/// keep reaching that refusal.
fn the_second_intent_scenario_meets_a_refused_intent() {
    reaches_marks(
        &load_scenario("transfers-a-second-intent-for-a-signed-payout"),
        &["intent-for-payout-with-intent", "intent-refused"],
    );
}

/// A new leader holding an earlier term's entries that a follower's later
/// entry contests commits them only behind its own no-op. A leader that
/// judges the term of its last entry instead of the entry it counts fails
/// this scenario (`raft-safety`), so it must keep reaching that contest.
fn the_earlier_term_entries_commit_only_behind_the_noop() {
    reaches_marks(
        &load_scenario("log-earlier-term-entries-committed-ahead-of-the-noop"),
        &[
            "later-term-entry-replaced-by-earlier",
            "earlier-term-entries-committed",
        ],
    );
}

/// Every retirement applies, nothing brings a retired node back, and the
/// payouts the lost ledger replica had claimed are taken over by the others.
fn the_replicas_lost_for_good_stay_lost_and_their_claims_are_taken_over() {
    let scenario = load_scenario("replicas-lost-for-good");
    let outcome = reaches_marks(&scenario, &["lease-taken-over"]);
    assert_eq!(
        outcome.faults.get("retire"),
        Some(&3),
        "{:?}",
        outcome.faults
    );
    // The one crash with `for` is the only node brought back.
    assert_eq!(
        outcome.faults.get("restart"),
        Some(&1),
        "{:?}",
        outcome.faults
    );
}

fn load_scenario(name: &str) -> sim::Scenario {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("scenarios/{name}.toml"));
    sim::load(&file).unwrap_or_else(|error| panic!("{error}"))
}

/// Runs `scenario` and asserts it reached every mark of `marks`.
fn reaches_marks(scenario: &sim::Scenario, marks: &[&str]) -> sim::RunOutcome {
    let name = &scenario.name;
    let outcome = sim::run(scenario, &sim::RunOptions::default());
    for mark in marks {
        assert!(
            outcome.marks.get(*mark).is_some_and(|count| *count > 0),
            "{name}: {mark} not reached: {:?}",
            outcome.marks
        );
    }
    let catalogue = sim::coverage::catalogue();
    assert!(outcome.marks.keys().all(|mark| catalogue.contains(mark)));
    outcome
}

/// A planted bug's scenario catches it through the hazard it plants:
/// without the bug the same scenario passes, and without the bug's trigger
/// (the fault, retry or concurrency its hazard needs), the bug still
/// planted, it passes too.
fn pinned_bug_passes_its_controls(file: &Path, scenario: &sim::Scenario, bug: &str) {
    use sim::{Verdict, control};
    let bug = ledger::bugs::Bug::from_name(bug).expect("a planted bug");
    let options = sim::RunOptions::default();
    let without_bug = sim::run(&control::without_bug(scenario), &options);
    assert_eq!(
        without_bug.verdict,
        Verdict::Pass,
        "{} without {bug}: {:?}",
        file.display(),
        without_bug.first_failure()
    );
    if let Some(control) = control::without_trigger(scenario, bug.trigger()) {
        let outcome = sim::run(&control, &options);
        assert_eq!(
            outcome.verdict,
            Verdict::Pass,
            "{} without {}, {bug} planted: {:?}",
            file.display(),
            bug.trigger().name(),
            outcome.first_failure()
        );
    }
}
