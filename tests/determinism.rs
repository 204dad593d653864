//! Same seed and same code give the same trace hash: run alone, run in the
//! fuzz loop, run twice. Different seeds give different hashes.

use sim::{
    fuzz::{FuzzOptions, SeedRange, Shard, fuzz, scenario_for},
    run::{RunOptions, run},
};
use std::collections::BTreeSet;

const SEEDS: std::ops::Range<u64> = 0..60;

#[test]
fn the_fuzz_loop_and_single_runs_agree_on_every_seed() {
    // Under Cargo's target folder: nothing should fail, but a failure's
    // files must not pile up in the system's temporary folder.
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("determinism");
    let _ = std::fs::remove_dir_all(&out);
    let options = FuzzOptions {
        seeds: SeedRange {
            start: SEEDS.start,
            end: Some(SEEDS.end),
        },
        shard: Shard::ALL,
        budget: None,
        jobs: 2,
        bug: None,
        kind: None,
        out: out.clone(),
        interrupt: None,
        guided: false,
        corpus: None,
    };
    let summary = fuzz(&options, |_| {}).expect("fuzzing runs");
    assert_eq!(summary.seeds.len(), SEEDS.count());
    for result in &summary.seeds {
        let alone = run(
            &scenario_for(result.seed, None, None),
            &RunOptions::default(),
        );
        assert_eq!(alone.trace_hash, result.trace_hash, "seed {}", result.seed);
        assert_eq!(alone.events, result.events, "seed {}", result.seed);
    }
    let hashes: BTreeSet<&str> = summary
        .seeds
        .iter()
        .map(|seed| seed.trace_hash.as_str())
        .collect();
    assert_eq!(
        hashes.len(),
        summary.seeds.len(),
        "two seeds share a trace hash"
    );
    assert_eq!(
        summary.failures().count(),
        0,
        "generated scenarios fail: see {}",
        out.display()
    );
}

#[test]
fn a_scenario_file_replays_identically_with_a_planted_bug() {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios/raft-commit-old-term.toml");
    let scenario = sim::load(&file).expect("valid scenario");
    let (first, second) = (
        run(&scenario, &RunOptions::default()),
        run(&scenario, &RunOptions::default()),
    );
    assert_eq!(first.trace_hash, second.trace_hash);
    assert_eq!(first.checks, second.checks);
}

#[test]
fn the_trace_written_as_jsonl_is_the_trace_hashed() {
    let scenario = scenario_for(3, None, None);
    let outcome = run(
        &scenario,
        &RunOptions {
            keep_trace: true,
            ..RunOptions::default()
        },
    );
    let lines = outcome.trace_lines.expect("lines were kept");
    let mut marks = 0;
    for line in &lines {
        let value: serde_json::Value = serde_json::from_str(line).expect("each line is JSON");
        assert!(
            value["t_us"].is_u64() && value["node"].is_string() && value["event"].is_string(),
            "{line}"
        );
        marks += u64::from(value["event"] == "mark");
    }
    // Coverage marks are traced but not hashed.
    assert_eq!(lines.len() as u64, outcome.events + marks);
    assert_eq!(marks, outcome.marks.values().sum::<u64>());
    let plain = run(&scenario, &RunOptions::default());
    assert_eq!(
        plain.trace_hash, outcome.trace_hash,
        "keeping the trace changes nothing"
    );
}
