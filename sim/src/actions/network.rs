//! Faults of the network: partitions and their healing.

use rand::{Rng, seq::SliceRandom};
use rand_chacha::ChaCha8Rng;
use std::{collections::BTreeSet, sync::Arc, time::Duration};

use super::{EventContext, Field, RandomFault, ScheduledFault, Undo, random_for, shorter};
use crate::{
    scenario::{Action, Dur, EventSpec, Faults, Invalid, Scenario, Topology, rules::invalid},
    world::World,
};

/// Cuts the links between `groups` (only from the first group to the
/// others with `one_way`); with `for`, heals them after that long.
pub(super) struct Partition;

impl ScheduledFault for Partition {
    fn fields(&self) -> &'static [Field] {
        &[Field::Groups, Field::For, Field::OneWay]
    }

    fn validate(&self, event: &EventContext<'_>) -> Result<(), Invalid> {
        let key = event.key("groups");
        let Some(groups) = &event.event.groups else {
            return invalid(key, "action `partition` needs `groups`");
        };
        if groups.is_empty() || groups.iter().any(Vec::is_empty) {
            return invalid(key, "expected non-empty groups of node names");
        }
        let mut seen = BTreeSet::new();
        for name in groups.iter().flatten() {
            if !event.is_node(name) {
                let names: Vec<&str> = event.topology.all().map(String::as_str).collect();
                return invalid(
                    key,
                    format!("expected node names ({}), got `{name}`", names.join(", ")),
                );
            }
            if !seen.insert(name) {
                return invalid(key, format!("expected disjoint groups, `{name}` is in two"));
            }
        }
        Ok(())
    }

    fn apply(
        &self,
        world: &Arc<World>,
        event: &EventSpec,
        _node: &str,
    ) -> Result<Option<Undo>, String> {
        let mut groups = Vec::new();
        for group in event.groups.iter().flatten() {
            let mut resolved: Vec<String> = Vec::new();
            for name in group {
                // `log-leader` may be a replica the group also names.
                let node = world.resolve(name)?;
                if !resolved.contains(&node) {
                    resolved.push(node);
                }
            }
            groups.push(resolved);
        }
        let cut = world.partition(&groups, event.one_way.unwrap_or(false));
        Ok(Some(Box::new(move |world: &World| world.heal(&cut))))
    }

    /// Shorter; one way instead of both; each node left out of its group
    /// (a group left empty goes).
    fn milder(&self, event: &EventSpec) -> Vec<EventSpec> {
        let mut milder = shorter(event);
        if event.one_way != Some(true) {
            milder.push(EventSpec {
                one_way: Some(true),
                ..event.clone()
            });
        }
        let groups = event.groups.clone().unwrap_or_default();
        for (group, members) in groups.iter().enumerate() {
            for member in 0..members.len() {
                let mut fewer = groups.clone();
                fewer[group].remove(member);
                fewer.retain(|group| !group.is_empty());
                if !fewer.is_empty() {
                    milder.push(EventSpec {
                        groups: Some(fewer),
                        ..event.clone()
                    });
                }
            }
        }
        milder
    }
}

impl RandomFault for Partition {
    fn key(&self) -> &'static str {
        "faults.partition_every"
    }

    fn every(&self, faults: &Faults) -> Option<Dur> {
        faults.partition_every
    }

    /// Every node, shuffled and split in two.
    fn draw(&self, rng: &mut ChaCha8Rng, _: &Scenario, topology: &Topology, at: Dur) -> EventSpec {
        let mut shuffled: Vec<String> = topology.all().cloned().collect();
        shuffled.shuffle(rng);
        let second = shuffled.split_off(rng.gen_range(1..shuffled.len().max(2)));
        EventSpec {
            groups: Some(
                vec![shuffled, second]
                    .into_iter()
                    .filter(|group| !group.is_empty())
                    .collect(),
            ),
            for_: random_for(rng, Duration::from_millis(200)..Duration::from_secs(5)),
            ..EventSpec::new(at, Action::Partition)
        }
    }
}

/// Heals every cut link.
pub(super) struct Heal;

impl ScheduledFault for Heal {
    fn fields(&self) -> &'static [Field] {
        &[]
    }

    fn validate(&self, _event: &EventContext<'_>) -> Result<(), Invalid> {
        Ok(())
    }

    fn apply(
        &self,
        world: &Arc<World>,
        _event: &EventSpec,
        _node: &str,
    ) -> Result<Option<Undo>, String> {
        world.heal_all();
        Ok(None)
    }
}
