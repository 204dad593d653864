//! Many seeds, one after another: each seed's generated scenario runs on its
//! own fresh thread; every failure is written to `<out>/seed-N.toml` with the
//! line that reproduces it.

use ledger::bugs::Bug;
use serde::Serialize;
use std::{
    io,
    ops::Range,
    path::{Path, PathBuf},
};

use crate::{
    run::{RunOptions, RunOutcome, Verdict, run},
    scenario::{Scenario, WorkloadKind, generate, generate_kind},
};

/// What to fuzz.
#[derive(Debug, Clone)]
pub struct FuzzOptions {
    pub seeds: Range<u64>,
    /// Hunt this planted bug: enable it in every scenario and stop at the
    /// first seed where one of its expected checkers fires.
    pub bug: Option<Bug>,
    /// Generate only scenarios of this workload kind.
    pub kind: Option<WorkloadKind>,
    /// Where failing scenarios are written.
    pub out: PathBuf,
}

/// The result of one seed.
#[derive(Debug, Clone, Serialize)]
pub struct SeedResult {
    pub seed: u64,
    pub verdict: Verdict,
    pub checker: Option<&'static str>,
    pub trace_hash: String,
    pub events: u64,
    #[serde(rename = "sim_time_us")]
    pub sim_time_us: u64,
    pub message: Option<String>,
    /// The scenario file written for a failure.
    pub file: Option<PathBuf>,
}

/// The result of a fuzz run.
#[derive(Debug, Clone, Serialize)]
pub struct FuzzSummary {
    pub seeds: Vec<SeedResult>,
    pub bug: Option<String>,
    /// With a bug: the first seed that caught it with an expected checker.
    pub caught_at: Option<u64>,
}

impl FuzzSummary {
    /// The process exit code: with a bug, 0 when it was caught and 1 when
    /// not; otherwise the most severe verdict's code.
    pub fn exit_code(&self) -> i32 {
        if self.bug.is_some() {
            return if self.caught_at.is_some() { 0 } else { 1 };
        }
        self.seeds
            .iter()
            .map(|seed| seed.verdict)
            .max_by_key(|verdict| verdict.severity())
            .map_or(0, Verdict::exit_code)
    }

    pub fn failures(&self) -> impl Iterator<Item = &SeedResult> {
        self.seeds
            .iter()
            .filter(|seed| seed.verdict != Verdict::Pass)
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

/// Runs the seeds in order, calling `on_seed` after each.
pub fn fuzz(
    options: &FuzzOptions,
    mut on_seed: impl FnMut(&SeedResult),
) -> io::Result<FuzzSummary> {
    let mut summary = FuzzSummary {
        seeds: Vec::new(),
        bug: options.bug.map(|bug| bug.name().to_owned()),
        caught_at: None,
    };
    for seed in options.seeds.clone() {
        let scenario = scenario_for(seed, options.bug, options.kind);
        let outcome = run(&scenario, &RunOptions::default());
        let file = match outcome.verdict {
            Verdict::Pass => None,
            _ => Some(write_failure(&options.out, &scenario, &outcome)?),
        };
        let result = SeedResult {
            seed,
            verdict: outcome.verdict,
            checker: outcome.failed_checker(),
            trace_hash: outcome.trace_hash.clone(),
            events: outcome.events,
            sim_time_us: outcome.sim_time.as_micros() as u64,
            message: outcome.first_failure(),
            file,
        };
        on_seed(&result);
        summary.seeds.push(result);
        if let Some(bug) = options.bug
            && bug
                .expected_checkers()
                .iter()
                .any(|checker| outcome.violated(checker))
        {
            summary.caught_at = Some(seed);
            break;
        }
    }
    Ok(summary)
}

/// Writes a failing scenario as a file that reproduces it, with a header
/// saying what failed; returns its path.
pub fn write_failure(out: &Path, scenario: &Scenario, outcome: &RunOutcome) -> io::Result<PathBuf> {
    std::fs::create_dir_all(out)?;
    let path = out.join(format!("seed-{}.toml", scenario.seed));
    let what = outcome
        .first_failure()
        .unwrap_or_else(|| "failed".to_owned());
    let header = format!(
        "# {}\n# reproduce: sim run {}\n",
        what.replace('\n', " "),
        path.display()
    );
    std::fs::write(&path, header + &scenario.to_toml())?;
    Ok(path)
}
