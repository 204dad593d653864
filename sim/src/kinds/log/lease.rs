//! Generated scenarios for the log's read lease. Half the `log` seeds turn
//! it on. A lease is only as safe as its margin for clock error, and that
//! margin only matters when a leader's clock runs slow while its
//! followers' run fast and it is cut off from them just then: the new
//! leader is elected as early as the followers' clocks allow, while the
//! old one still counts its lease on its own. Left to chance, that lines
//! up almost never (the fastest clock usually wins elections, so leaders
//! run fast), so some lease seeds draw it on purpose, as Jepsen aims its
//! clock nemesis at leaders. Slower elections, as deployments across data
//! centres configure them, stretch the lease and the error with it; those
//! seeds get the storm. A lease is also only as safe as the clock it is
//! timed by: the storm sets some leaders' wall clocks back as it cuts them
//! off, which a lease timed by the monotonic clock never notices.

use crate::scenario::{
    Action, DurRange, EventSpec, LOG_LEADER, MAX_DRIFT_PPM, Scenario, SignedDur, ms,
};
use rand::{Rng, seq::SliceRandom};
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

/// The share of `log` seeds whose leader serves reads on a lease.
const READ_LEASE_CHANCE: f64 = 0.5;
/// The share of lease seeds with slower elections.
const SLOW_ELECTIONS_CHANCE: f64 = 0.6;
/// The shortest election timeout of slow elections, at least: a lease
/// overrun of a fifth of it must outlast a client's failover to the new
/// leader.
const SLOW_ELECTIONS: Duration = Duration::from_secs(1);
/// The share of the storm's cuts whose leader also has its wall clock set
/// back, as an NTP step does: by more than an election takes, so that a
/// lease timed by the wall clock, not the monotonic one, visibly outlives
/// the leader's authority.
const SET_BACK_CHANCE: f64 = 0.5;

/// Draws whether the leader reads on a lease and, for some lease seeds,
/// slower elections.
pub(super) fn shape(rng: &mut ChaCha8Rng, scenario: &mut Scenario) {
    let system = &mut scenario.system;
    system.read_lease = rng.gen_bool(READ_LEASE_CHANCE);
    if !system.read_lease || !rng.gen_bool(SLOW_ELECTIONS_CHANCE) {
        return;
    }
    let shortest = rng.gen_range(10..=30) * SLOW_ELECTIONS.as_millis() as u64 / 10;
    // A narrow range: a follower then stands as soon as it may, which is
    // when a lease too long shows.
    let longest = (shortest as f64 * rng.gen_range(1.02..1.2)).round() as u64;
    system.election_timeout = DurRange {
        start: ms(shortest),
        end: ms(longest),
    };
    system.heartbeat = ms(shortest / rng.gen_range(3..=10));
}

/// For lease seeds with slow elections (where a lease overrun spans
/// enough time for clients to see it), every log clock fast, and now and
/// then the leader's slowed (and half the time its wall clock set back)
/// just before it is cut off with some of the clients for longer than an
/// election takes.
pub(super) fn events(rng: &mut ChaCha8Rng, scenario: &Scenario, events: &mut Vec<EventSpec>) {
    if !scenario.system.read_lease || scenario.system.election_timeout.start.0 < SLOW_ELECTIONS {
        return;
    }
    // At the bound the lease is built for, or just under: where its margin
    // is all that keeps it safe.
    let drift = (f64::from(MAX_DRIFT_PPM) * rng.gen_range(0.8..=1.0)).round() as i64;
    for replica in 1..=scenario.cluster.log_replicas {
        events.push(EventSpec {
            node: Some(format!("log-{replica}")),
            drift_ppm: Some(drift),
            ..EventSpec::new(ms(0), Action::Clock)
        });
    }
    let duration_ms = scenario.duration().as_millis() as u64;
    let election_ms = scenario.system.election_timeout.end.0.as_millis() as u64;
    let clients: Vec<String> = (1..=scenario.cluster.clients)
        .map(|client| format!("client-{client}"))
        .collect();
    let mut cuts = Vec::new();
    for _ in 0..rng.gen_range(2..=4) {
        let at = rng.gen_range(500..duration_ms.max(501));
        cuts.push(at);
        events.push(EventSpec {
            node: Some(LOG_LEADER.to_owned()),
            drift_ppm: Some(-drift),
            ..EventSpec::new(ms(at - 100), Action::Clock)
        });
        // Some clients on each side, where there are two: one reads from
        // the old leader what another wrote through the new one.
        let mut group = vec![LOG_LEADER.to_owned()];
        let with = rng.gen_range(1..clients.len().max(2));
        group.extend(clients.choose_multiple(rng, with).cloned());
        events.push(EventSpec {
            for_: Some(ms((election_ms as f64 * rng.gen_range(1.5..3.0)) as u64)),
            groups: Some(vec![group]),
            ..EventSpec::new(ms(at), Action::Partition)
        });
    }
    // Drawn after every cut, so that the cuts stay what they were before
    // set-backs were drawn.
    for at in cuts {
        if rng.gen_bool(SET_BACK_CHANCE) {
            let back = (election_ms as f64 * rng.gen_range(1.0..2.0)) as i64;
            events.push(EventSpec {
                node: Some(LOG_LEADER.to_owned()),
                jump: Some(SignedDur(-back * 1_000_000)),
                ..EventSpec::new(ms(at - 100), Action::Clock)
            });
        }
    }
}
