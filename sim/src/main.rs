//! The `sim` command line. Thin: parsing, printing and exit codes; the work
//! happens in the library.
//!
//! Bad input of any kind (a file, a value, a place to write) is one line on
//! stderr and exit 2, found before any work where it can be. A run's verdict
//! is always printed before any later failure to write its files.

use anyhow::{Context, Result};
use clap::Parser;
use ledger::bugs::Bug;
use sim::{
    bench,
    cli::{
        BenchArgs, BugsArgs, Cli, Command, ExplainArgs, FuzzArgs, FuzzCommand, FuzzSubcommand,
        MAX_JOBS, MergeArgs, MergeCorpusArgs, RunArgs, SeedsArgs, ShrinkArgs, ShrinkLimitArgs,
    },
    color::{self, Color},
    files,
    fuzz::{self, FuzzOptions, FuzzSummary, SeedRange, SeedResult, Shard},
    guided::{self, Corpus},
    logging,
    progress::Progress,
    report, reproduce,
    run::{RunOptions, RunOutcome, run},
    scenario::Scenario,
    shrink::{self, ShrinkLimits, Target},
    timeline::{Explained, Timeline},
    words::count,
};
use std::{
    io::{IsTerminal, Write},
    path::Path,
    process::ExitCode,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

/// Simulations allocate for every message and event; mimalloc's
/// thread-local free lists make that a fraction of glibc's cost, and each
/// fuzz worker thread gets its own heap. Allocation order never reaches a
/// run's behaviour, so the choice does not touch determinism.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The largest fuzz summary `fuzz merge` reads.
const MAX_SUMMARY_BYTES: u64 = 256 << 20;
/// The longest wall-time budget or shrink time: a week.
const MAX_WALL_TIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// Bad input: a clear one-line error and exit code 2.
#[derive(Debug)]
struct BadInput(String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// Writes a line of results to stdout. A reader that went away (`| head`)
/// stops the output, never the command: its exit code still says what
/// happened. Any other failure (a full disk) is kept for the exit code:
/// a summary cut short must not pass for a whole one.
macro_rules! say {
    ($($arg:tt)*) => {{
        if let Err(error) = writeln!(std::io::stdout().lock(), $($arg)*) {
            output_failed(error);
        }
    }};
}

/// Like [`say!`], without the newline.
macro_rules! say_raw {
    ($($arg:tt)*) => {{
        if let Err(error) = write!(std::io::stdout().lock(), $($arg)*) {
            output_failed(error);
        }
    }};
}

/// The first failure to write stdout other than a reader gone away.
static OUTPUT_FAILURE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn output_failed(error: std::io::Error) {
    if error.kind() != std::io::ErrorKind::BrokenPipe {
        let _ = OUTPUT_FAILURE.set(error.to_string());
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return command_line_error(&error),
    };
    let result = execute(cli);
    if let Err(error) = std::io::stdout().flush() {
        output_failed(error);
    }
    if let Some(failure) = OUTPUT_FAILURE.get() {
        eprintln!("error: stdout: the output could not be written: {failure}");
        return ExitCode::from(2);
    }
    match result {
        Ok(code) => ExitCode::from(code as u8),
        Err(error) => {
            let code = if error.downcast_ref::<BadInput>().is_some() {
                2
            } else {
                4
            };
            eprintln!("error: {error:#}");
            ExitCode::from(code)
        }
    }
}

/// Help and version go out as clap writes them; a bad command line is one
/// line on stderr, with the values it accepts when clap lists them, and exit 2.
fn command_line_error(error: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = error.print();
        return ExitCode::from(if error.use_stderr() { 2 } else { 0 });
    }
    let rendered = error.render().to_string();
    let mut lines = rendered
        .lines()
        .map(str::trim)
        .skip_while(|line| line.is_empty());
    let mut message = lines
        .next()
        .unwrap_or("error: a bad command line")
        .to_owned();
    // A message ending in a colon lists what it means on the lines below
    // it (the arguments missing), up to the blank line before the usage.
    if message.ends_with(':') {
        let listed: Vec<&str> = lines.by_ref().take_while(|line| !line.is_empty()).collect();
        message = format!("{message} {}", listed.join(", "));
    }
    if let Some(values) = lines.find(|line| line.starts_with("[possible values:")) {
        message = format!("{message} {values}");
    }
    eprintln!("{message}");
    ExitCode::from(2)
}

fn execute(cli: Cli) -> Result<i32> {
    let color = cli.color;
    match cli.command {
        Command::Run(args) => run_command(args, color),
        Command::Fuzz(FuzzCommand {
            merge: Some(FuzzSubcommand::Merge(args)),
            ..
        }) => merge_command(args),
        Command::Fuzz(FuzzCommand {
            merge: Some(FuzzSubcommand::MergeCorpus(args)),
            ..
        }) => merge_corpus_command(args),
        Command::Fuzz(command) => fuzz_command(command.args, color),
        Command::Shrink(args) => shrink_command(args),
        Command::CheckDeterminism(args) => check_determinism(args),
        Command::Bench(args) => bench_command(args),
        Command::Bugs(args) if args.measure => measure_bugs(args),
        Command::Explain(args) => explain_command(args),
        Command::Bugs(_) => {
            say_raw!("{}", report::bug_catalogue());
            Ok(0)
        }
    }
}

fn bad(message: impl Into<String>) -> anyhow::Error {
    BadInput(message.into()).into()
}

/// Installs logging from `--log`, or else from `RUST_LOG`; in colour only
/// as `--color` says for stderr. An empty `RUST_LOG` counts as unset, as a
/// shell's `export RUST_LOG=` means it.
fn start_logging(log: Option<&str>, color: Color) -> Result<()> {
    let (option, filter) = match log {
        Some(filter) => ("--log", filter.to_owned()),
        None => match std::env::var("RUST_LOG") {
            Ok(filter) if !filter.trim().is_empty() => ("RUST_LOG", filter),
            _ => return Ok(()),
        },
    };
    logging::init(&filter, color.stderr()).map_err(|error| bad(format!("{option}: {error}")))
}

/// Checks before any work that a file can be written at `path`.
fn writable_file(option: &str, path: &Path) -> Result<()> {
    files::check_writable_file(path).map_err(|error| bad(format!("{option}: {error}")))
}

/// Checks before any work that files can be written into `dir`.
fn writable_dir(option: &str, dir: &Path) -> Result<()> {
    files::check_writable_dir(dir).map_err(|error| bad(format!("{option}: {error}")))
}

fn run_command(args: RunArgs, color: Color) -> Result<i32> {
    start_logging(args.log.as_deref(), color)?;
    let bugs = args.bugs.clone();
    let mut overridden = false;
    let (mut scenario, source) = match (&args.file, args.seed) {
        (Some(file), seed) => {
            let mut scenario = sim::load(file).map_err(|error| bad(error.to_string()))?;
            if let Some(seed) = seed {
                overridden |= seed != scenario.seed;
                scenario.seed = seed;
            }
            (scenario, Some(file.clone()))
        }
        // The scenario `sim fuzz --bug` runs for this seed, so that a fuzz
        // seed reruns as `sim run --seed N --bug NAME`.
        (None, Some(seed)) => (fuzz::scenario_for(seed, bugs.first().copied(), None), None),
        (None, None) => return Err(bad("give a scenario file, or --seed N to generate one")),
    };
    for bug in bugs {
        if !scenario
            .system
            .bugs
            .iter()
            .any(|enabled| enabled == bug.name())
        {
            scenario.system.bugs.push(bug.name().to_owned());
            overridden = true;
        }
    }
    if let Some(trace) = &args.trace {
        writable_file("--trace", trace)?;
    }
    if let Some(timeline) = &args.timeline {
        writable_file("--timeline", timeline)?;
    }
    // A failure of a scenario that is not its file as written is written
    // out to reproduce it.
    let writes_failures = source.is_none() || overridden;
    if writes_failures {
        writable_dir("--out", &args.out)?;
    }
    tracing::info!(seed = scenario.seed, "scenario:\n{}", scenario.to_toml());
    let outcome = run(
        &scenario,
        &RunOptions {
            keep_trace: args.trace.is_some(),
            timeline: args.timeline.is_some(),
            ..RunOptions::default()
        },
    );
    let failure_file = if writes_failures && outcome.exit_code() != 0 {
        let what = outcome
            .first_failure()
            .unwrap_or_else(|| "failed".to_owned());
        Some(fuzz::write_failure(&args.out, &scenario, &what))
    } else {
        None
    };
    let reproduce = match (&failure_file, &source) {
        (Some(Ok(path)), _) => Some(path.clone()),
        (None, Some(file)) => Some(file.clone()),
        _ => None,
    };
    print_outcome(&outcome, args.json, reproduce.as_deref(), color)?;
    // Late failures to write come after the verdict, never instead of it.
    if let Some(Err(error)) = failure_file {
        return Err(bad(format!(
            "--out: writing the failing scenario to {}: {error}",
            args.out.display()
        )));
    }
    if let (Some(path), Some(lines)) = (&args.trace, &outcome.trace_lines) {
        write_trace(path, lines)?;
    }
    if let (Some(path), Some(timeline)) = (&args.timeline, &outcome.timeline) {
        write_timeline(path, timeline)?;
    }
    Ok(outcome.exit_code())
}

/// Runs the scenario and tells the life of the transfer asked for.
fn explain_command(args: ExplainArgs) -> Result<i32> {
    let mut scenario = match (&args.file, args.seed) {
        (Some(file), seed) => {
            let mut scenario = sim::load(file).map_err(|error| bad(error.to_string()))?;
            scenario.seed = seed.unwrap_or(scenario.seed);
            scenario
        }
        (None, Some(seed)) => fuzz::scenario_for(seed, args.bugs.first().copied(), None),
        (None, None) => return Err(bad("give a scenario file, or --seed N to generate one")),
    };
    for bug in &args.bugs {
        if !scenario.system.bugs.iter().any(|name| name == bug.name()) {
            scenario.system.bugs.push(bug.name().to_owned());
        }
    }
    if let Some(timeline) = &args.timeline {
        writable_file("--timeline", timeline)?;
    }
    let outcome = run(
        &scenario,
        &RunOptions {
            timeline: true,
            ..RunOptions::default()
        },
    );
    let Some(timeline) = outcome.timeline.as_ref() else {
        // A hung run records nothing to tell.
        eprintln!(
            "{}",
            outcome
                .first_failure()
                .unwrap_or_else(|| "no timeline".to_owned())
        );
        return Ok(outcome.exit_code());
    };
    let which = match &args.transfer {
        Some(id) => Explained::Transfer(id.clone()),
        None => Explained::Violation,
    };
    let story = sim::timeline::explain(timeline, &which).map_err(|why| {
        bad(format!(
            "--{}: {why}",
            if args.violation {
                "violation"
            } else {
                "transfer"
            }
        ))
    })?;
    say_raw!("{story}");
    if let Some(path) = &args.timeline {
        write_timeline(path, timeline)?;
    }
    Ok(0)
}

/// Writes a run's timeline as one HTML file.
fn write_timeline(path: &Path, timeline: &Timeline) -> Result<()> {
    std::fs::write(path, sim::timeline::render(timeline))
        .map_err(|error| bad(format!("--timeline: writing {}: {error}", path.display())))
}

fn print_outcome(
    outcome: &RunOutcome,
    json: bool,
    reproduce: Option<&Path>,
    color: Color,
) -> Result<()> {
    let reproduce = reproduce
        .filter(|_| outcome.exit_code() != 0)
        .map(reproduce::command);
    if json {
        let mut value = serde_json::to_value(outcome)?;
        value["reproduce"] = serde_json::json!(reproduce);
        say!("{value}");
    } else {
        let summary = report::summary(outcome);
        if color.stdout() {
            say_raw!("{}", color::paint_summary(&summary));
        } else {
            say_raw!("{summary}");
        }
        if let Some(reproduce) = reproduce {
            say!("reproduce: {reproduce}");
        }
    }
    Ok(())
}

fn write_trace(path: &Path, lines: &[String]) -> Result<()> {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text)
        .map_err(|error| bad(format!("--trace: writing {}: {error}", path.display())))
}

/// The simulations run at once: as asked (the grammar bounds it), or one
/// per core, at most [`MAX_JOBS`] (what a summary may say it ran with).
fn jobs(requested: Option<usize>) -> usize {
    requested.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map_or(1, std::num::NonZeroUsize::get)
            .min(MAX_JOBS)
    })
}

fn limits(args: &ShrinkLimitArgs, jobs: usize) -> Result<ShrinkLimits> {
    if args.time.0.is_zero() || args.time.0 > MAX_WALL_TIME {
        return Err(bad(format!(
            "--shrink-time: expected a duration above 0s and at most a week, got {}",
            args.time
        )));
    }
    Ok(ShrinkLimits {
        runs: args.runs,
        time: args.time.0,
        jobs,
        interrupt: None,
    })
}

/// At most this many failures of a run are shrunk: the first of each
/// checker and exit kind.
const SHRINK_MOST: usize = 5;

fn fuzz_command(args: FuzzArgs, color: Color) -> Result<i32> {
    start_logging(args.log.as_deref(), color)?;
    let (bug, kind) = (args.bug, args.kind);
    let budget = args.budget.map(|budget| budget.0);
    let seeds = match (args.seeds, budget) {
        (Some(seeds), None) if seeds.end.is_none() => {
            return Err(bad(format!(
                "--seeds: `{seeds}` is open-ended; give A..B, or add --budget"
            )));
        }
        (Some(seeds), _) => seeds,
        (None, Some(_)) => SeedRange {
            start: 0,
            end: None,
        },
        (None, None) => SeedRange {
            start: 0,
            end: Some(100),
        },
    };
    if let Some(budget) = budget
        && (budget.is_zero() || budget > MAX_WALL_TIME)
    {
        return Err(bad(
            "--budget: expected a positive duration of at most a week, such as 10m",
        ));
    }
    let shard = args.shard.unwrap_or(Shard::ALL);
    if !args.guided && fuzz::seeds(seeds, shard).next().is_none() {
        return Err(bad(if shard == Shard::ALL {
            format!(
                "--seeds: {seeds} holds no seed: an open range ends before seed {}",
                u64::MAX
            )
        } else {
            format!(
                "--shard: shard {shard} of seeds {seeds} holds no seed; expected a range of at least {} seeds",
                shard.count
            )
        }));
    }
    let jobs = jobs(args.jobs);
    let limits = limits(&args.limits, jobs)?;
    writable_dir("--out", &args.out)?;
    let mut corpus = Corpus::default();
    if let Some(dir) = &args.corpus {
        // A hunt only reads its corpus: a mistyped folder would otherwise
        // hunt from nothing, and say so only in the figures.
        if bug.is_some() {
            corpus = existing_corpus(
                "--corpus",
                dir,
                "; a hunt only reads its corpus, it never starts one",
            )?;
        } else {
            writable_dir("--corpus", dir)?;
            corpus = Corpus::open(dir).map_err(|error| bad(format!("--corpus: {error}")))?;
        }
    }
    let interrupt = on_interrupt()?;
    let options = FuzzOptions {
        seeds,
        shard,
        budget,
        jobs,
        bug,
        kind,
        out: args.out.clone(),
        interrupt: Some(interrupt.clone()),
        guided: args.guided,
        corpus: args.corpus.clone(),
    };
    // Guided search runs the range's length on every shard; plain fuzzing
    // splits the range between shards.
    let planned = if options.guided {
        seeds.end.map(|end| end - seeds.start)
    } else {
        fuzz::count(options.seeds, options.shard)
    };

    let mut progress = Progress::new(planned, budget);
    let json = args.json;
    let mut noticed = false;
    const INTERRUPTED: &str = "interrupted: no new seeds; the running ones finish, then the table (Ctrl-C again quits at once)";
    let on_seed = |result: &SeedResult| {
        progress.seed(result.file.is_some());
        if let (Some(file), false) = (&result.file, json) {
            progress.suspend(|| {
                say!(
                    "seed {}: {} — reproduce: {}",
                    result.seed,
                    result.message.as_deref().unwrap_or("failed"),
                    reproduce::command(file)
                );
            });
        }
        if !noticed && interrupt.load(Ordering::SeqCst) {
            noticed = true;
            progress.suspend(|| eprintln!("{INTERRUPTED}"));
        }
    };
    let found = if options.guided {
        guided::guided(&options, &mut corpus, on_seed).map_err(|error| bad(error.to_string()))
    } else {
        fuzz::fuzz(&options, on_seed).map_err(|error| {
            bad(format!(
                "--out: writing failing scenarios to {}: {error}",
                args.out.display()
            ))
        })
    };
    progress.finish();
    // Ctrl-C after the last seed handed out ended: no seed ended since to
    // say it.
    if !noticed && interrupt.load(Ordering::SeqCst) {
        eprintln!("{INTERRUPTED}");
    }
    let mut summary = found?;
    let shrunk = if args.no_shrink {
        Ok(())
    } else {
        fuzz::shrink_failures(
            &mut summary,
            &options,
            &limits,
            SHRINK_MOST,
            |seed, shrunk, path| {
                if !json {
                    say!(
                        "seed {seed}: shrunk from {} to {} — reproduce: {}",
                        shrunk.before,
                        shrunk.after,
                        reproduce::command(path)
                    );
                }
            },
        )
    };
    if json {
        say!("{}", serde_json::to_string(&summary)?);
    } else {
        say_raw!("{}", summary.table());
    }
    shrunk.map_err(|error| {
        bad(format!(
            "--out: writing shrunk scenarios to {}: {error}",
            args.out.display()
        ))
    })?;
    Ok(summary.exit_code())
}

/// Ctrl-C during `sim fuzz`. The first raises the returned flag: no seed
/// starts after it, the simulations running finish (a simulation cut short
/// would have no verdict, and each takes about a second), no failure is
/// shrunk, and the table of the seeds run prints with the exit code of
/// their verdicts. A second exits at once with 130 (128 + SIGINT, what a
/// shell reports for a process Ctrl-C killed).
fn on_interrupt() -> Result<Arc<AtomicBool>> {
    use signal_hook::{consts::SIGINT, flag};
    let interrupt = Arc::new(AtomicBool::new(false));
    // Registered first, so that at each Ctrl-C it looks before the flag is
    // raised: it exits only when the flag was up already.
    flag::register_conditional_shutdown(SIGINT, 130, Arc::clone(&interrupt))?;
    flag::register(SIGINT, Arc::clone(&interrupt))?;
    Ok(interrupt)
}

fn merge_command(args: MergeArgs) -> Result<i32> {
    let parts = args
        .files
        .iter()
        .map(|file| {
            let text = files::read_text(file, MAX_SUMMARY_BYTES)
                .map_err(|error| bad(format!("{}: {error}", file.display())))?;
            let summary = serde_json::from_str::<FuzzSummary>(&text).map_err(|error| {
                bad(format!(
                    "{}: expected a summary written by `sim fuzz --json`: {error}",
                    file.display()
                ))
            })?;
            Ok((file.display().to_string(), summary))
        })
        .collect::<Result<Vec<_>>>()?;
    let merged = FuzzSummary::merge(parts).map_err(|error| bad(format!("merge: {error}")))?;
    if args.json {
        say!("{}", serde_json::to_string(&merged)?);
    } else {
        say_raw!("{}", merged.table());
    }
    Ok(merged.exit_code())
}

/// The corpus in `dir`, which must hold one; errors name `flag` (if any)
/// and end with `why`.
fn existing_corpus(flag: &str, dir: &Path, why: &str) -> Result<Corpus> {
    let flag = if flag.is_empty() {
        String::new()
    } else {
        format!("{flag}: ")
    };
    if !dir.join(guided::corpus::INDEX).is_file() {
        return Err(bad(format!(
            "{flag}{}: expected a corpus folder written by `sim fuzz --guided --corpus`, with {}{why}",
            dir.display(),
            guided::corpus::INDEX
        )));
    }
    Corpus::open(dir).map_err(|error| bad(format!("{flag}{error}")))
}

fn merge_corpus_command(args: MergeCorpusArgs) -> Result<i32> {
    if std::fs::read_dir(&args.into).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(bad(format!(
            "--into: {} is not empty; expected a new or empty folder",
            args.into.display()
        )));
    }
    let parts = args
        .corpora
        .iter()
        .map(|dir| existing_corpus("", dir, ""))
        .collect::<Result<Vec<Corpus>>>()?;
    writable_dir("--into", &args.into)?;
    let merged = Corpus::merge(parts);
    merged
        .save(&args.into)
        .map_err(|error| bad(format!("--into: {error}")))?;
    say!(
        "merged {} {} into {}: {}, {} over {}",
        args.corpora.len(),
        if args.corpora.len() == 1 {
            "corpus"
        } else {
            "corpora"
        },
        args.into.display(),
        count(merged.members.len() as u64, "member"),
        count(merged.hits.len() as u64, "feature"),
        count(merged.runs, "run")
    );
    Ok(0)
}

fn shrink_command(args: ShrinkArgs) -> Result<i32> {
    let scenario = sim::load(&args.file).map_err(|error| bad(error.to_string()))?;
    let limits = limits(&args.limits, jobs(args.jobs))?;
    // A name given with -o is the user's: written there, replacing any file
    // (and saying so). The default name never replaces another scenario.
    let (out, named) = match args.out {
        Some(out) => (out, true),
        None => (args.file.with_extension("min.toml"), false),
    };
    writable_file("-o", &out)?;
    let outcome = run(&scenario, &RunOptions::default());
    let Some(target) = Target::of_run(&scenario, &outcome) else {
        return Err(bad(format!(
            "{}: the scenario does not fail ({}), so there is nothing to shrink",
            args.file.display(),
            outcome
                .first_failure()
                .unwrap_or_else(|| "every checker holds".to_owned())
        )));
    };
    let shrunk = shrink::shrink(&scenario, &target, &limits);
    let replaced = named && out.is_file();
    let written = if named {
        std::fs::write(&out, shrink::file_text(&out, &shrunk, Some(&args.file)))
            .map(|()| out.clone())
    } else {
        shrink::write(&out, &shrunk, Some(&args.file))
    };
    say!("failure    {}", shrunk.failure);
    say!("original   {}", shrunk.before);
    say!(
        "shrunk     {} ({} in {:.1}s)",
        shrunk.after,
        count(shrunk.runs, "run"),
        shrunk.wall_seconds
    );
    let written =
        written.map_err(|error| bad(format!("-o: writing {}: {error}", out.display())))?;
    if replaced {
        say!(
            "written    {} (replacing the file there)",
            written.display()
        );
    }
    say!("reproduce: {}", reproduce::command(&written));
    Ok(0)
}

fn check_determinism(args: SeedsArgs) -> Result<i32> {
    let mut mismatches = 0;
    for seed in args.seeds.clone() {
        let scenario: Scenario = fuzz::scenario_for(seed, None, None);
        let first = run(&scenario, &RunOptions::default());
        let second = run(&scenario, &RunOptions::default());
        let same = first.trace_hash == second.trace_hash && first.events == second.events;
        if !same {
            mismatches += 1;
        }
        say!(
            "seed {seed}: {} {}{}",
            first.trace_hash,
            second.trace_hash,
            if same { "" } else { "  MISMATCH" }
        );
    }
    let seeds = args.seeds.end - args.seeds.start;
    say!(
        "{} of {} reproduced {}",
        seeds - mismatches,
        count(seeds, "seed"),
        if seeds == 1 {
            "its trace hash"
        } else {
            "their trace hashes"
        }
    );
    Ok(if mismatches == 0 { 0 } else { 1 })
}

fn bench_command(args: BenchArgs) -> Result<i32> {
    let kind = args.kind;
    let report = bench::bench(args.seeds, kind, args.rounds, args.profile);
    if args.json {
        say!("{}", serde_json::to_string(&report)?);
        return Ok(0);
    }
    say!("build                     {}", report.build);
    say!(
        "seeds                     {} ({})",
        report.seeds,
        report.kind.unwrap_or("generated mix of kinds")
    );
    let spread = report
        .rounds
        .iter()
        .map(|round| format!("{:.1}", round.simulations_per_second))
        .collect::<Vec<_>>()
        .join(", ");
    say!(
        "rounds                    {} (medians shown; simulations/s by round: {spread})",
        report.rounds.len()
    );
    say!("wall time                 {:.2}s", report.wall_seconds);
    say!(
        "simulations/s             {:.1}",
        report.simulations_per_second
    );
    say!(
        "simulated s/wall s        {:.0}",
        report.simulated_seconds_per_wall_second
    );
    say!(
        "messages/s (simulations)  {:.0}",
        report.messages_per_second
    );
    say!("messages/seed             {:.0}", report.messages_per_seed);
    if let Some(per_transfer) = report.messages_per_transfer {
        say!("messages/transfer         {per_transfer:.0} (per accepted transfer)");
    }
    say!(
        "ping-pong messages/s      harness {:.0}, raw madsim {:.0} ({:.0}%)",
        report.harness_ping_pong_messages_per_second,
        report.raw_madsim_ping_pong_messages_per_second,
        report.harness_vs_raw * 100.0
    );
    say!(
        "machine-relative          {:.1} simulations/s per million raw madsim messages/s",
        report.simulations_per_raw_million
    );
    if report.failures > 0 {
        say!(
            "failures                  {} (run `sim fuzz` to see them)",
            report.failures
        );
    }
    if let Some(profile) = &report.profile {
        say_raw!("{}", bench::profile_table(profile, report.seeds));
    }
    Ok(0)
}

/// Hunts each planted bug with plain generated fuzzing; exits 1 when one
/// was not caught in some window, or one of its controls failed.
fn measure_bugs(args: BugsArgs) -> Result<i32> {
    let bugs = if args.bugs.is_empty() {
        Bug::all().collect()
    } else {
        args.bugs.clone()
    };
    if args.windows.is_empty() {
        return Err(bad("--windows: expected at least one window"));
    }
    if let Some(window) = args
        .windows
        .iter()
        .find(|window| window.checked_add(args.limit).is_none())
    {
        return Err(bad(format!(
            "--windows: window {window} with --limit {} runs past the last seed",
            args.limit
        )));
    }
    let jobs = jobs(args.jobs);
    if args.guided {
        return measure_guided(&args, &bugs, jobs);
    }
    let limits = limits(&args.limits, 1)?;
    if args.shrink {
        writable_dir("--out", &args.out)?;
    }
    // Wall time of the whole measurement, outside every simulation.
    #[allow(clippy::disallowed_methods)]
    let started = std::time::Instant::now();
    let progress = std::io::stderr().is_terminal();
    let hunts = sim::measure::measure(&bugs, &args.windows, args.limit, jobs, |hunt| {
        if progress {
            let seeds = hunt.seeds.map_or("-".to_owned(), |seeds| seeds.to_string());
            eprintln!("  {} from {}: {seeds}", hunt.bug, hunt.window);
        }
    });
    let missed = hunts.iter().any(|hunt| hunt.seeds.is_none());
    let controls_broken = hunts.iter().any(|hunt| !hunt.controls_hold());
    let shrunk = if args.shrink {
        let reports = sim::measure::shrink_catches(&hunts, &args.out, &limits, jobs, |report| {
            if progress {
                eprintln!(
                    "  {} shrunk: {} → {}",
                    report.bug, report.before, report.after
                );
            }
        })
        .with_context(|| format!("writing shrunk scenarios to {}", args.out.display()))
        .map_err(|error| bad(format!("--out: {error:#}")))?;
        Some(reports)
    } else {
        None
    };
    let unreproduced = shrunk.iter().flatten().any(|report| !report.reproduces);
    if args.json {
        let json = serde_json::json!({ "limit": args.limit, "hunts": hunts, "shrunk": shrunk });
        say!("{json}");
    } else {
        say_raw!("{}", sim::measure::table(&hunts, &args.windows, args.limit));
        let seeds: u64 = hunts
            .iter()
            .map(|hunt| hunt.seeds.unwrap_or(args.limit))
            .sum();
        say!(
            "{} in {:.1}s on {}",
            count(seeds, "seed"),
            started.elapsed().as_secs_f64(),
            count(jobs as u64, "thread")
        );
        if let Some(reports) = &shrunk {
            say!();
            say_raw!("{}", sim::measure::shrink_table(reports));
        }
    }
    Ok(i32::from(missed || controls_broken || unreproduced))
}

/// `sim bugs --measure --guided`: each bug hunted plain and guided on the
/// same budget, then the coverage each reaches; exits 1 when a guided hunt
/// missed or a control failed.
fn measure_guided(args: &BugsArgs, bugs: &[Bug], jobs: usize) -> Result<i32> {
    let mut corpora = Vec::new();
    for dir in &args.corpus {
        corpora.push(existing_corpus("--corpus", dir, "")?);
    }
    if corpora.is_empty() {
        corpora.push(Corpus::default());
    }
    // Wall time of the whole measurement, outside every simulation.
    #[allow(clippy::disallowed_methods)]
    let started = std::time::Instant::now();
    let progress = std::io::stderr().is_terminal();
    let hunts = guided::measure::measure(
        bugs,
        &args.windows,
        args.limit,
        jobs,
        &corpora,
        |plain, guided| {
            if progress {
                let shown =
                    |runs: Option<u64>| runs.map_or("-".to_owned(), |runs| runs.to_string());
                let guided: Vec<String> = guided.iter().map(|hunt| shown(hunt.runs)).collect();
                eprintln!(
                    "  {} from {}: plain {}, guided {}",
                    plain.bug,
                    plain.window,
                    shown(plain.seeds),
                    guided.join(", ")
                );
            }
        },
    );
    let coverage = (args.coverage_runs > 0)
        .then(|| guided::measure::coverage(args.coverage_runs, jobs, &corpora));
    let missed = hunts
        .iter()
        .flat_map(|(_, guided)| guided)
        .any(|guided| guided.runs.is_none());
    let broken = hunts.iter().any(|(plain, guided)| {
        !plain.controls_hold() || !guided.iter().all(|guided| guided.controls_hold())
    });
    if args.json {
        let hunts: Vec<serde_json::Value> = hunts
            .iter()
            .map(|(plain, guided)| serde_json::json!({ "plain": plain, "guided": guided }))
            .collect();
        let corpora: Vec<serde_json::Value> = args
            .corpus
            .iter()
            .zip(&corpora)
            .map(|(dir, corpus)| {
                serde_json::json!({
                    "dir": dir,
                    "members": corpus.members.len(),
                    "runs": corpus.runs,
                })
            })
            .collect();
        let json = serde_json::json!({
            "limit": args.limit,
            "corpora": corpora,
            "hunts": hunts,
            "coverage": coverage,
        });
        say!("{json}");
        return Ok(i32::from(missed || broken));
    }
    say_raw!(
        "{}",
        guided::measure::table(&hunts, &args.windows, args.limit)
    );
    let corpus_words = if args.corpus.is_empty() {
        "guided hunts from an empty corpus".to_owned()
    } else {
        let each: Vec<String> = args
            .corpus
            .iter()
            .zip(&corpora)
            .map(|(dir, corpus)| {
                format!(
                    "{} ({}, built over {})",
                    dir.display(),
                    count(corpus.members.len() as u64, "member"),
                    count(corpus.runs, "run")
                )
            })
            .collect();
        format!("guided hunts from a copy of {}", each.join(", "))
    };
    say!(
        "{corpus_words}; {} in {:.1}s on {}",
        count(hunts.len() as u64 * (1 + corpora.len() as u64), "hunt"),
        started.elapsed().as_secs_f64(),
        count(jobs as u64, "thread")
    );
    if let Some(coverage) = coverage {
        let catalogue = sim::coverage::catalogue().len();
        let guided: Vec<String> = coverage
            .guided
            .iter()
            .map(|marks| marks.len().to_string())
            .collect();
        let per_corpus = if guided.len() > 1 {
            " (from each corpus)"
        } else {
            ""
        };
        say!(
            "distinct marks reached in {}: plain {} of {catalogue}, guided {} of {catalogue}{per_corpus}",
            count(coverage.runs, "run"),
            coverage.plain.len(),
            guided.join(", ")
        );
        let guided_any: std::collections::BTreeSet<String> =
            coverage.guided.iter().flatten().cloned().collect();
        let guided_all: std::collections::BTreeSet<String> = coverage
            .guided
            .iter()
            .skip(1)
            .fold(coverage.guided[0].clone(), |all, marks| {
                all.intersection(marks).cloned().collect()
            });
        let only = |ours: &std::collections::BTreeSet<String>,
                    theirs: &std::collections::BTreeSet<String>| {
            let only: Vec<&str> = ours.difference(theirs).map(String::as_str).collect();
            if only.is_empty() {
                "none".to_owned()
            } else {
                only.join(", ")
            }
        };
        say!("  only guided: {}", only(&guided_any, &coverage.plain));
        say!("  only plain: {}", only(&coverage.plain, &guided_all));
    }
    Ok(i32::from(missed || broken))
}
