//! `sim fuzz --guided`: fuzzing that learns. Each run's coverage marks are
//! turned into features (see [`features`]); a run that reaches a feature no
//! earlier run did is kept in the corpus (see [`corpus`]), and new
//! candidates are mutations of corpus members (see [`mutate`]), picked with
//! energy towards members that reached what few runs reach.
//!
//! The search goes in rounds of [`ROUND`] candidates. A round's candidates
//! are drawn from the corpus as it stood when the round began, with a
//! random stream of the starting seed and the round's number; they run
//! `jobs` at a time, and are counted into the corpus in their order. So the
//! same starting seed, corpus and number of runs give the same corpus and
//! the same findings whatever `--jobs` is; a resumed corpus goes on with
//! its next round.

pub mod corpus;
pub mod features;
pub mod measure;
mod mutate;

use ledger::{bugs::Bug, stable_hash::stable_hash};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::{collections::BTreeSet, io, time::Instant};

pub use corpus::{Corpus, CorpusError};
use features::Reached;

use crate::{
    fuzz::{
        Flow, FuzzOptions, FuzzSummary, GuidedStats, SeedResult, Stop, catches, run_pool,
        scenario_for, seed_result, write_failure, write_timeline,
    },
    run::{RunOptions, Verdict, run},
    scenario::{Scenario, WorkloadKind},
    streams::{self, Stream},
};

/// Candidates drawn per round. Fixed, not the number of jobs, so that the
/// search is the same on any machine; small, so that what a round finds
/// steers the next one soon.
pub const ROUND: u64 = 16;

/// Every this many candidates, one is the next freshly generated scenario
/// rather than a mutant (the last of each group, so that a search over a
/// corpus begins with what the corpus knows). Fresh scenarios take the
/// seeds plain fuzzing takes, in its order, so guided search reaches plain
/// fuzzing's k-th seed by its 2k-th run at the latest: it never needs more
/// than twice the runs of plain fuzzing to find what plain fuzzing finds,
/// and keeps looking where no member has been.
const FRESH_EVERY: u64 = 2;

/// What one search ran.
pub struct Search {
    /// Each run's result, in order.
    pub results: Vec<SeedResult>,
    /// Hunting a bug: how many runs it took, the catch included, and the
    /// scenario that caught it.
    pub caught: Option<(u64, Scenario)>,
    /// Whether an interrupt (Ctrl-C) ended the search early.
    pub interrupted: bool,
}

/// Runs guided search for `options`' seed range (its start seeds the
/// search; its length, or the wall-time budget, bounds the runs), growing
/// `corpus` and saving it to `options.corpus` after every round (unless a
/// bug is planted: a hunt only reads it). `each`
/// hears of each run, in order, and may fill in its result.
pub fn search(
    options: &FuzzOptions,
    corpus: &mut Corpus,
    mut each: impl FnMut(&Scenario, &mut SeedResult) -> Result<(), GuidedError>,
) -> Result<Search, GuidedError> {
    // Wall time bounds the search; it never enters a run.
    #[allow(clippy::disallowed_methods)]
    let stop = Stop {
        deadline: options.budget.map(|budget| Instant::now() + budget),
        flag: options.interrupt.clone(),
    };
    let limit = options
        .seeds
        .end
        .map(|end| end.saturating_sub(options.seeds.start));
    let mut results: Vec<SeedResult> = Vec::new();
    let mut caught = None;
    // Hunting a bug, the members to run again as they are before any is
    // mutated (see `draw_round`): those the search started with.
    let mut to_replay: BTreeSet<usize> = match options.bug {
        Some(_) => (0..corpus.members.len()).collect(),
        None => BTreeSet::new(),
    };
    while caught.is_none()
        && !stop.raised()
        && limit.is_none_or(|limit| (results.len() as u64) < limit)
    {
        let size = limit.map_or(ROUND, |limit| ROUND.min(limit - results.len() as u64));
        let round = corpus.rounds;
        let candidates = draw_round(options, corpus, size, &mut to_replay);
        let ran = run_pool(
            0..size,
            options.jobs,
            &stop,
            |slot| run_candidate(&candidates[slot as usize]),
            |slot, (result, _)| match options.bug {
                Some(bug) if catches(bug, result).is_some() => Flow::StopAfter(slot),
                _ => Flow::Continue,
            },
        );
        if ran.is_empty() {
            break;
        }
        for (slot, (mut result, reached)) in ran {
            let scenario = &candidates[slot as usize];
            let mut features = features::own_features(&reached);
            features.extend(features::rare_pairs(&reached, &corpus.hits, corpus.runs));
            corpus.count(scenario, &features, (round, slot));
            each(scenario, &mut result)?;
            let catch = options
                .bug
                .is_some_and(|bug| catches(bug, &result).is_some());
            results.push(result);
            if catch {
                caught = Some((results.len() as u64, scenario.clone()));
                break;
            }
        }
        corpus.rounds = corpus.rounds.saturating_add(1);
        // A hunt only reads the corpus: what runs reach with a bug planted
        // is not what the correct system reaches, and members that carry
        // the bug would mislead every search after it.
        if let Some(dir) = options.corpus.as_ref().filter(|_| options.bug.is_none()) {
            corpus.save(dir)?;
        }
    }
    Ok(Search {
        results,
        caught,
        interrupted: stop.raised(),
    })
}

/// `sim fuzz --guided`: a [`search`] whose failures are written to
/// `options.out` as plain fuzzing writes them, summed up as a fuzz summary.
pub fn guided(
    options: &FuzzOptions,
    corpus: &mut Corpus,
    mut on_run: impl FnMut(&SeedResult),
) -> Result<FuzzSummary, GuidedError> {
    // Wall time is reported; it never enters a run.
    #[allow(clippy::disallowed_methods)]
    let started = Instant::now();
    let members_before = corpus.members.len();
    let found = search(options, corpus, |scenario, result| {
        if result.verdict != Verdict::Pass {
            let what = result.message.as_deref().unwrap_or("failed");
            let file = write_failure(&options.out, scenario, what)
                .and_then(|file| write_timeline(&file, scenario).map(|_| file))
                .map_err(GuidedError::Out)?;
            result.file = Some(file);
        }
        on_run(result);
        Ok(())
    })?;
    let runs = found.results.len() as u64;
    let mut summary = FuzzSummary::new(
        options.config(),
        started.elapsed().as_secs_f64(),
        found.caught.as_ref().map(|(_, scenario)| scenario.seed),
        found.results,
    );
    summary.interrupted = found.interrupted;
    summary.guided = Some(GuidedStats {
        runs,
        corpus_runs: corpus.runs,
        runs_to_catch: found.caught.as_ref().map(|(runs, _)| *runs),
        caught_by: found.caught.as_ref().map(|(_, scenario)| origin(scenario)),
        members_before,
        members: corpus.members.len(),
        features: corpus.hits.len(),
        corpus: options.corpus.as_ref().map(|dir| dir.display().to_string()),
        read_only: options.bug.is_some(),
    });
    Ok(summary)
}

/// Where a candidate came from, in words: the next generated seed, or what
/// its description says (a corpus member as it is, or a mutant of one).
fn origin(scenario: &Scenario) -> String {
    match (&scenario.generator, &scenario.description) {
        (None, Some(description)) => {
            let said = description.trim_end_matches('.');
            let mut words = said.chars();
            words
                .next()
                .map(|first| first.to_lowercase().chain(words).collect())
                .unwrap_or_default()
        }
        _ => "the next generated seed".to_owned(),
    }
}

/// Why guided search stopped short.
#[derive(Debug, thiserror::Error)]
pub enum GuidedError {
    #[error("--corpus: {0}")]
    Corpus(#[from] CorpusError),
    #[error("--out: writing a failing scenario: {0}")]
    Out(io::Error),
}

/// The candidates of the corpus's next round.
///
/// Hunting a bug, the system differs from the one the corpus was built on
/// (as it does after any change to the code), so a member's own scenario
/// may now go elsewhere: before any member is mutated, each of those in
/// `to_replay` is run once as it is, the bug planted, rarest first: the
/// members that reached what fewest runs reach are the likeliest to fail
/// once the code changes (the bugs of a lost database: caught by the first
/// replay rarest first, by up to the fourth drawn by energy). A fuzzer
/// starts from its corpus the same way (libFuzzer runs it first); here the
/// replays take the turns mutants would, and fresh seeds keep theirs.
fn draw_round(
    options: &FuzzOptions,
    corpus: &mut Corpus,
    size: u64,
    to_replay: &mut BTreeSet<usize>,
) -> Vec<Scenario> {
    let mut rng = round_rng(options, corpus.rounds);
    let kind = wanted_kind(options);
    let eligible: Vec<usize> = corpus
        .members
        .iter()
        .enumerate()
        .filter(|(_, member)| kind.is_none_or(|kind| member.scenario().workload.kind == kind))
        .map(|(index, _)| index)
        .collect();
    // Hits change only when a round is counted, so each member's rarity
    // is worked out once per round; only its picks change within one.
    let rarities: Vec<f64> = eligible
        .iter()
        .map(|index| rarity(corpus, &corpus.members[*index]))
        .collect();
    (0..size)
        .map(|slot| {
            if eligible.is_empty() || slot % FRESH_EVERY == FRESH_EVERY - 1 {
                return fresh(options, corpus);
            }
            let unreplayed: Vec<(usize, f64)> = eligible
                .iter()
                .zip(&rarities)
                .filter(|(index, _)| to_replay.contains(*index))
                .map(|(index, rarity)| (*index, *rarity))
                .collect();
            let mut scenario = if unreplayed.is_empty() {
                let parent = pick(corpus, &eligible, &rarities, &mut rng);
                let other = eligible[rng.gen_range(0..eligible.len())];
                corpus.members[parent].picks = corpus.members[parent].picks.saturating_add(1);
                let (mut scenario, mutations) = mutate::mutate(
                    corpus.members[parent].scenario(),
                    corpus.members[other].scenario(),
                    &mut rng,
                );
                scenario.description = Some(format!(
                    "Mutated ({}) from corpus member {}.",
                    mutations
                        .iter()
                        .map(|mutation| mutation.name())
                        .collect::<Vec<_>>()
                        .join(", "),
                    corpus.members[parent].file
                ));
                scenario
            } else {
                let member = rarest(&unreplayed);
                to_replay.remove(&member);
                corpus.members[member].picks = corpus.members[member].picks.saturating_add(1);
                let mut scenario = corpus.members[member].scenario().clone();
                scenario.description = Some(format!(
                    "Corpus member {} as it is.",
                    corpus.members[member].file
                ));
                scenario
            };
            scenario.name = format!("guided search, round {}", corpus.rounds);
            scenario.generator = None;
            scenario.system.bugs = options
                .bug
                .map(|bug| vec![bug.name().to_owned()])
                .unwrap_or_default();
            scenario
        })
        .collect()
}

/// The next generated scenario: seeds taken in order from the range's
/// start, strided by the shard as plain fuzzing strides them.
fn fresh(options: &FuzzOptions, corpus: &mut Corpus) -> Scenario {
    let shard = options.shard;
    let taken = corpus
        .fresh
        .entry(format!("{} {shard}", options.seeds.start))
        .or_default();
    let seed = options
        .seeds
        .start
        .wrapping_add(shard.index - 1)
        .wrapping_add(taken.wrapping_mul(shard.count));
    *taken = taken.saturating_add(1);
    scenario_for(seed, options.bug, options.kind)
}

/// A parent among `eligible` members, each as likely as its energy: the
/// rarer the features it reached, the more; the more often it was picked
/// already, the less.
fn pick(corpus: &Corpus, eligible: &[usize], rarities: &[f64], rng: &mut ChaCha8Rng) -> usize {
    let energies: Vec<f64> = eligible
        .iter()
        .zip(rarities)
        .map(|(index, rarity)| rarity * rarity / (1.0 + corpus.members[*index].picks as f64 / 4.0))
        .collect();
    let total: f64 = energies.iter().sum();
    let mut point = rng.gen_range(0.0..total.max(f64::MIN_POSITIVE));
    for (index, energy) in eligible.iter().zip(&energies) {
        if point < *energy {
            return *index;
        }
        point -= energy;
    }
    *eligible.last().expect("eligible members")
}

/// The member of `members` (index, rarity) that reached the rarest
/// features, the first of equals.
fn rarest(members: &[(usize, f64)]) -> usize {
    members
        .iter()
        .copied()
        .reduce(|best, next| if next.1 > best.1 { next } else { best })
        .expect("members to replay")
        .0
}

/// How rare what `member` reached is: the sum, over the features that
/// steer, of one over the runs that reached each.
fn rarity(corpus: &Corpus, member: &corpus::Member) -> f64 {
    member
        .features
        .iter()
        .filter(|feature| features::steers(feature))
        .map(|feature| 1.0 / corpus.hits.get(feature).copied().unwrap_or(1).max(1) as f64)
        .sum()
}

/// The kind every candidate must be: the hunted bug's, or `--kind`.
fn wanted_kind(options: &FuzzOptions) -> Option<WorkloadKind> {
    options
        .bug
        .map(|bug: Bug| WorkloadKind::from_name(bug.workload()).expect("bugs name a workload kind"))
        .or(options.kind)
}

/// The random stream of one round: from the starting seed, the shard and
/// the round's number.
fn round_rng(options: &FuzzOptions, round: u64) -> ChaCha8Rng {
    let key = stable_hash(&(
        options.seeds.start,
        options.shard.index,
        options.shard.count,
        round,
    ));
    streams::rng(key, Stream::Guided)
}

/// Runs one candidate: what a summary keeps of it, and what it reached.
fn run_candidate(scenario: &Scenario) -> (SeedResult, Reached) {
    // Wall time on the worker thread, outside the simulation.
    #[allow(clippy::disallowed_methods)]
    let started = Instant::now();
    let outcome = run(scenario, &RunOptions::default());
    let result = seed_result(&outcome, started.elapsed().as_millis() as u64, None);
    let reached = Reached {
        marks: result.marks.clone(),
        first_at: outcome
            .marks_first_at
            .iter()
            .map(|(mark, at)| ((*mark).to_owned(), *at))
            .collect(),
        fault_phase: scenario.duration(),
        crash_points: result.crash_points.keys().cloned().collect::<BTreeSet<_>>(),
        violated: result.violated.clone(),
    };
    (result, reached)
}

#[cfg(test)]
mod tests;
