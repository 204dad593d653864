//! Faults of one node, each one of the world's controls: crash and restart,
//! retirement for good, pause and resume.

use rand_chacha::ChaCha8Rng;
use std::{ops::Range, sync::Arc, time::Duration};

use super::{
    EventContext, Field, RandomFault, ScheduledFault, Undo, pick_node, random_for, shorter,
};
use crate::{
    scenario::{
        Action, Dur, EventSpec, Faults, Invalid, LOG_LEADER, Scenario, Topology, rules::invalid,
    },
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

/// Takes a node out for good, as a machine is lost: crashed (if it is not
/// down already) and never restarted, not even by the settle phase. Only a
/// log replica while a majority of the log stays, or a ledger replica or an
/// RPC node while another stays: the rest must converge without it.
pub(super) struct Retire;

impl ScheduledFault for Retire {
    fn fields(&self) -> &'static [Field] {
        &[Field::Node]
    }

    fn validate(&self, event: &EventContext<'_>) -> Result<(), Invalid> {
        event.needs_crashable_node()?;
        let topology = event.topology;
        let node = event.event.node.as_deref().unwrap_or_default();
        let group = |name: &str| -> Option<(&'static str, usize)> {
            if name == LOG_LEADER || topology.log.iter().any(|replica| replica == name) {
                Some(("log replicas", topology.log.len().saturating_sub(1) / 2))
            } else if topology.ledger.iter().any(|replica| replica == name) {
                Some(("ledger replicas", topology.ledger.len().saturating_sub(1)))
            } else if topology.chain_rpc.iter().any(|rpc| rpc == name) {
                Some(("RPC nodes", topology.chain_rpc.len().saturating_sub(1)))
            } else {
                None
            }
        };
        let Some((nodes, most)) = group(node) else {
            return invalid(
                event.key("node"),
                format!(
                    "`retire` takes a log or ledger replica (or `{LOG_LEADER}`) or an RPC node, \
                     got `{node}`: the system has no stand-in for any other node"
                ),
            );
        };
        // Each retirement takes one node out, whichever the leader's alias
        // names then: count the events, not the names.
        let retiring = event.scenario.events[..=event.index]
            .iter()
            .filter(|other| other.action == Action::Retire)
            .filter_map(|other| other.node.as_deref().and_then(group))
            .filter(|(other, _)| *other == nodes)
            .count();
        if retiring > most {
            return invalid(
                event.key("node"),
                format!(
                    "at most {most} of the {nodes} may be retired (the rest must go on), \
                     and this is retirement {retiring}"
                ),
            );
        }
        Ok(())
    }

    fn apply(&self, world: &Arc<World>, _: &EventSpec, node: &str) -> Result<Option<Undo>, String> {
        if !world.retire(node) {
            return Err(format!("{node} is retired already"));
        }
        Ok(None)
    }

    /// A crash that lasts until the settle phase, then one for a while.
    fn milder(&self, event: &EventSpec) -> Vec<EventSpec> {
        let crash = EventSpec {
            node: event.node.clone(),
            ..EventSpec::new(event.at, Action::Crash)
        };
        let brief = EventSpec {
            for_: Some(Dur(Duration::from_secs(1))),
            ..crash.clone()
        };
        vec![crash, brief]
    }
}
