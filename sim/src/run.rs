//! One simulation, start to verdict.
//!
//! Each run gets a fresh thread and a fresh madsim runtime seeded from the
//! scenario (madsim seeds std's hash state only for a thread's first
//! runtime). The fault phase lasts `duration`; the settle phase heals
//! everything and ends as soon as the cluster has converged, or at `settle`.
//! A converged run then goes on through the quiet tail, with no faults,
//! until nothing is in flight: every late message delivered, every mempool
//! empty, every lease and resubmission timer fired once. Only then is the
//! verdict given, so nothing still on its way can land after it.
//! Every node is killed before the runtime returns. Ground truth is read
//! afterwards: each replica's synced disk through the replica's own recovery,
//! and the clients' history.

use ledger::{
    chain::{ChainState, Transaction},
    db::Recovered,
    log::{DurableLog, read_durable},
    net::NetStats,
    storage::Disk,
};
use madsim::runtime::Runtime;
use serde::{Deserialize, Serialize};
use std::{
    collections::BTreeMap,
    panic::AssertUnwindSafe,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use crate::{
    check::{self, BankTruth, ChainTruth, CheckResult, GroundTruth, LogTruth, PayoutTruth, Stall},
    nemesis::Nemesis,
    scenario::{LOG_LEADER, Scenario, WorkloadKind},
    topology::Topology,
    trace::{HarnessEvent, Trace, TraceSummary, now},
    workload::{
        History, Op, Outcome, Receipt, Request, RequestCounts, Workload, chain::payment_memo,
        transfers::ledger_account,
    },
    world::{InFlight, NEMESIS, World, quiet_tail_minimum},
};

/// How often the settle phase looks for convergence.
const SETTLE_POLL: Duration = Duration::from_millis(50);
/// Latency madsim adds to every datagram.
const SEND_LATENCY: std::ops::Range<Duration> =
    Duration::from_micros(200)..Duration::from_millis(2);

/// How long the quiet tail may go on past its minimum before the run
/// stops waiting for quiet and says what is still in flight.
const QUIET_TAIL_GRACE: Duration = Duration::from_secs(15);
/// Polls in a row that must find nothing in flight to end the quiet tail:
/// a transaction travelling between two nodes is in no mempool meanwhile.
const QUIET_POLLS: u32 = 2;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
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
        match self {
            Verdict::Pass => "pass",
            Verdict::SafetyViolation => "safety-violation",
            Verdict::ExpectationUnmet => "expectation-unmet",
            Verdict::LivenessFailure => "liveness-failure",
            Verdict::SimulationCrash => "simulation-crash",
        }
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
    /// What was in flight when the quiet tail began.
    pub in_flight_at_tail: InFlight,
    pub events: u64,
    pub trace_hash: String,
    pub requests: RequestCounts,
    pub faults: BTreeMap<&'static str, u64>,
    /// Coverage marks reached, by name (see `coverage`).
    pub marks: BTreeMap<&'static str, u64>,
    pub net: NetStats,
    pub checks: Vec<CheckResult>,
    /// The panic that ended the simulation, if one did.
    pub crash: Option<String>,
    pub expected_violation: Option<String>,
    pub verdict: Verdict,
    #[serde(skip)]
    pub trace_lines: Option<Vec<String>>,
}

fn micros<S: serde::Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(value.as_micros() as u64)
}

impl RunOutcome {
    pub fn exit_code(&self) -> i32 {
        self.verdict.exit_code()
    }

    /// The first checker that found a violation, if any.
    pub fn failed_checker(&self) -> Option<&'static str> {
        self.checks
            .iter()
            .find(|check| !check.passed())
            .map(|check| check.checker)
    }

    /// Whether `checker` reported a violation.
    pub fn violated(&self, checker: &str) -> bool {
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
            return Some(format!(
                "expected a violation of {}, found none",
                self.expected_violation.as_deref().unwrap_or("?")
            ));
        }
        let violation = self
            .checks
            .iter()
            .flat_map(|check| &check.violations)
            .next()?;
        Some(format!(
            "{} at {:.3}s: {}",
            violation.checker,
            violation.at.as_secs_f64(),
            violation.message
        ))
    }
}

/// Runs `scenario` on a fresh thread and returns its outcome.
pub fn run(scenario: &Scenario, options: &RunOptions) -> RunOutcome {
    let (scenario, options) = (scenario.clone(), options.clone());
    // A fresh thread per run: madsim seeds std's hash state only for the
    // first runtime on a thread, so reusing one would break `seed N` ≡ `run N`.
    #[allow(clippy::disallowed_methods)]
    std::thread::Builder::new()
        .name(format!("sim-seed-{}", scenario.seed))
        .stack_size(16 << 20)
        .spawn(move || run_here(&scenario, &options))
        .expect("spawn a simulation thread")
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// What the simulation hands out of the runtime.
struct Simulated {
    /// The canonical chain, when the scenario ran one.
    chain: Option<Arc<Mutex<ChainState>>>,
    fault_phase: Duration,
    settle_phase: Duration,
    quiet_tail: Duration,
    in_flight_at_tail: InFlight,
    /// Transactions still waiting in a mempool at the end.
    pending: Vec<(String, Transaction)>,
    stall: Option<Stall>,
    disks: BTreeMap<String, Arc<Disk>>,
    history: History,
    net: NetStats,
    /// Each node's incarnation at the end, for nodes still running.
    lives: BTreeMap<String, u64>,
}

fn run_here(scenario: &Scenario, options: &RunOptions) -> RunOutcome {
    let mut config = madsim::Config::default();
    config.net.send_latency = SEND_LATENCY;
    let mut runtime = Runtime::with_seed_and_config(scenario.seed, config);
    runtime.set_time_limit(scenario.duration() + scenario.settle() + Duration::from_secs(60));
    let trace = Trace::new(options.keep_trace, Topology::of(scenario).log.len());
    let built = WorldSlot::default();
    let simulated = std::panic::catch_unwind(AssertUnwindSafe(|| {
        runtime.block_on(simulate(scenario, options, trace.clone(), built.clone()))
    }));
    // A panic unwound past the end of the run: kill every node here, so
    // dropping the runtime frees their tasks instead of leaking them.
    if let Some(world) = built.lock().unwrap_or_else(PoisonError::into_inner).take() {
        world.kill_all();
    }
    drop(runtime);
    let summary = trace.finish();
    match simulated {
        Ok(simulated) => judge(scenario, summary, simulated),
        Err(panic) => crashed(scenario, summary, panic_message(&panic)),
    }
}

/// Where a run leaves its world until it ends cleanly.
type WorldSlot = Arc<Mutex<Option<Arc<World>>>>;

async fn simulate(
    scenario: &Scenario,
    options: &RunOptions,
    trace: Arc<Trace>,
    built: WorldSlot,
) -> Simulated {
    let workload = Workload::new(scenario, trace.clone());
    let world = World::build(scenario, trace.clone(), workload.clone());
    *built.lock().unwrap_or_else(PoisonError::into_inner) = Some(world.clone());
    let nemesis = Nemesis::start(&world, scenario);
    madsim::time::sleep(scenario.duration()).await;

    nemesis.stop();
    workload.settle();
    trace.harness(NEMESIS, HarnessEvent::Settle);
    world.settle();
    let settle_start = now();
    let mut stall = loop {
        // Sleep first: nodes restarted just now must boot and report before
        // their progress can be judged.
        madsim::time::sleep(SETTLE_POLL).await;
        let stall = convergence(&world, &workload);
        if stall.is_none() || now() - settle_start >= scenario.settle() {
            break stall;
        }
    };
    let settle_phase = now() - settle_start;
    let tail_start = now();
    let mut in_flight_at_tail = InFlight::default();
    if stall.is_none() {
        if let Some(hook) = &options.at_convergence {
            (hook.0)(&world);
        }
        in_flight_at_tail = world.in_flight();
        if !options.skip_quiet_tail {
            stall = quiet_tail(&world, &workload, quiet_tail_minimum(scenario)).await;
        }
    }
    let quiet_tail = now() - tail_start;
    let pending = world.in_flight().pending;
    let net = world.fabric().stats();
    let lives = world.trace().view(|view| {
        view.lives()
            .iter()
            .map(|(node, incarnation)| (node.to_string(), *incarnation))
            .collect()
    });
    world.kill_all();
    built.lock().unwrap_or_else(PoisonError::into_inner).take();
    Simulated {
        chain: world.chain().cloned(),
        fault_phase: settle_start,
        settle_phase,
        quiet_tail,
        in_flight_at_tail,
        pending,
        stall,
        disks: world.disks(),
        history: workload.history(History::clone),
        net,
        lives,
    }
}

/// The quiet tail of a converged run: no faults, and time for everything
/// in flight to land. It ends once `minimum` has passed and nothing is in
/// flight with the cluster still converged; if that never comes, what is
/// left is why the run did not settle.
async fn quiet_tail(world: &World, workload: &Workload, minimum: Duration) -> Option<Stall> {
    let start = now();
    let mut quiet_polls = 0;
    loop {
        madsim::time::sleep(SETTLE_POLL).await;
        let in_flight = world.in_flight();
        let stall = convergence(world, workload);
        let quiet = stall.is_none() && in_flight.is_empty();
        quiet_polls = if quiet { quiet_polls + 1 } else { 0 };
        let waited = now() - start;
        if quiet_polls >= QUIET_POLLS && waited >= minimum {
            return None;
        }
        if waited >= minimum + QUIET_TAIL_GRACE {
            let mut reasons = stall.map(|stall| stall.reasons).unwrap_or_default();
            if !in_flight.is_empty() {
                reasons.push(format!(
                    "the quiet tail never became quiet: after {:.3}s, {in_flight}",
                    waited.as_secs_f64()
                ));
            }
            return (!reasons.is_empty()).then_some(Stall { reasons });
        }
    }
}

/// Why the cluster has not converged yet, or `None` once it has: a leader is
/// up, every replica has applied as far as any, every request is answered.
fn convergence(world: &World, workload: &Workload) -> Option<Stall> {
    let mut reasons = Vec::new();
    let log = &world.topology().log;
    if !log.is_empty() {
        match world.resolve(LOG_LEADER) {
            Err(reason) => reasons.push(format!("no log leader ({reason})")),
            Ok(leader) if !world.trace().view(|view| view.leader_committed_in_term()) => {
                reasons.push(format!(
                    "the log leader {leader} has committed nothing in its term"
                ));
            }
            Ok(_) => {}
        }
        let applied: Vec<(&String, Option<u64>)> = log
            .iter()
            .map(|node| (node, world.trace().view(|view| view.applied(node))))
            .collect();
        let furthest = applied
            .iter()
            .filter_map(|(_, index)| *index)
            .max()
            .unwrap_or(0);
        for (node, index) in &applied {
            match index {
                None => reasons.push(format!("{node} has not recovered")),
                Some(index) if *index < furthest => {
                    reasons.push(format!(
                        "{node} has applied up to index {index}, others up to {furthest}"
                    ));
                }
                Some(_) => {}
            }
        }
    }
    if !world.topology().ledger.is_empty() {
        let committed = log
            .iter()
            .filter_map(|node| world.trace().view(|view| view.applied(node)))
            .max()
            .unwrap_or(0);
        if !world.trace().view(|view| view.payouts_settled(committed)) {
            reasons.push(format!(
                "no ledger replica has folded the log up to index {committed} with every accepted transfer confirmed"
            ));
        }
        world.trace().view(|view| {
            for replica in view.cut_off_from_db() {
                reasons.push(format!("{replica} cannot reach the database"));
            }
        });
    }
    let chain = world
        .chain()
        .map(|chain| chain.lock().unwrap_or_else(PoisonError::into_inner));
    workload.history(|history| {
        for op in history.pending() {
            if let (Some(chain), Request::Payment { .. }) = (&chain, &op.request) {
                reasons.push(payment_stall(chain, op));
                continue;
            }
            if let Request::Payout { request, .. } = &op.request {
                reasons.push(format!(
                    "client {} request {:?} is unanswered after {} attempts (sent at {:.3}s)",
                    op.client,
                    request.request_id,
                    op.attempts,
                    op.sent_at.as_secs_f64()
                ));
                continue;
            }
            reasons.push(format!(
                "client {} request {} is unanswered after {} attempts (sent at {:.3}s)",
                op.client,
                op.seq,
                op.attempts,
                op.sent_at.as_secs_f64()
            ));
        }
    });
    workload.history(|history| {
        for op in history.ops() {
            if let (Outcome::Acknowledged { receipt: Receipt::Transfer(transfer), .. }, None) =
                (&op.outcome, op.confirmed)
            {
                reasons.push(format!(
                    "client {} seq {}: transfer {transfer} was accepted and is not reported confirmed yet",
                    op.client, op.seq
                ));
            }
        }
    });
    if !world.all_up() {
        reasons.push("a node is still down".to_owned());
    }
    (!reasons.is_empty()).then_some(Stall { reasons })
}

/// Where an unconfirmed payment is stuck, as the chain itself shows it.
fn payment_stall(chain: &ChainState, op: &Op) -> String {
    let memo = payment_memo(op.client, op.seq);
    let included = chain.blocks().iter().find_map(|block| {
        block
            .transactions
            .iter()
            .find(|tx| tx.transfer.memo == memo)
            .map(|tx| (block.height, tx.transfer.nonce))
    });
    let pending = chain.pending().find(|tx| tx.transfer.memo == memo);
    let whereabouts = match (included, pending) {
        (Some((height, nonce)), _) => format!(
            "nonce {nonce} is on the chain at height {height}, {} deep",
            chain.height() + 1 - height
        ),
        (None, Some(tx)) => format!("nonce {} waits in the chain's mempool", tx.transfer.nonce),
        (None, None) => "it is pending in no mempool of the chain".to_owned(),
    };
    format!(
        "client {} payment {} ({memo}) is unconfirmed after {} attempts: {whereabouts}",
        op.client, op.seq, op.attempts
    )
}

fn judge(scenario: &Scenario, mut summary: TraceSummary, simulated: Simulated) -> RunOutcome {
    let topology = Topology::of(scenario);
    let disk = |name: &String| &simulated.disks[name];
    let replicas: BTreeMap<String, DurableLog> = topology
        .log
        .iter()
        .map(|name| (name.clone(), read_durable(disk(name))))
        .collect();
    // Ground truth is read one way, whatever bug is planted: the synced
    // commits up to the first bad record.
    let database: Option<Recovered> = topology
        .db
        .first()
        .map(|name| ledger::db::read_durable(disk(name)));
    let end = simulated.fault_phase + simulated.settle_phase + simulated.quiet_tail;
    let chain = simulated
        .chain
        .as_ref()
        .map(|chain| chain.lock().unwrap_or_else(PoisonError::into_inner));
    let payouts = match (&database, chain.as_deref()) {
        (Some(db), Some(state)) if scenario.workload.kind == WorkloadKind::Transfers => {
            Some(PayoutTruth {
                log: check::majority_log(&replicas),
                db,
                chain: state,
                history: &simulated.history,
                accounts: (0..scenario.workload.accounts)
                    .map(ledger_account)
                    .collect(),
                initial_balance: scenario.system.initial_balance,
                confirmations: u64::from(scenario.system.confirmations),
                converged: simulated.stall.is_none(),
                pending: &simulated.pending,
                lives: &simulated.lives,
                end,
            })
        }
        _ => None,
    };
    // A stalled run's reasons, with where each unconfirmed payout is stuck.
    let stall = simulated.stall.clone().map(|mut stall| {
        if let Some(payouts) = &payouts {
            stall.reasons.extend(check::payouts::stall_reasons(payouts));
        }
        stall
    });
    let truth = GroundTruth {
        kind: scenario.workload.kind,
        history: &simulated.history,
        log: (!topology.log.is_empty()).then_some(LogTruth {
            replicas: &replicas,
        }),
        bank: database
            .as_ref()
            .filter(|_| scenario.workload.kind == WorkloadKind::Bank)
            .map(|recovered| BankTruth {
                recovered,
                accounts: scenario.workload.accounts,
                initial_balance: scenario.system.initial_balance,
            }),
        chain: chain.as_deref().map(|state| ChainTruth {
            state,
            pending: &simulated.pending,
            confirmations: u64::from(scenario.system.confirmations),
        }),
        payouts,
        stall: stall.as_ref(),
        end,
    };
    let checks = check::verdicts(&mut summary.online, &truth);
    let verdict = verdict(scenario, &checks);
    let mut outcome = outcome(scenario, summary, checks, verdict);
    outcome.sim_time = end;
    outcome.fault_phase = simulated.fault_phase;
    outcome.settle_phase = simulated.settle_phase;
    outcome.quiet_tail = simulated.quiet_tail;
    outcome.in_flight_at_tail = simulated.in_flight_at_tail;
    outcome.requests = simulated.history.counts();
    outcome.net = simulated.net;
    for (kind, count) in [
        ("drop", simulated.net.dropped),
        ("duplicate", simulated.net.duplicated),
        ("delay", simulated.net.delayed),
        ("cut", simulated.net.cut),
    ] {
        if count > 0 {
            outcome.faults.insert(kind, count);
        }
    }
    outcome
}

fn verdict(scenario: &Scenario, checks: &[CheckResult]) -> Verdict {
    let failed = |safety: bool| {
        checks
            .iter()
            .any(|check| !check.passed() && check::is_safety(check.checker) == safety)
    };
    if let Some(expect) = &scenario.expect {
        let found = checks
            .iter()
            .any(|check| check.checker == expect.violation && !check.passed());
        return if found {
            Verdict::Pass
        } else {
            Verdict::ExpectationUnmet
        };
    }
    if failed(true) {
        Verdict::SafetyViolation
    } else if failed(false) {
        Verdict::LivenessFailure
    } else {
        Verdict::Pass
    }
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
        workload: describe_workload(scenario),
        bugs: scenario.system.bugs.clone(),
        sim_time: Duration::ZERO,
        fault_phase: Duration::ZERO,
        settle_phase: Duration::ZERO,
        quiet_tail: Duration::ZERO,
        in_flight_at_tail: InFlight::default(),
        events: summary.events,
        trace_hash: format!("{:016x}", summary.hash),
        requests: RequestCounts::default(),
        faults: summary.faults,
        marks: summary.marks,
        net: NetStats::default(),
        checks,
        crash: None,
        expected_violation: scenario
            .expect
            .as_ref()
            .map(|expect| expect.violation.clone()),
        verdict,
        trace_lines: summary.lines,
    }
}

fn describe_workload(scenario: &Scenario) -> String {
    let workload = &scenario.workload;
    let cluster = &scenario.cluster;
    match workload.kind {
        WorkloadKind::Log => format!(
            "log: {} log replicas, {} clients, {} requests",
            cluster.log_replicas, cluster.clients, workload.requests
        ),
        WorkloadKind::Bank => format!(
            "bank: db, {} clients, {} transfers between {} accounts",
            cluster.clients, workload.requests, workload.accounts
        ),
        WorkloadKind::Chain => format!(
            "chain: {} RPC nodes, {} clients, {} payments, block every {}",
            cluster.chain_rpc_nodes, cluster.clients, workload.requests, scenario.system.block_time
        ),
        WorkloadKind::Transfers => format!(
            "transfers: {} log replicas, {} ledger replicas, db, {} RPC nodes, {} clients, {} requests",
            cluster.log_replicas,
            cluster.ledger_replicas,
            cluster.chain_rpc_nodes,
            cluster.clients,
            workload.requests
        ),
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
