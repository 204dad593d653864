//! `sim bench`: the harness's speed, measured in wall time outside every
//! simulation. Seeds per second is the harness's value.

use futures::channel::oneshot;
use ledger::{
    bugs::Bugs,
    clock::{Clock, ClockSkew},
    fault_points::NoFaults,
    net::{Directory, Fabric, Rpc},
    node::NodeEnv,
    observe::NodeName,
    storage::{Disk, DiskConfig},
};
use madsim::{net::Endpoint, runtime::Runtime};
use serde::Serialize;
use std::{
    net::SocketAddr,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use crate::{
    fuzz::scenario_for,
    guided::measure::median_of,
    profile::Profile,
    run::{RunOptions, run},
    scenario::WorkloadKind,
    trace::Trace,
};

/// The build this binary is: `.ci/pgo-build` sets `SIM_BUILD=pgo` for the
/// build it optimises with a profile.
fn build() -> &'static str {
    if cfg!(debug_assertions) {
        "dev (debug assertions on: slower than release)"
    } else if option_env!("SIM_BUILD") == Some("pgo") {
        "release, optimised with a profile (.ci/pgo-build)"
    } else {
        "release"
    }
}

/// Round trips in each message-throughput measurement.
const ROUND_TRIPS: u64 = 20_000;

/// The figures of one benchmark. The timed figures are the medians over
/// the rounds: a shared machine moves a single round's by a tenth or more.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Which build of `sim` measured: figures of two builds differ.
    pub build: &'static str,
    pub seeds: u64,
    /// The workload kind benchmarked; `None` for the mix fuzzing runs.
    pub kind: Option<&'static str>,
    /// Each round's timed figures, in the order they ran.
    pub rounds: Vec<Round>,
    pub wall_seconds: f64,
    /// Generated default scenarios run per wall second, on one core.
    pub simulations_per_second: f64,
    pub simulated_seconds_per_wall_second: f64,
    /// Messages through the `net` choke point per wall second, over the
    /// simulations.
    pub messages_per_second: f64,
    pub messages: u64,
    pub messages_per_seed: f64,
    /// Messages per transfer the ledger accepted (kind `transfers` only).
    pub messages_per_transfer: Option<f64>,
    /// Ping-pong through the harness's `net` (choke point, tracing).
    pub harness_ping_pong_messages_per_second: f64,
    /// The same ping-pong over raw madsim endpoints.
    pub raw_madsim_ping_pong_messages_per_second: f64,
    /// Harness throughput as a fraction of raw madsim's (target ≥ 0.5).
    pub harness_vs_raw: f64,
    /// Simulations per second for every million messages a second raw
    /// madsim moves in the same round: the machine's mood divided out, so
    /// that figures taken on other days or machines compare.
    pub simulations_per_raw_million: f64,
    pub failures: u64,
    /// Where the work goes, summed over the seeds, when asked for.
    pub profile: Option<Profile>,
}

/// The timed figures of one round: the seeds, then both ping-pongs, so
/// that each round's figures share the machine's mood.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Round {
    pub wall_seconds: f64,
    pub simulations_per_second: f64,
    pub harness_ping_pong_messages_per_second: f64,
    pub raw_madsim_ping_pong_messages_per_second: f64,
}

impl Round {
    fn simulations_per_raw_million(&self) -> f64 {
        self.simulations_per_second / (self.raw_madsim_ping_pong_messages_per_second / 1e6)
    }
}

/// What the seeds' runs add up to: the same in every round, the runs
/// being deterministic.
#[derive(Debug, Default, PartialEq)]
struct Totals {
    simulated: Duration,
    messages: u64,
    accepted: u64,
    failures: u64,
}

/// Runs `seeds` generated scenarios (of `kind`, or of any kind) and the
/// message-throughput comparison, `rounds` times; with `profile`, runs the
/// seeds again profiled (apart, so that profiling does not slow the
/// figures).
pub fn bench(seeds: u64, kind: Option<WorkloadKind>, rounds: u32, profile: bool) -> BenchReport {
    let mut totals = None;
    let mut timed = Vec::new();
    for _ in 0..rounds.max(1) {
        let mut round = Totals::default();
        let wall = measure(|| {
            for seed in 0..seeds {
                let outcome = run(&scenario_for(seed, None, kind), &RunOptions::default());
                round.simulated += outcome.sim_time;
                round.messages += outcome.net.messages;
                round.accepted += outcome.requests.acknowledged;
                round.failures += u64::from(outcome.exit_code() != 0);
            }
        });
        let harness = ROUND_TRIPS as f64 * 2.0 / measure(|| in_fresh_runtime(harness_ping_pong));
        let raw = ROUND_TRIPS as f64 * 2.0 / measure(|| in_fresh_runtime(raw_ping_pong));
        timed.push(Round {
            wall_seconds: wall,
            simulations_per_second: seeds as f64 / wall,
            harness_ping_pong_messages_per_second: harness,
            raw_madsim_ping_pong_messages_per_second: raw,
        });
        if let Some(first) = &totals {
            assert_eq!(
                *first, round,
                "the same seeds ran differently in two rounds"
            );
        }
        totals = Some(round);
    }
    let totals = totals.unwrap_or_default();
    let profile = profile.then(|| profile_seeds(seeds, kind));
    let median = |figure: fn(&Round) -> f64| median_of(timed.iter().map(figure).collect());
    let wall = median(|round| round.wall_seconds);
    let harness = median(|round| round.harness_ping_pong_messages_per_second);
    let raw = median(|round| round.raw_madsim_ping_pong_messages_per_second);
    BenchReport {
        build: build(),
        seeds,
        kind: kind.map(WorkloadKind::name),
        wall_seconds: wall,
        simulations_per_second: median(|round| round.simulations_per_second),
        simulated_seconds_per_wall_second: totals.simulated.as_secs_f64() / wall,
        messages_per_second: totals.messages as f64 / wall,
        messages: totals.messages,
        messages_per_seed: totals.messages as f64 / seeds as f64,
        messages_per_transfer: (kind == Some(WorkloadKind::Transfers) && totals.accepted > 0)
            .then(|| totals.messages as f64 / totals.accepted as f64),
        harness_ping_pong_messages_per_second: harness,
        raw_madsim_ping_pong_messages_per_second: raw,
        harness_vs_raw: harness / raw,
        simulations_per_raw_million: median(Round::simulations_per_raw_million),
        failures: totals.failures,
        rounds: timed,
        profile,
    }
}

/// The profiles of the seeds' runs, added up.
fn profile_seeds(seeds: u64, kind: Option<WorkloadKind>) -> Profile {
    let options = RunOptions {
        profile: true,
        ..RunOptions::default()
    };
    let mut sum = Profile::default();
    for seed in 0..seeds {
        let outcome = run(&scenario_for(seed, None, kind), &options);
        if let Some(profile) = &outcome.profile {
            sum.add(profile);
        }
    }
    sum
}

/// Wall seconds `work` takes. Wall time is read here, outside any runtime.
#[allow(clippy::disallowed_methods)]
fn measure(work: impl FnOnce()) -> f64 {
    let start = std::time::Instant::now();
    work();
    start.elapsed().as_secs_f64()
}

/// Runs a ping-pong on a fresh thread and runtime, like a simulation.
fn in_fresh_runtime(ping_pong: fn(&Runtime)) {
    // The benchmark driver, outside any simulation: like `run`, it gives
    // each runtime a fresh thread (madsim seeds std's hash state per thread).
    #[allow(clippy::disallowed_methods)]
    std::thread::spawn(move || {
        ping_pong(&Runtime::with_seed_and_config(1, madsim::Config::default()))
    })
    .join()
    .expect("the ping-pong runs");
}

fn address(last: u8) -> SocketAddr {
    SocketAddr::from(([10, 0, 9, last], 1))
}

fn raw_ping_pong(runtime: &Runtime) {
    let (a, b) = (address(1), address(2));
    let server = runtime.create_node().ip(b.ip()).build();
    let client = runtime.create_node().ip(a.ip()).build();
    server.spawn(async move {
        let endpoint = Endpoint::bind(b).await.expect("bind");
        loop {
            let (payload, from) = endpoint.recv_from_raw(0).await.expect("recv");
            endpoint.send_to_raw(from, 1, payload).await.expect("send");
        }
    });
    let done = client.spawn(async move {
        let endpoint = Endpoint::bind(a).await.expect("bind");
        for round in 0..ROUND_TRIPS {
            endpoint
                .send_to_raw(b, 0, Box::new(round.to_le_bytes().to_vec()))
                .await
                .expect("send");
            endpoint.recv_from_raw(1).await.expect("recv");
        }
    });
    runtime.block_on(done).expect("the client finishes");
    runtime.handle().kill(server.id());
}

fn harness_ping_pong(runtime: &Runtime) {
    let names = [NodeName::new("ping"), NodeName::new("pong")];
    let mut directory = Directory::default();
    directory.insert(names[0].clone(), address(1));
    directory.insert(names[1].clone(), address(2));
    let directory = Arc::new(directory);
    let trace = Trace::new(false, Arc::default(), None);
    let fabric = Fabric::new(
        directory.clone(),
        trace.clone(),
        crate::streams::rng(1, crate::streams::Stream::Net),
    );
    let env = |name: &NodeName| NodeEnv {
        name: name.clone(),
        directory: directory.clone(),
        fabric: fabric.clone(),
        clock: Clock::new(ClockSkew::new()),
        disk: Disk::new(DiskConfig {
            sync_latency: Duration::ZERO..Duration::ZERO,
        }),
        observer: trace.clone(),
        faults: Arc::new(NoFaults),
        bugs: Bugs::NONE,
        incarnations: Arc::default(),
    };
    let (client_env, server_env) = (env(&names[0]), env(&names[1]));
    let wire = runtime.create_node().name("wire").build();
    wire.spawn(fabric.clone().serve_wire());
    let server = runtime
        .create_node()
        .ip(address(2).ip())
        .init(move || {
            let env = server_env.clone();
            async move {
                let (rpc, mut incoming) = Rpc::bind(&env, 1).await;
                while let Some(Ok(request)) = incoming.next::<u64>().await {
                    rpc.reply(request.reply, &request.body).await;
                }
            }
        })
        .build();
    // Rpc handles are node-local (not Send), so the client runs as its
    // node's init future and reports back through a channel.
    let (finished, done) = oneshot::channel();
    let finished = Arc::new(Mutex::new(Some(finished)));
    let pong = names[1].clone();
    let client = runtime
        .create_node()
        .ip(address(1).ip())
        .init(move || {
            let (env, pong, finished) = (client_env.clone(), pong.clone(), finished.clone());
            async move {
                let (rpc, _incoming) = Rpc::bind(&env, 1).await;
                for round in 0..ROUND_TRIPS {
                    let echoed: u64 = rpc
                        .call(&pong, &round, Duration::from_secs(1))
                        .await
                        .expect("the echo answers");
                    assert_eq!(echoed, round);
                }
                if let Some(finished) = finished
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take()
                {
                    let _ = finished.send(());
                }
            }
        })
        .build();
    runtime.block_on(done).expect("the client finishes");
    runtime.handle().kill(server.id());
    runtime.handle().kill(client.id());
    runtime.handle().kill(wire.id());
}

/// The kinds of message a profile lists.
const MOST_COMMON_KINDS: usize = 16;

/// A profile as the terminal shows it: the routes by messages, with their
/// share, per seed figures and bytes; the most common kinds of message; the
/// trace events by part; the wall
/// time of the simulations against that of the final checks.
pub fn profile_table(profile: &Profile, seeds: u64) -> String {
    let total = profile.messages().max(1) as f64;
    let per_seed = |count: u64| count as f64 / seeds.max(1) as f64;
    let mut routes: Vec<_> = profile.routes.iter().collect();
    routes.sort_by(|a, b| b.1.messages.cmp(&a.1.messages).then(a.0.cmp(b.0)));
    let mut table = crate::tables::table(
        &[
            "route",
            "messages/seed",
            "share",
            "bytes/message",
            "disturbed",
        ],
        &["messages/seed", "share", "bytes/message", "disturbed"],
    );
    for (route, count) in routes {
        table.add_row(vec![
            route.clone(),
            format!("{:.0}", per_seed(count.messages)),
            format!("{:.1}%", count.messages as f64 / total * 100.0),
            format!("{:.0}", count.bytes as f64 / count.messages.max(1) as f64),
            format!(
                "{:.1}%",
                count.disturbed as f64 / count.messages.max(1) as f64 * 100.0
            ),
        ]);
    }
    let mut out = String::from("\nprofile: messages by route\n");
    out += &crate::tables::render(&table);
    let mut kinds: Vec<_> = profile.kinds.iter().collect();
    kinds.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let mut table = crate::tables::table(
        &["route and kind", "messages/seed", "share"],
        &["messages/seed", "share"],
    );
    for (kind, count) in kinds.iter().take(MOST_COMMON_KINDS) {
        table.add_row(vec![
            (*kind).clone(),
            format!("{:.0}", per_seed(**count)),
            format!("{:.1}%", **count as f64 / total * 100.0),
        ]);
    }
    out += &format!(
        "\nprofile: the {} most common kinds of message (of {})\n",
        MOST_COMMON_KINDS.min(kinds.len()),
        kinds.len()
    );
    out += &crate::tables::render(&table);
    let events: Vec<String> = profile
        .events
        .iter()
        .map(|(part, count)| format!("{part} {:.0}", per_seed(*count)))
        .collect();
    out += &format!("trace events per seed: {}\n", events.join(", "));
    let phases = &profile.phases;
    let phase = |name: &str, count: &crate::profile::PhaseCount| {
        format!(
            "{name} {:.1}s ({:.0} messages)",
            count.simulated_seconds / seeds.max(1) as f64,
            per_seed(count.messages)
        )
    };
    out += &format!(
        "simulated time per seed by phase: {}, {}, {}\n",
        phase("faults", &phases.faults),
        phase("settle", &phases.settle),
        phase("quiet tail", &phases.quiet_tail)
    );
    let wall = (profile.simulation_seconds + profile.checks_seconds).max(f64::EPSILON);
    out += &format!(
        "wall time (profiled): simulation {:.2}s ({:.0}%), final checks {:.2}s ({:.0}%)\n",
        profile.simulation_seconds,
        profile.simulation_seconds / wall * 100.0,
        profile.checks_seconds,
        profile.checks_seconds / wall * 100.0
    );
    out
}
