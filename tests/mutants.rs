//! The catalogue of bugs nobody planted (`tests/mutants.toml`): small,
//! realistic mistakes in the system's correct paths, each judged by a fuzz
//! run. The checkers must notice every one marked `caught`.
//!
//! The default test only checks that the catalogue still fits the code:
//! every mutation applies exactly once, so the catalogue cannot rot while
//! the code moves. The ignored one builds and fuzzes every mutant, a few
//! minutes each; run it with
//! `cargo test --release --test mutants -- --ignored --nocapture`
//! (`MUTANT=id,id` runs those).
//!
//! `GENERATED=list.json` runs, in place of the catalogue, a seeded sample
//! of the mutants a mutation tool lists (`cargo mutants --list --diff
//! --json`): each fuzzed on the kinds its part runs in, with a tally of
//! what was caught, what survived and what did not build. Generated
//! mutants are often equivalent to the code they change, so survivors are
//! listed for reading, not failed; a mutant that no longer applies to the
//! code fails the run.

use serde::Deserialize;
use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
    process::Command,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Catalogue {
    mutant: Vec<Mutant>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Mutant {
    id: String,
    file: String,
    old: String,
    new: String,
    kind: String,
    seeds: String,
    expect: Expect,
    why: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Expect {
    Caught,
    /// No run can reach the mistake: the `why` says why.
    Unreachable,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn catalogue() -> Catalogue {
    let path = root().join("tests/mutants.toml");
    let text = fs::read_to_string(&path).expect("tests/mutants.toml is readable");
    toml::from_str(&text).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// The mutated text of `mutant.file`, as found under `tree`.
fn mutated(tree: &Path, mutant: &Mutant) -> Result<String, String> {
    let path = tree.join(&mutant.file);
    let text = fs::read_to_string(&path).map_err(|error| format!("{}: {error}", mutant.file))?;
    match text.matches(&mutant.old).count() {
        1 => Ok(text.replacen(&mutant.old, &mutant.new, 1)),
        found => Err(format!(
            "{}: `old` occurs {found} times in {}, not once",
            mutant.id, mutant.file
        )),
    }
}

#[test]
fn every_mutant_applies_to_the_code_exactly_once() {
    let catalogue = catalogue();
    assert!(catalogue.mutant.len() >= 20, "the catalogue lost entries");
    let mut ids = BTreeSet::new();
    let mut problems = Vec::new();
    for mutant in &catalogue.mutant {
        if !ids.insert(mutant.id.as_str()) {
            problems.push(format!("{}: the id is used twice", mutant.id));
        }
        if mutant.old == mutant.new {
            problems.push(format!("{}: `new` changes nothing", mutant.id));
        }
        if !["transfers", "log", "bank", "chain"].contains(&mutant.kind.as_str()) {
            problems.push(format!("{}: unknown kind {:?}", mutant.id, mutant.kind));
        }
        if seed_count(&mutant.seeds).is_none() {
            problems.push(format!(
                "{}: seeds {:?} is not a range A..B",
                mutant.id, mutant.seeds
            ));
        }
        if mutant.why.trim().is_empty() {
            problems.push(format!("{}: says nothing of why", mutant.id));
        }
        if !mutant.file.starts_with("src/") {
            problems.push(format!(
                "{}: mutates {}, outside the system",
                mutant.id, mutant.file
            ));
        }
        if let Err(problem) = mutated(&root(), mutant) {
            problems.push(problem);
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn seed_count(seeds: &str) -> Option<u64> {
    let (start, end) = seeds.split_once("..")?;
    let (start, end): (u64, u64) = (start.parse().ok()?, end.parse().ok()?);
    end.checked_sub(start).filter(|count| *count > 0)
}

/// What fuzzing one mutant found.
struct Verdict {
    failed: usize,
    runs: usize,
    first: Option<String>,
}

#[test]
#[ignore = "builds and fuzzes every mutant: minutes each"]
fn the_checkers_catch_every_catchable_mutant() {
    if let Ok(list) = std::env::var("GENERATED") {
        return generated::fuzz_a_sample(Path::new(&list));
    }
    let only: Option<Vec<String>> = std::env::var("MUTANT")
        .ok()
        .map(|ids| ids.split(',').map(str::to_owned).collect());
    let catalogue = catalogue();
    let scratch = root().join("target/mutants");
    let tree = scratch.join("tree");
    copy_tracked_tree(&root(), &tree);
    let mut survivors = Vec::new();
    for mutant in catalogue
        .mutant
        .iter()
        .filter(|mutant| only.as_ref().is_none_or(|ids| ids.contains(&mutant.id)))
    {
        // Mutated and restored within the scratch copy, so that edits to
        // the tree under test while this runs cannot mix in.
        let target = tree.join(&mutant.file);
        let pristine = fs::read_to_string(&target).expect("the scratch tree is readable");
        let text = mutated(&tree, mutant).unwrap_or_else(|problem| panic!("{problem}"));
        fs::write(&target, text).expect("the scratch tree is writable");
        assert!(build(&scratch, &tree), "{} does not build", mutant.id);
        let verdict = fuzz(&scratch, &mutant.id, Some(&mutant.kind), &mutant.seeds);
        fs::write(&target, pristine).expect("the scratch tree is writable");
        let first = verdict.first.as_deref().unwrap_or("every seed passed");
        println!(
            "{:<45} {:<11} {}/{} {} seeds failed: {first}",
            mutant.id,
            format!("{:?}", mutant.expect).to_lowercase(),
            verdict.failed,
            verdict.runs,
            mutant.kind,
        );
        match (mutant.expect, verdict.failed) {
            (Expect::Caught, 0) => survivors.push(mutant.id.clone()),
            (Expect::Unreachable, failed) if failed > 0 => {
                println!("  {} was thought unreachable: look again", mutant.id);
            }
            _ => {}
        }
    }
    assert!(
        survivors.is_empty(),
        "mutants the checkers no longer catch: {}",
        survivors.join(", ")
    );
}

/// Copies every file git tracks under `from` to `to`, so the mutants build
/// from the same sources as the tree under test.
fn copy_tracked_tree(from: &Path, to: &Path) {
    let listed = Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(from)
        .output()
        .expect("git runs");
    assert!(listed.status.success(), "git ls-files failed");
    for file in listed.stdout.split(|byte| *byte == 0) {
        if file.is_empty() {
            continue;
        }
        let file = String::from_utf8_lossy(file);
        let destination = to.join(file.as_ref());
        if let Some(parent) = destination.parent() {
            fs::create_dir_all(parent).expect("the scratch tree is writable");
        }
        fs::copy(from.join(file.as_ref()), &destination)
            .unwrap_or_else(|error| panic!("copying {file}: {error}"));
    }
}

/// Builds the `sim` of the (mutated) `tree`; `false` when it does not
/// compile.
fn build(scratch: &Path, tree: &Path) -> bool {
    Command::new(env!("CARGO"))
        .args(["build", "--release", "--quiet", "-p", "sim"])
        .env("CARGO_TARGET_DIR", scratch.join("target"))
        // A mutant is built once and fuzzed for seconds: the release
        // profile's whole-program LTO would cost more than it saves.
        .env("CARGO_PROFILE_RELEASE_LTO", "false")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16")
        .current_dir(tree)
        .status()
        .expect("cargo runs")
        .success()
}

/// Fuzzes the last build, of the mutant `name`, on `seeds` of `kind`
/// (mixed when `None`).
fn fuzz(scratch: &Path, name: &str, kind: Option<&str>, seeds: &str) -> Verdict {
    let out = scratch.join("out");
    let _ = fs::remove_dir_all(&out);
    let mut command = Command::new(scratch.join("target/release/sim"));
    command.args(["fuzz", "--seeds", seeds]);
    if let Some(kind) = kind {
        command.args(["--kind", kind]);
    }
    let fuzzed = command
        .args(["--no-shrink", "--json", "--color", "never", "--out"])
        .arg(&out)
        .output()
        .expect("the mutant's sim runs");
    let summary: serde_json::Value = serde_json::from_slice(&fuzzed.stdout)
        .unwrap_or_else(|error| panic!("{name}: fuzz printed no summary: {error}"));
    let seeds = summary["seeds"].as_array().cloned().unwrap_or_default();
    let failures: Vec<&serde_json::Value> = seeds
        .iter()
        .filter(|seed| seed["verdict"] != "pass")
        .collect();
    Verdict {
        failed: failures.len(),
        runs: seeds.len(),
        first: failures.first().map(|seed| {
            let message = seed["message"].as_str().unwrap_or("failed");
            format!(
                "seed {}: {}",
                seed["seed"],
                message.chars().take(160).collect::<String>()
            )
        }),
    }
}

/// Samples of the mutants a mutation tool generates (`GENERATED`).
mod generated {
    use super::{Path, build, copy_tracked_tree, fs, fuzz, root};
    use serde::Deserialize;

    /// One entry of `cargo mutants --list --diff --json`.
    #[derive(Debug, Deserialize)]
    struct Generated {
        name: String,
        file: String,
        diff: String,
    }

    /// Builds and fuzzes `SAMPLE` (20) mutants of the list at `path`,
    /// drawn by `SAMPLE_SEED` (1), each on `SEEDS` (0..300) of every kind
    /// its file runs in until one fails.
    pub(super) fn fuzz_a_sample(path: &Path) {
        let text =
            fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        let listed: Vec<Generated> = serde_json::from_str(&text).unwrap_or_else(|error| {
            panic!(
                "{}: not a list of `cargo mutants --list --diff --json`: {error}",
                path.display()
            )
        });
        let number = |name: &str, default: u64| {
            std::env::var(name).map_or(default, |value| {
                value
                    .parse()
                    .unwrap_or_else(|_| panic!("{name}={value}: expected a whole number"))
            })
        };
        let count = number("SAMPLE", 20) as usize;
        let seeds = std::env::var("SEEDS").unwrap_or_else(|_| "0..300".to_owned());
        let sample = draw(listed, count, number("SAMPLE_SEED", 1));
        let scratch = root().join("target/mutants");
        let tree = scratch.join("tree");
        copy_tracked_tree(&root(), &tree);
        let (mut caught, mut survived, mut unbuilt) = (0, Vec::new(), 0);
        for mutant in &sample {
            let target = tree.join(&mutant.file);
            let pristine = fs::read_to_string(&target)
                .unwrap_or_else(|error| panic!("{}: {error}", mutant.file));
            let text = apply(&pristine, &mutant.diff)
                .unwrap_or_else(|problem| panic!("{}: {problem}", mutant.name));
            fs::write(&target, text).expect("the scratch tree is writable");
            let outcome = if build(&scratch, &tree) {
                let mut tried = Vec::new();
                let mut failing = None;
                for kind in kinds(&mutant.file) {
                    let verdict = fuzz(&scratch, &mutant.name, kind, &seeds);
                    tried.push(kind.unwrap_or("mixed"));
                    if verdict.failed > 0 {
                        failing = Some((kind.unwrap_or("mixed"), verdict));
                        break;
                    }
                }
                match failing {
                    Some((kind, verdict)) => {
                        caught += 1;
                        format!(
                            "caught   {}/{} {kind} seeds failed: {}",
                            verdict.failed,
                            verdict.runs,
                            verdict.first.unwrap_or_default()
                        )
                    }
                    None => {
                        survived.push(mutant.name.clone());
                        format!("survived every seed of {}", tried.join(", "))
                    }
                }
            } else {
                unbuilt += 1;
                "does not build".to_owned()
            };
            fs::write(&target, pristine).expect("the scratch tree is writable");
            println!("{}\n  {outcome}", mutant.name);
        }
        println!(
            "{} drawn: {caught} caught, {} survived, {unbuilt} do not build",
            sample.len(),
            survived.len()
        );
        for name in &survived {
            println!("  survived: {name}");
        }
    }

    /// The kinds whose runs reach `file`'s part, in the order tried: the
    /// part's own first, then the transfers that run every part.
    fn kinds(file: &str) -> Vec<Option<&'static str>> {
        let part = |prefix: &str| file.starts_with(prefix);
        if part("src/log/") {
            vec![Some("log"), Some("transfers")]
        } else if part("src/db/") {
            vec![Some("bank"), Some("transfers")]
        } else if part("src/chain/") {
            vec![Some("chain"), Some("transfers")]
        } else if part("src/ledger/") {
            vec![Some("transfers")]
        } else {
            vec![None]
        }
    }

    /// `count` of `listed`, drawn without replacement by a seeded shuffle
    /// (xorshift64*), so the same seed draws the same sample.
    fn draw(mut listed: Vec<Generated>, count: usize, seed: u64) -> Vec<Generated> {
        let mut state = seed.max(1);
        let mut next = || {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_f491_4f6c_dd1d)
        };
        for at in (1..listed.len()).rev() {
            let other = (next() % (at as u64 + 1)) as usize;
            listed.swap(at, other);
        }
        listed.truncate(count);
        listed
    }

    /// `text` with every hunk of the unified `diff` applied. A hunk's old
    /// lines must occur at the line its header names, or else exactly once
    /// (twin functions' bodies can be the same lines).
    pub(super) fn apply(text: &str, diff: &str) -> Result<String, String> {
        let mut result = text.to_owned();
        for hunk in diff.split("\n@@").skip(1) {
            let header = hunk.lines().next().unwrap_or_default();
            // " -L,l +M,m @@": M is where the hunk starts once the hunks
            // before it are applied.
            let at_line: Option<usize> = header
                .split_whitespace()
                .find_map(|part| part.strip_prefix('+'))
                .and_then(|start| start.split(',').next()?.parse().ok());
            let (mut old, mut new) = (String::new(), String::new());
            for line in hunk.lines().skip(1) {
                match line.split_at_checked(1) {
                    Some((" ", rest)) => {
                        old.extend([rest, "\n"]);
                        new.extend([rest, "\n"]);
                    }
                    Some(("-", rest)) => old.extend([rest, "\n"]),
                    Some(("+", rest)) => new.extend([rest, "\n"]),
                    // An empty context line, or "\ No newline at end of file".
                    None => {
                        old.push('\n');
                        new.push('\n');
                    }
                    Some(_) => {}
                }
            }
            let found: Vec<usize> = result.match_indices(&old).map(|(at, _)| at).collect();
            let line_of = |at: usize| result[..at].matches('\n').count() + 1;
            let at = match found[..] {
                [at] => at,
                _ => *found
                    .iter()
                    .find(|at| Some(line_of(**at)) == at_line)
                    .ok_or_else(|| {
                        format!(
                            "a hunk occurs {} times, none at line {at_line:?}",
                            found.len()
                        )
                    })?,
            };
            result.replace_range(at..at + old.len(), &new);
        }
        if result == text {
            return Err("the diff changes nothing".to_owned());
        }
        Ok(result)
    }
}

#[test]
fn a_generated_diff_applies_hunk_by_hunk() {
    let text = "fn a() -> u64 {\n    1 + 2\n}\n\nfn b() {}\n";
    let diff = "--- src/x.rs\n+++ replace + with -\n@@ -1,3 +1,3 @@\n fn a() -> u64 {\n-    1 + 2\n+    1 - 2\n }\n";
    assert_eq!(
        generated::apply(text, diff).unwrap(),
        "fn a() -> u64 {\n    1 - 2\n}\n\nfn b() {}\n"
    );
    // Of two identical bodies, the one at the line the header names.
    let twice = "fn a() -> u64 {\n    1 + 2\n}\nfn a() -> u64 {\n    1 + 2\n}\n";
    let second = diff.replace("@@ -1,3 +1,3 @@", "@@ -4,3 +4,3 @@");
    assert_eq!(
        generated::apply(twice, &second).unwrap(),
        "fn a() -> u64 {\n    1 + 2\n}\nfn a() -> u64 {\n    1 - 2\n}\n"
    );
    let elsewhere = diff.replace("@@ -1,3 +1,3 @@", "@@ -9,3 +9,3 @@");
    assert!(generated::apply(twice, &elsewhere).is_err());
    assert!(
        generated::apply(
            text,
            "--- src/x.rs\n+++ nothing\n@@ -1,1 +1,1 @@\n fn b() {}\n"
        )
        .is_err()
    );
}
