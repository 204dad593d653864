//! One simulation, start to verdict.
//!
//! Each run gets a fresh thread and a fresh madsim runtime seeded from the
//! scenario (madsim seeds std's hash state only for a thread's first
//! runtime). The fault phase lasts `duration`; the settle phase heals
//! everything and ends as soon as the cluster has converged, or at `settle`
//! (left unset, at the first stretch of it in which no request settled).
//! A converged run then goes on through the quiet tail, with no faults,
//! until nothing is in flight: every late message delivered, every mempool
//! empty, every lease and resubmission timer fired once. Only then is the
//! verdict given, so nothing still on its way can land after it.
//! Every node is killed before the runtime returns. Ground truth is read
//! afterwards: each replica's synced disk through the replica's own recovery,
//! and the clients' history.

mod judge;
mod settle;

use ledger::{
    bugs::Checker,
    chain::{BlockHash, ChainState, Transaction},
    net::NetStats,
    storage::Disk,
};
use madsim::runtime::Runtime;
use serde::{Deserialize, Serialize};
use std::{
    collections::{BTreeMap, BTreeSet},
    panic::AssertUnwindSafe,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use crate::{
    check::{CheckResult, DbLook, LostDisk, Online, Stall},
    events::{HarnessEvent, now},
    history::{History, RequestCounts},
    kinds,
    nemesis::Nemesis,
    profile::{Phases, Profile, Profiler},
    scenario::Scenario,
    timeline::{Timeline, record::Recorder},
    trace::{EventBudget, Trace, TraceSummary},
    watchdog::{self, Progress, Watched},
    workload::Workload,
    world::{ClusterView, InFlight, NEMESIS, World, quiet_tail_grace, quiet_tail_minimum},
};

/// Options of one run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Keep every trace event as a JSONL line.
    pub keep_trace: bool,
    /// Called inside the simulation once the settle phase has converged,
    /// before the quiet tail: for tests that plant something to land late.
    pub at_convergence: Option<Hook>,
    /// End the run as soon as it converges, without the quiet tail: only
    /// for tests that show what the tail catches.
    pub skip_quiet_tail: bool,
    /// Record the run's timeline (`RunOutcome::timeline`).
    pub timeline: bool,
    /// Profile where the run's work goes (`RunOutcome::profile`).
    pub profile: bool,
}

/// Code a test runs inside the simulation, on the world.
#[derive(Clone)]
pub struct Hook(pub Arc<dyn Fn(&World) + Send + Sync>);

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hook")
    }
}

/// How a run ended.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::EnumIter, strum::IntoStaticStr,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Verdict {
    Pass,
    SafetyViolation,
    /// `[expect] violation` named a checker that found nothing.
    ExpectationUnmet,
    LivenessFailure,
    SimulationCrash,
}

impl Verdict {
    /// The process exit code for this verdict (see the README's exit codes).
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Pass => 0,
            Verdict::SafetyViolation | Verdict::ExpectationUnmet => 1,
            Verdict::LivenessFailure => 3,
            Verdict::SimulationCrash => 4,
        }
    }

    /// The verdict as reports name it.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// Ranks verdicts for a fuzz run's overall exit: a safety violation
    /// matters most, then a crash of the simulation, then liveness.
    pub fn severity(self) -> u8 {
        match self {
            Verdict::Pass => 0,
            Verdict::LivenessFailure => 1,
            Verdict::SimulationCrash => 2,
            Verdict::ExpectationUnmet => 3,
            Verdict::SafetyViolation => 4,
        }
    }
}

/// Everything a run produced.
#[derive(Debug, Clone, Serialize)]
pub struct RunOutcome {
    pub scenario: String,
    pub seed: u64,
    pub generator: Option<String>,
    pub workload: String,
    pub bugs: Vec<String>,
    #[serde(rename = "sim_time_us", serialize_with = "micros")]
    pub sim_time: Duration,
    #[serde(rename = "fault_phase_us", serialize_with = "micros")]
    pub fault_phase: Duration,
    #[serde(rename = "settle_phase_us", serialize_with = "micros")]
    pub settle_phase: Duration,
    /// How long the quiet tail lasted (zero when the run did not converge).
    #[serde(rename = "quiet_tail_us", serialize_with = "micros")]
    pub quiet_tail: Duration,
    /// How long the clients' probe after the quiet tail took (zero for a
    /// kind that makes none, or with nothing to ask about).
    #[serde(rename = "final_probe_us", serialize_with = "micros")]
    pub final_probe: Duration,
    /// What was in flight when the quiet tail began.
    pub in_flight_at_tail: InFlight,
    pub events: u64,
    pub trace_hash: String,
    pub requests: RequestCounts,
    pub faults: BTreeMap<&'static str, u64>,
    /// Coverage marks reached, by name (see `coverage`).
    pub marks: BTreeMap<&'static str, u64>,
    /// When each coverage mark was first reached, in simulated time.
    #[serde(skip)]
    pub marks_first_at: BTreeMap<&'static str, Duration>,
    /// Crash points reached (fired or not), by name.
    pub crash_points: BTreeMap<&'static str, u64>,
    pub net: NetStats,
    pub checks: Vec<CheckResult>,
    /// The panic that ended the simulation, if one did.
    pub crash: Option<String>,
    /// Whether the simulation hung: its thread spins on, and running the
    /// scenario again (for a timeline, a shrink) would hang again.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub hung: bool,
    pub expected_violation: Option<Checker>,
    pub verdict: Verdict,
    #[serde(skip)]
    pub trace_lines: Option<Vec<String>>,
    /// The run's picture, when `RunOptions::timeline` asked for it.
    #[serde(skip)]
    pub timeline: Option<Timeline>,
    /// Where the run's work went, when `RunOptions::profile` asked.
    #[serde(skip)]
    pub profile: Option<Profile>,
}

fn micros<S: serde::Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(value.as_micros() as u64)
}

impl RunOutcome {
    pub fn exit_code(&self) -> i32 {
        self.verdict.exit_code()
    }

    /// The first checker that found a violation, if any.
    pub fn failed_checker(&self) -> Option<Checker> {
        self.checks
            .iter()
            .find(|check| !check.passed())
            .map(|check| check.checker)
    }

    /// Whether `checker` reported a violation.
    pub fn violated(&self, checker: Checker) -> bool {
        self.checks
            .iter()
            .any(|check| check.checker == checker && !check.passed())
    }

    /// The first violation, in words, for one-line reports.
    pub fn first_failure(&self) -> Option<String> {
        if let Some(crash) = &self.crash {
            return Some(format!("simulation crashed: {crash}"));
        }
        if self.verdict == Verdict::ExpectationUnmet {
            let expected = self
                .expected_violation
                .map_or("?", |checker| checker.name());
            return Some(format!("expected a violation of {expected}, found none"));
        }
        let violation = self
            .checks
            .iter()
            .flat_map(|check| &check.violations)
            .next()?;
        // Every checker that fired is named, the first one's violation told.
        let others: Vec<&str> = self
            .checks
            .iter()
            .filter(|check| !check.passed() && check.checker != violation.checker)
            .map(|check| check.checker.name())
            .collect();
        let also = if others.is_empty() {
            String::new()
        } else {
            format!(" (also violated: {})", others.join(", "))
        };
        Some(format!(
            "{}{also} at {:.3}s: {}",
            violation.checker,
            violation.at.as_secs_f64(),
            violation.message
        ))
    }
}

/// Runs `scenario` on a fresh thread and returns its outcome, or a crash
/// if the simulation hangs (see [`watchdog`]).
pub fn run(scenario: &Scenario, options: &RunOptions) -> RunOutcome {
    let progress = Arc::new(Progress::default());
    let (sender, ended) = std::sync::mpsc::channel();
    let thread = {
        let (scenario, options, progress) = (scenario.clone(), options.clone(), progress.clone());
        // A fresh thread per run: madsim seeds std's hash state only for the
        // first runtime on a thread, so reusing one would break `seed N` ≡ `run N`.
        #[allow(clippy::disallowed_methods)]
        std::thread::Builder::new()
            .name(format!("sim-seed-{}", scenario.seed))
            .stack_size(16 << 20)
            .spawn(move || {
                let _ = sender.send(run_here(&scenario, &options, &progress));
            })
            .expect("spawn a simulation thread")
    };
    match watchdog::watch(&ended, &progress, watchdog::HANG_AFTER) {
        Watched::Ended(outcome) => outcome,
        Watched::Vanished => match thread.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("a run's thread hands over its outcome before it ends"),
        },
        // The thread cannot be stopped: it spins on, detached, until the
        // process ends.
        Watched::Hung(at) => hung(scenario, at),
    }
}

/// What the simulation hands out of the runtime.
struct Simulated {
    /// The canonical chain, when the scenario ran one.
    chain: Option<Arc<Mutex<ChainState>>>,
    fault_phase: Duration,
    settle_phase: Duration,
    quiet_tail: Duration,
    final_probe: Duration,
    in_flight_at_tail: InFlight,
    /// Transactions still waiting in a mempool at the end.
    pending: Vec<(String, Transaction)>,
    stall: Option<Stall>,
    disks: BTreeMap<String, Arc<Disk>>,
    /// The database disks lost during the run, in order.
    lost_disks: Vec<LostDisk>,
    /// The database's synced disk at moments mid-run.
    db_looks: Vec<DbLook>,
    /// What followed the database's disk to the last look.
    db_reader: ledger::db::DurableReader,
    history: History,
    net: NetStats,
    /// Each node's incarnation at the end, for nodes still running.
    lives: BTreeMap<String, u64>,
    /// The nodes taken out for good.
    retired: BTreeSet<String>,
    /// When each block was made.
    block_times: BTreeMap<BlockHash, Duration>,
    height_times: BTreeMap<u64, Duration>,
    crash_times: BTreeMap<String, Vec<Duration>>,
    /// Each commit the database applied: when, and the transaction's id.
    db_commits: Vec<(Duration, u64)>,
    crash_points: BTreeMap<&'static str, u64>,
}

/// madsim's own limit on a run's simulated time, a backstop far past
/// anything the phases allow: the fault phase, the longest settle phase,
/// the longest quiet tail (its minimum and the longer of its grace and the
/// settle time a quick convergence leaves), the final probe, and a minute
/// more.
fn time_limit(scenario: &Scenario) -> Duration {
    let tail = quiet_tail_minimum(scenario) + quiet_tail_grace(scenario).max(scenario.settle());
    let probe = kinds::of(scenario.workload.kind).final_probe_budget(scenario);
    scenario.duration() + scenario.longest_settle() + tail + probe + Duration::from_secs(60)
}

fn run_here(scenario: &Scenario, options: &RunOptions, progress: &Arc<Progress>) -> RunOutcome {
    // Before the runtime exists: profiling reads the host's clock only
    // outside the simulation.
    let started = wall_clock();
    let mut runtime = Runtime::with_seed_and_config(scenario.seed, madsim::Config::default());
    runtime.set_time_limit(time_limit(scenario));
    let topology = kinds::topology(scenario);
    let trace = Trace::new(
        options.keep_trace,
        progress.clone(),
        Some(EventBudget::for_requests(scenario.workload.requests)),
    );
    // The view first: subscribers see events in subscription order.
    let view = Arc::new(Mutex::new(ClusterView::default()));
    let mut checkers = Online::new(topology.log.len());
    if !topology.ledger.is_empty() {
        checkers.watch_ledger_commands();
    }
    let online = Arc::new(Mutex::new(checkers));
    trace.subscribe(view.clone());
    trace.subscribe(online.clone());
    let recorder = options
        .timeline
        .then(|| Arc::new(Mutex::new(Recorder::new(scenario, &topology))));
    if let Some(recorder) = &recorder {
        trace.subscribe(recorder.clone());
    }
    let profiler = options
        .profile
        .then(|| Arc::new(Mutex::new(Profiler::default())));
    if let Some(profiler) = &profiler {
        trace.subscribe(profiler.clone());
    }
    let built = WorldSlot::default();
    let simulated = std::panic::catch_unwind(AssertUnwindSafe(|| {
        runtime.block_on(simulate(
            scenario,
            options,
            Watchers {
                trace: trace.clone(),
                view,
                online: online.clone(),
            },
            built.clone(),
        ))
    }));
    progress.simulation_over();
    if let Some(world) = built.lock().unwrap_or_else(PoisonError::into_inner).take() {
        world.kill_all();
        drop_killed_tasks(&runtime);
    }
    drop(runtime);
    if let Ok(simulated) = &simulated {
        trace.count_faults(crate::faults::FaultKind::of_network(&simulated.net));
    }
    let summary = trace.finish();
    let simulated_at = wall_clock();
    let mut online = online.lock().unwrap_or_else(PoisonError::into_inner);
    let mut outcome = match simulated {
        Ok(simulated) => judge::judge(scenario, summary, &mut online, simulated),
        Err(panic) => crashed(scenario, summary, panic_message(&panic)),
    };
    if let Some(profiler) = profiler {
        let mut profiler = profiler.lock().unwrap_or_else(PoisonError::into_inner);
        let mut profile = std::mem::take(&mut profiler.profile);
        profile.phases = Phases::split(
            &profiler.message_times,
            outcome.fault_phase,
            outcome.settle_phase,
            outcome.quiet_tail,
        );
        profile.simulation_seconds = (simulated_at - started).as_secs_f64();
        profile.checks_seconds = (wall_clock() - simulated_at).as_secs_f64();
        outcome.profile = Some(profile);
    }
    if let Some(recorder) = recorder {
        // The trace let go of its subscribers when it finished.
        let recorder = Arc::into_inner(recorder)
            .expect("the recorder's only holder once the trace finished")
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        outcome.timeline = Some(recorder.finish(
            scenario,
            outcome.verdict.name(),
            outcome.sim_time,
            &outcome.checks,
        ));
    }
    outcome
}

/// Wall time, read only around the simulation (never inside it) to
/// profile where a run's time goes.
#[allow(clippy::disallowed_methods)]
fn wall_clock() -> std::time::Instant {
    std::time::Instant::now()
}

/// The trace of a run and what watches it.
struct Watchers {
    trace: Arc<Trace>,
    view: Arc<Mutex<ClusterView>>,
    online: Arc<Mutex<Online>>,
}

/// Where a run leaves its world until it ends cleanly.
type WorldSlot = Arc<Mutex<Option<Arc<World>>>>;

/// Drops the tasks of the nodes a crashed run leaves behind, once they
/// are killed. A panic unwinds out of `block_on` with every node's tasks
/// still alive; killing a node wakes its tasks into madsim's ready queue,
/// and the executor drops a killed node's task only when it next takes it
/// from there. A queued task holds the queue it sends itself to, so a
/// queue nobody drains keeps its tasks, and all they hold, alive past the
/// runtime: each crashed run leaked its whole memory (hundreds of MB for one
/// that ran away), and a fuzz run of many such seeds grew without end.
/// One more pass of the executor, with nothing left alive to run, drains
/// the queue.
fn drop_killed_tasks(runtime: &Runtime) {
    // Only drops run in this pass; should one panic, what it failed to
    // free stays leaked, and the run's verdict is already the crash.
    let _ = std::panic::catch_unwind(AssertUnwindSafe(|| runtime.block_on(async {})));
}

async fn simulate(
    scenario: &Scenario,
    options: &RunOptions,
    watchers: Watchers,
    built: WorldSlot,
) -> Simulated {
    let Watchers {
        trace,
        view,
        online,
    } = watchers;
    let topology = kinds::topology(scenario);
    let workload = Workload::new(scenario, &topology, trace.clone());
    let world = World::build(scenario, trace.clone(), view, online, workload.clone());
    *built.lock().unwrap_or_else(PoisonError::into_inner) = Some(world.clone());
    let nemesis = Nemesis::start(&world, scenario);
    madsim::time::sleep(scenario.duration()).await;

    nemesis.stop();
    workload.settle();
    trace.harness(NEMESIS, HarnessEvent::Settle);
    world.settle();
    let settle_start = now();
    let mut stall = settle::converge(
        &world,
        &workload,
        scenario.settle(),
        scenario.longest_settle(),
    )
    .await;
    let settle_phase = now() - settle_start;
    let tail_start = now();
    let mut in_flight_at_tail = InFlight::default();
    if stall.is_none() {
        if let Some(hook) = &options.at_convergence {
            (hook.0)(&world);
        }
        in_flight_at_tail = world.in_flight();
        if !options.skip_quiet_tail {
            // A settle phase that converged early leaves the rest of its
            // budget to the tail: work a ledger replica still held when the
            // cluster looked converged (requests not yet appended to a log
            // that had just elected its first leader) lands in the tail.
            let grace =
                quiet_tail_grace(scenario).max(scenario.settle().saturating_sub(settle_phase));
            stall =
                settle::quiet_tail(&world, &workload, quiet_tail_minimum(scenario), grace).await;
        }
    }
    let quiet_tail = now() - tail_start;
    let probe_start = now();
    if stall.is_none() && !options.skip_quiet_tail {
        let budget = kinds::of(scenario.workload.kind).final_probe_budget(scenario);
        workload.final_probe.run(budget).await;
    }
    let final_probe = now() - probe_start;
    let pending = world.in_flight().pending;
    let net = world.fabric().stats();
    let lives = world.view(|view| {
        view.lives()
            .iter()
            .map(|(node, incarnation)| (node.to_string(), *incarnation))
            .collect()
    });
    let retired = world.retired_nodes();
    let crash_points = world.crash_points_reached();
    let block_times = world.view(|view| view.block_times().clone());
    let height_times = world.view(|view| view.height_times().clone());
    let crash_times = world.view(|view| view.crash_times().clone());
    let db_commits = world.view(|view| view.db_commits().to_vec());
    world.kill_all();
    built.lock().unwrap_or_else(PoisonError::into_inner).take();
    Simulated {
        chain: world.chain().cloned(),
        fault_phase: settle_start,
        settle_phase,
        quiet_tail,
        final_probe,
        in_flight_at_tail,
        pending,
        stall,
        disks: world.disks(),
        lost_disks: world.lost_disks(),
        db_looks: world.take_db_looks(),
        db_reader: world.take_db_reader(),
        history: workload.history(History::clone),
        net,
        lives,
        retired,
        block_times,
        height_times,
        crash_times,
        db_commits,
        crash_points,
    }
}

/// The outcome of a run whose simulated clock stopped at `at`: a crash,
/// with nothing else known of the run.
fn hung(scenario: &Scenario, at: Duration) -> RunOutcome {
    let mut outcome = crashed(
        scenario,
        TraceSummary::default(),
        format!(
            "the simulation hung at {:.3}s: its clock stood still for {}s of wall time, so a task \
             never yields (a loop whose every await is ready at once); it hangs again when run again",
            at.as_secs_f64(),
            watchdog::HANG_AFTER.as_secs()
        ),
    );
    outcome.sim_time = at;
    outcome.hung = true;
    outcome
}

fn crashed(scenario: &Scenario, summary: TraceSummary, message: String) -> RunOutcome {
    // madsim panics this way when every task waits on something that can
    // never happen: a deadlock, which is a liveness failure.
    let deadlock = message.contains("all tasks will block forever");
    let verdict = if deadlock {
        Verdict::LivenessFailure
    } else {
        Verdict::SimulationCrash
    };
    let mut outcome = outcome(scenario, summary, Vec::new(), verdict);
    outcome.crash = Some(message);
    outcome
}

fn outcome(
    scenario: &Scenario,
    summary: TraceSummary,
    checks: Vec<CheckResult>,
    verdict: Verdict,
) -> RunOutcome {
    RunOutcome {
        scenario: scenario.name.clone(),
        seed: scenario.seed,
        generator: scenario.generator.clone(),
        workload: kinds::of(scenario.workload.kind).describe(scenario),
        bugs: scenario.system.bugs.clone(),
        sim_time: Duration::ZERO,
        fault_phase: Duration::ZERO,
        settle_phase: Duration::ZERO,
        quiet_tail: Duration::ZERO,
        final_probe: Duration::ZERO,
        in_flight_at_tail: InFlight::default(),
        events: summary.events,
        trace_hash: format!("{:016x}", summary.hash),
        requests: RequestCounts::default(),
        faults: summary
            .faults
            .iter()
            .map(|(kind, count)| (kind.name(), *count))
            .collect(),
        marks: summary.marks,
        marks_first_at: summary.marks_first_at,
        crash_points: BTreeMap::new(),
        net: NetStats::default(),
        checks,
        crash: None,
        hung: false,
        expected_violation: scenario.expect.as_ref().map(|expect| expect.violation),
        verdict,
        trace_lines: summary.lines,
        timeline: None,
        profile: None,
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::{Verdict, drop_killed_tasks};
    use madsim::runtime::Runtime;
    use std::{
        panic::AssertUnwindSafe,
        sync::{Arc, Weak},
        time::Duration,
    };
    use strum::IntoEnumIterator;

    /// A run in which one node's task panics while another node's task
    /// holds `held`, as a crashed run leaves its nodes behind; the node
    /// is killed afterwards, outside the runtime, and `after_the_kill`
    /// runs before the runtime is dropped. Returns what is left of `held`.
    fn crash_then_kill(after_the_kill: impl FnOnce(&Runtime)) -> Weak<()> {
        let held = Arc::new(());
        let left = Arc::downgrade(&held);
        let runtime = Runtime::with_seed_and_config(7, madsim::Config::default());
        let node = runtime.create_node().name("holder").build();
        let id = node.id();
        let crashed = std::panic::catch_unwind(AssertUnwindSafe(|| {
            runtime.block_on(async move {
                node.spawn(async move {
                    // Waits for ever, holding its share, as a replica waits for its next message.
                    let _held = held;
                    std::future::pending::<()>().await;
                });
                madsim::time::sleep(Duration::from_millis(1)).await;
                panic!("a system task crashes");
            })
        }));
        assert!(crashed.is_err());
        runtime.handle().kill(id);
        after_the_kill(&runtime);
        drop(runtime);
        left
    }

    /// Without the extra pass, the killed node's task and all it holds
    /// outlive the runtime; with it, they are freed.
    #[test]
    fn a_crashed_run_frees_its_killed_nodes_tasks() {
        assert!(
            crash_then_kill(|_| {}).upgrade().is_some(),
            "madsim leaves a killed node's queued task behind"
        );
        assert!(crash_then_kill(drop_killed_tasks).upgrade().is_none());
    }

    /// Summaries write verdicts through serde, tables through their names:
    /// one spelling for both.
    #[test]
    fn a_verdict_serializes_as_its_name() {
        for verdict in Verdict::iter() {
            let json = serde_json::to_string(&verdict).expect("a verdict serializes");
            assert_eq!(json, format!("\"{}\"", verdict.name()));
        }
    }
}
