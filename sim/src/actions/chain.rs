//! Faults of the chain: mempools that forget, reorgs.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;

use super::{EventContext, Field, RandomFault, ScheduledFault, Undo};
use crate::{
    kinds,
    scenario::{
        Action, Dur, EventSpec, Faults, Invalid, Scenario, Topology,
        rules::{invalid, probability},
    },
    world::World,
};

/// Every RPC node's mempool forgets what it holds.
pub(super) struct ChainDrop;

impl ScheduledFault for ChainDrop {
    fn fields(&self) -> &'static [Field] {
        &[]
    }

    fn validate(&self, event: &EventContext<'_>) -> Result<(), Invalid> {
        needs_chain(event)
    }

    fn apply(
        &self,
        world: &Arc<World>,
        _event: &EventSpec,
        _node: &str,
    ) -> Result<Option<Undo>, String> {
        if !world.chain_drop() {
            return Err("this workload runs no chain".to_owned());
        }
        Ok(None)
    }
}

/// The chain's last `depth` blocks are replaced; each of their
/// transactions is dropped with probability `drop`, the rest go back to
/// the mempool.
pub(super) struct ChainReorg;

impl ScheduledFault for ChainReorg {
    fn fields(&self) -> &'static [Field] {
        &[Field::Depth, Field::Drop]
    }

    fn validate(&self, event: &EventContext<'_>) -> Result<(), Invalid> {
        needs_chain(event)?;
        reorgs_fit(&event.key("depth"), event.scenario)?;
        let confirmations = event.scenario.system.confirmations;
        // Unset, the depth is one block: checked against `confirmations`
        // all the same.
        let depth = depth(event.event);
        if depth == 0 || depth >= confirmations {
            return invalid(
                event.key("depth"),
                format!(
                    "expected 1 to {} (below `confirmations`), got {depth}",
                    confirmations - 1
                ),
            );
        }
        if let Some(drop) = event.event.drop {
            probability(&event.key("drop"), drop)?;
        }
        Ok(())
    }

    fn apply(
        &self,
        world: &Arc<World>,
        event: &EventSpec,
        _node: &str,
    ) -> Result<Option<Undo>, String> {
        let reorged = world.chain_reorg(u64::from(depth(event)), event.drop.unwrap_or(0.0));
        if !reorged {
            return Err("this workload runs no chain".to_owned());
        }
        Ok(None)
    }

    /// Shallower, and dropping nothing.
    fn milder(&self, event: &EventSpec) -> Vec<EventSpec> {
        let mut milder = Vec::new();
        if depth(event) > 1 {
            milder.push(EventSpec {
                depth: Some(depth(event) - 1),
                ..event.clone()
            });
        }
        if event.drop.is_some_and(|drop| drop > 0.0) {
            milder.push(EventSpec {
                drop: None,
                ..event.clone()
            });
        }
        milder
    }
}

impl RandomFault for ChainReorg {
    fn key(&self) -> &'static str {
        "faults.chain_reorg_every"
    }

    fn every(&self, faults: &Faults) -> Option<Dur> {
        faults.chain_reorg_every
    }

    fn runs_on(&self, topology: &Topology) -> bool {
        !topology.chain.is_empty()
    }

    /// Shallower than a confirmation, so confirmed payouts stay final.
    fn draw(&self, rng: &mut ChaCha8Rng, scenario: &Scenario, _: &Topology, at: Dur) -> EventSpec {
        let deepest = scenario.system.confirmations.saturating_sub(1).max(1);
        EventSpec {
            depth: Some(rng.gen_range(1..=deepest)),
            drop: Some((rng.gen_range(0.0..0.5f64) * 100.0).round() / 100.0),
            ..EventSpec::new(at, Action::ChainReorg)
        }
    }
}

/// A reorg is shallower than `confirmations`, so that a confirmed payout
/// stays final: with one confirmation no reorg fits, and a reorg of the
/// head would undo what was already confirmed (the checkers would then
/// blame the system for what the scenario asked).
pub(crate) fn reorgs_fit(key: &str, scenario: &Scenario) -> Result<(), Invalid> {
    if scenario.system.confirmations < 2 {
        return invalid(
            key,
            "a reorg must be shallower than `system.confirmations`, which is 1; expected `confirmations` of at least 2 for reorgs",
        );
    }
    Ok(())
}

/// Chain faults need a kind that runs the chain.
fn needs_chain(event: &EventContext<'_>) -> Result<(), Invalid> {
    let kind = event.scenario.workload.kind;
    if kinds::of(kind).roles().chain {
        return Ok(());
    }
    invalid(
        event.key("action"),
        format!(
            "`{}` needs the chain, which workload kind `{}` does not run",
            event.event.action.name(),
            kind.name()
        ),
    )
}

/// A reorg's depth: one block unless the event says.
fn depth(event: &EventSpec) -> u32 {
    event.depth.unwrap_or(1)
}
