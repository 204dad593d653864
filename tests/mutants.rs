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
        let verdict = build_and_fuzz(&scratch, &tree, mutant);
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

fn build_and_fuzz(scratch: &Path, tree: &Path, mutant: &Mutant) -> Verdict {
    let target_dir = scratch.join("target");
    let built = Command::new(env!("CARGO"))
        .args(["build", "--release", "--quiet", "-p", "sim"])
        .env("CARGO_TARGET_DIR", &target_dir)
        .current_dir(tree)
        .status()
        .expect("cargo runs");
    assert!(built.success(), "{} does not build", mutant.id);
    let out = scratch.join("out");
    let _ = fs::remove_dir_all(&out);
    let fuzzed = Command::new(target_dir.join("release/sim"))
        .args(["fuzz", "--kind", &mutant.kind, "--seeds", &mutant.seeds])
        .args(["--no-shrink", "--json", "--color", "never", "--out"])
        .arg(&out)
        .output()
        .expect("the mutant's sim runs");
    let summary: serde_json::Value = serde_json::from_slice(&fuzzed.stdout)
        .unwrap_or_else(|error| panic!("{}: fuzz printed no summary: {error}", mutant.id));
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
