//! The nemesis: the fault injector, just another workload with a schedule
//! (FoundationDB's `Attrition`, Jepsen's `nemesis/combined.clj`).
//!
//! Its schedule is the scenario's `[[events]]` plus the random discrete faults
//! its `[faults]` rates ask for, drawn up front from the nemesis's own random
//! stream. Per-message faults and crash points are not scheduled: they live at
//! the network choke point and in [`crate::world`].

use rand::{Rng, seq::SliceRandom};
use rand_chacha::ChaCha8Rng;
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use crate::{
    events::HarnessEvent,
    scenario::{Action, Dur, EventSpec, LOG_LEADER, Scenario},
    world::{NEMESIS, World},
};

/// The running fault injector of one run.
pub struct Nemesis {
    active: Arc<AtomicBool>,
}

impl Nemesis {
    /// Skews clocks as `[faults]` asks and starts the schedule.
    pub fn start(world: &Arc<World>, scenario: &Scenario) -> Nemesis {
        skew_clocks(world, scenario);
        let mut schedule = scenario.events.clone();
        schedule.extend(world.with_rng(|rng| random_events(rng, world, scenario)));
        // Stable: scheduled events at the same time keep the file's order.
        schedule.sort_by_key(|event| event.at);
        let active = Arc::new(AtomicBool::new(true));
        let (world_ref, running) = (world.clone(), active.clone());
        world.spawn(async move {
            let start = madsim::time::TimeHandle::current().now_instant();
            for event in schedule {
                madsim::time::sleep_until(start + event.at.0).await;
                if !running.load(Ordering::Relaxed) {
                    return;
                }
                apply(&world_ref, &event, &running);
            }
        });
        Nemesis { active }
    }

    /// Ends the fault phase: nothing scheduled happens any more.
    pub fn stop(&self) {
        self.active.store(false, Ordering::Relaxed);
    }
}

fn apply(world: &Arc<World>, event: &EventSpec, active: &Arc<AtomicBool>) {
    let action = event.action;
    let skip = |reason: String| {
        world.trace().harness(
            NEMESIS,
            HarnessEvent::Skipped {
                action: action.name(),
                reason,
            },
        );
    };
    let node = match event.node.as_deref().map(|node| world.resolve(node)) {
        Some(Ok(node)) => Some(node),
        Some(Err(reason)) => return skip(reason),
        None => None,
    };
    let node = node.as_deref().unwrap_or_default();
    let undo_after = |undo: Box<dyn FnOnce(&World) + Send>| {
        if let Some(after) = event.for_ {
            let (world, active) = (world.clone(), active.clone());
            world.clone().spawn(async move {
                madsim::time::sleep(after.0).await;
                // Once settling, the settle phase has undone everything.
                if active.load(Ordering::Relaxed) {
                    undo(&world);
                }
            });
        }
    };
    match action {
        Action::Crash => {
            if !world.crash(node) {
                return skip(format!("{node} is already down"));
            }
            let node = node.to_owned();
            undo_after(Box::new(move |world| {
                world.restart(&node);
            }));
        }
        Action::Restart => {
            if !world.restart(node) {
                skip(format!("{node} is not down"));
            }
        }
        Action::Pause => {
            if !world.pause(node) {
                return skip(format!("{node} is not running"));
            }
            let node = node.to_owned();
            undo_after(Box::new(move |world| {
                world.resume(&node);
            }));
        }
        Action::Resume => {
            if !world.resume(node) {
                skip(format!("{node} is not paused"));
            }
        }
        Action::Partition => {
            let mut groups = Vec::new();
            for group in event.groups.iter().flatten() {
                let mut resolved = Vec::new();
                for name in group {
                    match world.resolve(name) {
                        Ok(name) => resolved.push(name),
                        Err(reason) => return skip(reason),
                    }
                }
                groups.push(resolved);
            }
            let links = world.partition(&groups, event.one_way.unwrap_or(false));
            undo_after(Box::new(move |world| world.heal(&links)));
        }
        Action::Heal => world.heal_all(),
        Action::Clock => {
            world.skew_clock(
                node,
                event.offset.map(|offset| offset.0),
                event.jump.map(|jump| jump.0),
                event.drift_ppm,
            );
        }
        Action::ChainDrop => {
            if !world.chain_drop() {
                skip("this workload runs no chain".to_owned());
            }
        }
        Action::ChainReorg => {
            if !world.chain_reorg(
                u64::from(event.depth.unwrap_or(1)),
                event.drop.unwrap_or(0.0),
            ) {
                skip("this workload runs no chain".to_owned());
            }
        }
    }
}

/// Gives each node the offset and drift `[faults]` asks for, at the start.
fn skew_clocks(world: &Arc<World>, scenario: &Scenario) {
    let faults = &scenario.faults;
    let max_offset = faults.clock_skew.map_or(0, |skew| skew.0.as_nanos() as i64);
    let max_drift = i64::from(faults.clock_drift_ppm);
    if max_offset == 0 && max_drift == 0 {
        return;
    }
    for node in world.topology().crashable() {
        let (offset, drift) = world.with_rng(|rng| {
            (
                rng.gen_range(-max_offset..=max_offset),
                rng.gen_range(-max_drift..=max_drift),
            )
        });
        world.skew_clock(node, Some(offset), None, Some(drift));
    }
}

/// Discrete faults drawn from the `*_every` rates: a Poisson process each.
fn random_events(rng: &mut ChaCha8Rng, world: &World, scenario: &Scenario) -> Vec<EventSpec> {
    let faults = &scenario.faults;
    let nodes: Vec<String> = world.topology().crashable().cloned().collect();
    let everyone: Vec<String> = world.topology().all().cloned().collect();
    let mut events = Vec::new();
    let arrivals = |rng: &mut ChaCha8Rng, every: Option<Dur>| {
        let mut times = Vec::new();
        let Some(every) = every else { return times };
        let mut at = Duration::ZERO;
        loop {
            let gap = -every.0.as_secs_f64() * (1.0 - rng.gen_range(0.0..1.0f64)).ln();
            at += Duration::from_secs_f64(gap);
            if at >= scenario.duration() {
                return times;
            }
            times.push(Dur(at));
        }
    };
    for at in arrivals(rng, faults.crash_every) {
        events.push(EventSpec {
            node: Some(pick_node(rng, &nodes)),
            for_: Some(Dur(
                rng.gen_range(Duration::from_millis(100)..Duration::from_secs(3))
            )),
            ..EventSpec::new(at, Action::Crash)
        });
    }
    for at in arrivals(rng, faults.pause_every) {
        events.push(EventSpec {
            node: Some(pick_node(rng, &nodes)),
            for_: Some(Dur(
                rng.gen_range(Duration::from_millis(100)..Duration::from_secs(2))
            )),
            ..EventSpec::new(at, Action::Pause)
        });
    }
    let deepest = scenario.system.confirmations.saturating_sub(1).max(1);
    if !world.topology().chain.is_empty() {
        for at in arrivals(rng, faults.chain_reorg_every) {
            events.push(EventSpec {
                depth: Some(rng.gen_range(1..=deepest)),
                drop: Some((rng.gen_range(0.0..0.5f64) * 100.0).round() / 100.0),
                ..EventSpec::new(at, Action::ChainReorg)
            });
        }
    }
    for at in arrivals(rng, faults.partition_every) {
        let mut shuffled = everyone.clone();
        shuffled.shuffle(rng);
        let second = shuffled.split_off(rng.gen_range(1..shuffled.len().max(2)));
        events.push(EventSpec {
            groups: Some(
                vec![shuffled, second]
                    .into_iter()
                    .filter(|g| !g.is_empty())
                    .collect(),
            ),
            for_: Some(Dur(
                rng.gen_range(Duration::from_millis(200)..Duration::from_secs(5))
            )),
            ..EventSpec::new(at, Action::Partition)
        });
    }
    events
}

/// A crashable node, or the leader a third of the time.
fn pick_node(rng: &mut ChaCha8Rng, nodes: &[String]) -> String {
    if rng.gen_bool(1.0 / 3.0) {
        LOG_LEADER.to_owned()
    } else {
        nodes.choose(rng).expect("crashable nodes").clone()
    }
}
