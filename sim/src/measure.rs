//! `sim bugs --measure`: how fast plain generated fuzzing catches each
//! planted bug, measured on the spot. For each bug and each window of seeds
//! (starting at 0, 1000, 2000 ...) the bug is hunted seed by seed until one
//! of its expected checkers fires, or the window's limit is reached.
//!
//! Each hunt also runs its controls (see [`crate::control`]): every seed it
//! tried, again without the bug, must pass; and the catching seed without
//! the bug's trigger, the bug still planted, must pass too.

use ledger::bugs::{Bug, BugClass, Checker};
use serde::Serialize;
use std::{
    io,
    path::{Path, PathBuf},
};

use crate::{
    control::{without_bug, without_trigger},
    fuzz::{Flow, Stop, run_pool, scenario_for},
    run::{RunOptions, Verdict, run},
    shrink::{self, ShrinkLimits, Size, Target},
    tables,
    words::count,
};

/// One hunt: a bug, from one window's first seed.
#[derive(Debug, Clone, Serialize)]
pub struct Hunt {
    #[serde(serialize_with = "bug_name")]
    pub bug: Bug,
    pub window: u64,
    /// Seeds run until the first catch, that one included; `None` when no
    /// seed of the window caught it.
    pub seeds: Option<u64>,
    /// The expected checker that caught it.
    pub checker: Option<Checker>,
    /// Seeds of the hunt that failed without the bug: none, or a checker
    /// fires on a correct system.
    pub failed_without_bug: Vec<u64>,
    /// Whether the catching seed passed without the bug's trigger, the bug
    /// planted; `None` when there was no catch or the bug needs no trigger.
    pub passed_without_trigger: Option<bool>,
}

impl Hunt {
    /// Whether both controls held.
    pub fn controls_hold(&self) -> bool {
        self.failed_without_bug.is_empty() && self.passed_without_trigger != Some(false)
    }
}

fn bug_name<S: serde::Serializer>(bug: &Bug, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(bug.name())
}

/// Hunts `bug` from seed `window` for at most `limit` seeds, then runs
/// its controls.
pub fn hunt(bug: Bug, window: u64, limit: u64) -> Hunt {
    let mut caught = None;
    let mut tried = 0;
    while caught.is_none() && tried < limit {
        tried += 1;
        let outcome = run(
            &scenario_for(window + tried - 1, Some(bug), None),
            &RunOptions::default(),
        );
        caught = bug
            .expected_checkers()
            .iter()
            .copied()
            .find(|checker| outcome.violated(*checker));
    }
    let failed_without_bug = (window..window + tried)
        .filter(|seed| {
            let control = without_bug(&scenario_for(*seed, Some(bug), None));
            run(&control, &RunOptions::default()).verdict != Verdict::Pass
        })
        .collect();
    let passed_without_trigger = caught.and_then(|_| {
        let catch = scenario_for(window + tried - 1, Some(bug), None);
        let control = without_trigger(&catch, bug.trigger())?;
        Some(run(&control, &RunOptions::default()).verdict == Verdict::Pass)
    });
    Hunt {
        bug,
        window,
        seeds: caught.map(|_| tried),
        checker: caught,
        failed_without_bug,
        passed_without_trigger,
    }
}

/// Every hunt of `bugs` over `windows`, on `jobs` threads at once, in
/// catalogue order; `on_hunt` hears of each in that order.
pub fn measure(
    bugs: &[Bug],
    windows: &[u64],
    limit: u64,
    jobs: usize,
    mut on_hunt: impl FnMut(&Hunt),
) -> Vec<Hunt> {
    let todo: Vec<(Bug, u64)> = bugs
        .iter()
        .flat_map(|bug| windows.iter().map(move |window| (*bug, *window)))
        .collect();
    let hunts = run_pool(
        0..todo.len() as u64,
        jobs,
        &Stop::default(),
        |index| {
            let (bug, window) = todo[index as usize];
            hunt(bug, window, limit)
        },
        |_, hunt| {
            on_hunt(hunt);
            Flow::Continue
        },
    );
    hunts.into_iter().map(|(_, hunt)| hunt).collect()
}

/// One bug's first catch, shrunk.
#[derive(Debug, Clone, Serialize)]
pub struct ShrinkReport {
    #[serde(serialize_with = "bug_name")]
    pub bug: Bug,
    pub seed: u64,
    pub checker: Checker,
    pub before: Size,
    pub after: Size,
    pub runs: u32,
    pub file: PathBuf,
    /// Whether `sim run FILE` shows the violation again, read back from
    /// the file written.
    pub reproduces: bool,
}

/// Shrinks each bug's first catch among `hunts` (earliest window first),
/// `jobs` bugs at a time, writes `<out>/<bug>.min.toml` and runs the file
/// written to see it reproduce.
pub fn shrink_catches(
    hunts: &[Hunt],
    out: &Path,
    limits: &ShrinkLimits,
    jobs: usize,
    on_report: impl Fn(&ShrinkReport) + Sync,
) -> io::Result<Vec<ShrinkReport>> {
    let mut catches: Vec<(Bug, u64, Checker)> = Vec::new();
    for hunt in hunts {
        if let (Some(seeds), Some(checker)) = (hunt.seeds, hunt.checker)
            && !catches.iter().any(|(bug, _, _)| *bug == hunt.bug)
        {
            catches.push((hunt.bug, hunt.window + seeds - 1, checker));
        }
    }
    let reports = run_pool(
        0..catches.len() as u64,
        jobs,
        &Stop::default(),
        |index| {
            let (bug, seed, checker) = catches[index as usize];
            let scenario = scenario_for(seed, Some(bug), None);
            let shrunk = shrink::shrink(&scenario, &Target::Violation(checker), limits);
            let file = shrink::write(&out.join(format!("{}.min.toml", bug.name())), &shrunk, None)?;
            let reproduces = crate::load(&file).is_ok_and(|written| {
                let outcome = run(&written, &RunOptions::default());
                outcome.verdict == Verdict::Pass && outcome.violated(checker)
            });
            let report = ShrinkReport {
                bug,
                seed,
                checker,
                before: shrunk.before,
                after: shrunk.after,
                runs: shrunk.runs,
                file,
                reproduces,
            };
            on_report(&report);
            Ok(report)
        },
        |_, _: &mut io::Result<ShrinkReport>| Flow::Continue,
    );
    reports.into_iter().map(|(_, report)| report).collect()
}

/// The shrinking table, one row per bug: sizes before → after.
pub fn shrink_table(reports: &[ShrinkReport]) -> String {
    let mut table = tables::table(
        &[
            "bug",
            "seed",
            "checker",
            "events",
            "requests",
            "nodes",
            "simulated s",
            "runs",
            "reproduces",
        ],
        &["seed", "events", "requests", "nodes", "simulated s", "runs"],
    );
    for report in reports {
        let (before, after) = (&report.before, &report.after);
        table.add_row(vec![
            report.bug.name().to_owned(),
            report.seed.to_string(),
            report.checker.name().to_owned(),
            format!("{} → {}", before.events, after.events),
            format!("{} → {}", before.requests, after.requests),
            format!("{} → {}", before.nodes, after.nodes),
            format!("{:.0} → {:.0}", before.sim_seconds, after.sim_seconds),
            report.runs.to_string(),
            if report.reproduces { "yes" } else { "NO" }.to_owned(),
        ]);
    }
    tables::render(&table)
}

/// The measurements as a table, one row per bug: its class, the checkers
/// that caught it, the seeds each window took (`-` when not caught), and
/// its controls.
pub fn table(hunts: &[Hunt], windows: &[u64], limit: u64) -> String {
    let starts: Vec<String> = windows.iter().map(|window| format!("{window}..")).collect();
    let seeds_header = format!("seeds from {}", starts.join(", "));
    let mut table = tables::table(
        &[
            "bug",
            "class",
            "caught by",
            &seeds_header,
            "without the bug",
            "without the trigger",
        ],
        &[],
    );
    let mut bugs: Vec<Bug> = hunts.iter().map(|hunt| hunt.bug).collect();
    bugs.dedup();
    for bug in bugs {
        let of_bug: Vec<&Hunt> = hunts.iter().filter(|hunt| hunt.bug == bug).collect();
        let mut checkers: Vec<&str> = of_bug
            .iter()
            .filter_map(|hunt| hunt.checker.map(Checker::name))
            .collect();
        checkers.sort_unstable();
        checkers.dedup();
        let seeds: Vec<String> = of_bug
            .iter()
            .map(|hunt| hunt.seeds.map_or("-".to_owned(), |seeds| seeds.to_string()))
            .collect();
        let caught_by = if checkers.is_empty() {
            "NOT CAUGHT".to_owned()
        } else {
            checkers.join(", ")
        };
        let tried: u64 = of_bug.iter().map(|hunt| hunt.seeds.unwrap_or(limit)).sum();
        let failed: Vec<String> = of_bug
            .iter()
            .flat_map(|hunt| &hunt.failed_without_bug)
            .map(u64::to_string)
            .collect();
        let without_bug = if failed.is_empty() {
            format!("pass ({})", count(tried, "seed"))
        } else {
            format!("FAIL (seeds {})", failed.join(", "))
        };
        let verdicts: Vec<bool> = of_bug
            .iter()
            .filter_map(|hunt| hunt.passed_without_trigger)
            .collect();
        let without_trigger = match bug.trigger() {
            ledger::bugs::Trigger::Always => "needs none".to_owned(),
            _ if verdicts.is_empty() => "-".to_owned(),
            trigger if verdicts.iter().all(|passed| *passed) => {
                format!("pass without {}", trigger.name())
            }
            trigger => format!("FAIL without {}", trigger.name()),
        };
        let class = match bug.class() {
            BugClass::Safety => "safety",
            BugClass::Liveness => "liveness",
        };
        table.add_row(vec![
            bug.name().to_owned(),
            class.to_owned(),
            caught_by,
            seeds.join(", "),
            without_bug,
            without_trigger,
        ]);
    }
    tables::render(&table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_names_each_bug_its_checkers_and_seeds() {
        let hunts = [
            Hunt {
                bug: Bug::NoIdempotencyKey,
                window: 0,
                seeds: Some(1),
                checker: Some(Checker::ExactlyOnce),
                failed_without_bug: Vec::new(),
                passed_without_trigger: Some(true),
            },
            Hunt {
                bug: Bug::NoIdempotencyKey,
                window: 1000,
                seeds: Some(3),
                checker: Some(Checker::Conservation),
                failed_without_bug: vec![1002],
                passed_without_trigger: Some(true),
            },
            Hunt {
                bug: Bug::NonceFromDbAfterWipe,
                window: 0,
                seeds: None,
                checker: None,
                failed_without_bug: Vec::new(),
                passed_without_trigger: None,
            },
        ];
        insta::assert_snapshot!(table(&hunts, &[0, 1000], 200));
    }
}
