//! Every planted bug is caught by plain generated fuzzing: `sim fuzz --bug
//! NAME --seeds 0..N`, N the bug's seed limit, exits 0, and the shrunk catch
//! replays. The catch is through the hazard the bug plants: `sim bugs
//! --measure` over the same seeds finds its controls hold (the seeds pass
//! without the bug, the catching seed passes without the trigger).
//!
//! A custom harness (libtest-mimic), so that each bug of the catalogue is its
//! own trial (`caught-by-fuzzing::<bug>`) without a test written per bug: a
//! new bug is hunted as soon as it is planted.

mod common;

use common::{program, scratch, sim, stdout};
use ledger::bugs::Bug;
use libtest_mimic::{Arguments, Trial};

/// The seeds a hunt may take: every planted bug fails within 70 seeds on
/// each of `sim bugs --measure`'s windows, the figure-8 bug too, since
/// `raft-safety` judges each commit rather than waiting for a leader that
/// lacks the entry to win.
const SEED_LIMIT: u64 = 200;

fn main() -> std::process::ExitCode {
    let args = Arguments::from_args();
    let trials = Bug::all()
        .map(|bug| {
            Trial::test(format!("caught-by-fuzzing::{}", bug.name()), move || {
                caught_within(bug.name(), SEED_LIMIT);
                Ok(())
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit_code()
}

/// `sim fuzz --bug NAME --seeds 0..N` exits 0: plain generated scenarios
/// caught the bug with one of its expected checkers within N seeds. The
/// catch is shrunk, and `sim run` of the shrunk file shows the violation
/// again (and passes, since its `[expect]` names it).
fn caught_within(bug: &str, seeds: u64) {
    let range = format!("0..{seeds}");
    let output = sim(&[
        "fuzz",
        "--bug",
        bug,
        "--seeds",
        &range,
        "--out",
        bug,
        "--shrink-runs",
        "60",
    ]);
    let text = stdout(&output);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{bug} not caught within {seeds} seeds:\n{text}"
    );
    let caught = text
        .lines()
        .find_map(|line| line.strip_prefix(&format!("bug        {bug} caught at seed ")))
        .unwrap_or_else(|| panic!("no catch reported:\n{text}"));
    let shrunk = format!("{bug}/seed-{caught}.min.toml");
    assert!(
        text.contains(&format!("reproduce: {} run {shrunk}", program())),
        "{text}"
    );
    let header = std::fs::read_to_string(scratch().join(&shrunk)).expect("shrunk file written");
    // Each failure file has its timeline beside it.
    for picture in [
        format!("{bug}/seed-{caught}.html"),
        format!("{bug}/seed-{caught}.min.html"),
    ] {
        let html = std::fs::read_to_string(scratch().join(&picture))
            .unwrap_or_else(|error| panic!("{picture}: {error}"));
        assert!(
            html.contains("<canvas") && html.contains(&format!("\"seed\":{caught}")),
            "{picture}"
        );
    }
    // The full file and the reproduce line are named from the shrunk
    // file's own folder, so that they hold wherever the folder goes.
    let original = format!("# original: seed {caught}, ");
    let beside = format!(" (seed-{caught}.toml)\n# shrunk:   seed {caught}, ");
    let reproduce =
        format!("# reproduce: sim run seed-{caught}.min.toml  (from this file's folder)\n");
    for line in [original.as_str(), &beside, &reproduce, "[expect]"] {
        assert!(header.contains(line), "`{line}` missing from\n{header}");
    }
    let again = sim(&["run", &shrunk]);
    let summary = stdout(&again);
    assert_eq!(again.status.code(), Some(0), "{summary}");
    assert!(summary.contains("violation was found"), "{summary}");
    let limit = seeds.to_string();
    let measured = sim(&[
        "bugs",
        "--measure",
        "--bug",
        bug,
        "--windows",
        "0",
        "--limit",
        &limit,
    ]);
    let table = stdout(&measured);
    assert_eq!(
        measured.status.code(),
        Some(0),
        "{bug}: a control failed:\n{table}"
    );
}
