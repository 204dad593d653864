//! Random scenarios drawn from a seed, in the spirit of swarm testing: each
//! seed picks a workload kind and turns on only some fault kinds, at its own
//! strengths, so that rare interleavings of each get room. Discrete faults
//! are written out as concrete `[[events]]`, so a failure's file shows them.

use rand::{Rng, seq::SliceRandom};
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

use crate::{
    kinds,
    scenario::{
        Action, Cluster, DB, Dur, EventSpec, Faults, LOG_LEADER, MAX_DRIFT_PPM, Roles, Scenario,
        SignedDur, System, Workload, WorkloadKind, log_uniform, ms, rounded,
    },
    streams::{self, Stream},
};

/// The generator's version, recorded in every scenario it writes. Change it
/// whenever the same seed would generate something else.
pub const GENERATOR: &str = "v16";

/// The share of seeds, of kinds that rebuild their database, whose database
/// loses its disk now and then. Since v7; the last draw of those kinds, so
/// every other draw of a seed stays what v6 drew.
const DB_WIPE_CHANCE: f64 = 0.3;

/// The share of seeds whose nodes' clocks all run at their own wrong rate
/// from the start, up to a drift drawn log-uniformly up to the largest a
/// scenario may set. Since v8, drawn after everything v7 drew but the
/// database wipes.
const CLOCK_DRIFT_CHANCE: f64 = 0.25;

/// The share of `transfers` seeds whose clients read balances. Since v8,
/// drawn after the clock drift.
const BALANCE_READS_CHANCE: f64 = 0.5;

/// The share of `bank` seeds whose database aborts idle transactions
/// within seconds rather than the default ten, so that a client paused or
/// cut off mid-transaction comes back to find it aborted, and its late
/// commit refused. Since v9, drawn after everything v8 drew; the other
/// kinds open no transaction that waits on its client.
const SHORT_IDLE_TIMEOUT_CHANCE: f64 = 0.5;

/// The share of partitions cutting the log's leader off that, where the
/// log has five replicas or more, take one follower (drawn among all the
/// replicas, so now and then the leader itself) to its side: a leader
/// that still hears from a minority must step down all the same, and its
/// read lease must run out, as Jepsen's "minority with the leader"
/// nemesis tests. Since v10, drawn after everything v9 drew but the
/// database wipes and the idle timeouts, which stay last.
const LEADER_KEEPS_A_FOLLOWER_CHANCE: f64 = 0.5;

/// The share of `bank` seeds whose transfers read their source account
/// again after writing it, so that a database whose transactions do not
/// see their own writes is caught (`isolation`, internal). Since v11.
const OWN_READS_CHANCE: f64 = 0.5;

/// The share of `bank` seeds whose clients also reverse committed
/// transfers, racing for the same row, so that a database whose
/// serializable validation overlooks a row deleted since it was read or
/// scanned pays a transfer back twice (`conservation`). Since v12, the
/// very last draw.
const REVERSALS_CHANCE: f64 = 0.5;

/// The share of seeds, with three log replicas or more, that lose one of
/// them for good during the fault phase (half the time whichever leads
/// then), so that a log that needs more than a majority to commit, elect
/// or read never converges. Since v14, drawn from a stream of its own, so
/// that every other draw of a seed stays what v13 drew.
const RETIRE_LOG_REPLICA_CHANCE: f64 = 0.2;

/// The share of `transfers` seeds, with two ledger replicas or more, that
/// lose one of them for good, so that the payouts it had claimed must be
/// taken over once its claims lapse. Since v14, after the log's.
const RETIRE_LEDGER_REPLICA_CHANCE: f64 = 0.25;

/// The share of seeds, of kinds with two RPC nodes or more, that lose one
/// of them for good, so that whoever sticks to one RPC node must move on
/// to another. Since v14, after the ledger's.
const RETIRE_RPC_NODE_CHANCE: f64 = 0.2;

/// The share of seeds, of kinds that rebuild their database, whose database
/// loses its disk in the last half second of the fault phase, when the
/// clients have sent their last requests and the payouts of the latest
/// are still open: often nothing is appended to the log after it, so the
/// replicas must notice the loss from their outbox scans alone, not from a
/// new entry's projection. Since v16, drawn from a stream of its own, so
/// that every other draw of a seed stays what v15 drew.
const LATE_WIPE_CHANCE: f64 = 0.2;

/// The scenario for `seed`, of a workload kind drawn from the seed: the
/// whole system (`transfers`) half the time, each part alone otherwise.
pub fn generate(seed: u64) -> Scenario {
    let mut rng = streams::rng(seed, Stream::GeneratorKind);
    // The parts alone, in declaration order: a new kind changes what every
    // seed draws, so it comes with a new generator version.
    let parts: Vec<WorkloadKind> = WorkloadKind::all()
        .filter(|kind| *kind != WorkloadKind::Transfers)
        .collect();
    let kind = if rng.gen_bool(0.5) {
        WorkloadKind::Transfers
    } else {
        *parts.choose(&mut rng).expect("a kind")
    };
    generate_kind(seed, kind)
}

/// The scenario for `seed` with the given workload kind.
pub fn generate_kind(seed: u64, kind: WorkloadKind) -> Scenario {
    generate_with(seed, kind, DB_WIPE_CHANCE)
}

/// The scenario for `seed` and `kind`, whose database, where the kind
/// rebuilds it, loses its disk now and then for `db_wipe_chance` of the
/// seeds.
pub(crate) fn generate_with(seed: u64, kind: WorkloadKind, db_wipe_chance: f64) -> Scenario {
    let mut rng = streams::rng(seed, Stream::Generator);
    let duration = Duration::from_secs(rng.gen_range(10..=30));
    let mut scenario = Scenario {
        name: format!("generated seed {seed}"),
        description: None,
        generator: Some(GENERATOR.to_owned()),
        seed,
        duration: Dur(duration),
        settle: Some(Dur(Duration::from_secs(30))),
        cluster: Cluster::default(),
        system: System::default(),
        workload: Workload {
            kind,
            requests: rng.gen_range(30..=200),
            client_timeout: ms(rng.gen_range(3..=15) * 100),
            client_retries: rng.gen_range(2..=8),
            late_resends: rounded(rng.gen_range(0.0..0.3)),
            ..Workload::default()
        },
        faults: Faults::default(),
        events: Vec::new(),
        expect: None,
    };
    let kind = kinds::of(kind);
    kind.shape(&mut rng, &mut scenario);
    scenario.faults = faults(&mut rng, kind.roles());
    let topology = kinds::topology(&scenario);
    let mut events = common_events(&mut rng, &scenario, &topology);
    kind.events(&mut rng, &scenario, &topology, &mut events);
    // Stable: events at the same time keep the order they were drawn in.
    events.sort_by_key(|event| event.at);
    scenario.events = events;
    if rng.gen_bool(CLOCK_DRIFT_CHANCE) {
        scenario.faults.clock_drift_ppm =
            log_uniform(&mut rng, 10.0, f64::from(MAX_DRIFT_PPM)).round() as u32;
    }
    if scenario.workload.kind == WorkloadKind::Transfers {
        scenario.workload.balance_reads = rng.gen_bool(BALANCE_READS_CHANCE);
    }
    leaders_keep_a_follower(&mut rng, &mut scenario);
    // Drawn last, so that every earlier draw of a seed stays what it was.
    if kind.rebuilds_db() {
        scenario.faults.db_wipe_every = db_wipes(&mut rng, db_wipe_chance);
    }
    if scenario.workload.kind == WorkloadKind::Bank {
        if rng.gen_bool(SHORT_IDLE_TIMEOUT_CHANCE) {
            scenario.system.db_idle_timeout =
                ms(log_uniform(&mut rng, 300.0, 5000.0).round() as u64);
        }
        scenario.workload.own_reads = rng.gen_bool(OWN_READS_CHANCE);
        scenario.workload.reversals = rng.gen_bool(REVERSALS_CHANCE);
    }
    retirements(&mut streams::rng(seed, Stream::Retirements), &mut scenario);
    if kind.rebuilds_db() {
        late_wipe(&mut streams::rng(seed, Stream::LateWipes), &mut scenario);
    }
    scenario
}

/// Now and then, a loss of the database's disk as the faults stop (see
/// [`LATE_WIPE_CHANCE`]), back empty after a tenth of a second to a second.
fn late_wipe(rng: &mut ChaCha8Rng, scenario: &mut Scenario) {
    if !rng.gen_bool(LATE_WIPE_CHANCE) {
        return;
    }
    let duration_ms = scenario.duration().as_millis() as u64;
    let at = ms(duration_ms - rng.gen_range(1..=500));
    scenario.events.push(EventSpec {
        node: Some(DB.to_owned()),
        for_: Some(ms(rng.gen_range(100..=1000))),
        ..EventSpec::new(at, Action::DbWipe)
    });
    // Stable: the wipe goes after events drawn for the same time.
    scenario.events.sort_by_key(|event| event.at);
}

/// Now and then, one log replica, one ledger replica and one RPC node lost
/// for good at some time of the fault phase; the rest must converge
/// without them.
fn retirements(rng: &mut ChaCha8Rng, scenario: &mut Scenario) {
    let topology = kinds::topology(scenario);
    let duration_ms = scenario.duration().as_millis() as u64;
    let mut retire = |rng: &mut ChaCha8Rng, node: String| {
        let at = ms(rng.gen_range(0..duration_ms));
        scenario.events.push(EventSpec {
            node: Some(node),
            ..EventSpec::new(at, Action::Retire)
        });
    };
    if topology.log.len() >= 3 && rng.gen_bool(RETIRE_LOG_REPLICA_CHANCE) {
        let node = if rng.gen_bool(0.5) {
            LOG_LEADER.to_owned()
        } else {
            topology.log.choose(rng).expect("log replicas").clone()
        };
        retire(rng, node);
    }
    if topology.ledger.len() >= 2 && rng.gen_bool(RETIRE_LEDGER_REPLICA_CHANCE) {
        let node = topology
            .ledger
            .choose(rng)
            .expect("ledger replicas")
            .clone();
        retire(rng, node);
    }
    if topology.chain_rpc.len() >= 2 && rng.gen_bool(RETIRE_RPC_NODE_CHANCE) {
        let node = topology.chain_rpc.choose(rng).expect("RPC nodes").clone();
        retire(rng, node);
    }
    // Stable: the retirement goes after events drawn for the same time.
    scenario.events.sort_by_key(|event| event.at);
}

/// Gives some partitions that cut the log's leader off from everyone else
/// (a single group holding it) one follower on its side, where that leaves
/// the side a minority.
fn leaders_keep_a_follower(rng: &mut ChaCha8Rng, scenario: &mut Scenario) {
    let replicas = kinds::topology(scenario).log;
    let largest_minority = replicas.len().saturating_sub(1) / 2;
    if largest_minority < 2 {
        return;
    }
    for event in &mut scenario.events {
        let Some([side]) = event.groups.as_deref_mut() else {
            continue;
        };
        if !side.iter().any(|name| name == LOG_LEADER) {
            continue;
        }
        let replicas_on_side = 1 + side.iter().filter(|name| replicas.contains(name)).count();
        if replicas_on_side >= largest_minority || !rng.gen_bool(LEADER_KEEPS_A_FOLLOWER_CHANCE) {
            continue;
        }
        let follower = replicas.choose(rng).expect("log replicas").clone();
        if !side.contains(&follower) {
            side.push(follower);
        }
    }
}

/// A mean interval between losses of the database's disk, for `chance` of
/// the seeds: one to three in most fault phases.
fn db_wipes(rng: &mut ChaCha8Rng, chance: f64) -> Option<Dur> {
    rng.gen_bool(chance)
        .then(|| ms(rng.gen_range(10..=60) * 1000))
}

fn faults(rng: &mut ChaCha8Rng, roles: Roles) -> Faults {
    let mut faults = Faults::default();
    if rng.gen_bool(0.4) {
        faults.drop = rounded(rng.gen_range(0.005..0.08));
    }
    if rng.gen_bool(0.5) {
        faults.duplicate = rounded(rng.gen_range(0.01..0.2));
    }
    if rng.gen_bool(0.4) {
        faults.reorder = rounded(rng.gen_range(0.05..0.3));
        faults.max_delay = Some(ms(rng.gen_range(1..=100) * 10));
    }
    // Half the seeds reach no crash point; most others crash at one now and
    // then; a fifth are storms in which narrow windows line up, one after
    // another, as Raft's figure 8 needs.
    match rng.gen_range(0..10) {
        0..5 => {}
        5..8 => faults.crash_points = rounded(log_uniform(rng, 0.005, 0.05)),
        _ => faults.crash_points = rounded(rng.gen_range(0.1..0.4)),
    }
    if rng.gen_bool(0.5) {
        faults.torn_writes = 0.5;
    }
    if roles.db && rng.gen_bool(0.4) {
        faults.db_unknown_commit = rounded(rng.gen_range(0.01..0.2));
    }
    if roles.chain {
        if rng.gen_bool(0.4) {
            faults.chain_drop = rounded(rng.gen_range(0.01..0.2));
        }
        if rng.gen_bool(0.4) {
            faults.chain_lag = Some(ms(rng.gen_range(1..=30) * 100));
        }
    }
    faults
}

/// Crashes, pauses, partitions and clock faults on any node that takes them.
fn common_events(
    rng: &mut ChaCha8Rng,
    scenario: &Scenario,
    topology: &crate::scenario::Topology,
) -> Vec<EventSpec> {
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
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEEDS: std::ops::Range<u64> = 0..200;

    /// Where the kind rebuilds its database, some seeds lose its disk and
    /// some do not, and each of them draws everything else as it did
    /// without the draw; other kinds never do.
    #[test]
    fn database_wipes_are_drawn_last_for_kinds_that_rebuild_the_database_only() {
        for kind in WorkloadKind::all() {
            let mut wiped = 0;
            for seed in SEEDS {
                let mut scenario = generate_with(seed, kind, 0.3);
                wiped += u32::from(scenario.faults.db_wipe_every.is_some());
                scenario.faults.db_wipe_every = None;
                assert_eq!(scenario, generate_with(seed, kind, 0.0), "seed {seed}");
            }
            if kind == WorkloadKind::Transfers {
                assert!((20..=100).contains(&wiped), "{wiped} of 200 seeds wiped");
            } else {
                assert_eq!(wiped, 0, "{}", kind.name());
            }
        }
    }

    /// Some seeds lose one log replica, one ledger replica or one RPC node
    /// for good, each a node the rules let go; kinds with none of them
    /// never retire anything.
    #[test]
    fn some_seeds_retire_a_log_replica_a_ledger_replica_or_an_rpc_node_for_good() {
        for kind in WorkloadKind::all() {
            let (mut log, mut ledger, mut rpc) = (0, 0, 0);
            for seed in SEEDS {
                // That each is valid is `validate`'s property over every seed.
                let scenario = generate_kind(seed, kind);
                let topology = kinds::topology(&scenario);
                let retired = scenario
                    .events
                    .iter()
                    .filter(|event| event.action == Action::Retire)
                    .map(|event| event.node.clone().expect("a node"));
                for node in retired {
                    if node == LOG_LEADER || topology.log.contains(&node) {
                        assert!(topology.log.len() >= 3, "seed {seed}");
                        log += 1;
                    } else if topology.chain_rpc.contains(&node) {
                        assert!(topology.chain_rpc.len() >= 2, "seed {seed}");
                        rpc += 1;
                    } else {
                        assert!(topology.ledger.contains(&node), "seed {seed}: {node}");
                        assert!(topology.ledger.len() >= 2, "seed {seed}");
                        ledger += 1;
                    }
                }
            }
            match kind {
                WorkloadKind::Transfers => {
                    assert!((10..=70).contains(&log), "{log} of 200");
                    assert!((20..=80).contains(&ledger), "{ledger} of 200");
                    assert!((10..=60).contains(&rpc), "{rpc} of 200");
                }
                WorkloadKind::Log => {
                    assert!((15..=60).contains(&log), "{log} of 200");
                    assert_eq!((ledger, rpc), (0, 0));
                }
                WorkloadKind::Chain => {
                    assert!((10..=60).contains(&rpc), "{rpc} of 200");
                    assert_eq!((log, ledger), (0, 0));
                }
                _ => assert_eq!((log, ledger, rpc), (0, 0, 0), "{}", kind.name()),
            }
        }
    }

    /// Half the `bank` seeds get a database that aborts idle transactions
    /// within seconds; other kinds keep the default.
    #[test]
    fn only_bank_seeds_draw_a_short_idle_timeout() {
        let default = System::default().db_idle_timeout;
        for kind in WorkloadKind::all() {
            let mut shortened = 0;
            for seed in SEEDS {
                let timeout = generate_kind(seed, kind).system.db_idle_timeout;
                if timeout != default {
                    shortened += 1;
                    assert!(
                        (ms(300)..=ms(5000)).contains(&timeout),
                        "seed {seed}: {timeout}"
                    );
                }
            }
            if kind == WorkloadKind::Bank {
                assert!((60..=140).contains(&shortened), "{shortened} of 200");
            } else {
                assert_eq!(shortened, 0, "{}", kind.name());
            }
        }
    }

    #[test]
    fn a_generated_rate_of_wipes_is_one_to_a_few_per_fault_phase() {
        let mut rng = streams::rng(1, Stream::Generator);
        for _ in 0..100 {
            let every = db_wipes(&mut rng, 1.0).expect("always drawn");
            assert!((10..=60).contains(&every.0.as_secs()), "{every}");
        }
        assert_eq!(db_wipes(&mut rng, 0.0), None);
    }

    /// Some storms set the leader's wall clock back, each by more than an
    /// election takes and just before a cut of that leader.
    #[test]
    fn storms_set_some_leaders_wall_clocks_back_as_they_cut_them_off() {
        let mut set_backs = 0;
        for seed in 0..400 {
            let scenario = generate_kind(seed, WorkloadKind::Log);
            let election = scenario.system.election_timeout.end.0;
            for event in scenario.events.iter().filter(|event| event.jump.is_some()) {
                if event.node.as_deref() != Some(LOG_LEADER) {
                    continue;
                }
                set_backs += 1;
                let back = event.jump.expect("a jump").0;
                assert!(back < 0 && back.unsigned_abs() >= election.as_nanos() as u64);
                let cut_at = event.at.0 + std::time::Duration::from_millis(100);
                assert!(scenario.events.iter().any(|cut| {
                    cut.action == Action::Partition
                        && cut.at.0 == cut_at
                        && cut
                            .groups
                            .as_ref()
                            .is_some_and(|groups| groups[0][0] == LOG_LEADER)
                }));
            }
        }
        assert!(set_backs > 0, "no storm set a leader's clock back");
    }
}
