//! Faults of one node, each one of the world's controls: crash and restart,
//! pause and resume.

use rand_chacha::ChaCha8Rng;
use std::{ops::Range, sync::Arc, time::Duration};

use super::{
    EventContext, Field, RandomFault, ScheduledFault, Undo, pick_node, random_for, shorter,
};
use crate::{
    scenario::{Action, Dur, EventSpec, Faults, Invalid, Scenario, Topology},
    world::World,
};

/// A fault done to one node by a control of the world.
pub(super) struct NodeFault {
    action: Action,
    /// Does it; false when the node is in no state for it.
    control: fn(&World, &str) -> bool,
    /// Why it could not, after the node's name.
    refused: &'static str,
    /// What undoes it after `for`, for a fault that lasts.
    undo: Option<fn(&World, &str) -> bool>,
}

/// Kills the node: memory and unsynced writes are lost. With `for`, it
/// restarts after that long; else it stays down until the settle phase.
pub(super) static CRASH: NodeFault = NodeFault {
    action: Action::Crash,
    control: World::crash,
    refused: "is already down",
    undo: Some(World::restart),
};

/// Restarts a crashed node from its disk.
pub(super) static RESTART: NodeFault = NodeFault {
    action: Action::Restart,
    control: World::restart,
    refused: "is not down",
    undo: None,
};

/// Freezes the node: its timers and tasks stop, its memory stays. With
/// `for`, it resumes after that long.
pub(super) static PAUSE: NodeFault = NodeFault {
    action: Action::Pause,
    control: World::pause,
    refused: "is not running",
    undo: Some(World::resume),
};

/// Resumes a paused node.
pub(super) static RESUME: NodeFault = NodeFault {
    action: Action::Resume,
    control: World::resume,
    refused: "is not paused",
    undo: None,
};

impl ScheduledFault for NodeFault {
    fn fields(&self) -> &'static [Field] {
        match self.undo {
            Some(_) => &[Field::Node, Field::For],
            None => &[Field::Node],
        }
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
        if !(self.control)(world, node) {
            return Err(format!("{node} {}", self.refused));
        }
        Ok(self.undo.map(|undo| {
            let node = node.to_owned();
            Box::new(move |world: &World| {
                undo(world, &node);
            }) as Undo
        }))
    }

    fn milder(&self, event: &EventSpec) -> Vec<EventSpec> {
        shorter(event)
    }
}

/// A node fault the nemesis also draws at random, lasting a random while.
pub(super) struct RandomNodeFault {
    fault: &'static NodeFault,
    key: &'static str,
    every: fn(&Faults) -> Option<Dur>,
    lasting: Range<Duration>,
}

pub(super) static RANDOM_CRASH: RandomNodeFault = RandomNodeFault {
    fault: &CRASH,
    key: "faults.crash_every",
    every: |faults| faults.crash_every,
    lasting: Duration::from_millis(100)..Duration::from_secs(3),
};

pub(super) static RANDOM_PAUSE: RandomNodeFault = RandomNodeFault {
    fault: &PAUSE,
    key: "faults.pause_every",
    every: |faults| faults.pause_every,
    lasting: Duration::from_millis(100)..Duration::from_secs(2),
};

impl RandomFault for RandomNodeFault {
    fn key(&self) -> &'static str {
        self.key
    }

    fn every(&self, faults: &Faults) -> Option<Dur> {
        (self.every)(faults)
    }

    fn draw(&self, rng: &mut ChaCha8Rng, _: &Scenario, topology: &Topology, at: Dur) -> EventSpec {
        EventSpec {
            node: Some(pick_node(rng, topology)),
            for_: random_for(rng, self.lasting.clone()),
            ..EventSpec::new(at, self.fault.action)
        }
    }
}
