//! A node's wall clock set apart: an offset, a jump, a drift.

use std::sync::Arc;

use super::{EventContext, Field, ScheduledFault, Undo};
use crate::{
    scenario::{
        EventSpec, Invalid, MAX_DRIFT_PPM, SignedDur,
        rules::{MAX_PHASE, invalid},
    },
    world::World,
};

/// Sets the node's clock: `offset` from true time, a `jump` from where it
/// stands, a `drift_ppm` from now on. Nothing undoes it but the settle
/// phase.
pub(super) struct Clock;

impl ScheduledFault for Clock {
    fn fields(&self) -> &'static [Field] {
        &[Field::Node, Field::Offset, Field::Jump, Field::DriftPpm]
    }

    fn validate(&self, event: &EventContext<'_>) -> Result<(), Invalid> {
        let spec = event.event;
        for (field, value) in [(Field::Offset, spec.offset), (Field::Jump, spec.jump)] {
            if let Some(value) = value
                && value.0.unsigned_abs() > MAX_PHASE.as_nanos() as u64
            {
                return invalid(
                    event.key(field.name()),
                    format!("expected at most ±1h, got {value}"),
                );
            }
        }
        event.needs_crashable_node()?;
        if spec.offset.is_none() && spec.jump.is_none() && spec.drift_ppm.is_none() {
            return invalid(
                event.key("offset"),
                "action `clock` needs `offset`, `jump` or `drift_ppm`",
            );
        }
        if let Some(drift) = spec.drift_ppm
            && drift.unsigned_abs() > u64::from(MAX_DRIFT_PPM)
        {
            return invalid(
                event.key("drift_ppm"),
                format!("expected at most ±{MAX_DRIFT_PPM} ppm, got {drift}"),
            );
        }
        Ok(())
    }

    fn apply(
        &self,
        world: &Arc<World>,
        event: &EventSpec,
        node: &str,
    ) -> Result<Option<Undo>, String> {
        world.skew_clock(
            node,
            event.offset.map(|offset| offset.0),
            event.jump.map(|jump| jump.0),
            event.drift_ppm,
        );
        Ok(None)
    }

    /// Each skew halved, or left out while another remains.
    fn milder(&self, event: &EventSpec) -> Vec<EventSpec> {
        // Whole milliseconds, so the file written says exactly what ran.
        let halved = |value: Option<SignedDur>| {
            value.map(|value| SignedDur(value.0 / 2_000_000 * 1_000_000))
        };
        let mut milder = vec![EventSpec {
            offset: halved(event.offset),
            jump: halved(event.jump),
            drift_ppm: event.drift_ppm.map(|drift| drift / 2),
            ..event.clone()
        }];
        let set = [
            event.offset.is_some(),
            event.jump.is_some(),
            event.drift_ppm.is_some(),
        ];
        if set.iter().filter(|set| **set).count() > 1 {
            if set[0] {
                milder.push(EventSpec {
                    offset: None,
                    ..event.clone()
                });
            }
            if set[1] {
                milder.push(EventSpec {
                    jump: None,
                    ..event.clone()
                });
            }
            if set[2] {
                milder.push(EventSpec {
                    drift_ppm: None,
                    ..event.clone()
                });
            }
        }
        milder
    }
}
