//! No input breaks `sim`: hostile scenario files, command-line values and
//! shard summaries each get one clear line and exit 2, never a panic, a
//! hang or a wrong verdict. Each finding is pinned here; a property test
//! mutates valid scenarios (values, types, sections, truncation) and holds
//! every outcome to the same rules.

mod common;

use common::{scratch, sim, sim_in, stderr};
use proptest::prelude::*;
use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    time::Duration,
};

/// Exit 2 and one line on stderr holding every fragment, no panic.
fn assert_bad_input(output: &Output, fragments: &[&str], what: &str) {
    let error = stderr(output);
    assert_eq!(output.status.code(), Some(2), "{what}: {error}");
    assert_eq!(error.trim_end().lines().count(), 1, "{what}: {error}");
    assert!(error.starts_with("error: "), "{what}: {error}");
    for fragment in fragments {
        assert!(
            error.contains(fragment),
            "{what}: `{fragment}` missing from {error}"
        );
    }
    assert!(!error.contains("panicked"), "{what}: {error}");
}

/// Every file in `sim/tests/hostile/` is a scenario that must be refused:
/// its first line says `# expect: KEY: FRAGMENT`, and the one-line error
/// must name the file, the key and hold the fragment.
#[test]
fn each_hostile_scenario_file_is_refused_naming_its_key() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the hostile fixtures")
        .map(|entry| entry.expect("an entry").path())
        .collect();
    files.sort();
    assert!(files.len() >= 20, "{files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).expect("a fixture");
        let expect = text
            .lines()
            .next()
            .and_then(|line| line.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{}: no `# expect:` line", file.display()));
        let (key, fragment) = expect.split_once(": ").expect("KEY: FRAGMENT");
        let output = sim(&["run", file.to_str().expect("a UTF-8 path")]);
        let name = file
            .file_name()
            .and_then(|name| name.to_str())
            .expect("a name");
        assert_bad_input(
            &output,
            &[name, &format!("key `{key}`"), fragment],
            &file.display().to_string(),
        );
    }
}

#[test]
fn a_file_too_large_to_be_a_scenario_is_refused_at_once() {
    let output = sim(&["run", "/dev/zero"]);
    assert_bad_input(&output, &["/dev/zero", "at most 1024 KiB"], "/dev/zero");
    let path = scratch().join("events.toml");
    let mut text = String::from("name = \"x\"\nseed = 1\n");
    for _ in 0..10_001 {
        text += "[[events]]\nat = \"1s\"\naction = \"heal\"\n";
    }
    std::fs::write(&path, text).expect("write");
    let output = sim(&["run", path.to_str().expect("utf-8")]);
    assert_bad_input(
        &output,
        &["key `events`", "at most 10000 events"],
        "10001 events",
    );
}

/// A key dotted past the parser's nesting limit, as a key or a table
/// header, is named with its line; nesting by arrays has its own error.
#[test]
fn a_key_nested_past_the_parser_limit_is_named_with_its_line() {
    let deep = "a".to_owned() + &".a".repeat(50_000);
    for (name, line) in [
        ("deep-key.toml", format!("{deep} = 1")),
        ("deep-header.toml", format!("[{deep}]")),
    ] {
        let path = scratch().join(name);
        std::fs::write(&path, format!("name = \"x\"\n{line}\n")).expect("write");
        let output = sim(&["run", path.to_str().expect("utf-8")]);
        assert_bad_input(
            &output,
            &[
                &format!("{name}:2: key `a.a.a…`"),
                "a key of 50001 dotted parts; expected at most 79",
            ],
            name,
        );
    }
    let path = scratch().join("deep-array.toml");
    let text = format!("x = {}{}\n", "[".repeat(50_000), "]".repeat(50_000));
    std::fs::write(&path, text).expect("write");
    let output = sim(&["run", path.to_str().expect("utf-8")]);
    assert_bad_input(&output, &["deep-array.toml:1:", "recurs"], "deep arrays");
}

#[test]
fn hostile_command_line_values_are_refused() {
    for (args, fragments) in [
        (
            &["fuzz", "--jobs", "100000"][..],
            &["--jobs", "1 to 256"][..],
        ),
        (
            &["shrink", "x.toml", "--jobs", "9999"],
            &["--jobs", "1 to 256"],
        ),
        (
            &["fuzz", "--kind", "nope"],
            &["--kind", "[possible values: transfers, log, bank, chain]"],
        ),
        (
            &["run", "--seed", "1", "--bug", "nope"],
            &["--bug", "possible values: raft-ack-before-persist"],
        ),
        (&["fuzz", "--seeds", "lots"], &["--seeds", "lots"]),
        (&["bench", "--seeds", "0"], &["--seeds", "at least 1"]),
        (
            &["bench", "--rounds", "0"],
            &["--rounds", "1 to 100 rounds", "`0`"],
        ),
        (
            &["bench", "--rounds", "4294967295"],
            &["--rounds", "1 to 100 rounds"],
        ),
        (
            &["bench", "--seeds", "many"],
            &["--seeds", "at least 1", "`many`"],
        ),
        (
            &["bench", "--seeds", "18446744073709551615"],
            &["--seeds", "at most 100000 seeds"],
        ),
        (
            &["run", "--seed", "18446744073709551616"],
            &["--seed", "a whole number from 0 to 18446744073709551615"],
        ),
        (
            &["explain", "--seed", "x"],
            &["--seed", "expected a seed", "`x`"],
        ),
        (
            &["bugs", "--measure", "--windows", "0,,1000"],
            &["--windows", "expected a seed", "``"],
        ),
        (
            &["bugs", "--measure", "--guided", "--coverage-runs", "all"],
            &["--coverage-runs", "0 or more", "`all`"],
        ),
        (
            &["bugs", "--measure", "--limit", "0"],
            &["--limit", "at least 1"],
        ),
        (
            &["shrink", "x.toml", "--shrink-runs", "0"],
            &["--shrink-runs"],
        ),
        (
            &["bugs", "--measure", "--jobs", "1000"],
            &["--jobs", "1 to 256"],
        ),
        (
            &["run", "--seed", "1", "--log", "nonsense"],
            &["--log", "`nonsense`"],
        ),
        (&["fuzz", "--log", "info,"], &["--log"]),
        (
            &["fuzz", "--budget", "99999999m"],
            &["--budget", "at most a week"],
        ),
        (
            &["fuzz", "--no-shrink", "--shrink-time", "0us"],
            &["--shrink-time"],
        ),
        (
            &[
                "bugs",
                "--measure",
                "--windows",
                "18446744073709551615",
                "--limit",
                "2",
            ],
            &["--windows", "past the last seed"],
        ),
        (
            &["run", "--seed", "1", "--trace", "/proc/x/y"],
            &["--trace", "/proc/x"],
        ),
        (
            &["fuzz", "--seeds", "0..2", "--out", "/proc/x"],
            &["--out", "/proc/x"],
        ),
        (
            &["run", "--seed", "1", "--out", "/proc/x"],
            &["--out", "/proc/x"],
        ),
        (
            &[
                "fuzz",
                "--guided",
                "--seeds",
                "0..2",
                "--corpus",
                "/dev/null",
            ],
            &["--corpus", "/dev/null is a file, expected a folder"],
        ),
        (
            &["fuzz", "--seeds", "0..2", "--out", "/dev/null"],
            &["--out", "/dev/null is a file, expected a folder"],
        ),
        (
            &["fuzz", "--seeds", "0..1", "--shard", "2/2"],
            &["--shard", "shard 2/2 of seeds 0..1 holds no seed"],
        ),
        (
            &[
                "fuzz",
                "--seeds",
                "18446744073709551615..",
                "--budget",
                "1s",
            ],
            &["--seeds", "holds no seed"],
        ),
        (
            &["fuzz", "merge-corpus", "c1"],
            &["required arguments were not provided: --into <DIR>"],
        ),
        (
            &["bugs", "--limit", "5"],
            &["required arguments were not provided: --measure"],
        ),
        (
            &[
                "fuzz",
                "--guided",
                "--bug",
                "lax-address-check",
                "--seeds",
                "0..2",
                "--corpus",
                "/nonexistent-corpus",
            ],
            &[
                "--corpus",
                "/nonexistent-corpus",
                "a hunt only reads its corpus",
            ],
        ),
    ] {
        let output = sim(args);
        assert_bad_input(&output, fragments, &format!("{args:?}"));
    }
}

/// Output that cannot be written (a full disk) fails the command: a
/// summary cut short must not exit 0. A reader gone away (`| head`) does
/// not: what was read is whole, and the exit code still tells the run.
#[test]
fn output_that_cannot_be_written_fails_the_command() {
    let full = std::fs::File::create("/dev/full").expect("/dev/full");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(["run", "--seed", "1"])
        .current_dir(scratch())
        .stdout(full)
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("sim runs");
    assert_bad_input(
        &output,
        &["stdout: the output could not be written", "No space left"],
        "stdout to /dev/full",
    );
    let mut reader = std::process::Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(["run", "--seed", "1"])
        .current_dir(scratch())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("sim runs");
    drop(reader.stdout.take());
    let status = reader.wait().expect("sim ends");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn an_unwritable_shrink_output_is_refused_before_shrinking() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/db-lost-update.toml");
    let output = sim(&[
        "shrink",
        file.to_str().expect("utf-8"),
        "-o",
        "/proc/x/y.toml",
    ]);
    assert_bad_input(&output, &["-o", "/proc/x"], "shrink -o");
}

/// `sim run --seed SEED` with `RUST_LOG` set to `filter`.
fn run_with_rust_log(seed: &str, filter: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(["run", "--seed", seed])
        .current_dir(scratch())
        .env("RUST_LOG", filter)
        .output()
        .expect("sim runs")
}

#[test]
fn rust_log_is_honoured_and_checked_when_log_is_absent() {
    let output = run_with_rust_log("1", "nonsense");
    assert_bad_input(&output, &["RUST_LOG", "`nonsense`"], "RUST_LOG=nonsense");
    let output = run_with_rust_log("3", "info");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stderr(&output).contains("INFO"), "logs on stderr");
    let output = run_with_rust_log("3", "");
    assert_eq!(output.status.code(), Some(0), "empty RUST_LOG is unset");
    assert!(
        !stderr(&output).contains("INFO"),
        "no logs from an empty RUST_LOG"
    );
}

/// Shards that wrap `u64` arithmetic still take exactly their seeds, and a
/// huge bounded range is counted, not walked.
#[test]
fn huge_shards_and_ranges_neither_overlap_nor_hang() {
    let output = sim(&[
        "fuzz",
        "--seeds",
        "0..18446744073709551615",
        "--shard",
        "3/18446744073709551615",
        "--json",
        "--no-shrink",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let summary: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("a JSON summary");
    let seeds: Vec<u64> = summary["seeds"]
        .as_array()
        .expect("seeds")
        .iter()
        .map(|seed| seed["seed"].as_u64().expect("a seed"))
        .collect();
    assert_eq!(seeds, vec![2]);
}

/// A fuzz summary that is not a shard of the same run is bad input.
#[test]
fn hostile_shard_summaries_are_refused() {
    let dir = scratch().join("merge");
    std::fs::create_dir_all(&dir).expect("a folder");
    let fuzz = |shard: &str, extra: &[&str]| -> serde_json::Value {
        let mut args = vec![
            "fuzz",
            "--seeds",
            "0..4",
            "--shard",
            shard,
            "--json",
            "--no-shrink",
        ];
        args.extend(extra);
        let output = sim_in(&dir, &args);
        serde_json::from_slice(&output.stdout).expect("a summary")
    };
    let first = fuzz("1/2", &[]);
    let second = fuzz("2/2", &[]);
    let write = |name: &str, value: &serde_json::Value| {
        std::fs::write(dir.join(name), value.to_string()).expect("write");
        name.to_owned()
    };
    let one = write("one.json", &first);
    let two = write("two.json", &second);
    let mut empty = first.clone();
    empty["configs"] = serde_json::json!([]);
    let empty = write("empty.json", &empty);
    let mut negative = first.clone();
    negative["wall_seconds"] = serde_json::json!(-1.0);
    let negative = write("negative.json", &negative);
    let mut outside = second.clone();
    outside["seeds"][0]["seed"] = serde_json::json!(1001);
    let outside = write("outside.json", &outside);
    let mut wrapping = second.clone();
    wrapping["coverage"]["commit-unknown"] =
        serde_json::json!({"seeds": u64::MAX, "count": u64::MAX});
    let wrapping = write("wrapping.json", &wrapping);
    let mut unknown_mark = second.clone();
    unknown_mark["coverage"]["a-mark-nobody-placed"] = serde_json::json!({"seeds": 0, "count": 0});
    let unknown_mark = write("unknown-mark.json", &unknown_mark);
    let mut unknown_fault = second.clone();
    unknown_fault["faults"]["meteor"] = serde_json::json!({"seeds": 0, "count": 0});
    let unknown_fault = write("unknown-fault.json", &unknown_fault);
    let mut odd_hash = second.clone();
    odd_hash["seeds"][0]["trace_hash"] = serde_json::json!("not a hash");
    let odd_hash = write("odd-hash.json", &odd_hash);
    let mut hunt = second.clone();
    hunt["configs"][0]["bug"] = serde_json::json!("lease-no-fencing");
    let hunt = write("hunt.json", &hunt);
    let log = write("log.json", &fuzz("2/2", &["--kind", "log"]));
    let mut doubled = first.clone();
    doubled["configs"] = serde_json::json!([first["configs"][0], first["configs"][0]]);
    let doubled = write("doubled.json", &doubled);
    let mut no_jobs = first.clone();
    no_jobs["configs"][0]["jobs"] = serde_json::json!(0);
    let no_jobs = write("no-jobs.json", &no_jobs);
    for (files, fragments) in [
        (vec![empty.clone()], &["configs", "empty"][..]),
        (vec![one.clone(), empty], &["empty.json", "empty"]),
        (vec![negative], &["wall time is -1"]),
        (vec![one.clone(), outside], &["seed 1001 is outside"]),
        (vec![one.clone(), wrapping], &["does not fit"]),
        (
            vec![one.clone(), unknown_mark],
            &["`coverage` names \"a-mark-nobody-placed\", which this build does not know"],
        ),
        (
            vec![one.clone(), unknown_fault],
            &["`faults` names \"meteor\""],
        ),
        (
            vec![one.clone(), odd_hash],
            &["trace hash is \"not a hash\": expected 16 lowercase hex digits"],
        ),
        (
            vec![one.clone(), hunt],
            &["not a shard of the same run", "bug"],
        ),
        (
            vec![one.clone(), log],
            &["not a shard of the same run", "kind log"],
        ),
        (
            vec![one.clone(), one.clone()],
            &[
                "one.json is not a shard of the same run as one.json",
                "shard 1/2 appears twice",
            ],
        ),
        (vec![doubled], &["doubled.json", "shard 1/2 beside 1/2"]),
        (
            vec![no_jobs],
            &["no-jobs.json", "`jobs`: expected 1 to 256, got 0"],
        ),
    ] {
        let mut args = vec!["fuzz".to_owned(), "merge".to_owned()];
        args.extend(files.iter().cloned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = sim_in(&dir, &args);
        assert_bad_input(&output, fragments, &format!("{files:?}"));
    }
    let merged = sim_in(&dir, &["fuzz", "merge", &one, &two]);
    assert_eq!(merged.status.code(), Some(0), "{}", stderr(&merged));
}

/// Valid scenarios to mutate: small, one per workload kind.
const BASES: [&str; 4] = [
    "name = \"t\"\nseed = 3\nduration = \"3s\"\nsettle = \"10s\"\n[cluster]\nclients = 2\n[workload]\nrequests = 8\n[faults]\ndrop = 0.05\n[[events]]\nat = \"1s\"\naction = \"crash\"\nnode = \"log-leader\"\nfor = \"500ms\"\n",
    "name = \"t\"\nseed = 4\nduration = \"3s\"\nsettle = \"10s\"\n[workload]\nkind = \"log\"\nrequests = 20\n[[events]]\nat = \"1s\"\naction = \"partition\"\ngroups = [[\"log-1\"]]\nfor = \"1s\"\n",
    "name = \"t\"\nseed = 5\nduration = \"3s\"\nsettle = \"10s\"\n[workload]\nkind = \"bank\"\nrequests = 20\naccounts = 3\n[faults]\ndb_unknown_commit = 0.1\n",
    "name = \"t\"\nseed = 6\nduration = \"3s\"\nsettle = \"10s\"\n[workload]\nkind = \"chain\"\nrequests = 6\n[system]\nblock_time = \"200ms\"\n[[events]]\nat = \"2s\"\naction = \"chain-reorg\"\ndepth = 1\n",
];

/// Values that stress parsers and the code behind them, and some that may
/// well be fine, so that mutated files also run.
const VALUES: [&str; 22] = [
    "1",
    "3",
    "0.5",
    "\"2s\"",
    "\"log-1\"",
    "\"db\"",
    "0",
    "-1",
    "18446744073709551615",
    "1.5e300",
    "\"\"",
    "\"153722868m\"",
    "\"1us\"",
    "\"-3s\"",
    "[1, 2]",
    "{ a = 1 }",
    "true",
    "\"log-leader\"",
    "\"0us..0us\"",
    "nan",
    "\"\\u0000\"",
    "[[\"x\"]]",
];

/// One mutation of a valid file.
#[derive(Debug, Clone)]
enum Mutation {
    /// Replace the value of the `line`-th `key = value` line.
    Value { line: usize, value: usize },
    /// Turn the `line`-th `[section]` header into `section = VALUE`.
    Section { line: usize, value: usize },
    /// Delete the `line`-th line.
    Delete { line: usize },
    /// Repeat the `line`-th line.
    Repeat { line: usize },
    /// Cut the file after this share of its bytes.
    Truncate { share: f64 },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (0..20usize, 0..VALUES.len()).prop_map(|(line, value)| Mutation::Value { line, value }),
        (0..6usize, 0..VALUES.len()).prop_map(|(line, value)| Mutation::Section { line, value }),
        (0..20usize).prop_map(|line| Mutation::Delete { line }),
        (0..20usize).prop_map(|line| Mutation::Repeat { line }),
        (0.0..1.0f64).prop_map(|share| Mutation::Truncate { share }),
    ]
}

fn mutate(base: &str, mutations: &[Mutation]) -> String {
    let mut lines: Vec<String> = base.lines().map(str::to_owned).collect();
    let pick = |lines: &[String], want: &dyn Fn(&str) -> bool, nth: usize| {
        let found: Vec<usize> = (0..lines.len()).filter(|i| want(&lines[*i])).collect();
        (!found.is_empty()).then(|| found[nth % found.len()])
    };
    for mutation in mutations {
        match mutation {
            Mutation::Value { line, value } => {
                if let Some(at) = pick(&lines, &|line| line.contains(" = "), *line) {
                    let key = lines[at].split(" = ").next().unwrap_or_default().to_owned();
                    lines[at] = format!("{key} = {}", VALUES[*value]);
                }
            }
            Mutation::Section { line, value } => {
                if let Some(at) = pick(&lines, &|line| line.starts_with('['), *line) {
                    let name = lines[at].trim_matches(|c| c == '[' || c == ']').to_owned();
                    lines[at] = format!("{name} = {}", VALUES[*value]);
                }
            }
            Mutation::Delete { line } if !lines.is_empty() => {
                lines.remove(line % lines.len());
            }
            Mutation::Repeat { line } if !lines.is_empty() => {
                let at = line % lines.len();
                lines.insert(at, lines[at].clone());
            }
            Mutation::Truncate { share } => {
                let text = lines.join("\n");
                let mut cut = (text.len() as f64 * share) as usize;
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                lines = text[..cut].lines().map(str::to_owned).collect();
            }
            _ => {}
        }
    }
    lines.join("\n") + "\n"
}

/// Whether a scenario the validator accepts is small enough to run here.
fn small(text: &str) -> bool {
    sim::parse(text, "m.toml").is_ok_and(|scenario| {
        scenario.duration() <= Duration::from_secs(30)
            && scenario.settle() <= Duration::from_secs(60)
            && scenario.workload.requests <= 300
            && scenario.events.len() <= 50
    })
}

/// Runs `sim run` under a time and memory bound, through bash's `ulimit`.
fn bounded_run(file: &Path) -> Output {
    Command::new("timeout")
        .args([
            "--kill-after=5",
            "120",
            "bash",
            "-c",
            "ulimit -v 4000000; exec \"$0\" run \"$1\"",
        ])
        .arg(env!("CARGO_BIN_EXE_sim"))
        .arg(file)
        .current_dir(scratch())
        .env_remove("RUST_LOG")
        .output()
        .expect("sim runs")
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// A mutated scenario never panics the tool, never runs past the bound
    /// when it is small, and always ends with an exit code from 0 to 4; a
    /// refusal is exit 2 with one line naming the file.
    #[test]
    fn mutated_scenarios_never_break_sim(
        base in 0..BASES.len(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let text = mutate(BASES[base], &mutations);
        let parsed = std::panic::catch_unwind(|| sim::parse(&text, "m.toml"));
        prop_assert!(parsed.is_ok(), "parsing panicked on:\n{text}");
        if matches!(parsed, Ok(Ok(_))) && !small(&text) {
            // Valid but long: judged by its parse alone, in this process.
            return Ok(());
        }
        let file = scratch().join(format!("mutated-{base}.toml"));
        std::fs::write(&file, &text).expect("write");
        let output = bounded_run(&file);
        let error = stderr(&output);
        let code = output.status.code();
        prop_assert!(
            matches!(code, Some(0..=4)),
            "exit {code:?} (124/137: past the time bound) on:\n{text}\n{error}"
        );
        prop_assert!(!error.contains("panicked"), "a panic on:\n{text}\n{error}");
        if code == Some(2) {
            prop_assert_eq!(error.trim_end().lines().count(), 1, "{}", error);
            prop_assert!(error.contains("mutated-"), "{}", error);
        }
    }
}

/// A guided run's corpus resumes and merges; a broken corpus, a file given
/// as one, a merge into a folder that holds something, or a guided
/// summary handed to `fuzz merge` is one line and exit 2.
#[test]
fn guided_corpora_resume_merge_and_refuse_what_is_broken() {
    let dir = scratch().join("guided");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a folder");
    let guided = |corpus: &str, seeds: &str| {
        sim_in(
            &dir,
            &[
                "fuzz",
                "--guided",
                "--kind",
                "log",
                "--seeds",
                seeds,
                "--corpus",
                corpus,
                "--no-shrink",
                "--json",
            ],
        )
    };
    let first = guided("a", "0..16");
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let summary: serde_json::Value = serde_json::from_slice(&first.stdout).expect("a summary");
    assert_eq!(summary["guided"]["corpus_runs"], 16);
    let resumed = guided("a", "0..16");
    let summary: serde_json::Value = serde_json::from_slice(&resumed.stdout).expect("a summary");
    assert_eq!(
        summary["guided"]["corpus_runs"], 32,
        "resumed, not restarted"
    );
    assert_eq!(guided("b", "100..116").status.code(), Some(0));
    let merged = sim_in(&dir, &["fuzz", "merge-corpus", "a", "b", "--into", "c"]);
    assert_eq!(merged.status.code(), Some(0), "{}", stderr(&merged));
    assert!(String::from_utf8_lossy(&merged.stdout).contains("over 48 runs"));

    // A measure from several corpora hunts each bug from each of them.
    let measured = sim_in(
        &dir,
        &[
            "bugs",
            "--measure",
            "--guided",
            "--bug",
            "read-from-follower",
            "--windows",
            "0",
            "--limit",
            "20",
            "--corpus",
            "a",
            "--corpus",
            "b",
            "--coverage-runs",
            "0",
            "--json",
        ],
    );
    assert_eq!(measured.status.code(), Some(0), "{}", stderr(&measured));
    let measure: serde_json::Value = serde_json::from_slice(&measured.stdout).expect("json");
    assert_eq!(measure["corpora"][1]["runs"], 16);
    assert_eq!(
        measure["hunts"][0]["guided"].as_array().map(Vec::len),
        Some(2)
    );
    let missing = sim_in(
        &dir,
        &[
            "bugs",
            "--measure",
            "--guided",
            "--corpus",
            "a",
            "--corpus",
            "nowhere",
        ],
    );
    assert_bad_input(
        &missing,
        &["--corpus", "nowhere"],
        "a missing second corpus",
    );

    let again = sim_in(&dir, &["fuzz", "merge-corpus", "a", "--into", "c"]);
    assert_bad_input(&again, &["--into", "not empty"], "merge into a full folder");
    let not_a_corpus = sim_in(&dir, &["fuzz", "merge-corpus", "nowhere", "--into", "d"]);
    assert_bad_input(
        &not_a_corpus,
        &["nowhere", "corpus.json"],
        "a missing corpus",
    );
    std::fs::write(dir.join("a/corpus.json"), "{\"format\": 7}").expect("write");
    assert_bad_input(
        &guided("a", "0..16"),
        &["--corpus", "corpus.json"],
        "a broken index",
    );
    std::fs::write(dir.join("file"), "").expect("write");
    assert_bad_input(
        &guided("file", "0..16"),
        &["--corpus"],
        "a file as the corpus",
    );
    std::fs::write(dir.join("guided.json"), summary.to_string()).expect("write");
    let merge = sim_in(&dir, &["fuzz", "merge", "guided.json", "guided.json"]);
    assert_bad_input(
        &merge,
        &["guided search", "merge-corpus"],
        "a guided summary",
    );
}
