//! The `sim` command line's grammar: every subcommand and option. The
//! binary (`main.rs`) acts on it; tests parse command lines with it, so that
//! scripts and workflows that call `sim` are checked against the real thing.

use clap::{Args, Parser, Subcommand};
use std::{ops::Range, path::PathBuf};

use crate::{
    fuzz::{SeedRange, Shard},
    scenario::Dur,
};

#[derive(Parser)]
#[command(
    name = "sim",
    version,
    about = "Deterministic simulation of the ledger: run, fuzz, check."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
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
}

#[derive(Args)]
pub struct BugsArgs {
    /// Measure how many generated seeds each bug takes to be caught.
    #[arg(long)]
    pub measure: bool,
    /// Measure only this bug (repeatable).
    #[arg(long = "bug", value_name = "NAME", requires = "measure")]
    pub bugs: Vec<String>,
    /// First seeds of the windows hunted, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "0,1000,2000",
        requires = "measure"
    )]
    pub windows: Vec<u64>,
    /// The most seeds hunted per window.
    #[arg(long, default_value_t = 1000, requires = "measure")]
    pub limit: u64,
    /// Hunts run at once (default: one per core).
    #[arg(long, requires = "measure")]
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
}

#[derive(Args)]
pub struct RunArgs {
    /// A scenario file (TOML).
    pub file: Option<PathBuf>,
    /// The seed: overrides the file's, or generates a scenario without one.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Enable a planted bug (repeatable).
    #[arg(long = "bug", value_name = "NAME")]
    pub bugs: Vec<String>,
    /// Write the event trace here, one JSON object per line.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
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
    #[arg(long)]
    pub jobs: Option<usize>,
}

#[derive(Args)]
pub struct ShrinkLimitArgs {
    /// Simulations a shrink may run.
    #[arg(long = "shrink-runs", value_name = "N", default_value_t = 300)]
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
    #[arg(long)]
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
    #[arg(long, value_name = "NAME")]
    pub bug: Option<String>,
    /// Generate only scenarios of this workload kind (transfers, log, bank,
    /// chain).
    #[arg(long, value_name = "KIND")]
    pub kind: Option<String>,
    /// Where failing scenarios are written.
    #[arg(long, default_value = "out")]
    pub out: PathBuf,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
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
    #[arg(long, default_value_t = 30)]
    pub seeds: u64,
    /// Benchmark only generated scenarios of this workload kind.
    #[arg(long, value_name = "KIND")]
    pub kind: Option<String>,
    /// Print the figures as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// A bounded seed range `A..B`.
pub fn parse_seeds(text: &str) -> Result<Range<u64>, String> {
    let range: SeedRange = text.parse()?;
    let end = range
        .end
        .ok_or_else(|| format!("expected a bounded seed range A..B, got `{text}`"))?;
    Ok(range.start..end)
}
