//! Faults of one node: crash and restart, pause and resume.

use rand_chacha::ChaCha8Rng;
use std::{sync::Arc, time::Duration};

use super::{
    EventContext, Field, RandomFault, ScheduledFault, Undo, pick_node, random_for, shorter,
};
use crate::{
    scenario::{Action, Dur, EventSpec, Faults, Invalid, Scenario, Topology},
    world::World,
};

/// Kills the node: memory and unsynced writes are lost. With `for`, it
/// restarts after that long; else it stays down until the settle phase.
pub(super) struct Crash;

impl ScheduledFault for Crash {
    fn fields(&self) -> &'static [Field] {
        &[Field::Node, Field::For]
    }

    fn validate(&self, event: &EventContext<'_>) -> Result<(), Invalid> {
        event.needs_crashable_node()
    }

    fn apply(
        &self,
        world: &Arc<World>,
        _event: &EventSpec,
        node: &str,
    ) -> Result<Option<Undo>, String> {
        if !world.crash(node) {
            return Err(format!("{node} is already down"));
        }
        let node = node.to_owned();
        Ok(Some(Box::new(move |world: &World| {
            world.restart(&node);
        })))
    }

    fn milder(&self, event: &EventSpec) -> Vec<EventSpec> {
        shorter(event)
    }
}

impl RandomFault for Crash {
    fn key(&self) -> &'static str {
        "faults.crash_every"
    }

    fn every(&self, faults: &Faults) -> Option<Dur> {
        faults.crash_every
    }

    fn draw(&self, rng: &mut ChaCha8Rng, _: &Scenario, topology: &Topology, at: Dur) -> EventSpec {
        EventSpec {
            node: Some(pick_node(rng, topology)),
            for_: random_for(rng, Duration::from_millis(100)..Duration::from_secs(3)),
            ..EventSpec::new(at, Action::Crash)
        }
    }
}

/// Restarts a crashed node from its disk.
pub(super) struct Restart;

impl ScheduledFault for Restart {
    fn fields(&self) -> &'static [Field] {
        &[Field::Node]
    }

    fn validate(&self, event: &EventContext<'_>) -> Result<(), Invalid> {
        event.needs_crashable_node()
    }

    fn apply(
        &self,
        world: &Arc<World>,
        _event: &EventSpec,
        node: &str,
    ) -> Result<Option<Undo>, String> {
        if !world.restart(node) {
            return Err(format!("{node} is not down"));
        }
        Ok(None)
    }
}

/// Freezes the node: its timers and tasks stop, its memory stays. With
/// `for`, it resumes after that long.
pub(super) struct Pause;

impl ScheduledFault for Pause {
    fn fields(&self) -> &'static [Field] {
        &[Field::Node, Field::For]
    }

    fn validate(&self, event: &EventContext<'_>) -> Result<(), Invalid> {
        event.needs_crashable_node()
    }

    fn apply(
        &self,
        world: &Arc<World>,
        _event: &EventSpec,
        node: &str,
    ) -> Result<Option<Undo>, String> {
        if !world.pause(node) {
            return Err(format!("{node} is not running"));
        }
        let node = node.to_owned();
        Ok(Some(Box::new(move |world: &World| {
            world.resume(&node);
        })))
    }

    fn milder(&self, event: &EventSpec) -> Vec<EventSpec> {
        shorter(event)
    }
}

impl RandomFault for Pause {
    fn key(&self) -> &'static str {
        "faults.pause_every"
    }

    fn every(&self, faults: &Faults) -> Option<Dur> {
        faults.pause_every
    }

    fn draw(&self, rng: &mut ChaCha8Rng, _: &Scenario, topology: &Topology, at: Dur) -> EventSpec {
        EventSpec {
            node: Some(pick_node(rng, topology)),
            for_: random_for(rng, Duration::from_millis(100)..Duration::from_secs(2)),
            ..EventSpec::new(at, Action::Pause)
        }
    }
}

/// Resumes a paused node.
pub(super) struct Resume;

impl ScheduledFault for Resume {
    fn fields(&self) -> &'static [Field] {
        &[Field::Node]
    }

    fn validate(&self, event: &EventContext<'_>) -> Result<(), Invalid> {
        event.needs_crashable_node()
    }

    fn apply(
        &self,
        world: &Arc<World>,
        _event: &EventSpec,
        node: &str,
    ) -> Result<Option<Undo>, String> {
        if !world.resume(node) {
            return Err(format!("{node} is not paused"));
        }
        Ok(None)
    }
}
