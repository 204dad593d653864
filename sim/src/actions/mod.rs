//! Scheduled fault kinds: each [`Action`] a scenario's `[[events]]` may name
//! is one implementation of [`ScheduledFault`] holding everything about it:
//! the event fields it reads, what an event of it must respect, what it does
//! to the world (and how that is undone after `for`), and how the shrinker
//! makes one milder. The registry, [`of`], matches exhaustively: an action
//! without its implementation does not build. What a fault counts as in a
//! summary follows from the harness event the world records when it applies
//! one ([`crate::faults::FaultKind::of_harness`], exhaustive too).

mod chain;
mod clock;
mod db;
mod network;
mod node;

pub(crate) use chain::reorgs_fit;
pub(crate) use db::rebuilds_db;

use rand::{Rng, seq::SliceRandom};
use rand_chacha::ChaCha8Rng;
use std::{sync::Arc, time::Duration};
use strum::{EnumIter, IntoEnumIterator, IntoStaticStr};

use crate::{
    scenario::{
        Action, Dur, EventSpec, Faults, Invalid, LOG_LEADER, Scenario, Topology, rules::invalid,
    },
    world::World,
};

/// What undoes an applied fault, `for` later.
pub(crate) type Undo = Box<dyn FnOnce(&World) + Send>;

/// One kind of scheduled fault.
pub(crate) trait ScheduledFault: Sync {
    /// The event fields it reads, beyond `at` and `action`.
    fn fields(&self) -> &'static [Field];

    /// What an event of it must respect beyond the bounds every field has.
    fn validate(&self, event: &EventContext<'_>) -> Result<(), Invalid>;

    /// Applies `event` to `world`, on `node` when the event names one
    /// (resolved: `log-leader` is the leader now). Returns what undoes it,
    /// if anything does, or why it could not apply.
    fn apply(
        &self,
        world: &Arc<World>,
        event: &EventSpec,
        node: &str,
    ) -> Result<Option<Undo>, String>;

    /// Milder versions of `event`, for the shrinker: a shorter fault, fewer
    /// nodes, a smaller skew.
    fn milder(&self, event: &EventSpec) -> Vec<EventSpec> {
        let _ = event;
        Vec::new()
    }
}

/// A scheduled fault the nemesis also draws at random, as often as a
/// `[faults]` rate asks.
pub(crate) trait RandomFault: Sync {
    /// The `[faults]` key of the mean interval between its random events.
    fn key(&self) -> &'static str;

    /// That mean interval, when set.
    fn every(&self, faults: &Faults) -> Option<Dur>;

    /// Whether a run with these nodes can take it.
    fn runs_on(&self, topology: &Topology) -> bool {
        let _ = topology;
        true
    }

    /// One random event of it at `at`.
    fn draw(
        &self,
        rng: &mut ChaCha8Rng,
        scenario: &Scenario,
        topology: &Topology,
        at: Dur,
    ) -> EventSpec;
}

/// The faults drawn at random, in the order the nemesis draws them from
/// its stream: part of what a seed means, so reordering them changes every
/// run.
pub(crate) static RANDOM: [&dyn RandomFault; 5] = [
    &node::RANDOM_CRASH,
    &node::RANDOM_PAUSE,
    &chain::ChainReorg,
    &network::Partition,
    &db::DbWipe,
];

/// The implementation of `action`.
pub(crate) fn of(action: Action) -> &'static dyn ScheduledFault {
    match action {
        Action::Crash => &node::CRASH,
        Action::Restart => &node::RESTART,
        Action::Retire => &node::Retire,
        Action::Pause => &node::PAUSE,
        Action::Resume => &node::RESUME,
        Action::Clock => &clock::Clock,
        Action::Partition => &network::Partition,
        Action::Heal => &network::Heal,
        Action::ChainDrop => &chain::ChainDrop,
        Action::ChainReorg => &chain::ChainReorg,
        Action::DbWipe => &db::DbWipe,
    }
}

/// An event's optional fields, by their names in a scenario file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub(crate) enum Field {
    Node,
    For,
    Groups,
    OneWay,
    Offset,
    Jump,
    DriftPpm,
    Depth,
    Drop,
}

impl Field {
    pub(crate) fn name(self) -> &'static str {
        self.into()
    }

    fn is_set(self, event: &EventSpec) -> bool {
        match self {
            Field::Node => event.node.is_some(),
            Field::For => event.for_.is_some(),
            Field::Groups => event.groups.is_some(),
            Field::OneWay => event.one_way.is_some(),
            Field::Offset => event.offset.is_some(),
            Field::Jump => event.jump.is_some(),
            Field::DriftPpm => event.drift_ppm.is_some(),
            Field::Depth => event.depth.is_some(),
            Field::Drop => event.drop.is_some(),
        }
    }

    /// The first field `event` sets that its action does not read.
    pub(crate) fn unused_by(event: &EventSpec) -> Option<Field> {
        let read = of(event.action).fields();
        Field::iter().find(|field| field.is_set(event) && !read.contains(field))
    }
}

/// An event of a scenario, as its rules see it.
pub(crate) struct EventContext<'a> {
    pub(crate) scenario: &'a Scenario,
    pub(crate) topology: &'a Topology,
    pub(crate) event: &'a EventSpec,
    /// Its position in `[[events]]`, for the keys errors name.
    pub(crate) index: usize,
}

impl EventContext<'_> {
    /// The key of one of the event's fields, as errors name it.
    pub(crate) fn key(&self, field: &str) -> String {
        format!("events[{}].{field}", self.index)
    }

    /// `log-leader` stands for whichever log replica leads, in runs with a log.
    fn leader_alias(&self) -> bool {
        !self.topology.log.is_empty()
    }

    /// The event must name a node the nemesis controls.
    fn needs_crashable_node(&self) -> Result<(), Invalid> {
        let action = self.event.action;
        let Some(node) = &self.event.node else {
            return invalid(
                self.key("node"),
                format!("action `{}` needs a node", action.name()),
            );
        };
        let crashable = self.topology.crashable().any(|known| known == node)
            || (self.leader_alias() && node == LOG_LEADER);
        if crashable {
            return Ok(());
        }
        let mut names: Vec<&str> = self.topology.crashable().map(String::as_str).collect();
        if self.leader_alias() {
            names.push(LOG_LEADER);
        }
        invalid(
            self.key("node"),
            format!("expected one of {}, got `{node}`", names.join(", ")),
        )
    }

    /// Whether `name` is a node of the run (or the leader's alias).
    fn is_node(&self, name: &str) -> bool {
        self.topology.all().any(|node| node == name) || (self.leader_alias() && name == LOG_LEADER)
    }
}

/// `for` cut to a half and a quarter, in whole milliseconds (so the file
/// written says exactly what ran), never below 10ms.
fn shorter(event: &EventSpec) -> Vec<EventSpec> {
    let Some(for_) = event.for_ else {
        return Vec::new();
    };
    let millis = for_.0.as_millis() as u64;
    [millis / 4, millis / 2]
        .into_iter()
        .filter(|shorter| *shorter >= 10)
        .map(|shorter| EventSpec {
            for_: Some(Dur(Duration::from_millis(shorter))),
            ..event.clone()
        })
        .collect()
}

/// A crashable node, or the leader a third of the time.
fn pick_node(rng: &mut ChaCha8Rng, topology: &Topology) -> String {
    if rng.gen_bool(1.0 / 3.0) {
        LOG_LEADER.to_owned()
    } else {
        let nodes: Vec<&String> = topology.crashable().collect();
        (*nodes.choose(rng).expect("crashable nodes")).clone()
    }
}

/// A random duration in `range`, for a random fault's `for`.
fn random_for(rng: &mut ChaCha8Rng, range: std::ops::Range<Duration>) -> Option<Dur> {
    Some(Dur(rng.gen_range(range)))
}
