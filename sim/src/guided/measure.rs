//! `sim bugs --measure --guided`: guided search against plain fuzzing on
//! the same budget. Each planted bug is hunted both ways from each window's
//! starting seed; the table puts the runs each took side by side. Apart, the
//! distinct coverage marks each way reaches in its first N runs of a clean
//! system.
//!
//! A guided hunt may start from a corpus (`--corpus`, built beforehand on
//! the correct system, as the nightly run keeps one): each hunt starts from
//! its own copy, so the hunts do not learn from each other. How fast guided
//! search is depends on its corpus more than on anything else, so several
//! corpora may be given: each guided hunt runs from each, and a bug's figure
//! is the median over the corpora of each one's median over the windows.

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

/// A bug's plain hunt from one window, and its guided hunts from the same
/// window, one from each corpus.
pub type Hunts = (Hunt, Vec<GuidedHunt>);

/// Every bug hunted both ways in every window, guided from each of
/// `corpora`, `jobs` windows at once; `on_hunt` hears of each window's
/// hunts in catalogue order.
pub fn measure(
    bugs: &[Bug],
    windows: &[u64],
    limit: u64,
    jobs: usize,
    corpora: &[Corpus],
    mut on_hunt: impl FnMut(&Hunt, &[GuidedHunt]),
) -> Vec<Hunts> {
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
                corpora
                    .iter()
                    .map(|corpus| hunt(bug, window, limit, corpus))
                    .collect::<Vec<GuidedHunt>>(),
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
/// in their first `runs` runs of a clean system, from seed 0: guided search
/// once from each corpus.
#[derive(Debug, Clone, Serialize)]
pub struct Coverage {
    pub runs: u64,
    pub plain: BTreeSet<String>,
    pub guided: Vec<BTreeSet<String>>,
}

pub fn coverage(runs: u64, jobs: usize, corpora: &[Corpus]) -> Coverage {
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
    let guided = corpora
        .iter()
        .map(|corpus| {
            let mut corpus = corpus.clone();
            search(&options(0, runs, None, jobs), &mut corpus, |_, _| Ok(()))
                .expect("a search that writes nothing cannot fail to write")
                .results
                .into_iter()
                .flat_map(|result| result.marks.into_keys())
                .collect()
        })
        .collect();
    Coverage {
        runs,
        plain,
        guided,
    }
}

/// The median of runs to first catch, a miss counted as `limit`.
pub fn median(runs: &[Option<u64>], limit: u64) -> f64 {
    median_of(
        runs.iter()
            .map(|runs| runs.unwrap_or(limit) as f64)
            .collect(),
    )
}

/// Each corpus's median over the windows of one bug's `hunts`.
fn corpus_medians(hunts: &[&Hunts], limit: u64) -> Vec<f64> {
    let corpora = hunts.first().map_or(0, |(_, guided)| guided.len());
    (0..corpora)
        .map(|corpus| {
            let runs: Vec<Option<u64>> = hunts
                .iter()
                .map(|(_, guided)| guided[corpus].runs)
                .collect();
            median(&runs, limit)
        })
        .collect()
}

/// The median of `values`; of an even count, the mean of the middle two.
pub(crate) fn median_of(mut values: Vec<f64>) -> f64 {
    values.sort_unstable_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        count if count % 2 == 1 => values[count / 2],
        count => (values[count / 2 - 1] + values[count / 2]) / 2.0,
    }
}

/// The side-by-side table, one row per bug. With one corpus, the guided
/// column gives each window's runs; with several, each corpus's median.
pub fn table(hunts: &[Hunts], windows: &[u64], limit: u64) -> String {
    let starts: Vec<String> = windows.iter().map(|window| format!("{window}..")).collect();
    let corpora = hunts.first().map_or(0, |(_, guided)| guided.len());
    let guided_header = if corpora > 1 {
        format!("guided median from each of {corpora} corpora")
    } else {
        "guided runs".to_owned()
    };
    let mut table = tables::table(
        &[
            "bug",
            &format!("plain runs from {}", starts.join(", ")),
            &guided_header,
            "median plain → guided",
            "plain / guided",
            "controls",
        ],
        &["median plain → guided", "plain / guided"],
    );
    let mut bugs: Vec<Bug> = hunts.iter().map(|(plain, _)| plain.bug).collect();
    bugs.dedup();
    let shown = |runs: Option<u64>| runs.map_or("-".to_owned(), |runs| runs.to_string());
    for bug in bugs {
        let of_bug: Vec<&Hunts> = hunts.iter().filter(|(plain, _)| plain.bug == bug).collect();
        let plain: Vec<Option<u64>> = of_bug.iter().map(|(plain, _)| plain.seeds).collect();
        let plain_median = median(&plain, limit);
        let corpus_medians = corpus_medians(&of_bug, limit);
        // The median over corpora of each corpus's median over the
        // windows; with one corpus, its median over the windows.
        let guided_figure = median_of(corpus_medians.clone());
        let guided_shown: Vec<String> = if corpora > 1 {
            corpus_medians.iter().map(f64::to_string).collect()
        } else {
            of_bug
                .iter()
                .flat_map(|(_, guided)| guided.iter().map(|hunt| shown(hunt.runs)))
                .collect()
        };
        let controls = of_bug.iter().all(|(plain, guided)| {
            plain.controls_hold() && guided.iter().all(GuidedHunt::controls_hold)
        });
        table.add_row(vec![
            bug.name().to_owned(),
            plain
                .iter()
                .map(|runs| shown(*runs))
                .collect::<Vec<_>>()
                .join(", "),
            guided_shown.join(", "),
            format!("{plain_median} → {guided_figure}"),
            format!("{:.1}×", plain_median / guided_figure.max(1.0)),
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

    fn guided(bug: Bug, window: u64, runs: Option<u64>) -> GuidedHunt {
        GuidedHunt {
            bug,
            window,
            runs,
            checker: None,
            passed_without_bug: None,
            passed_without_trigger: None,
        }
    }

    /// Each corpus's median over the windows first, then the median of
    /// those: one corpus that happens to hold a catching member moves the
    /// figure no more than any other.
    #[test]
    fn the_guided_figure_is_the_median_of_each_corpus_median() {
        let bug = Bug::RaftCommitOldTerm;
        let hunts: Vec<Hunts> = [
            (0, [Some(1), Some(40), Some(30)]),
            (1000, [Some(1), Some(50), Some(20)]),
            (2000, [Some(1), None, Some(10)]),
        ]
        .into_iter()
        .map(|(window, runs)| {
            let plain = Hunt {
                bug,
                window,
                seeds: None,
                checker: None,
                failed_without_bug: Vec::new(),
                passed_without_trigger: None,
            };
            (plain, runs.map(|runs| guided(bug, window, runs)).to_vec())
        })
        .collect();
        let of_bug: Vec<&Hunts> = hunts.iter().collect();
        // Corpus medians 1, 50 (a miss counts as the limit, 400) and 20.
        assert_eq!(corpus_medians(&of_bug, 400), [1.0, 50.0, 20.0]);
        assert_eq!(median_of(corpus_medians(&of_bug, 400)), 20.0);
        let one_corpus: Vec<Hunts> = hunts
            .iter()
            .map(|(plain, guided)| (plain.clone(), guided[..1].to_vec()))
            .collect();
        let one_corpus: Vec<&Hunts> = one_corpus.iter().collect();
        assert_eq!(median_of(corpus_medians(&one_corpus, 400)), 1.0);
        let table = table(&hunts, &[0, 1000, 2000], 400);
        assert!(
            table.contains("guided median from each of 3 corpora"),
            "{table}"
        );
        assert!(table.contains("1, 50, 20"), "{table}");
    }
}
