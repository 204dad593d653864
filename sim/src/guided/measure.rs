//! `sim bugs --measure --guided`: guided search against plain fuzzing on
//! the same budget. Each planted bug is hunted both ways from each window's
//! starting seed; the table puts the runs each took side by side. Apart, the
//! distinct coverage marks each way reaches in its first N runs of a clean
//! system.
//!
//! A guided hunt may start from a corpus (`--corpus`, built beforehand on
//! the correct system, as the nightly run keeps one): each hunt starts from
//! its own copy, so the hunts do not learn from each other.

use ledger::bugs::{Bug, Checker};
use serde::Serialize;
use std::{collections::BTreeSet, path::PathBuf};

use super::{Corpus, search};
use crate::{
    control::{without_bug, without_trigger},
    fuzz::{Flow, FuzzOptions, SeedRange, Shard, Stop, run_pool, scenario_for},
    measure::{self, Hunt},
    run::{RunOptions, Verdict, run},
    tables,
};

/// One guided hunt: a bug, from one window's starting seed.
#[derive(Debug, Clone, Serialize)]
pub struct GuidedHunt {
    #[serde(serialize_with = "bug_name")]
    pub bug: Bug,
    pub window: u64,
    /// Runs until the first catch, that one included; `None` when none
    /// caught it within the limit.
    pub runs: Option<u64>,
    pub checker: Option<Checker>,
    /// Whether the catching scenario passes without the bug.
    pub passed_without_bug: Option<bool>,
    /// Whether it passes without the bug's trigger, the bug planted; `None`
    /// when there was no catch or the bug needs no trigger.
    pub passed_without_trigger: Option<bool>,
}

impl GuidedHunt {
    pub fn controls_hold(&self) -> bool {
        self.passed_without_bug != Some(false) && self.passed_without_trigger != Some(false)
    }
}

fn bug_name<S: serde::Serializer>(bug: &Bug, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(bug.name())
}

/// The options of a guided search of `runs` runs from `start`, on one
/// thread, writing nothing.
fn options(start: u64, runs: u64, bug: Option<Bug>, jobs: usize) -> FuzzOptions {
    FuzzOptions {
        seeds: SeedRange {
            start,
            end: Some(start + runs),
        },
        shard: Shard::ALL,
        budget: None,
        jobs,
        bug,
        kind: None,
        out: PathBuf::new(),
        interrupt: None,
        guided: true,
        corpus: None,
    }
}

/// Hunts `bug` by guided search from seed `window` for at most `limit`
/// runs, from a copy of `corpus`, then runs the catch's controls.
pub fn hunt(bug: Bug, window: u64, limit: u64, corpus: &Corpus) -> GuidedHunt {
    let mut corpus = corpus.clone();
    let found = search(
        &options(window, limit, Some(bug), 1),
        &mut corpus,
        |_, _| Ok(()),
    )
    .expect("a search that writes nothing cannot fail to write");
    let passes = |scenario| run(&scenario, &RunOptions::default()).verdict == Verdict::Pass;
    let catch = found.caught.as_ref();
    GuidedHunt {
        bug,
        window,
        runs: catch.map(|(runs, _)| *runs),
        checker: found
            .results
            .last()
            .and_then(|result| crate::fuzz::catches(bug, result))
            .filter(|_| catch.is_some()),
        passed_without_bug: catch.map(|(_, scenario)| passes(without_bug(scenario))),
        passed_without_trigger: catch
            .and_then(|(_, scenario)| without_trigger(scenario, bug.trigger()))
            .map(passes),
    }
}

/// Every bug hunted both ways in every window, `jobs` hunts at once;
/// `on_hunt` hears of each pair in catalogue order.
pub fn measure(
    bugs: &[Bug],
    windows: &[u64],
    limit: u64,
    jobs: usize,
    corpus: &Corpus,
    mut on_hunt: impl FnMut(&Hunt, &GuidedHunt),
) -> Vec<(Hunt, GuidedHunt)> {
    let todo: Vec<(Bug, u64)> = bugs
        .iter()
        .flat_map(|bug| windows.iter().map(move |window| (*bug, *window)))
        .collect();
    run_pool(
        0..todo.len() as u64,
        jobs,
        &Stop::default(),
        |index| {
            let (bug, window) = todo[index as usize];
            (
                measure::hunt(bug, window, limit),
                hunt(bug, window, limit, corpus),
            )
        },
        |_, (plain, guided)| {
            on_hunt(plain, guided);
            Flow::Continue
        },
    )
    .into_iter()
    .map(|(_, pair)| pair)
    .collect()
}

/// The distinct coverage marks plain fuzzing and guided search each reach
/// in their first `runs` runs of a clean system, from seed 0.
#[derive(Debug, Clone, Serialize)]
pub struct Coverage {
    pub runs: u64,
    pub plain: BTreeSet<String>,
    pub guided: BTreeSet<String>,
}

pub fn coverage(runs: u64, jobs: usize, corpus: &Corpus) -> Coverage {
    let plain = run_pool(
        0..runs,
        jobs,
        &Stop::default(),
        |seed| {
            let outcome = run(&scenario_for(seed, None, None), &RunOptions::default());
            outcome
                .marks
                .keys()
                .map(|mark| (*mark).to_owned())
                .collect::<Vec<String>>()
        },
        |_, _| Flow::Continue,
    )
    .into_iter()
    .flat_map(|(_, marks)| marks)
    .collect();
    let mut corpus = corpus.clone();
    let guided = search(&options(0, runs, None, jobs), &mut corpus, |_, _| Ok(()))
        .expect("a search that writes nothing cannot fail to write")
        .results
        .into_iter()
        .flat_map(|result| result.marks.into_keys())
        .collect();
    Coverage {
        runs,
        plain,
        guided,
    }
}

/// The median of runs to first catch, a miss counted as `limit`.
pub fn median(runs: &[Option<u64>], limit: u64) -> f64 {
    let mut runs: Vec<u64> = runs.iter().map(|runs| runs.unwrap_or(limit)).collect();
    runs.sort_unstable();
    match runs.len() {
        0 => 0.0,
        count if count % 2 == 1 => runs[count / 2] as f64,
        count => (runs[count / 2 - 1] + runs[count / 2]) as f64 / 2.0,
    }
}

/// The side-by-side table, one row per bug.
pub fn table(pairs: &[(Hunt, GuidedHunt)], windows: &[u64], limit: u64) -> String {
    let starts: Vec<String> = windows.iter().map(|window| format!("{window}..")).collect();
    let mut table = tables::table(
        &[
            "bug",
            &format!("plain runs from {}", starts.join(", ")),
            "guided runs",
            "median plain → guided",
            "plain / guided",
            "controls",
        ],
        &["median plain → guided", "plain / guided"],
    );
    let mut bugs: Vec<Bug> = pairs.iter().map(|(plain, _)| plain.bug).collect();
    bugs.dedup();
    let shown = |runs: Option<u64>| runs.map_or("-".to_owned(), |runs| runs.to_string());
    for bug in bugs {
        let of_bug: Vec<&(Hunt, GuidedHunt)> =
            pairs.iter().filter(|(plain, _)| plain.bug == bug).collect();
        let plain: Vec<Option<u64>> = of_bug.iter().map(|(plain, _)| plain.seeds).collect();
        let guided: Vec<Option<u64>> = of_bug.iter().map(|(_, guided)| guided.runs).collect();
        let (plain_median, guided_median) = (median(&plain, limit), median(&guided, limit));
        let controls = of_bug
            .iter()
            .all(|(plain, guided)| plain.controls_hold() && guided.controls_hold());
        table.add_row(vec![
            bug.name().to_owned(),
            plain
                .iter()
                .map(|runs| shown(*runs))
                .collect::<Vec<_>>()
                .join(", "),
            guided
                .iter()
                .map(|runs| shown(*runs))
                .collect::<Vec<_>>()
                .join(", "),
            format!("{plain_median} → {guided_median}"),
            format!("{:.1}×", plain_median / guided_median.max(1.0)),
            if controls { "hold" } else { "FAIL" }.to_owned(),
        ]);
    }
    tables::render(&table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_median_counts_a_miss_as_the_limit() {
        assert_eq!(median(&[Some(3), None, Some(1)], 50), 3.0);
        assert_eq!(median(&[Some(3), Some(8)], 50), 5.5);
        assert_eq!(median(&[None, None], 50), 50.0);
    }
}
