//! The `sim` command line. Thin: parsing, printing and exit codes; the work
//! happens in the library.

use anyhow::{Context, Result, bail};
use clap::Parser;
use ledger::bugs::Bug;
use sim::{
    bench,
    cli::{
        BenchArgs, BugsArgs, Cli, Command, FuzzArgs, FuzzCommand, FuzzSubcommand, MergeArgs,
        RunArgs, SeedsArgs, ShrinkArgs, ShrinkLimitArgs,
    },
    fuzz::{self, FuzzOptions, FuzzSummary, SeedRange, SeedResult, Shard},
    logging,
    progress::Progress,
    report,
    run::{RunOptions, RunOutcome, run},
    scenario::{self, Scenario, WorkloadKind},
    shrink::{self, ShrinkLimits, Target},
};
use std::{
    io::{IsTerminal, Write},
    path::Path,
    process::ExitCode,
    time::Duration,
};

/// Bad input: a clear one-line error and exit code 2.
#[derive(Debug)]
struct BadInput(String);

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match execute(cli) {
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

fn execute(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Run(args) => run_command(args),
        Command::Fuzz(FuzzCommand {
            merge: Some(FuzzSubcommand::Merge(args)),
            ..
        }) => merge_command(args),
        Command::Fuzz(command) => fuzz_command(command.args),
        Command::Shrink(args) => shrink_command(args),
        Command::CheckDeterminism(args) => check_determinism(args),
        Command::Bench(args) => bench_command(args),
        Command::Bugs(args) if args.measure => measure_bugs(args),
        Command::Bugs(_) => {
            print_bugs();
            Ok(0)
        }
    }
}

fn bad(message: impl Into<String>) -> anyhow::Error {
    BadInput(message.into()).into()
}

fn parse_bug(name: &str) -> Result<Bug> {
    Bug::from_name(name).ok_or_else(|| {
        let known: Vec<_> = Bug::ALL.iter().map(|bug| bug.name()).collect();
        bad(format!(
            "--bug: expected one of {}, got `{name}`",
            known.join(", ")
        ))
    })
}

fn parse_kind(name: &str) -> Result<WorkloadKind> {
    WorkloadKind::from_name(name)
        .filter(|kind| kind.is_built())
        .ok_or_else(|| {
            let known: Vec<_> = WorkloadKind::BUILT.iter().map(|kind| kind.name()).collect();
            bad(format!(
                "--kind: expected one of {}, got `{name}`",
                known.join(", ")
            ))
        })
}

fn run_command(args: RunArgs) -> Result<i32> {
    if let Some(level) = &args.log {
        logging::init(level).map_err(|error| bad(format!("--log: {error}")))?;
    }
    let bugs = args
        .bugs
        .iter()
        .map(|name| parse_bug(name))
        .collect::<Result<Vec<Bug>>>()?;
    let mut overridden = false;
    let (mut scenario, source) = match (&args.file, args.seed) {
        (Some(file), seed) => {
            let mut scenario = scenario::load(file).map_err(|error| bad(error.to_string()))?;
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
    tracing::info!(seed = scenario.seed, "scenario:\n{}", scenario.to_toml());
    let outcome = run(
        &scenario,
        &RunOptions {
            keep_trace: args.trace.is_some(),
            ..RunOptions::default()
        },
    );
    if let (Some(path), Some(lines)) = (&args.trace, &outcome.trace_lines) {
        write_trace(path, lines)?;
    }
    let reproduce = match (&source, overridden) {
        (Some(file), false) => Some(file.clone()),
        _ if outcome.exit_code() != 0 => Some(
            fuzz::write_failure(
                &args.out,
                &scenario,
                &outcome
                    .first_failure()
                    .unwrap_or_else(|| "failed".to_owned()),
            )
            .with_context(|| format!("writing the failing scenario to {}", args.out.display()))?,
        ),
        _ => None,
    };
    print_outcome(&outcome, args.json, reproduce.as_deref())?;
    Ok(outcome.exit_code())
}

fn print_outcome(outcome: &RunOutcome, json: bool, reproduce: Option<&Path>) -> Result<()> {
    let reproduce = reproduce
        .filter(|_| outcome.exit_code() != 0)
        .map(|path| format!("sim run {}", path.display()));
    let mut stdout = std::io::stdout().lock();
    if json {
        let mut value = serde_json::to_value(outcome)?;
        value["reproduce"] = serde_json::json!(reproduce);
        writeln!(stdout, "{value}")?;
    } else {
        write!(stdout, "{}", report::summary(outcome))?;
        if let Some(reproduce) = reproduce {
            writeln!(stdout, "reproduce: {reproduce}")?;
        }
    }
    Ok(())
}

fn write_trace(path: &Path, lines: &[String]) -> Result<()> {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).with_context(|| format!("writing the trace to {}", path.display()))
}

fn jobs(requested: Option<usize>) -> Result<usize> {
    match requested {
        Some(0) => Err(bad("--jobs: expected at least 1")),
        Some(jobs) => Ok(jobs),
        None => Ok(std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)),
    }
}

fn limits(args: &ShrinkLimitArgs, jobs: usize) -> Result<ShrinkLimits> {
    if args.runs == 0 {
        return Err(bad("--shrink-runs: expected at least 1"));
    }
    Ok(ShrinkLimits {
        runs: args.runs,
        time: args.time.0,
        jobs,
    })
}

/// At most this many failures of a run are shrunk: the first of each
/// checker and exit kind.
const SHRINK_MOST: usize = 5;

fn fuzz_command(args: FuzzArgs) -> Result<i32> {
    if let Some(level) = &args.log {
        logging::init(level).map_err(|error| bad(format!("--log: {error}")))?;
    }
    let bug = args.bug.as_deref().map(parse_bug).transpose()?;
    let kind = args.kind.as_deref().map(parse_kind).transpose()?;
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
    if budget == Some(Duration::ZERO) {
        return Err(bad("--budget: expected a positive duration such as 10m"));
    }
    let jobs = jobs(args.jobs)?;
    let options = FuzzOptions {
        seeds,
        shard: args.shard.unwrap_or(Shard::ALL),
        budget,
        jobs,
        bug,
        kind,
        out: args.out.clone(),
    };
    let limits = limits(&args.limits, jobs)?;
    let terminal = std::io::stderr().is_terminal();
    let mut progress = Progress::new(fuzz::count(options.seeds, options.shard), budget);
    let json = args.json;
    let mut summary = fuzz::fuzz(&options, |result: &SeedResult| {
        progress.seed(result.file.is_some());
        if terminal {
            eprint!("\r{}\x1b[K", progress.line());
        }
        if let (Some(file), false) = (&result.file, json) {
            println!(
                "seed {}: {} — reproduce: sim run {}",
                result.seed,
                result.message.as_deref().unwrap_or("failed"),
                file.display()
            );
        }
    })
    .with_context(|| format!("writing failing scenarios to {}", args.out.display()))?;
    if terminal {
        eprintln!();
    }
    if !args.no_shrink {
        fuzz::shrink_failures(
            &mut summary,
            &options,
            &limits,
            SHRINK_MOST,
            |seed, shrunk, path| {
                if !json {
                    println!(
                        "seed {seed}: shrunk from {} to {} — reproduce: sim run {}",
                        shrunk.before,
                        shrunk.after,
                        path.display()
                    );
                }
            },
        )
        .with_context(|| format!("writing shrunk scenarios to {}", args.out.display()))?;
    }
    if json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        print!("{}", summary.table());
    }
    Ok(summary.exit_code())
}

fn merge_command(args: MergeArgs) -> Result<i32> {
    let parts = args
        .files
        .iter()
        .map(|file| {
            let text = std::fs::read_to_string(file)
                .map_err(|error| bad(format!("{}: cannot read: {error}", file.display())))?;
            serde_json::from_str::<FuzzSummary>(&text).map_err(|error| {
                bad(format!(
                    "{}: expected a summary written by `sim fuzz --json`: {error}",
                    file.display()
                ))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let merged = FuzzSummary::merge(parts).map_err(|error| bad(format!("merge: {error}")))?;
    if args.json {
        println!("{}", serde_json::to_string(&merged)?);
    } else {
        print!("{}", merged.table());
    }
    Ok(merged.exit_code())
}

fn shrink_command(args: ShrinkArgs) -> Result<i32> {
    let scenario = scenario::load(&args.file).map_err(|error| bad(error.to_string()))?;
    let limits = limits(&args.limits, jobs(args.jobs)?)?;
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
    let out = args
        .out
        .unwrap_or_else(|| args.file.with_extension("min.toml"));
    let shrunk = shrink::shrink(&scenario, &target, &limits);
    shrink::write(&out, &shrunk, Some(&args.file))
        .with_context(|| format!("writing the shrunk scenario to {}", out.display()))?;
    println!("failure    {}", shrunk.failure);
    println!("original   {}", shrunk.before);
    println!(
        "shrunk     {} ({} runs in {:.1}s)",
        shrunk.after, shrunk.runs, shrunk.wall_seconds
    );
    println!("reproduce: sim run {}", out.display());
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
        println!(
            "seed {seed}: {} {}{}",
            first.trace_hash,
            second.trace_hash,
            if same { "" } else { "  MISMATCH" }
        );
    }
    let seeds = args.seeds.end - args.seeds.start;
    println!(
        "{} of {seeds} seeds reproduced their trace hash",
        seeds - mismatches
    );
    Ok(if mismatches == 0 { 0 } else { 1 })
}

fn bench_command(args: BenchArgs) -> Result<i32> {
    if args.seeds == 0 {
        bail!(bad("--seeds: expected at least 1"));
    }
    let kind = args.kind.as_deref().map(parse_kind).transpose()?;
    let report = bench::bench(args.seeds, kind);
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "seeds                     {} ({})",
            report.seeds,
            report.kind.unwrap_or("generated mix of kinds")
        );
        println!("wall time                 {:.2}s", report.wall_seconds);
        println!(
            "simulations/s             {:.1}",
            report.simulations_per_second
        );
        println!(
            "simulated s/wall s        {:.0}",
            report.simulated_seconds_per_wall_second
        );
        println!(
            "messages/s (simulations)  {:.0}",
            report.messages_per_second
        );
        println!(
            "ping-pong messages/s      harness {:.0}, raw madsim {:.0} ({:.0}%)",
            report.harness_ping_pong_messages_per_second,
            report.raw_madsim_ping_pong_messages_per_second,
            report.harness_vs_raw * 100.0
        );
        if report.failures > 0 {
            println!(
                "failures                  {} (run `sim fuzz` to see them)",
                report.failures
            );
        }
    }
    Ok(0)
}

/// Hunts each planted bug with plain generated fuzzing; exits 1 when one
/// was not caught in some window, or one of its controls failed.
fn measure_bugs(args: BugsArgs) -> Result<i32> {
    let bugs = if args.bugs.is_empty() {
        Bug::ALL.to_vec()
    } else {
        args.bugs
            .iter()
            .map(|name| parse_bug(name))
            .collect::<Result<_>>()?
    };
    if args.windows.is_empty() || args.limit == 0 || args.jobs == Some(0) {
        return Err(bad(
            "--windows, --limit and --jobs: expected at least one window, one seed and one job",
        ));
    }
    let jobs = args.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
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
        let limits = limits(&args.limits, 1)?;
        let reports = sim::measure::shrink_catches(&hunts, &args.out, &limits, jobs, |report| {
            if progress {
                eprintln!(
                    "  {} shrunk: {} → {}",
                    report.bug, report.before, report.after
                );
            }
        })
        .with_context(|| format!("writing shrunk scenarios to {}", args.out.display()))?;
        Some(reports)
    } else {
        None
    };
    let unreproduced = shrunk.iter().flatten().any(|report| !report.reproduces);
    if args.json {
        let json = serde_json::json!({ "limit": args.limit, "hunts": hunts, "shrunk": shrunk });
        println!("{json}");
    } else {
        print!("{}", sim::measure::table(&hunts, &args.windows, args.limit));
        let seeds: u64 = hunts
            .iter()
            .map(|hunt| hunt.seeds.unwrap_or(args.limit))
            .sum();
        println!(
            "{seeds} seeds in {:.1}s on {jobs} threads",
            started.elapsed().as_secs_f64()
        );
        if let Some(reports) = &shrunk {
            println!();
            print!("{}", sim::measure::shrink_table(reports));
        }
    }
    Ok(i32::from(missed || controls_broken || unreproduced))
}

fn print_bugs() {
    println!(
        "{:<26} {:<7} {:<30} {:<12} hazard",
        "bug", "class", "caught by", "trigger"
    );
    for bug in Bug::ALL {
        let class = match bug.class() {
            ledger::bugs::BugClass::Safety => "safety",
            ledger::bugs::BugClass::Liveness => "liveness",
        };
        println!(
            "{:<26} {:<7} {:<30} {:<12} {}",
            bug.name(),
            class,
            bug.expected_checkers().join(" or "),
            bug.trigger().name(),
            bug.hazard()
        );
    }
}
