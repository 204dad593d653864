//! Shrinking: from a failing scenario to a small one that fails the same
//! way. A greedy delta-debugging loop over the scenario's parts (events,
//! duration, workload, cluster, fault rates): each candidate keeps the seed
//! and is kept only when the same checker still reports a violation (or the
//! simulation still crashes). Bounded by runs and by wall time.

mod candidates;

use ledger::bugs::Checker;
use serde::Serialize;
use std::{
    io,
    path::{Path, PathBuf},
    sync::{Arc, atomic::AtomicBool},
    time::{Duration, Instant},
};

use crate::{
    files,
    pool::{Flow, Stop, run_pool},
    reproduce,
    run::{RunOptions, RunOutcome, Verdict, run},
    scenario::{Expect, Scenario},
    words::count,
};
use candidates::{PASSES, valid};

/// What must still happen for a candidate to be kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// This checker reports a violation.
    Violation(Checker),
    /// The simulation itself crashes (a panic).
    Crash,
}

impl Target {
    /// What a scenario's run shows that shrinking must keep: the violation
    /// it expects, or else its first failure. `None` when it shows nothing.
    pub fn of_run(scenario: &Scenario, outcome: &RunOutcome) -> Option<Target> {
        if let Some(expect) = &scenario.expect {
            return outcome
                .violated(expect.violation)
                .then_some(Target::Violation(expect.violation));
        }
        match (outcome.verdict, outcome.failed_checker()) {
            (Verdict::SimulationCrash, _) => Some(Target::Crash),
            (_, Some(checker)) => Some(Target::Violation(checker)),
            _ => None,
        }
    }

    pub fn holds(&self, outcome: &RunOutcome) -> bool {
        match self {
            Target::Violation(checker) => outcome.violated(*checker),
            Target::Crash => outcome.verdict == Verdict::SimulationCrash,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Target::Violation(checker) => format!("a violation of {checker}"),
            Target::Crash => "a crash of the simulation".to_owned(),
        }
    }
}

/// How far shrinking may go.
#[derive(Debug, Clone)]
pub struct ShrinkLimits {
    /// Simulations run at most, the original's included.
    pub runs: u32,
    /// Wall time at most.
    pub time: Duration,
    /// Candidates run at once.
    pub jobs: usize,
    /// Raised to stop at the next candidate (Ctrl-C during `sim fuzz`):
    /// the smallest failing scenario found so far is the result.
    pub interrupt: Option<Arc<AtomicBool>>,
}

impl Default for ShrinkLimits {
    fn default() -> ShrinkLimits {
        ShrinkLimits {
            runs: 300,
            time: Duration::from_secs(120),
            jobs: 1,
            interrupt: None,
        }
    }
}

/// How big a scenario is.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Size {
    pub events: usize,
    pub requests: u32,
    pub nodes: usize,
    /// Simulated seconds its run took, settle phase included.
    pub sim_seconds: f64,
}

impl Size {
    fn of(scenario: &Scenario, outcome: &RunOutcome) -> Size {
        Size {
            events: scenario.events.len(),
            requests: scenario.workload.requests,
            nodes: crate::kinds::topology(scenario).all().count(),
            sim_seconds: outcome.sim_time.as_secs_f64(),
        }
    }
}

impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}, {}, {}, {:.1} simulated s",
            count(self.events as u64, "event"),
            count(self.requests, "request"),
            count(self.nodes as u64, "node"),
            self.sim_seconds
        )
    }
}

/// The result of shrinking.
#[derive(Debug, Clone)]
pub struct Shrunk {
    /// The smallest failing scenario found, its `[expect]` naming the
    /// violation (none for a crash).
    pub scenario: Scenario,
    pub target: Target,
    /// What its run reported first.
    pub failure: String,
    pub before: Size,
    pub after: Size,
    pub runs: u32,
    pub wall_seconds: f64,
    /// Whether the original failed the way `target` says; when it did not,
    /// nothing was shrunk.
    pub failed: bool,
}

/// Shrinks `scenario`, which must show `target`.
pub fn shrink(scenario: &Scenario, target: &Target, limits: &ShrinkLimits) -> Shrunk {
    // Wall time bounds the shrink; it is read between simulations, never
    // inside one.
    #[allow(clippy::disallowed_methods)]
    let started = Instant::now();
    let mut current = Scenario {
        expect: None,
        ..scenario.clone()
    };
    let first = run(&current, &RunOptions::default());
    let before = Size::of(&current, &first);
    let failed = target.holds(&first);
    let mut runs = 1;
    let mut last = first;
    let stop = Stop {
        deadline: None,
        flag: limits.interrupt.clone(),
    };
    let out_of_budget =
        |runs: u32| runs >= limits.runs || started.elapsed() >= limits.time || stop.raised();
    let mut improved = failed;
    while improved && !out_of_budget(runs) {
        improved = false;
        for (pass, make) in PASSES {
            while !out_of_budget(runs) {
                let candidates = valid(&current, make(&current));
                let Some((candidate, outcome)) =
                    first_failing(candidates, target, limits, &mut runs, &out_of_budget)
                else {
                    break;
                };
                tracing::debug!(pass, size = %Size::of(&candidate, &outcome), "shrunk");
                (current, last, improved) = (candidate, outcome, true);
            }
        }
    }
    let after = Size::of(&current, &last);
    let failure = last.first_failure().unwrap_or_else(|| target.describe());
    if let Target::Violation(checker) = target {
        current.expect = Some(Expect {
            violation: *checker,
        });
    }
    Shrunk {
        scenario: current,
        target: target.clone(),
        failure,
        before,
        after,
        runs,
        wall_seconds: started.elapsed().as_secs_f64(),
        failed,
    }
}

/// The first candidate, in order, that still shows `target`: candidates run
/// `jobs` at a time, and a batch's earliest success wins, so the choice is
/// the one a single job would make.
fn first_failing(
    candidates: Vec<Scenario>,
    target: &Target,
    limits: &ShrinkLimits,
    runs: &mut u32,
    out_of_budget: &dyn Fn(u32) -> bool,
) -> Option<(Scenario, RunOutcome)> {
    let mut candidates = candidates.into_iter().peekable();
    while candidates.peek().is_some() && !out_of_budget(*runs) {
        let room = (limits.runs - *runs) as usize;
        let batch: Vec<Scenario> = candidates
            .by_ref()
            .take(limits.jobs.max(1).min(room))
            .collect();
        *runs += batch.len() as u32;
        let outcomes = run_pool(
            0..batch.len() as u64,
            limits.jobs,
            &Stop::default(),
            |index| run(&batch[index as usize], &RunOptions::default()),
            |_, _| Flow::Continue,
        );
        if let Some((candidate, (_, outcome))) = batch
            .into_iter()
            .zip(outcomes)
            .find(|(_, (_, outcome))| target.holds(outcome))
        {
            return Some((candidate, outcome));
        }
    }
    None
}

/// Writes a shrunk scenario to `path`, or to a numbered name beside it when
/// another scenario is there (`files::write_new`); returns the path
/// written. `original` names the full file.
pub fn write(path: &Path, shrunk: &Shrunk, original: Option<&Path>) -> io::Result<PathBuf> {
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    files::write_new(path, |path| file_text(path, shrunk, original))
}

/// The file of a shrunk scenario at `path`: a header saying what failed,
/// how big it was and is, and how to reproduce it (from the file's own
/// folder), then the scenario.
pub fn file_text(path: &Path, shrunk: &Shrunk, original: Option<&Path>) -> String {
    let from = original.map_or(String::new(), |file| {
        format!(" ({})", reproduce::beside(path, file))
    });
    let mut header = format!(
        "# {}\n# original: seed {}, {}{from}\n# shrunk:   seed {}, {}; {} in {:.1}s\n{}",
        shrunk.failure.replace('\n', " "),
        shrunk.scenario.seed,
        shrunk.before,
        shrunk.scenario.seed,
        shrunk.after,
        count(shrunk.runs, "run"),
        shrunk.wall_seconds,
        reproduce::header_line(path)
    );
    match &shrunk.target {
        Target::Violation(checker) => {
            header += &format!(
                "# [expect] makes the run pass while {checker} shows its violation; once the\n# bug is fixed, delete [expect] so that every checker must hold.\n"
            );
        }
        Target::Crash => header += "# The run crashes the simulation (exit 4).\n",
    }
    let mut scenario = shrunk.scenario.clone();
    scenario.name = format!(
        "shrunk seed {}: {}",
        scenario.seed,
        shrunk.target.describe()
    );
    header + &scenario.to_toml()
}
