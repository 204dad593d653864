//! Random scenarios drawn from a seed, in the spirit of swarm testing: each
//! seed picks a workload kind and turns on only some fault kinds, at its own
//! strengths, so that rare interleavings of each get room. Discrete faults
//! are written out as concrete `[[events]]`, so a failure's file shows them.

use rand::{Rng, seq::SliceRandom};
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

use super::{
    Action, Cluster, Dur, EventSpec, Faults, LOG_LEADER, Scenario, SignedDur, System, Workload,
    WorkloadKind, ms,
};
use crate::{
    streams::{self, Stream},
    topology::Topology,
};

/// The generator's version, recorded in every scenario it writes. Change it
/// whenever the same seed would generate something else.
pub const GENERATOR: &str = "v6";

/// The scenario for `seed`, of a workload kind drawn from the seed: the
/// whole system (`transfers`) half the time, each part alone otherwise.
pub fn generate(seed: u64) -> Scenario {
    let mut rng = streams::rng(seed, Stream::GeneratorKind);
    let kind = if rng.gen_bool(0.5) {
        WorkloadKind::Transfers
    } else {
        *WorkloadKind::BUILT[1..]
            .choose(&mut rng)
            .expect("a built kind")
    };
    generate_kind(seed, kind)
}

/// The scenario for `seed` with the given workload kind.
pub fn generate_kind(seed: u64, kind: WorkloadKind) -> Scenario {
    let mut rng = streams::rng(seed, Stream::Generator);
    let duration = Duration::from_secs(rng.gen_range(10..=30));
    let mut scenario = Scenario {
        name: format!("generated seed {seed}"),
        description: None,
        generator: Some(GENERATOR.to_owned()),
        seed,
        duration: Dur(duration),
        settle: Dur(Duration::from_secs(30)),
        cluster: Cluster::default(),
        system: System::default(),
        workload: Workload {
            kind,
            requests: rng.gen_range(30..=200),
            client_timeout: ms(rng.gen_range(3..=15) * 100),
            client_retries: rng.gen_range(2..=8),
            late_resends: round(rng.gen_range(0.0..0.3)),
            ..Workload::default()
        },
        faults: Faults::default(),
        events: Vec::new(),
        expect: None,
    };
    match kind {
        WorkloadKind::Log => {
            scenario.cluster.log_replicas = *[3, 3, 3, 3, 3, 3, 3, 5, 5, 1]
                .choose(&mut rng)
                .expect("sizes");
            scenario.cluster.clients = rng.gen_range(1..=4);
            // Many appends in flight, so a deposed leader holds a long
            // uncommitted tail.
            scenario.workload.requests = rng.gen_range(50..=300);
        }
        WorkloadKind::Bank => {
            // Few accounts and many clients make transfers contend.
            scenario.cluster.clients = rng.gen_range(2..=6);
            scenario.workload.accounts = rng.gen_range(2..=8);
        }
        WorkloadKind::Chain => {
            scenario.cluster.clients = rng.gen_range(1..=4);
            scenario.cluster.chain_rpc_nodes = rng.gen_range(1..=4);
            scenario.system.block_time = ms(rng.gen_range(2..=10) * 100);
            scenario.system.confirmations = rng.gen_range(2..=4);
            // A payment waits for its confirmations before the next: fewer.
            scenario.workload.requests = rng.gen_range(10..=60);
        }
        WorkloadKind::Transfers => {
            // Most seeds run the default cluster (3 log, 2 ledger, 2 RPC
            // nodes, 3 clients, 100 requests); the rest vary it.
            scenario.workload.requests = 100;
            if rng.gen_bool(0.4) {
                scenario.cluster.log_replicas = *[3, 3, 5, 1].choose(&mut rng).expect("sizes");
                scenario.cluster.ledger_replicas = rng.gen_range(1..=5);
                scenario.cluster.chain_rpc_nodes = rng.gen_range(1..=4);
                scenario.cluster.clients = rng.gen_range(1..=4);
                scenario.workload.requests = rng.gen_range(50..=150);
            }
            scenario.system.block_time = ms(rng.gen_range(5..=10) * 100);
            scenario.system.confirmations = rng.gen_range(2..=4);
            scenario.workload.client_timeout = ms(rng.gen_range(5..=20) * 100);
            scenario.workload.invalid_fraction = round(rng.gen_range(0.0..0.2));
            // Some seeds run accounts dry, so valid requests overdraw too.
            if rng.gen_bool(0.2) {
                scenario.system.initial_balance = rng.gen_range(2..=20) * 1000;
            }
        }
    }
    scenario.faults = faults(&mut rng, kind);
    scenario.events = events(&mut rng, &scenario);
    scenario
}

fn faults(rng: &mut ChaCha8Rng, kind: WorkloadKind) -> Faults {
    let mut faults = Faults::default();
    if rng.gen_bool(0.4) {
        faults.drop = round(rng.gen_range(0.005..0.08));
    }
    if rng.gen_bool(0.5) {
        faults.duplicate = round(rng.gen_range(0.01..0.2));
    }
    if rng.gen_bool(0.4) {
        faults.reorder = round(rng.gen_range(0.05..0.3));
        faults.max_delay = Some(ms(rng.gen_range(1..=100) * 10));
    }
    // Half the seeds reach no crash point; most others crash at one now and
    // then; a fifth are storms in which narrow windows line up, one after
    // another, as Raft's figure 8 needs.
    match rng.gen_range(0..10) {
        0..5 => {}
        5..8 => faults.crash_points = round(log_uniform(rng, 0.005, 0.05)),
        _ => faults.crash_points = round(rng.gen_range(0.1..0.4)),
    }
    if rng.gen_bool(0.5) {
        faults.torn_writes = 0.5;
    }
    let runs_db = matches!(kind, WorkloadKind::Bank | WorkloadKind::Transfers);
    if runs_db && rng.gen_bool(0.4) {
        faults.db_unknown_commit = round(rng.gen_range(0.01..0.2));
    }
    if matches!(kind, WorkloadKind::Chain | WorkloadKind::Transfers) {
        if rng.gen_bool(0.4) {
            faults.chain_drop = round(rng.gen_range(0.01..0.2));
        }
        if rng.gen_bool(0.4) {
            faults.chain_lag = Some(ms(rng.gen_range(1..=30) * 100));
        }
    }
    faults
}

fn events(rng: &mut ChaCha8Rng, scenario: &Scenario) -> Vec<EventSpec> {
    let topology = Topology::of(scenario);
    let duration_ms = scenario.duration().as_millis() as u64;
    let mut events = Vec::new();
    let at = |rng: &mut ChaCha8Rng| ms(rng.gen_range(0..duration_ms));
    let crashable: Vec<String> = topology.crashable().cloned().collect();
    let leader_alias = !topology.log.is_empty();
    let some_node = |rng: &mut ChaCha8Rng| {
        if leader_alias && rng.gen_bool(0.5) {
            LOG_LEADER.to_owned()
        } else {
            crashable.choose(rng).expect("crashable nodes").clone()
        }
    };
    if rng.gen_bool(0.6) {
        for _ in 0..rng.gen_range(1..=6) {
            let for_ = rng.gen_bool(0.9).then(|| ms(rng.gen_range(5..=300) * 10));
            events.push(EventSpec {
                for_,
                node: Some(some_node(rng)),
                ..EventSpec::new(at(rng), Action::Crash)
            });
        }
    }
    if rng.gen_bool(0.3) {
        for _ in 0..rng.gen_range(1..=3) {
            events.push(EventSpec {
                for_: Some(ms(rng.gen_range(10..=200) * 10)),
                node: Some(some_node(rng)),
                ..EventSpec::new(at(rng), Action::Pause)
            });
        }
    }
    if rng.gen_bool(0.4) {
        for _ in 0..rng.gen_range(1..=3) {
            let groups = if leader_alias && rng.gen_bool(0.4) {
                vec![vec![LOG_LEADER.to_owned()]]
            } else {
                let mut nodes: Vec<String> = topology.all().cloned().collect();
                nodes.shuffle(rng);
                let split = rng.gen_range(1..nodes.len());
                let mut second = nodes.split_off(split);
                nodes.sort();
                second.sort();
                vec![nodes, second]
            };
            events.push(EventSpec {
                for_: Some(ms(rng.gen_range(20..=500) * 10)),
                groups: Some(groups),
                one_way: rng.gen_bool(0.2).then_some(true),
                ..EventSpec::new(at(rng), Action::Partition)
            });
        }
    }
    if rng.gen_bool(0.2) {
        for _ in 0..rng.gen_range(1..=3) {
            let mut clock = EventSpec {
                node: Some(crashable.choose(rng).expect("crashable nodes").clone()),
                ..EventSpec::new(at(rng), Action::Clock)
            };
            match rng.gen_range(0..3) {
                0 => clock.offset = Some(SignedDur(rng.gen_range(-2_000..=2_000) * 1_000_000)),
                1 => clock.jump = Some(SignedDur(rng.gen_range(-2_000..=2_000) * 1_000_000)),
                _ => clock.drift_ppm = Some(rng.gen_range(-1_000..=1_000)),
            }
            events.push(clock);
        }
    }
    if !topology.chain.is_empty() {
        chain_events(rng, scenario, &mut events);
    }
    if !topology.ledger.is_empty() {
        ledger_events(rng, scenario, &topology, &mut events);
    }
    // Stable: events at the same time keep the order they were drawn in.
    events.sort_by_key(|event| event.at);
    events
}

/// Reorgs (shallower than `confirmations`) and forgetful mempools.
fn chain_events(rng: &mut ChaCha8Rng, scenario: &Scenario, events: &mut Vec<EventSpec>) {
    let duration_ms = scenario.duration().as_millis() as u64;
    let deepest = scenario.system.confirmations.saturating_sub(1).max(1);
    if rng.gen_bool(0.5) {
        for _ in 0..rng.gen_range(1..=4) {
            events.push(EventSpec {
                depth: Some(rng.gen_range(1..=deepest)),
                drop: Some(round(rng.gen_range(0.0..0.5))),
                ..EventSpec::new(ms(rng.gen_range(0..duration_ms)), Action::ChainReorg)
            });
        }
    }
    if rng.gen_bool(0.3) {
        for _ in 0..rng.gen_range(1..=3) {
            events.push(EventSpec::new(
                ms(rng.gen_range(0..duration_ms)),
                Action::ChainDrop,
            ));
        }
    }
}

/// Faults aimed at ledger replicas, which coordinate only through the
/// database: cut off from it or from the log leader, paused past their
/// leases, clocks set apart by more than a lease.
fn ledger_events(
    rng: &mut ChaCha8Rng,
    scenario: &Scenario,
    topology: &Topology,
    events: &mut Vec<EventSpec>,
) {
    let duration_ms = scenario.duration().as_millis() as u64;
    let lease_ms = scenario.system.lease.0.as_millis() as u64;
    let at = |rng: &mut ChaCha8Rng| ms(rng.gen_range(0..duration_ms));
    let replica = |rng: &mut ChaCha8Rng| topology.ledger.choose(rng).expect("replicas").clone();
    if rng.gen_bool(0.4) {
        for _ in 0..rng.gen_range(1..=3) {
            let other = if rng.gen_bool(0.5) { "db" } else { LOG_LEADER };
            events.push(EventSpec {
                for_: Some(ms(rng.gen_range(50..=500) * 10)),
                groups: Some(vec![vec![replica(rng)], vec![other.to_owned()]]),
                one_way: rng.gen_bool(0.3).then_some(true),
                ..EventSpec::new(at(rng), Action::Partition)
            });
        }
    }
    if rng.gen_bool(0.4) {
        for _ in 0..rng.gen_range(1..=4) {
            events.push(EventSpec {
                for_: Some(ms(rng.gen_range(lease_ms / 4..=lease_ms * 2))),
                node: Some(replica(rng)),
                ..EventSpec::new(at(rng), Action::Pause)
            });
        }
    }
    if rng.gen_bool(0.3) {
        let spread = lease_ms as i64 * 2;
        for _ in 0..rng.gen_range(1..=3) {
            let mut clock = EventSpec {
                node: Some(replica(rng)),
                ..EventSpec::new(at(rng), Action::Clock)
            };
            if rng.gen_bool(0.5) {
                clock.offset = Some(SignedDur(rng.gen_range(-spread..=spread) * 1_000_000));
            } else {
                clock.jump = Some(SignedDur(rng.gen_range(-spread..=spread) * 1_000_000));
            }
            events.push(clock);
        }
    }
}

/// A value between `low` and `high` whose logarithm is uniform.
fn log_uniform(rng: &mut ChaCha8Rng, low: f64, high: f64) -> f64 {
    (rng.gen_range(low.ln()..high.ln())).exp()
}

/// Rounds a probability to three decimals, so files stay readable.
fn round(probability: f64) -> f64 {
    (probability * 1000.0).round() / 1000.0
}
