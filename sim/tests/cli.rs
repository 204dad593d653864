//! The `sim` command as a user meets it: exit codes, one-line errors naming
//! file, key and expectation, reproduce lines. (Planted bugs caught by plain
//! generated fuzzing: `bugs.rs`.)

mod common;

use common::{program, scratch, sim, sim_in, stderr, stdout};
use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    process::{Command, Output},
};

fn scenario_file(name: &str, text: &str) -> PathBuf {
    let path = scratch().join(name);
    std::fs::write(&path, text).expect("write scenario");
    path
}

const HEADER: &str = "name = \"t\"\nseed = 1\nduration = \"5s\"\n[workload]\nkind = \"log\"\n";

/// Runs `sim run` on a file holding `HEADER` plus `extra`; expects exit 2
/// and one line naming the file and every fragment in `expected`.
fn check_bad_file(extra: &str, expected: &[&str]) {
    let path = scenario_file("bad.toml", &format!("{HEADER}{extra}"));
    let output = sim(&["run", path.to_str().expect("utf-8 path")]);
    let error = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{extra}: {error}");
    assert_eq!(error.trim_end().lines().count(), 1, "{error}");
    assert!(error.contains("bad.toml"), "{error}");
    for fragment in expected {
        assert!(
            error.contains(fragment),
            "{extra}: `{fragment}` missing from {error}"
        );
    }
    assert!(!error.contains("panicked"), "{error}");
}

#[test]
fn bad_scenario_files_get_one_clear_line_and_exit_2() {
    check_bad_file(
        "[cluster]\nlog_replicaz = 3\n",
        &["cluster.log_replicaz", "unknown key", "log_replicas"],
    );
    check_bad_file(
        "[faults]\nmax_delay = \"soon\"\n",
        &["faults.max_delay", "expected a duration", "`soon`"],
    );
    check_bad_file(
        "[cluster]\nlog_replicas = 4\n",
        &[
            "cluster.log_replicas",
            "expected one of 1, 3, 5, 7",
            "got 4",
        ],
    );
    check_bad_file(
        "[[events]]\nat = \"1s\"\naction = \"crash\"\nnode = \"log-7\"\n",
        &[
            "events[0].node",
            "expected one of log-1, log-2, log-3, log-leader",
            "`log-7`",
        ],
    );
    check_bad_file(
        "[[events]]\nat = \"6s\"\naction = \"crash\"\nnode = \"log-1\"\n",
        &["events[0].at", "before `duration` (5s)", "got 6s"],
    );
    check_bad_file(
        "[workload]\nkind = \"bank\"\n",
        &["bad.toml:6:", "duplicate key"],
    );
}

#[test]
fn a_missing_file_is_bad_input() {
    let output = sim(&["run", "no/such/file.toml"]);
    assert_eq!(output.status.code(), Some(2));
    let error = stderr(&output);
    assert!(
        error.contains("no/such/file.toml") && error.contains("cannot read"),
        "{error}"
    );
}

#[test]
fn bad_arguments_are_bad_input() {
    for args in [
        &["fuzz", "--seeds", "9..3"][..],
        &["fuzz", "--seeds", "lots"],
        &["run", "--seed", "1", "--bug", "no-such-bug"],
        &["run"],
        &["frobnicate"],
        &["run", "--seed", "-3"],
        &["fuzz", "--seeds", "5.."],
        &["fuzz", "--shard", "0/2"],
        &["fuzz", "--shard", "3/2"],
        &["fuzz", "--jobs", "0"],
        &["fuzz", "--budget", "soon"],
        &["fuzz", "merge", "no/such/summary.json"],
        &["shrink", "no/such/file.toml"],
    ] {
        let output = sim(args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(!stderr(&output).contains("panicked"), "{args:?}");
    }
}

#[test]
fn a_generated_run_prints_its_summary_and_passes() {
    let output = sim(&["run", "--seed", "5"]);
    let summary = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{summary}");
    for line in [
        "scenario   generated seed 5",
        "trace hash",
        "✓ liveness",
        "verdict    PASS",
    ] {
        assert!(summary.contains(line), "`{line}` missing from\n{summary}");
    }
}

#[test]
fn a_failing_run_writes_its_scenario_and_ends_with_the_reproduce_line() {
    let output = sim(&[
        "run",
        "--seed",
        "9",
        "--bug",
        "db-lost-update",
        "--out",
        "found",
    ]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    let last = text.trim_end().lines().last().expect("output");
    assert_eq!(
        last,
        format!("reproduce: {} run found/seed-9.toml", program())
    );
    let again = sim(&["run", "found/seed-9.toml"]);
    assert_eq!(again.status.code(), Some(1));
    let first_hash = text
        .lines()
        .find(|line| line.starts_with("events"))
        .expect("events line");
    assert!(
        stdout(&again).contains(first_hash),
        "the written file reproduces the run exactly"
    );
}

#[test]
fn json_output_is_one_object() {
    let output = sim(&["run", "--seed", "2", "--json"]);
    let value: serde_json::Value =
        serde_json::from_str(stdout(&output).trim()).expect("one JSON object");
    assert_eq!(value["seed"], 2);
    assert_eq!(value["verdict"], "pass");
    let checks = value["checks"].as_array().expect("a list of checks");
    assert!(
        checks.iter().any(|check| check["checker"] == "liveness"),
        "{value}"
    );
}

#[test]
fn the_trace_option_writes_jsonl() {
    let output = sim(&["run", "--seed", "4", "--trace", "trace.jsonl"]);
    assert_eq!(output.status.code(), Some(0));
    let trace = std::fs::read_to_string(scratch().join("trace.jsonl")).expect("trace written");
    assert!(trace.lines().count() > 100);
    assert!(trace.lines().all(|line| line.starts_with("{\"t_us\":")));
}

#[test]
fn the_bug_catalogue_lists_every_bug_with_its_checker() {
    let output = sim(&["bugs"]);
    let text = stdout(&output);
    for bug in ledger::bugs::Bug::all() {
        let line = text
            .lines()
            .find(|line| line.starts_with(bug.name()))
            .expect("listed");
        assert!(line.contains(bug.expected_checkers()[0].name()), "{line}");
    }
}

#[test]
fn measuring_bugs_prints_each_bugs_checker_and_seeds() {
    let output = sim(&[
        "bugs",
        "--measure",
        "--bug",
        "nonce-read-modify-write",
        "--bug",
        "db-lost-update",
        "--windows",
        "0,1000",
        "--limit",
        "200",
    ]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    let row = |bug: &str| {
        text.lines()
            .find(|line| line.starts_with(bug))
            .unwrap_or_else(|| panic!("{bug} missing:\n{text}"))
            .split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    // bug, class, checker, two windows' seeds, then the controls.
    let nonce = row("nonce-read-modify-write");
    assert_eq!(nonce[1], "safety", "{text}");
    let checker = nonce[2].trim_end_matches(',');
    assert!(
        ["nonce-hygiene", "at-least-once", "projection"].contains(&checker),
        "{text}"
    );
    let line = nonce.join(" ");
    assert!(
        line.contains(" pass (") && line.ends_with(") pass without concurrency"),
        "both controls pass: {text}"
    );
    assert_eq!(row("db-lost-update")[2], "conservation", "{text}");
}

#[test]
fn fuzzing_correct_code_passes_and_says_so() {
    let output = sim(&["fuzz", "--seeds", "0..20"]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let text = stdout(&output);
    assert!(
        text.contains("seeds      20 run, 20 passed, 0 failed"),
        "{text}"
    );
    assert!(
        text.contains("coverage   seeds that reached each mark"),
        "{text}"
    );
}

fn fuzz_json(args: &[&str]) -> serde_json::Value {
    let output = sim(args);
    assert!(
        matches!(output.status.code(), Some(0 | 1 | 3 | 4)),
        "{args:?}: {}",
        stderr(&output)
    );
    serde_json::from_str(stdout(&output).trim()).expect("one JSON object")
}

/// (seed, verdict, trace hash) of every seed of a `--json` summary.
fn verdicts(summary: &serde_json::Value) -> Vec<(u64, String, String)> {
    summary["seeds"]
        .as_array()
        .expect("a seeds list")
        .iter()
        .map(|seed| {
            (
                seed["seed"].as_u64().expect("seed"),
                seed["verdict"].as_str().expect("verdict").to_owned(),
                seed["trace_hash"].as_str().expect("hash").to_owned(),
            )
        })
        .collect()
}

#[test]
fn two_shards_merged_run_exactly_the_unsharded_seeds_with_the_same_verdicts() {
    let whole = fuzz_json(&["fuzz", "--seeds", "10..40", "--jobs", "2", "--json"]);
    for shard in ["1/2", "2/2"] {
        let part = sim(&[
            "fuzz", "--seeds", "10..40", "--shard", shard, "--jobs", "1", "--json",
        ]);
        let name = format!("shard-{}.json", &shard[..1]);
        std::fs::write(scratch().join(name), &part.stdout).expect("write shard");
    }
    let first = fuzz_json(&["fuzz", "merge", "shard-1.json", "--json"]);
    let evens: Vec<u64> = verdicts(&first).iter().map(|(seed, ..)| *seed).collect();
    assert!(
        evens.iter().all(|seed| seed % 2 == 0) && evens.len() == 15,
        "{evens:?}"
    );
    let merged = fuzz_json(&["fuzz", "merge", "shard-1.json", "shard-2.json", "--json"]);
    assert_eq!(verdicts(&merged), verdicts(&whole));
    assert_eq!(merged["coverage"], whole["coverage"]);
    assert_eq!(merged["faults"], whole["faults"]);
    let table = sim(&["fuzz", "merge", "shard-1.json", "shard-2.json"]);
    assert!(
        stdout(&table).contains("seeds 10..40, shard 1/2 + 2/2"),
        "{}",
        stdout(&table)
    );
}

#[test]
fn a_budget_runs_open_ended_seeds_until_it_is_spent() {
    let summary = fuzz_json(&[
        "fuzz", "--budget", "1s", "--seeds", "500..", "--kind", "log", "--json",
    ]);
    let seeds = verdicts(&summary);
    assert!(!seeds.is_empty());
    assert!(
        seeds
            .iter()
            .enumerate()
            .all(|(i, (seed, ..))| *seed == 500 + i as u64)
    );
    assert_eq!(summary["configs"][0]["budget"], "1s");
}

#[test]
fn shrinking_a_file_that_passes_is_bad_input() {
    let path = scenario_file("passing.toml", HEADER);
    let output = sim(&["shrink", path.to_str().expect("utf-8 path")]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("passing.toml: the scenario does not fail"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn shrink_writes_a_smaller_file_that_fails_the_same_way() {
    let failing = scratch().join("lost-update.toml");
    let output = sim(&[
        "run",
        "--seed",
        "5",
        "--bug",
        "db-lost-update",
        "--out",
        "lost",
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    std::fs::copy(scratch().join("lost/seed-5.toml"), &failing).expect("copy");
    let output = sim(&["shrink", "lost-update.toml", "-o", "lost-update.min.toml"]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}{}", stderr(&output));
    assert!(
        text.contains(&format!(
            "reproduce: {} run lost-update.min.toml",
            program()
        )),
        "{text}"
    );
    let shrunk = std::fs::read_to_string(scratch().join("lost-update.min.toml")).expect("written");
    assert!(shrunk.starts_with("# conservation at "), "{shrunk}");
    assert!(
        shrunk.contains("[expect]\nviolation = \"conservation\""),
        "{shrunk}"
    );
    let again = sim(&["run", "lost-update.min.toml"]);
    assert_eq!(again.status.code(), Some(0), "{}", stdout(&again));
}

/// Runs `sim` in `dir` with `PATH` set to `path`.
fn sim_with_path(dir: &Path, args: &[&str], path: &OsString) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env("PATH", path)
        .output()
        .expect("sim runs")
}

fn last_line(output: &Output) -> String {
    stdout(output)
        .trim_end()
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned()
}

/// The trace hash line of a summary.
fn events_line(output: &Output) -> String {
    stdout(output)
        .lines()
        .find(|line| line.starts_with("events"))
        .unwrap_or_else(|| panic!("no events line:\n{}", stdout(output)))
        .to_owned()
}

#[cfg(unix)]
#[test]
fn ctrl_c_during_fuzz_prints_the_table_so_far_and_exits_with_its_verdict() {
    use std::{process::Stdio, time::Duration};
    let mut child = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args([
            "fuzz",
            "--seeds",
            "0..100000",
            "--jobs",
            "1",
            "--out",
            "interrupted",
        ])
        .current_dir(scratch())
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sim starts");
    std::thread::sleep(Duration::from_secs(2));
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(kill.success());
    // The simulation running then finishes (well under a second), then
    // the table prints; a minute of polls is room for a loaded machine.
    let mut polls = 0;
    while child.try_wait().expect("wait").is_none() {
        polls += 1;
        if polls > 1200 {
            let _ = child.kill();
            panic!("sim fuzz did not end within a minute of Ctrl-C");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().expect("output");
    let text = stdout(&output);
    let seeds_line = text
        .lines()
        .find_map(|line| line.strip_prefix("seeds      "))
        .unwrap_or_else(|| panic!("no table:\n{text}\n{}", stderr(&output)));
    let words: Vec<&str> = seeds_line.split_whitespace().collect();
    let (run, failed): (u64, u64) = (words[0].parse().unwrap(), words[4].parse().unwrap());
    assert!((1..100_000).contains(&run), "{text}");
    assert!(
        text.contains("coverage   seeds that reached each mark"),
        "{text}"
    );
    let last = text.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.starts_with(&format!("interrupted after {run} seeds (Ctrl-C); ")),
        "{text}"
    );
    // The verdict so far: the exit code of the seeds that ran.
    if failed == 0 {
        assert_eq!(output.status.code(), Some(0), "{text}");
        assert!(last.ends_with("no files written"), "{text}");
    } else {
        assert!(matches!(output.status.code(), Some(1 | 3 | 4)), "{text}");
    }
    assert!(
        stderr(&output).contains("interrupted: no new seeds"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn failure_files_never_replace_another_scenario() {
    let run = || {
        sim(&[
            "run",
            "--seed",
            "9",
            "--bug",
            "db-lost-update",
            "--out",
            "kept",
        ])
    };
    let reproduce = |name: &str| format!("reproduce: {} run kept/{name}", program());
    let first = run();
    assert_eq!(last_line(&first), reproduce("seed-9.toml"));
    // The same scenario again: the same file.
    assert_eq!(last_line(&run()), reproduce("seed-9.toml"));
    // Another scenario where it was written stays; the new file is numbered.
    let mine = format!("# kept by hand\n{HEADER}");
    std::fs::write(scratch().join("kept/seed-9.toml"), &mine).expect("write");
    let third = run();
    assert_eq!(last_line(&third), reproduce("seed-9-2.toml"));
    assert_eq!(events_line(&third), events_line(&first));
    let kept = std::fs::read_to_string(scratch().join("kept/seed-9.toml")).expect("read");
    assert_eq!(kept, mine);
    assert_eq!(last_line(&run()), reproduce("seed-9-2.toml"));

    // A shrunk file's default name is numbered the same way.
    let shrink = || sim(&["shrink", "kept/seed-9-2.toml", "--shrink-runs", "1"]);
    let shrunk = shrink();
    assert!(
        stdout(&shrunk).contains("(1 run in "),
        "{}",
        stdout(&shrunk)
    );
    assert_eq!(last_line(&shrunk), reproduce("seed-9-2.min.toml"));
    std::fs::write(scratch().join("kept/seed-9-2.min.toml"), &mine).expect("write");
    assert_eq!(last_line(&shrink()), reproduce("seed-9-2-2.min.toml"));
    // A name given with -o is written there, and the output says it
    // replaced a file.
    let named = sim(&[
        "shrink",
        "kept/seed-9-2.toml",
        "--shrink-runs",
        "1",
        "-o",
        "kept/seed-9-2.min.toml",
    ]);
    assert!(
        stdout(&named).contains("written    kept/seed-9-2.min.toml (replacing the file there)"),
        "{}",
        stdout(&named)
    );
    assert_eq!(last_line(&named), reproduce("seed-9-2.min.toml"));
}

#[test]
fn reproduce_lines_work_where_they_are_read() {
    let written = sim(&[
        "run",
        "--seed",
        "9",
        "--bug",
        "db-lost-update",
        "--out",
        "paths",
    ]);
    assert_eq!(written.status.code(), Some(1), "{}", stdout(&written));
    let file = scratch().join("paths/seed-9.toml");
    let exe = std::fs::canonicalize(env!("CARGO_BIN_EXE_sim")).expect("the executable");
    let exe_dir = exe.parent().expect("its folder");
    let path_with = |dirs: &[&Path]| {
        let others = std::env::var_os("PATH").unwrap_or_default();
        let others = std::env::split_paths(&others).filter(|dir| dir != exe_dir);
        std::env::join_paths(dirs.iter().map(|dir| dir.to_path_buf()).chain(others))
            .expect("a PATH")
    };

    // `sim` on PATH is this executable: `sim run`.
    let installed = sim_with_path(
        &scratch(),
        &["run", "paths/seed-9.toml"],
        &path_with(&[exe_dir]),
    );
    assert_eq!(
        last_line(&installed),
        "reproduce: sim run paths/seed-9.toml"
    );
    // Run from a folder holding the executable: its path from there.
    let above = exe_dir.parent().expect("the target folder");
    let file_arg = file.to_str().expect("a UTF-8 path");
    let built = sim_with_path(above, &["run", file_arg], &path_with(&[]));
    let relative = exe
        .strip_prefix(above)
        .expect("inside")
        .display()
        .to_string();
    assert_eq!(
        last_line(&built),
        format!("reproduce: {relative} run {file_arg}")
    );
    // Neither: its absolute path.
    let elsewhere = sim_with_path(&scratch(), &["run", "paths/seed-9.toml"], &path_with(&[]));
    assert_eq!(
        last_line(&elsewhere),
        format!("reproduce: {} run paths/seed-9.toml", exe.display())
    );

    // The file's own header names it from its folder, so it still
    // reproduces, bit for bit, once the folder has moved.
    let text = std::fs::read_to_string(&file).expect("written");
    let header = text.lines().nth(1).expect("a reproduce line");
    assert_eq!(
        header,
        "# reproduce: sim run seed-9.toml  (from this file's folder)"
    );
    let moved = scratch().join("downloaded/failures-1");
    std::fs::create_dir_all(&moved).expect("a folder");
    std::fs::write(moved.join("seed-9.toml"), &text).expect("copy");
    let command: Vec<&str> = header
        .trim_start_matches("# reproduce: sim ")
        .split("  (")
        .next()
        .expect("a command")
        .split_whitespace()
        .collect();
    let again = sim_in(&moved, &command);
    assert_eq!(again.status.code(), Some(1), "{}", stdout(&again));
    assert_eq!(events_line(&again), events_line(&written));
}

#[test]
fn colour_goes_only_where_asked_or_to_a_terminal() {
    let path = scenario_file("colour.toml", HEADER);
    let file = path.to_str().expect("a UTF-8 path");
    let always = sim(&["run", file, "--color", "always"]);
    let text = stdout(&always);
    assert!(text.contains("  \x1b[32m✓\x1b[0m liveness"), "{text}");
    assert!(text.contains("verdict    \x1b[1;32mPASS\x1b[0m"), "{text}");
    for args in [
        &["run", file][..],
        &["--color", "never", "run", file],
        &["run", file, "--color", "auto"],
    ] {
        let plain = sim(args);
        assert!(stdout(&plain).contains("  ✓ liveness"), "{args:?}");
        assert!(
            !stdout(&plain).contains('\x1b'),
            "{args:?}: {}",
            stdout(&plain)
        );
    }
    let logged = sim(&["run", file, "--log", "info"]);
    assert!(!stderr(&logged).is_empty(), "logs were written");
    assert!(!stderr(&logged).contains('\x1b'), "{}", stderr(&logged));
    let coloured = sim(&["run", file, "--log", "info", "--color", "always"]);
    assert!(stderr(&coloured).contains('\x1b'), "{}", stderr(&coloured));
    let bad = sim(&["run", file, "--color", "sometimes"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("[possible values: auto, always, never]"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn counts_and_articles_read_right() {
    let path = scenario_file(
        "one-of-each.toml",
        &format!(
            "{HEADER}requests = 1\n[cluster]\nclients = 1\n[expect]\nviolation = \"exactly-once\"\n"
        ),
    );
    let output = sim(&["run", path.to_str().expect("a UTF-8 path")]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    for line in [
        "workload   log: 3 log replicas, 1 client, 1 request\n",
        "verdict    FAIL (expected an exactly-once violation, found none; exit 1)\n",
    ] {
        assert!(text.contains(line), "`{line}` missing from\n{text}");
    }
    let fuzzed = sim(&["fuzz", "--seeds", "0..1", "--jobs", "1", "--kind", "log"]);
    let text = stdout(&fuzzed);
    assert!(text.contains(", 1 job\n"), "{text}");
    let checked = sim(&["check-determinism", "--seeds", "3..4"]);
    assert_eq!(
        last_line(&checked),
        "1 of 1 seed reproduced its trace hash",
        "{}",
        stdout(&checked)
    );
}

#[test]
fn check_determinism_asks_for_a_bounded_range_without_mentioning_budgets() {
    for (seeds, expected) in [
        (
            "5..",
            "expected a bounded seed range A..B with A < B, got `5..`",
        ),
        ("5", "expected a seed range A..B with A < B, got `5`"),
        ("7..3", "expected a seed range A..B with A < B, got `7..3`"),
    ] {
        let output = sim(&["check-determinism", "--seeds", seeds]);
        let error = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{seeds}: {error}");
        assert_eq!(error.trim_end().lines().count(), 1, "{error}");
        assert!(error.contains(expected), "{seeds}: {error}");
        assert!(!error.contains("--budget"), "{seeds}: {error}");
    }
}

/// `sim bench --profile` says where the messages go, route by route, and
/// the JSON carries the messages per accepted transfer, the profile, and
/// each round's timing, of which the figures are the medians.
#[test]
fn bench_profiles_where_the_messages_go() {
    let output = sim(&[
        "bench",
        "--seeds",
        "2",
        "--kind",
        "transfers",
        "--rounds",
        "3",
        "--profile",
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("one object");
    let mut rates: Vec<f64> = report["rounds"]
        .as_array()
        .expect("rounds")
        .iter()
        .map(|round| round["simulations_per_second"].as_f64().expect("a rate"))
        .collect();
    assert_eq!(rates.len(), 3, "{report}");
    // The figures say which build took them: the tests' own profile.
    let build = report["build"].as_str().expect("the build");
    let profile = if cfg!(debug_assertions) {
        "dev ("
    } else {
        "release"
    };
    assert!(build.starts_with(profile), "{build}");
    rates.sort_by(f64::total_cmp);
    assert_eq!(report["simulations_per_second"].as_f64(), Some(rates[1]));
    // The machine-relative figure is each round's rate over its raw
    // ping-pong, and its median lies within theirs.
    let relative: Vec<f64> = report["rounds"]
        .as_array()
        .expect("rounds")
        .iter()
        .map(|round| {
            round["simulations_per_second"].as_f64().expect("a rate")
                / (round["raw_madsim_ping_pong_messages_per_second"]
                    .as_f64()
                    .expect("a rate")
                    / 1e6)
        })
        .collect();
    let median = report["simulations_per_raw_million"]
        .as_f64()
        .expect("the machine-relative figure");
    assert!(
        relative.iter().any(|round| (round - median).abs() < 1e-9),
        "{median} is no round's figure: {relative:?}"
    );
    let messages = report["messages"].as_u64().expect("messages");
    let per_transfer = report["messages_per_transfer"]
        .as_f64()
        .expect("messages per transfer");
    assert!(per_transfer > 1.0, "{report}");
    let routes = report["profile"]["routes"].as_object().expect("routes");
    for route in ["ledger → db", "log → log", "client → ledger"] {
        assert!(routes.contains_key(route), "{route} missing: {routes:?}");
    }
    // The profiled runs are the same runs: every message is on a route.
    let routed: u64 = routes
        .values()
        .map(|count| count["messages"].as_u64().expect("a count"))
        .sum();
    assert_eq!(routed, messages, "{report}");
    assert!(report["profile"]["events"]["message"].as_u64() == Some(messages));
    let text = stdout(&sim(&[
        "bench",
        "--seeds",
        "1",
        "--kind",
        "transfers",
        "--profile",
    ]));
    assert!(text.contains("profile: messages by route"), "{text}");
    assert!(
        text.contains("rounds                    3 (medians shown"),
        "{text}"
    );
    assert!(text.contains("messages/transfer"), "{text}");
    assert!(
        text.contains("simulations/s per million raw madsim messages/s"),
        "{text}"
    );
}
