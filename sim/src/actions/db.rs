//! Faults of the database: its disk lost.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::{ops::Range, sync::Arc, time::Duration};

use super::{EventContext, Field, RandomFault, ScheduledFault, Undo, random_for, shorter};
use crate::{
    kinds,
    scenario::{
        Action, DB, Dur, EventSpec, Faults, Invalid, Scenario, Topology, WorkloadKind,
        rules::invalid,
    },
    world::World,
};

/// How long a wiped database stays down: drawn from this range when its
/// event sets no `for`, and for every random wipe. A lost disk is replaced
/// at once; the database comes back empty.
const DOWNTIME: Range<Duration> = Duration::from_millis(100)..Duration::from_secs(3);

/// The database loses its disk: killed as in a crash, every file erased,
/// restarted empty after `for` (or a short while). Only where the database
/// is a projection its kind rebuilds from the log.
pub(super) struct DbWipe;

impl ScheduledFault for DbWipe {
    fn fields(&self) -> &'static [Field] {
        &[Field::Node, Field::For]
    }

    fn validate(&self, event: &EventContext<'_>) -> Result<(), Invalid> {
        rebuilds_db(&event.key("action"), event.scenario, "`db-wipe`")?;
        match &event.event.node {
            Some(node) if !event.topology.db.contains(node) => invalid(
                event.key("node"),
                format!("expected `{DB}` (only the database's disk is wiped), got `{node}`"),
            ),
            _ => Ok(()),
        }
    }

    fn apply(
        &self,
        world: &Arc<World>,
        event: &EventSpec,
        node: &str,
    ) -> Result<Option<Undo>, String> {
        let node = if node.is_empty() { DB } else { node };
        if !world.wipe(node) {
            return Err(format!("{node} is already down"));
        }
        let downtime = match event.for_ {
            Some(for_) => for_.0,
            None => world.with_rng(|rng| rng.gen_range(DOWNTIME)),
        };
        // Back after its downtime even past the fault phase: the settle
        // phase may restart it first, and then this finds it up.
        world.restart_after(node, downtime);
        Ok(None)
    }

    /// A plain crash of the database, down as long, its disk kept; then a
    /// shorter outage.
    fn milder(&self, event: &EventSpec) -> Vec<EventSpec> {
        let crash = EventSpec {
            node: Some(DB.to_owned()),
            for_: Some(event.for_.unwrap_or(Dur(DOWNTIME.end))),
            ..EventSpec::new(event.at, Action::Crash)
        };
        let mut milder = vec![crash];
        milder.extend(shorter(event));
        milder
    }
}

impl RandomFault for DbWipe {
    fn key(&self) -> &'static str {
        "faults.db_wipe_every"
    }

    fn every(&self, faults: &Faults) -> Option<Dur> {
        faults.db_wipe_every
    }

    fn runs_on(&self, topology: &Topology) -> bool {
        !topology.db.is_empty()
    }

    fn draw(&self, rng: &mut ChaCha8Rng, _: &Scenario, _: &Topology, at: Dur) -> EventSpec {
        EventSpec {
            for_: random_for(rng, DOWNTIME),
            ..EventSpec::new(at, Action::DbWipe)
        }
    }
}

/// A lost database disk needs a kind that rebuilds the database from its
/// log; `key` and `what` name the setting that asks for one.
pub(crate) fn rebuilds_db(key: &str, scenario: &Scenario, what: &str) -> Result<(), Invalid> {
    let kind = scenario.workload.kind;
    if kinds::of(kind).rebuilds_db() {
        return Ok(());
    }
    let able: Vec<String> = WorkloadKind::all()
        .filter(|kind| kinds::of(*kind).rebuilds_db())
        .map(|kind| format!("`{}`", kind.name()))
        .collect();
    invalid(
        key,
        format!(
            "{what} needs a database rebuilt from the log, which workload kind `{}` does not have (only {})",
            kind.name(),
            able.join(", ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::ms;

    #[test]
    fn a_milder_wipe_is_a_crash_of_the_database_then_a_shorter_one() {
        let wipe = EventSpec {
            for_: Some(ms(400)),
            ..EventSpec::new(ms(1000), Action::DbWipe)
        };
        let milder = DbWipe.milder(&wipe);
        let crash = EventSpec {
            node: Some(DB.to_owned()),
            ..EventSpec::new(ms(1000), Action::Crash)
        };
        assert_eq!(
            milder,
            [
                EventSpec {
                    for_: Some(ms(400)),
                    ..crash.clone()
                },
                EventSpec {
                    for_: Some(ms(100)),
                    ..wipe.clone()
                },
                EventSpec {
                    for_: Some(ms(200)),
                    ..wipe.clone()
                },
            ]
        );
        let unbounded = EventSpec::new(ms(1000), Action::DbWipe);
        assert_eq!(
            DbWipe.milder(&unbounded),
            [EventSpec {
                for_: Some(Dur(DOWNTIME.end)),
                ..crash
            }]
        );
    }
}
