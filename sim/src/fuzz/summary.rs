//! What a fuzz run found: every seed's verdict, tallies of the faults and
//! coverage marks its seeds reached, and the final table. Shards' summaries
//! merge into one.

use ledger::bugs::Checker;
use serde::{Deserialize, Serialize};
use std::{collections::BTreeMap, fmt::Write, path::PathBuf};
use thiserror::Error;

use super::{SeedRange, Shard};
use crate::{
    coverage,
    faults::FaultKind,
    pool::MAX_JOBS,
    run::Verdict,
    words::{count, noun_for},
};
use ledger::fault_points::CrashPoint;
use strum::IntoEnumIterator;

/// The result of one seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedResult {
    pub seed: u64,
    pub verdict: Verdict,
    /// The first checker that reported a violation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checker: Option<Checker>,
    /// Every checker that reported a violation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violated: Vec<Checker>,
    pub trace_hash: String,
    pub events: u64,
    pub sim_time_us: u64,
    /// Wall time of the run: the one figure that differs between runs.
    pub wall_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The scenario file written for a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// The shrunk scenario file, once the failure was shrunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shrunk: Option<PathBuf>,
    /// Whether the simulation hung (never shrunk or run again: each run
    /// leaves a thread spinning).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hung: bool,
    /// Faults injected, by kind (tallied into the summary).
    #[serde(skip)]
    pub faults: BTreeMap<String, u64>,
    /// Coverage marks reached, by name (tallied into the summary).
    #[serde(skip)]
    pub marks: BTreeMap<String, u64>,
    /// Crash points reached, by name (tallied into the summary).
    #[serde(skip)]
    pub crash_points: BTreeMap<String, u64>,
}

/// One line per name: the seeds that reached it and how often, or that
/// none did.
fn reached(out: &mut String, tallies: &BTreeMap<String, Tally>) {
    let width = tallies.keys().map(String::len).max().unwrap_or(0).max(36);
    for (name, tally) in tallies {
        let _ = match tally.seeds {
            0 => writeln!(out, "  {name:<width$} never reached"),
            seeds => writeln!(
                out,
                "  {name:<width$} {}, {}",
                count(seeds, "seed"),
                count(tally.count, "time")
            ),
        };
    }
}

/// What a guided run adds to a fuzz summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuidedStats {
    /// Runs this time, and in the corpus's whole life.
    pub runs: u64,
    pub corpus_runs: u64,
    /// Hunting a bug: how many runs it took, the catch included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runs_to_catch: Option<u64>,
    /// Hunting a bug: where the catching scenario came from (the next
    /// generated seed, a corpus member as it is, or a mutant of one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caught_by: Option<String>,
    /// Corpus members before and after.
    pub members_before: usize,
    pub members: usize,
    /// Features the corpus has seen reached.
    pub features: usize,
    /// Where the corpus is kept, if anywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corpus: Option<String>,
    /// Hunting a bug, the corpus is read but not written back.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
}

/// The line saying what guided search kept.
fn write_guided(out: &mut String, guided: &GuidedStats) {
    let corpus = match (&guided.corpus, guided.read_only) {
        (None, _) => "in memory".to_owned(),
        (Some(dir), false) => format!("in {dir}"),
        (Some(dir), true) => format!("from {dir}, not written back (a bug is planted)"),
    };
    let _ = writeln!(
        out,
        "guided     corpus {corpus}: {} (+{} kept), {} reached over {}",
        count(guided.members as u64, "member"),
        guided.members.saturating_sub(guided.members_before),
        count(guided.features as u64, "feature"),
        count(guided.corpus_runs, "run")
    );
}

/// How many seeds reached something, and how often in all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub seeds: u64,
    pub count: u64,
}

/// What was asked of a fuzz run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FuzzConfig {
    /// The generator version every seed's scenario came from.
    pub generator: String,
    pub seeds: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<String>,
    pub jobs: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bug: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Whether guided search chose the scenarios (`sim fuzz --guided`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub guided: bool,
}

/// The result of a fuzz run, or of several shards merged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FuzzSummary {
    /// One per shard merged in.
    pub configs: Vec<FuzzConfig>,
    /// Wall time of the longest shard.
    pub wall_seconds: f64,
    /// With a bug: the first seed that caught it with an expected checker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caught_at: Option<u64>,
    /// Faults injected, by kind.
    pub faults: BTreeMap<String, Tally>,
    /// Every coverage mark of the catalogue, reached or not.
    pub coverage: BTreeMap<String, Tally>,
    /// Every crash point, reached or not (whether it fired is a fault).
    #[serde(default)]
    pub crash_points: BTreeMap<String, Tally>,
    pub seeds: Vec<SeedResult>,
    /// Whether Ctrl-C ended the run early: `seeds` are those that ran
    /// before it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
    /// What guided search did, when it chose the scenarios: then `seeds`
    /// holds one result per run, in the order they ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guided: Option<GuidedStats>,
}

/// Summaries that cannot be merged: each must be shards of one run.
#[derive(Debug, Error)]
pub enum MergeError {
    #[error("nothing to merge")]
    Empty,
    #[error("{0} is not one written by `sim fuzz --json`: {1}")]
    Malformed(String, String),
    #[error("{0} is not a shard of the same run as {1}: {2}")]
    OtherRun(String, String, String),
    #[error("seed {0} appears in more than one summary")]
    Overlap(u64),
    #[error(
        "{0} is of guided search, whose runs are not seeds of a range: merge their corpora with `sim fuzz merge-corpus` instead"
    )]
    Guided(String),
}

/// What makes shards parts of one run: everything but the shard itself and
/// the jobs each ran with, in words.
fn run_identity(config: &FuzzConfig) -> String {
    let mut words = format!("generator {}, seeds {}", config.generator, config.seeds);
    for (name, value) in [
        ("budget", &config.budget),
        ("bug", &config.bug),
        ("kind", &config.kind),
    ] {
        if let Some(value) = value {
            words += &format!(", {name} {value}");
        }
    }
    words
}

impl FuzzSummary {
    /// Checks that this summary, the `number`-th given, is what `sim fuzz
    /// --json` writes: a shard (or shards) of one run, its seeds inside its
    /// range and shards, its figures possible.
    fn check(&self, name: &str) -> Result<(), MergeError> {
        let malformed = |what: String| MergeError::Malformed(name.to_owned(), what);
        let Some(first) = self.configs.first() else {
            return Err(malformed("it names no run (`configs` is empty)".to_owned()));
        };
        if self.guided.is_some() || self.configs.iter().any(|config| config.guided) {
            return Err(MergeError::Guided(name.to_owned()));
        }
        if let Some(config) = self
            .configs
            .iter()
            .find(|config| !(1..=MAX_JOBS).contains(&config.jobs))
        {
            return Err(malformed(format!(
                "`jobs`: expected 1 to {MAX_JOBS}, got {}",
                config.jobs
            )));
        }
        if let Some(other) = self
            .configs
            .iter()
            .find(|config| run_identity(config) != run_identity(first))
        {
            return Err(malformed(format!(
                "it holds shards of two runs ({} and {})",
                run_identity(first),
                run_identity(other)
            )));
        }
        if !self.wall_seconds.is_finite() || self.wall_seconds < 0.0 {
            return Err(malformed(format!("its wall time is {}", self.wall_seconds)));
        }
        let range: SeedRange = first
            .seeds
            .parse()
            .map_err(|error: String| malformed(format!("`seeds`: {error}")))?;
        let shards = self
            .configs
            .iter()
            .map(|config| match &config.shard {
                None => Ok(Shard::ALL),
                Some(shard) => shard
                    .parse::<Shard>()
                    .map_err(|error| malformed(format!("`shard`: {error}"))),
            })
            .collect::<Result<Vec<Shard>, MergeError>>()?;
        for (index, shard) in shards.iter().enumerate().skip(1) {
            if shards[..index].contains(shard) || shard.count != shards[0].count {
                return Err(malformed(format!(
                    "`configs` holds shard {}/{} beside {}/{}: expected shards of one count, each once",
                    shard.index, shard.count, shards[0].index, shards[0].count
                )));
            }
        }
        for seed in &self.seeds {
            let in_range = seed.seed >= range.start && range.end.is_none_or(|end| seed.seed < end);
            let in_shard = shards
                .iter()
                .any(|shard| seed.seed % shard.count == shard.index - 1);
            if !in_range || !in_shard {
                return Err(malformed(format!(
                    "seed {} is outside its seeds {range} and shards",
                    seed.seed
                )));
            }
        }
        if let Some(seed) = self.seeds.iter().find(|seed| {
            seed.trace_hash.len() != 16
                || !seed
                    .trace_hash
                    .bytes()
                    .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
        }) {
            return Err(malformed(format!(
                "seed {}'s trace hash is {:?}: expected 16 lowercase hex digits",
                seed.seed, seed.trace_hash
            )));
        }
        let marks = coverage::catalogue();
        let named = [
            ("coverage", &self.coverage, &marks[..]),
            (
                "crash_points",
                &self.crash_points,
                &CrashPoint::iter().map(CrashPoint::name).collect::<Vec<_>>()[..],
            ),
            (
                "faults",
                &self.faults,
                &FaultKind::iter().map(FaultKind::name).collect::<Vec<_>>()[..],
            ),
        ];
        for (field, tallies, known) in named {
            if let Some(name) = tallies.keys().find(|name| !known.contains(&name.as_str())) {
                return Err(malformed(format!(
                    "`{field}` names {name:?}, which this build does not know"
                )));
            }
        }
        let seeds = self.seeds.len() as u64;
        let tallies = self
            .faults
            .iter()
            .chain(&self.coverage)
            .chain(&self.crash_points);
        for (name, tally) in tallies {
            if tally.seeds > seeds || (tally.count < tally.seeds) {
                return Err(malformed(format!(
                    "its tally of {name} ({}, {}) does not fit its {}",
                    count(tally.seeds, "seed"),
                    count(tally.count, "time"),
                    count(seeds, "seed")
                )));
            }
        }
        if let Some(caught) = self.caught_at
            && !self.seeds.iter().any(|seed| seed.seed == caught)
        {
            return Err(malformed(format!(
                "it says seed {caught} caught the bug, but ran no such seed"
            )));
        }
        Ok(())
    }
}

impl FuzzSummary {
    /// A summary of `seeds`, tallying their faults and marks.
    pub fn new(
        config: FuzzConfig,
        wall_seconds: f64,
        caught_at: Option<u64>,
        seeds: Vec<SeedResult>,
    ) -> FuzzSummary {
        let mut coverage: BTreeMap<String, Tally> = coverage::catalogue()
            .into_iter()
            .map(|mark| (mark.to_owned(), Tally::default()))
            .collect();
        let mut crash_points: BTreeMap<String, Tally> = CrashPoint::iter()
            .map(|point| (point.name().to_owned(), Tally::default()))
            .collect();
        let mut faults: BTreeMap<String, Tally> = BTreeMap::new();
        for seed in &seeds {
            tally(&mut faults, &seed.faults);
            tally(&mut coverage, &seed.marks);
            tally(&mut crash_points, &seed.crash_points);
        }
        FuzzSummary {
            configs: vec![config],
            wall_seconds,
            caught_at,
            faults,
            coverage,
            crash_points,
            seeds,
            interrupted: false,
            guided: None,
        }
    }

    /// Merges shards' summaries into one. Every part must be a shard (or
    /// shards) of the same run: the same generator, seeds, budget, bug and
    /// kind, shards of one count, none taken twice, no seed twice.
    /// Each part is named, in errors, by its name (its file).
    pub fn merge(parts: Vec<(String, FuzzSummary)>) -> Result<FuzzSummary, MergeError> {
        for (name, part) in &parts {
            part.check(name)?;
        }
        let mut parts = parts.into_iter();
        let (first, mut merged) = parts.next().ok_or(MergeError::Empty)?;
        // Which part each of the merged configs came from, to name it.
        let mut owners = vec![first.clone(); merged.configs.len()];
        for (name, part) in parts {
            let other = |against: &str, what: String| {
                MergeError::OtherRun(name.clone(), against.to_owned(), what)
            };
            let (ours, theirs) = (&merged.configs[0], &part.configs[0]);
            if run_identity(ours) != run_identity(theirs) {
                return Err(other(
                    &first,
                    format!("{} against {}", run_identity(theirs), run_identity(ours)),
                ));
            }
            for config in &part.configs {
                let Some(shard) = &config.shard else {
                    return Err(other(
                        &first,
                        "an unsharded run merges with nothing".to_owned(),
                    ));
                };
                let count = |text: &str| text.parse::<Shard>().map(|shard| shard.count).ok();
                let clash = merged.configs.iter().zip(&owners).find(|(ours, _)| {
                    ours.shard.as_deref().and_then(count) != count(shard)
                        || ours.shard.as_ref() == Some(shard)
                });
                if let Some((ours, owner)) = clash {
                    let what = if ours.shard.as_ref() == Some(shard) {
                        format!("shard {shard} appears twice")
                    } else {
                        format!("shard {shard} is not of the same shard count")
                    };
                    return Err(other(owner, what));
                }
            }
            owners.extend(std::iter::repeat_n(name, part.configs.len()));
            merged.configs.extend(part.configs);
            merged.wall_seconds = merged.wall_seconds.max(part.wall_seconds);
            merged.caught_at = match (merged.caught_at, part.caught_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            for (name, tally) in part.faults {
                add(merged.faults.entry(name).or_default(), tally);
            }
            for (name, tally) in part.coverage {
                add(merged.coverage.entry(name).or_default(), tally);
            }
            for (name, tally) in part.crash_points {
                add(merged.crash_points.entry(name).or_default(), tally);
            }
            merged.seeds.extend(part.seeds);
            merged.interrupted |= part.interrupted;
        }
        merged.seeds.sort_by_key(|seed| seed.seed);
        if let Some(pair) = merged
            .seeds
            .windows(2)
            .find(|pair| pair[0].seed == pair[1].seed)
        {
            return Err(MergeError::Overlap(pair[0].seed));
        }
        Ok(merged)
    }

    pub fn failures(&self) -> impl Iterator<Item = &SeedResult> {
        self.seeds
            .iter()
            .filter(|seed| seed.verdict != Verdict::Pass)
    }

    /// The process exit code: hunting a bug, 0 when it was caught and 1
    /// when not; otherwise the most severe verdict's code.
    pub fn exit_code(&self) -> i32 {
        if self.configs.iter().any(|config| config.bug.is_some()) {
            return if self.caught_at.is_some() { 0 } else { 1 };
        }
        self.seeds
            .iter()
            .map(|seed| seed.verdict)
            .max_by_key(|verdict| verdict.severity())
            .map_or(0, Verdict::exit_code)
    }

    /// The final table, for people.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let config = &self.configs[0];
        let shards: Vec<&str> = self
            .configs
            .iter()
            .filter_map(|config| config.shard.as_deref())
            .collect();
        let mut what = format!("seeds {}", config.seeds);
        if !shards.is_empty() {
            what += &format!(", shard {}", shards.join(" + "));
        }
        if let Some(budget) = &config.budget {
            what += &format!(", budget {budget}");
        }
        if let Some(kind) = &config.kind {
            what += &format!(", kind {kind}");
        }
        let jobs: Vec<String> = self.configs.iter().map(|c| c.jobs.to_string()).collect();
        let total_jobs: usize = self.configs.iter().map(|c| c.jobs).sum();
        let _ = writeln!(
            out,
            "fuzz       {what}; generator {}, {} {}",
            config.generator,
            jobs.join(" + "),
            noun_for(total_jobs as u64, "job")
        );
        let run = self.seeds.len() as u64;
        let failed = self.failures().count() as u64;
        let rate = if self.wall_seconds > 0.0 {
            run as f64 / self.wall_seconds
        } else {
            0.0
        };
        let runs = if self.guided.is_some() {
            "runs"
        } else {
            "seeds"
        };
        let _ = writeln!(
            out,
            "{runs:<10} {run} run, {} passed, {failed} failed ({rate:.1} {runs}/s over {:.1}s)",
            run - failed,
            self.wall_seconds
        );
        if let Some(guided) = &self.guided {
            write_guided(&mut out, guided);
        }
        self.write_failures(&mut out);
        if let Some(bug) = &config.bug {
            let _ = match (self.caught_at, &self.guided) {
                (Some(seed), Some(guided)) => writeln!(
                    out,
                    "bug        {bug} caught after {} (scenario seed {seed}{})",
                    count(guided.runs_to_catch.unwrap_or(run), "run"),
                    guided
                        .caught_by
                        .as_ref()
                        .map(|by| format!(": {by}"))
                        .unwrap_or_default()
                ),
                (Some(seed), None) => writeln!(out, "bug        {bug} caught at seed {seed}"),
                (None, _) => writeln!(
                    out,
                    "bug        {bug} NOT caught in {}",
                    count(run, runs.trim_end_matches('s'))
                ),
            };
        }
        let faults: Vec<String> = self
            .faults
            .iter()
            .map(|(kind, tally)| format!("{kind} {}", tally.seeds))
            .collect();
        if faults.is_empty() {
            let _ = writeln!(out, "faults     none injected");
        } else {
            let _ = writeln!(out, "faults     seeds that saw each kind:");
            out += &wrapped(&faults, "             ");
        }
        let _ = writeln!(out, "coverage   seeds that reached each mark:");
        reached(&mut out, &self.coverage);
        let _ = writeln!(out, "crash points  seeds that reached each (fired or not):");
        reached(&mut out, &self.crash_points);
        if let Some(slowest) = self
            .seeds
            .iter()
            .max_by_key(|seed| (seed.wall_ms, seed.seed))
        {
            let _ = writeln!(
                out,
                "slowest    seed {}: {:.2}s wall, {:.1}s simulated",
                slowest.seed,
                slowest.wall_ms as f64 / 1000.0,
                slowest.sim_time_us as f64 / 1e6
            );
        }
        if self.interrupted {
            self.write_interrupted(&mut out);
        }
        out
    }

    /// The line closing an interrupted run's table: how far it got, and
    /// the files it wrote.
    fn write_interrupted(&self, out: &mut String) {
        let files: Vec<String> = self
            .seeds
            .iter()
            .flat_map(|seed| seed.file.iter().chain(&seed.shrunk))
            .map(|file| file.display().to_string())
            .collect();
        let written = if files.is_empty() {
            "no files written".to_owned()
        } else {
            let mut shown: Vec<String> = files.iter().take(5).cloned().collect();
            if files.len() > 5 {
                shown.push("...".to_owned());
            }
            format!(
                "{} written: {}",
                count(files.len() as u64, "file"),
                shown.join(", ")
            )
        };
        let _ = writeln!(
            out,
            "interrupted after {} (Ctrl-C); {written}",
            count(self.seeds.len() as u64, "seed")
        );
    }

    /// Failures grouped by checker and exit kind, with their first seeds.
    fn write_failures(&self, out: &mut String) {
        let mut groups: BTreeMap<(&str, &str, i32), Vec<u64>> = BTreeMap::new();
        for failure in self.failures() {
            let checker = failure.checker.map_or("-", Checker::name);
            let kind = failure.verdict.name();
            groups
                .entry((checker, kind, failure.verdict.exit_code()))
                .or_default()
                .push(failure.seed);
        }
        for ((checker, kind, code), seeds) in groups {
            let mut shown: Vec<String> = seeds.iter().take(5).map(u64::to_string).collect();
            if seeds.len() > 5 {
                shown.push("...".to_owned());
            }
            let _ = writeln!(
                out,
                "  {checker:<22} {kind} (exit {code}): {} ({} {})",
                seeds.len(),
                noun_for(seeds.len() as u64, "seed"),
                shown.join(", ")
            );
        }
    }
}

/// Items joined by commas, wrapped at 80 columns after `indent`.
fn wrapped(items: &[String], indent: &str) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for (index, item) in items.iter().enumerate() {
        let item = if index + 1 < items.len() {
            format!("{item}, ")
        } else {
            item.clone()
        };
        if !line.is_empty() && indent.len() + line.len() + item.len() > 80 {
            out += &format!("{indent}{}\n", line.trim_end());
            line.clear();
        }
        line += &item;
    }
    if !line.is_empty() {
        out += &format!("{indent}{line}\n");
    }
    out
}

fn tally(tallies: &mut BTreeMap<String, Tally>, counts: &BTreeMap<String, u64>) {
    for (name, count) in counts {
        add(
            tallies.entry(name.clone()).or_default(),
            Tally {
                seeds: 1,
                count: *count,
            },
        );
    }
}

/// Adds tallies; they count seeds and events of checked summaries, so a
/// sum past `u64::MAX` cannot happen, and saturates if it ever did.
fn add(into: &mut Tally, tally: Tally) {
    into.seeds = into.seeds.saturating_add(tally.seeds);
    into.count = into.count.saturating_add(tally.count);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(shard: Option<&str>) -> FuzzConfig {
        FuzzConfig {
            generator: "v5".to_owned(),
            seeds: "0..4".to_owned(),
            shard: shard.map(str::to_owned),
            budget: None,
            jobs: 2,
            bug: None,
            kind: None,
            guided: false,
        }
    }

    fn seed(seed: u64, verdict: Verdict, checker: Option<Checker>, wall_ms: u64) -> SeedResult {
        SeedResult {
            seed,
            verdict,
            checker,
            violated: checker.into_iter().collect(),
            trace_hash: format!("{seed:016x}"),
            events: 1000 + seed,
            sim_time_us: 30_000_000 + seed,
            wall_ms,
            message: checker.map(|checker| format!("{checker} at 1.000s: broken")),
            file: checker.map(|_| PathBuf::from(format!("out/seed-{seed}.toml"))),
            shrunk: None,
            hung: false,
            faults: [("crash".to_owned(), seed + 1)].into_iter().collect(),
            marks: seed
                .is_multiple_of(2)
                .then(|| ("lease-taken-over".to_owned(), 3))
                .into_iter()
                .collect(),
            crash_points: [("log.vote.before-sync".to_owned(), seed)]
                .into_iter()
                .filter(|(_, count)| *count > 0)
                .collect(),
        }
    }

    /// Parts named as files would name them: s1.json, s2.json …
    fn named(parts: Vec<FuzzSummary>) -> Vec<(String, FuzzSummary)> {
        (1..).map(|n| format!("s{n}.json")).zip(parts).collect()
    }

    fn shards() -> (FuzzSummary, FuzzSummary) {
        let first = FuzzSummary::new(
            config(Some("1/2")),
            2.0,
            None,
            vec![
                seed(0, Verdict::Pass, None, 120),
                seed(2, Verdict::SafetyViolation, Some(Checker::ExactlyOnce), 340),
            ],
        );
        let second = FuzzSummary::new(
            config(Some("2/2")),
            2.5,
            None,
            vec![
                seed(1, Verdict::LivenessFailure, Some(Checker::Liveness), 900),
                seed(3, Verdict::Pass, None, 80),
            ],
        );
        (first, second)
    }

    #[test]
    fn merged_shards_read_like_one_run() {
        let (first, second) = shards();
        let merged = FuzzSummary::merge(named(vec![first, second])).unwrap();
        let seeds: Vec<u64> = merged.seeds.iter().map(|seed| seed.seed).collect();
        assert_eq!(seeds, vec![0, 1, 2, 3]);
        assert_eq!(
            merged.faults["crash"],
            Tally {
                seeds: 4,
                count: 10
            }
        );
        assert_eq!(
            merged.coverage["lease-taken-over"],
            Tally { seeds: 2, count: 6 }
        );
        assert_eq!(
            merged.exit_code(),
            1,
            "a safety violation outranks liveness"
        );
        insta::assert_snapshot!(merged.table());
    }

    #[test]
    fn merging_refuses_what_is_not_one_runs_shards() {
        let (first, second) = shards();
        let error = FuzzSummary::merge(named(vec![first.clone(), first.clone()])).unwrap_err();
        assert!(
            error.to_string().contains("shard 1/2 appears twice"),
            "{error}"
        );
        let mut other = second.clone();
        other.configs[0].generator = "v4".to_owned();
        let error = FuzzSummary::merge(named(vec![first.clone(), other])).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("s2.json is not a shard of the same run as s1.json: generator v4"),
            "{error}"
        );
        let error = FuzzSummary::merge(named(vec![first.clone(), second.clone(), second.clone()]))
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "s3.json is not a shard of the same run as s2.json: shard 2/2 appears twice"
        );
        let mut twice = second;
        twice.seeds.push(twice.seeds[0].clone());
        let error = FuzzSummary::merge(named(vec![first, twice])).unwrap_err();
        assert_eq!(error.to_string(), "seed 1 appears in more than one summary");
    }

    #[test]
    fn an_interrupted_run_says_how_far_it_got_and_what_it_wrote() {
        let (mut first, second) = shards();
        assert!(!first.table().contains("interrupted"));
        first.interrupted = true;
        let table = first.table();
        assert!(
            table
                .ends_with("interrupted after 2 seeds (Ctrl-C); 1 file written: out/seed-2.toml\n"),
            "{table}"
        );
        let merged = FuzzSummary::merge(named(vec![first, second])).unwrap();
        assert!(merged.interrupted);
        let json = serde_json::to_string(&merged).unwrap();
        assert!(json.contains("\"interrupted\":true"), "{json}");
    }

    #[test]
    fn counts_of_one_are_singular() {
        let mut one = config(None);
        one.jobs = 1;
        let summary = FuzzSummary::new(
            one,
            1.0,
            None,
            vec![seed(
                2,
                Verdict::SafetyViolation,
                Some(Checker::ExactlyOnce),
                10,
            )],
        );
        let table = summary.table();
        for line in [
            "generator v5, 1 job\n",
            "safety-violation (exit 1): 1 (seed 2)\n",
            " 1 seed, 3 times\n",
            " 1 seed, 2 times\n",
        ] {
            assert!(table.contains(line), "`{line}` missing from\n{table}");
        }
    }

    #[test]
    fn the_json_form_round_trips() {
        let (first, _) = shards();
        let text = serde_json::to_string(&first).unwrap();
        let back: FuzzSummary = serde_json::from_str(&text).unwrap();
        assert_eq!(back.seeds.len(), 2);
        assert_eq!(back.coverage, first.coverage);
        assert_eq!(back.seeds[1].checker, Some(Checker::ExactlyOnce));
    }
}
