//! The `sim` command line's grammar: every subcommand and option. The
//! binary (`main.rs`) acts on it; tests parse command lines with it, so that
//! scripts and workflows that call `sim` are checked against the real thing.

use clap::{
    Args, Parser, Subcommand,
    builder::{PossibleValue, PossibleValuesParser, TypedValueParser},
};
use ledger::bugs::Bug;
use std::{ops::Range, path::PathBuf};

use crate::{
    color::Color,
    fuzz::{SeedRange, Shard},
    scenario::{Dur, WorkloadKind},
};

pub use crate::pool::MAX_JOBS;

#[derive(Parser)]
#[command(
    name = "sim",
    version,
    about = "Deterministic simulation of the ledger: run, fuzz, check."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Colour in the output: auto (a stream that is a terminal, unless
    /// NO_COLOR is set), always or never.
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run one scenario file, or the scenario generated from --seed.
    Run(RunArgs),
    /// Run many generated scenarios; write and shrink each failure. `sim
    /// fuzz merge A.json B.json` combines shards' summaries.
    Fuzz(FuzzCommand),
    /// Shrink a failing scenario file to a small one that fails the same way.
    Shrink(ShrinkArgs),
    /// Run each seed twice and compare trace hashes.
    CheckDeterminism(SeedsArgs),
    /// Measure simulations and messages per second.
    Bench(BenchArgs),
    /// List the planted bugs; with --measure, hunt each one by fuzzing.
    Bugs(BugsArgs),
    /// Tell the life of one transfer of a run, step by step: its request,
    /// log index, projection, intent, submissions, inclusions, reorgs,
    /// confirmation and every answer its client got.
    Explain(ExplainArgs),
}

#[derive(Args)]
pub struct ExplainArgs {
    /// A scenario file (TOML).
    pub file: Option<PathBuf>,
    /// The seed: overrides the file's, or generates a scenario without one.
    #[arg(long, value_parser = parse_seed)]
    pub seed: Option<u64>,
    /// Enable a planted bug (repeatable).
    #[arg(long = "bug", value_name = "NAME", value_parser = bug_parser())]
    pub bugs: Vec<Bug>,
    /// The transfer, as reports name it (tr- and 16 hex digits).
    #[arg(
        long,
        value_name = "ID",
        value_parser = parse_transfer,
        required_unless_present = "violation",
        conflicts_with = "violation"
    )]
    pub transfer: Option<String>,
    /// The transfer the run's first violation names.
    #[arg(long)]
    pub violation: bool,
    /// Also write the run's timeline here (HTML).
    #[arg(long, value_name = "FILE")]
    pub timeline: Option<PathBuf>,
}

#[derive(Args)]
pub struct BugsArgs {
    /// Measure how many generated seeds each bug takes to be caught.
    #[arg(long)]
    pub measure: bool,
    /// Measure only this bug (repeatable).
    #[arg(long = "bug", value_name = "NAME", requires = "measure", value_parser = bug_parser())]
    pub bugs: Vec<Bug>,
    /// First seeds of the windows hunted, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "0,1000,2000",
        requires = "measure",
        value_parser = parse_seed
    )]
    pub windows: Vec<u64>,
    /// The most seeds hunted per window.
    #[arg(long, default_value_t = 1000, requires = "measure", value_parser = parse_positive)]
    pub limit: u64,
    /// Hunts run at once (default: one per core).
    #[arg(long, requires = "measure", value_parser = parse_jobs)]
    pub jobs: Option<usize>,
    /// Print the measurements as one JSON object.
    #[arg(long, requires = "measure")]
    pub json: bool,
    /// Also shrink each bug's first catch and check the shrunk file
    /// reproduces it; report the sizes before and after.
    #[arg(long, requires = "measure")]
    pub shrink: bool,
    /// Where shrunk scenarios are written.
    #[arg(long, default_value = "out/bugs", requires = "shrink")]
    pub out: PathBuf,
    #[command(flatten)]
    pub limits: ShrinkLimitArgs,
    /// Hunt each bug both ways, plain and guided, on the same budget, and
    /// print the runs each took side by side; then the distinct coverage
    /// marks each way reaches in --coverage-runs runs.
    #[arg(long, requires = "measure", conflicts_with = "shrink")]
    pub guided: bool,
    /// A corpus every guided hunt starts from (a copy; it is not changed):
    /// one `sim fuzz --guided --corpus` built without the bug. Repeatable:
    /// each guided hunt then runs from each corpus, and the table gives
    /// each corpus's median and the median of those, for how fast guided
    /// search is depends on its corpus.
    #[arg(long, value_name = "DIR", requires = "guided")]
    pub corpus: Vec<PathBuf>,
    /// Runs of each way for the coverage comparison; 0 skips it.
    #[arg(long, value_name = "N", default_value_t = 1000, requires = "guided", value_parser = parse_count)]
    pub coverage_runs: u64,
}

#[derive(Args)]
pub struct RunArgs {
    /// A scenario file (TOML).
    pub file: Option<PathBuf>,
    /// The seed: overrides the file's, or generates a scenario without one.
    #[arg(long, value_parser = parse_seed)]
    pub seed: Option<u64>,
    /// Enable a planted bug (repeatable).
    #[arg(long = "bug", value_name = "NAME", value_parser = bug_parser())]
    pub bugs: Vec<Bug>,
    /// Write the event trace here, one JSON object per line.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Write the run's timeline here: one HTML file to open in a browser.
    #[arg(long, value_name = "FILE")]
    pub timeline: Option<PathBuf>,
    /// The system's logs on stderr: a level (off, error, warn, info, debug,
    /// trace) or directives such as `info,ledger::log=debug`. Without it,
    /// RUST_LOG is used when set.
    #[arg(long, value_name = "FILTER")]
    pub log: Option<String>,
    /// Print the outcome as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Where to write a failing generated scenario.
    #[arg(long, default_value = "out")]
    pub out: PathBuf,
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct FuzzCommand {
    #[command(subcommand)]
    pub merge: Option<FuzzSubcommand>,
    #[command(flatten)]
    pub args: FuzzArgs,
}

#[derive(Subcommand)]
pub enum FuzzSubcommand {
    /// Combine the `--json` summaries of several shards into one.
    Merge(MergeArgs),
    /// Combine the corpora of several guided runs (shards, nights) into
    /// one, for the next `sim fuzz --guided --corpus`.
    MergeCorpus(MergeCorpusArgs),
}

#[derive(Args)]
pub struct MergeCorpusArgs {
    /// Corpus folders written by `sim fuzz --guided --corpus`.
    #[arg(required = true)]
    pub corpora: Vec<PathBuf>,
    /// The folder to write the merged corpus to: new, or empty.
    #[arg(long, value_name = "DIR")]
    pub into: PathBuf,
}

#[derive(Args)]
pub struct MergeArgs {
    /// Summaries written by `sim fuzz --json`.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Print the merged summary as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct ShrinkArgs {
    /// A failing scenario file (TOML).
    pub file: PathBuf,
    /// Where to write the shrunk scenario (default: FILE with .min.toml).
    #[arg(short = 'o', long = "out", value_name = "OUT")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub limits: ShrinkLimitArgs,
    /// Candidates run at once (default: one per core).
    #[arg(long, value_parser = parse_jobs)]
    pub jobs: Option<usize>,
}

#[derive(Args)]
pub struct ShrinkLimitArgs {
    /// Simulations a shrink may run.
    #[arg(long = "shrink-runs", value_name = "N", default_value_t = 300, value_parser = parse_runs)]
    pub runs: u32,
    /// Wall time a shrink may take.
    #[arg(long = "shrink-time", value_name = "DURATION", default_value = "2m")]
    pub time: Dur,
}

#[derive(Args)]
pub struct FuzzArgs {
    /// Seeds to run, half-open: A..B; or A.. with --budget [default: 0..100,
    /// or 0.. with --budget].
    #[arg(long, value_name = "A..B")]
    pub seeds: Option<SeedRange>,
    /// Stop handing out seeds after this much wall time (e.g. 10m).
    #[arg(long, value_name = "DURATION")]
    pub budget: Option<Dur>,
    /// Simulations run at once, 1 to 256 (default: one per core).
    #[arg(long, value_parser = parse_jobs)]
    pub jobs: Option<usize>,
    /// Run only shard I of N: the seeds s with s mod N = I-1.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
    /// The system's logs on stderr, as for `run --log`; `info` prints each
    /// scenario before it runs. Without it, RUST_LOG is used when set.
    #[arg(long, value_name = "FILTER")]
    pub log: Option<String>,
    /// Write failures without shrinking them.
    #[arg(long)]
    pub no_shrink: bool,
    #[command(flatten)]
    pub limits: ShrinkLimitArgs,
    /// Hunt a planted bug: exit 0 once its expected checker catches it.
    #[arg(long, value_name = "NAME", value_parser = bug_parser())]
    pub bug: Option<Bug>,
    /// Generate only scenarios of this workload kind.
    #[arg(long, value_name = "KIND")]
    pub kind: Option<WorkloadKind>,
    /// Where failing scenarios are written.
    #[arg(long, default_value = "out")]
    pub out: PathBuf,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Guided search: keep the scenarios that reach coverage no earlier run
    /// did, and run mutations of them, most often of those that reached
    /// what few runs reach. --seeds A..B then means B-A runs searched from
    /// starting seed A.
    #[arg(long)]
    pub guided: bool,
    /// Where guided search keeps its corpus; a corpus already there is
    /// resumed. Hunting a bug (--bug), it is only read: runs with a bug
    /// planted do not reach what the correct system reaches.
    #[arg(long, value_name = "DIR", requires = "guided")]
    pub corpus: Option<PathBuf>,
}

#[derive(Args)]
pub struct SeedsArgs {
    /// Seeds to check, half-open: A..B.
    #[arg(long, value_parser = parse_seeds, default_value = "0..20")]
    pub seeds: Range<u64>,
}

#[derive(Args)]
pub struct BenchArgs {
    /// How many generated scenarios to run.
    #[arg(long, default_value_t = 30, value_parser = parse_bench_seeds)]
    pub seeds: u64,
    /// Benchmark only generated scenarios of this workload kind.
    #[arg(long, value_name = "KIND")]
    pub kind: Option<WorkloadKind>,
    /// How many times to run the seeds and the ping-pongs: the timed
    /// figures are the medians over the rounds, and their spread is shown.
    #[arg(long, default_value_t = 3, value_name = "N", value_parser = parse_rounds)]
    pub rounds: u32,
    /// Print the figures as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Also profile where the work goes: the same seeds run again, counting
    /// messages by route and trace events by part, and timing the
    /// simulation against the final checks.
    #[arg(long)]
    pub profile: bool,
}

/// A bounded seed range `A..B`. Its own message, not [`SeedRange`]'s: that
/// one offers `A..` with `--budget`, which only `fuzz` has.
pub fn parse_seeds(text: &str) -> Result<Range<u64>, String> {
    match text.parse::<SeedRange>() {
        Ok(SeedRange {
            start,
            end: Some(end),
        }) => Ok(start..end),
        Ok(SeedRange { end: None, .. }) => Err(format!(
            "expected a bounded seed range A..B with A < B, got `{text}`, which has no end"
        )),
        Err(_) => Err(format!(
            "expected a seed range A..B with A < B, got `{text}`"
        )),
    }
}

/// The planted bugs by name, listed in `--help` with the hazard each plants.
fn bug_parser() -> impl TypedValueParser<Value = Bug> {
    PossibleValuesParser::new(
        Bug::all().map(|bug| PossibleValue::new(bug.name()).help(bug.hazard())),
    )
    .map(|name| Bug::from_name(&name).expect("a listed bug name"))
}

/// Simulations at once: 1 to [`MAX_JOBS`].
fn parse_jobs(text: &str) -> Result<usize, String> {
    let jobs: usize = text
        .parse()
        .map_err(|_| format!("expected 1 to {MAX_JOBS} simulations at once, got `{text}`"))?;
    if !(1..=MAX_JOBS).contains(&jobs) {
        return Err(format!(
            "expected 1 to {MAX_JOBS} simulations at once, got {jobs}"
        ));
    }
    Ok(jobs)
}

/// A seed: any 64-bit whole number.
fn parse_seed(text: &str) -> Result<u64, String> {
    text.parse().map_err(|_| {
        format!(
            "expected a seed, a whole number from 0 to {}, got `{text}`",
            u64::MAX
        )
    })
}

/// A count, zero included.
fn parse_count(text: &str) -> Result<u64, String> {
    text.parse()
        .map_err(|_| format!("expected a whole number (0 or more), got `{text}`"))
}

/// Benchmark rounds: at least one.
/// A benchmark's rounds: enough for a median, never a campaign.
fn parse_rounds(text: &str) -> Result<u32, String> {
    match text.parse::<u32>() {
        Ok(count) if (1..=MOST_BENCH_ROUNDS).contains(&count) => Ok(count),
        _ => Err(format!(
            "expected 1 to {MOST_BENCH_ROUNDS} rounds, got `{text}`"
        )),
    }
}

/// The most seeds and rounds a benchmark runs: an hour or so of seeds,
/// and rounds enough for any median. Longer runs are `sim fuzz`'s work.
const MOST_BENCH_SEEDS: u64 = 100_000;
const MOST_BENCH_ROUNDS: u32 = 100;

fn parse_bench_seeds(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(count) if (1..=MOST_BENCH_SEEDS).contains(&count) => Ok(count),
        _ => Err(format!(
            "expected at least 1 and at most {MOST_BENCH_SEEDS} seeds (a benchmark; `sim fuzz` runs campaigns), got `{text}`"
        )),
    }
}

/// A count of at least one.
fn parse_positive(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(count) if count >= 1 => Ok(count),
        _ => Err(format!(
            "expected a whole number of at least 1, got `{text}`"
        )),
    }
}

/// Simulations a shrink may run: at least one, the original's.
fn parse_runs(text: &str) -> Result<u32, String> {
    at_least_one(text, "simulations")
}

/// A count of `what` from 1 to `u32::MAX`.
fn at_least_one(text: &str, what: &str) -> Result<u32, String> {
    match text.parse::<u32>() {
        Ok(count) if count >= 1 => Ok(count),
        _ => Err(format!("expected 1 to {} {what}, got `{text}`", u32::MAX)),
    }
}

/// A transfer id as reports spell it.
fn parse_transfer(text: &str) -> Result<String, String> {
    ledger::ids::parse(text, "tr-")
        .map(|_| text.to_owned())
        .ok_or_else(|| {
            format!("expected tr- and 16 hex digits, such as tr-9173aee43e87c6f9, got `{text}`")
        })
}
