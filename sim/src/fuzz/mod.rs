//! Many seeds at once: each seed's generated scenario runs on its own fresh
//! thread, `jobs` at a time; every failure is written to `<out>/seed-N.toml`
//! with the line that reproduces it, and can then be shrunk.

mod plan;
mod summary;

pub use crate::pool::Stop;
pub(crate) use crate::pool::{Flow, run_pool};
pub use plan::{SeedRange, Shard, count, seeds};
pub use summary::{FuzzConfig, FuzzSummary, GuidedStats, MergeError, SeedResult, Tally};

use ledger::bugs::{Bug, Checker};
use std::{
    io,
    path::{Path, PathBuf},
    sync::{Arc, atomic::AtomicBool},
    time::{Duration, Instant},
};

use crate::{
    files,
    generate::{GENERATOR, generate, generate_kind},
    reproduce,
    run::{RunOptions, RunOutcome, Verdict, run},
    scenario::{Scenario, WorkloadKind},
    shrink::{self, ShrinkLimits, Shrunk, Target},
};

/// What to fuzz.
#[derive(Debug, Clone)]
pub struct FuzzOptions {
    pub seeds: SeedRange,
    pub shard: Shard,
    /// Hand out no new seed after this much wall time.
    pub budget: Option<Duration>,
    /// Simulations run at once.
    pub jobs: usize,
    /// Hunt this planted bug: enable it in every scenario and stop at the
    /// first seed where one of its expected checkers fires.
    pub bug: Option<Bug>,
    /// Generate only scenarios of this workload kind.
    pub kind: Option<WorkloadKind>,
    /// Where failing scenarios are written.
    pub out: PathBuf,
    /// Raised to end the run early (Ctrl-C): no seed is started after it,
    /// and no failure is shrunk.
    pub interrupt: Option<Arc<AtomicBool>>,
    /// Guided search (see `guided`) instead of one generated scenario per
    /// seed: the seed range's start seeds the search, its length is the
    /// number of runs.
    pub guided: bool,
    /// Where guided search keeps its corpus, read first when it is there.
    pub corpus: Option<PathBuf>,
}

impl FuzzOptions {
    /// The options as a summary records them.
    pub fn config(&self) -> FuzzConfig {
        FuzzConfig {
            generator: GENERATOR.to_owned(),
            seeds: self.seeds.to_string(),
            shard: (self.shard != Shard::ALL).then(|| self.shard.to_string()),
            budget: self
                .budget
                .map(|budget| crate::scenario::Dur(budget).to_string()),
            jobs: self.jobs,
            bug: self.bug.map(|bug| bug.name().to_owned()),
            kind: self.kind.map(|kind| kind.name().to_owned()),
            guided: self.guided,
        }
    }
}

/// The scenario fuzzing runs for `seed`: hunting a bug, one of the workload
/// kind that exercises it, with the bug enabled; otherwise of `kind`, or of
/// any kind.
pub fn scenario_for(seed: u64, bug: Option<Bug>, kind: Option<WorkloadKind>) -> Scenario {
    let Some(bug) = bug else {
        return match kind {
            Some(kind) => generate_kind(seed, kind),
            None => generate(seed),
        };
    };
    let kind = WorkloadKind::from_name(bug.workload()).expect("bugs name a workload kind");
    let mut scenario = generate_kind(seed, kind);
    scenario.system.bugs.push(bug.name().to_owned());
    scenario
}

/// Runs the planned seeds on `jobs` threads, calling `on_seed` (on this
/// thread) as each ends. Hunting a bug, seeds after the first catch are
/// not kept, so the summary is the same for any number of jobs.
pub fn fuzz(
    options: &FuzzOptions,
    mut on_seed: impl FnMut(&SeedResult),
) -> io::Result<FuzzSummary> {
    // Wall time bounds the run and is reported; it never enters one.
    #[allow(clippy::disallowed_methods)]
    let started = Instant::now();
    let stop = Stop {
        deadline: options.budget.map(|budget| started + budget),
        flag: options.interrupt.clone(),
    };
    let results = run_pool(
        seeds(options.seeds, options.shard),
        options.jobs,
        &stop,
        |seed| one_seed(seed, options),
        |seed, result| {
            // Failures are written here, in seed order, so a bug hunt
            // writes none past its catch.
            if let Ok(found) = result
                && found.verdict != Verdict::Pass
            {
                let scenario = scenario_for(seed, options.bug, options.kind);
                let what = found.message.as_deref().unwrap_or("failed");
                let hung = found.hung;
                let written = write_failure(&options.out, &scenario, what).and_then(|file| {
                    if !hung {
                        write_timeline(&file, &scenario)?;
                    }
                    Ok(file)
                });
                match written {
                    Ok(file) => found.file = Some(file),
                    Err(error) => *result = Err(error),
                }
            }
            let Ok(result) = result else {
                return Flow::StopAfter(seed);
            };
            on_seed(result);
            if result.hung {
                // Its thread spins on: every seed after it would share a
                // core with it, and with each one hung after it.
                return Flow::StopAfter(seed);
            }
            match options.bug {
                Some(bug) if catches(bug, result).is_some() => Flow::StopAfter(seed),
                _ => Flow::Continue,
            }
        },
    );
    let seeds = results
        .into_iter()
        .map(|(_, result)| result)
        .collect::<io::Result<Vec<SeedResult>>>()?;
    let caught_at = options.bug.and_then(|bug| {
        seeds
            .iter()
            .find(|seed| catches(bug, seed).is_some())
            .map(|seed| seed.seed)
    });
    let mut summary = FuzzSummary::new(
        options.config(),
        started.elapsed().as_secs_f64(),
        caught_at,
        seeds,
    );
    summary.interrupted = stop.raised();
    Ok(summary)
}

/// The expected checker of `bug` that `result` violated, if any.
pub fn catches(bug: Bug, result: &SeedResult) -> Option<Checker> {
    bug.expected_checkers()
        .iter()
        .copied()
        .find(|checker| result.violated.contains(checker))
}

fn one_seed(seed: u64, options: &FuzzOptions) -> io::Result<SeedResult> {
    let scenario = scenario_for(seed, options.bug, options.kind);
    tracing::info!(seed, "scenario:\n{}", scenario.to_toml());
    // Wall time on the worker thread; the simulation runs on a thread of
    // its own inside `run`, so this never reads a simulated clock.
    #[allow(clippy::disallowed_methods)]
    let started = Instant::now();
    let outcome = run(&scenario, &RunOptions::default());
    let wall_ms = started.elapsed().as_millis() as u64;
    Ok(seed_result(&outcome, wall_ms, None))
}

/// What a fuzz summary keeps of a run.
pub fn seed_result(outcome: &RunOutcome, wall_ms: u64, file: Option<PathBuf>) -> SeedResult {
    let names = |counts: &std::collections::BTreeMap<&'static str, u64>| {
        counts
            .iter()
            .map(|(name, count)| ((*name).to_owned(), *count))
            .collect()
    };
    SeedResult {
        seed: outcome.seed,
        verdict: outcome.verdict,
        checker: outcome.failed_checker(),
        violated: outcome
            .checks
            .iter()
            .filter(|check| !check.passed())
            .map(|check| check.checker)
            .collect(),
        trace_hash: outcome.trace_hash.clone(),
        events: outcome.events,
        sim_time_us: outcome.sim_time.as_micros() as u64,
        wall_ms,
        message: outcome.first_failure(),
        file,
        shrunk: None,
        hung: outcome.hung,
        faults: names(&outcome.faults),
        marks: names(&outcome.marks),
        crash_points: names(&outcome.crash_points),
    }
}

/// The failures worth shrinking, by their place in the summary: hunting a
/// bug, the run that caught it; otherwise the first failure of each checker
/// and exit kind, at most `most` of them.
pub fn to_shrink(summary: &FuzzSummary, bug: Option<Bug>, most: usize) -> Vec<(usize, Target)> {
    let runs = summary.seeds.iter().enumerate();
    if let Some(bug) = bug {
        return runs
            .filter_map(|(index, seed)| Some((index, Target::Violation(catches(bug, seed)?))))
            .take(1)
            .collect();
    }
    let mut picked: Vec<(usize, Target)> = Vec::new();
    for (index, failure) in runs.filter(|(_, seed)| seed.verdict != Verdict::Pass) {
        let Some(target) = target_of(failure) else {
            continue;
        };
        if picked.len() < most && !picked.iter().any(|(_, seen)| *seen == target) {
            picked.push((index, target));
        }
    }
    picked
}

/// Shrinks the chosen failures of a fuzz run and writes each next to its
/// full file as `seed-N.min.toml`; `on_shrunk` hears of each. An interrupt
/// ends the shrink under way at its next candidate (its smallest failing
/// scenario so far is written) and starts no other.
pub fn shrink_failures(
    summary: &mut FuzzSummary,
    options: &FuzzOptions,
    limits: &ShrinkLimits,
    most: usize,
    mut on_shrunk: impl FnMut(u64, &Shrunk, &Path),
) -> io::Result<()> {
    let limits = ShrinkLimits {
        interrupt: options.interrupt.clone(),
        ..limits.clone()
    };
    let interrupted = || {
        Stop {
            deadline: None,
            flag: options.interrupt.clone(),
        }
        .raised()
    };
    for (index, target) in to_shrink(summary, options.bug, most) {
        if interrupted() {
            summary.interrupted = true;
            break;
        }
        let result = &mut summary.seeds[index];
        let seed = result.seed;
        // The file written is the scenario that failed: generated from its
        // seed, or found by guided search.
        let scenario = match &result.file {
            Some(file) => crate::load(file)
                .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error.to_string()))?,
            None => scenario_for(seed, options.bug, options.kind),
        };
        let original = result.file.clone();
        let shrunk = shrink::shrink(&scenario, &target, &limits);
        // Named after the full file as written, so `seed-N-2.toml` is
        // shrunk to `seed-N-2.min.toml`.
        let path = original.as_ref().map_or_else(
            || options.out.join(format!("seed-{seed}.min.toml")),
            |file| file.with_extension("min.toml"),
        );
        let path = shrink::write(&path, &shrunk, original.as_deref())?;
        write_timeline(&path, &shrunk.scenario)?;
        result.shrunk = Some(path.clone());
        on_shrunk(seed, &shrunk, &path);
    }
    summary.interrupted |= interrupted();
    Ok(())
}

/// Writes a failing scenario as a file that reproduces it, with a header
/// saying what failed: `<out>/seed-N.toml`, or a numbered name beside it
/// when another scenario is there (`files::write_new`). Returns the path
/// written.
pub fn write_failure(out: &Path, scenario: &Scenario, what: &str) -> io::Result<PathBuf> {
    std::fs::create_dir_all(out)?;
    let what = what.replace('\n', " ");
    let body = scenario.to_toml();
    files::write_new(&out.join(format!("seed-{}.toml", scenario.seed)), |path| {
        format!("# {what}\n{}{body}", reproduce::header_line(path))
    })
}

/// Runs `scenario` again, recording its timeline, and writes the picture
/// beside its scenario file `file` (`seed-3.min.toml` → `seed-3.min.html`).
/// A run is deterministic, so this is the run the file reproduces.
pub fn write_timeline(file: &Path, scenario: &Scenario) -> io::Result<PathBuf> {
    let outcome = run(
        scenario,
        &RunOptions {
            timeline: true,
            ..RunOptions::default()
        },
    );
    let timeline = outcome.timeline.expect("a recorded timeline");
    let path = file.with_extension("html");
    std::fs::write(&path, crate::timeline::render(&timeline))?;
    Ok(path)
}

/// What a failed seed's shrink must keep showing.
fn target_of(result: &SeedResult) -> Option<Target> {
    if result.hung {
        return None;
    }
    match (result.verdict, result.checker) {
        (Verdict::SimulationCrash, _) => Some(Target::Crash),
        (_, Some(checker)) => Some(Target::Violation(checker)),
        _ => None,
    }
}
