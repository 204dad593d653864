//! The nemesis: the fault injector, just another workload with a schedule
//! (FoundationDB's `Attrition`, Jepsen's `nemesis/combined.clj`).
//!
//! Its schedule is the scenario's `[[events]]` plus the random discrete faults
//! its `[faults]` rates ask for, drawn up front from the nemesis's own random
//! stream. Per-message faults and crash points are not scheduled: they live at
//! the network choke point and in [`crate::world`].

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use crate::{
    actions,
    events::HarnessEvent,
    scenario::{Dur, EventSpec, Scenario},
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

/// Applies one scheduled event, or records why it could not apply; a fault
/// with `for` is undone that long after, unless the fault phase is over by
/// then (settling undoes everything).
fn apply(world: &Arc<World>, event: &EventSpec, active: &Arc<AtomicBool>) {
    let node = match event.node.as_deref().map(|node| world.resolve(node)) {
        Some(Ok(node)) => Some(node),
        Some(Err(reason)) => return skip(world, event, reason),
        None => None,
    };
    let applied =
        actions::of(event.action).apply(world, event, node.as_deref().unwrap_or_default());
    let undo = match applied {
        Ok(undo) => undo,
        Err(reason) => return skip(world, event, reason),
    };
    if let (Some(undo), Some(after)) = (undo, event.for_) {
        let (world, active) = (world.clone(), active.clone());
        world.clone().spawn(async move {
            madsim::time::sleep(after.0).await;
            if active.load(Ordering::Relaxed) {
                undo(&world);
            }
        });
    }
}

fn skip(world: &World, event: &EventSpec, reason: String) {
    world.trace().harness(
        NEMESIS,
        HarnessEvent::Skipped {
            action: event.action.name(),
            reason,
        },
    );
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
    let topology = world.topology();
    let mut events = Vec::new();
    for fault in actions::RANDOM {
        let Some(every) = fault.every(&scenario.faults) else {
            continue;
        };
        if !fault.runs_on(topology) {
            continue;
        }
        for at in arrivals(rng, every, scenario.duration()) {
            events.push(fault.draw(rng, scenario, topology, at));
        }
    }
    events
}

/// The times of a Poisson process of mean interval `every` before `end`.
fn arrivals(rng: &mut ChaCha8Rng, every: Dur, end: Duration) -> Vec<Dur> {
    let mut times = Vec::new();
    let mut at = Duration::ZERO;
    loop {
        let gap = -every.0.as_secs_f64() * (1.0 - rng.gen_range(0.0..1.0f64)).ln();
        at += Duration::from_secs_f64(gap);
        if at >= end {
            return times;
        }
        times.push(Dur(at));
    }
}
