//! Controls: the runs that prove a planted bug was caught through the
//! hazard it plants, and not through a side effect.
//!
//! Every catch has two. Without the bug, the same scenario must pass: the
//! checkers do not fire on a correct system. Without the bug's trigger (the
//! fault, retry or concurrency its hazard needs), the same scenario with the
//! bug still planted must pass too: the bug alone, never exercised, is
//! harmless, so a checker that fires anyway is reacting to something else.

use ledger::bugs::Trigger;
use std::time::Duration;

use crate::scenario::{Action, Dur, Faults, Scenario};

/// A client timeout long enough that no request of a faultless run times
/// out, so none is retried.
const PATIENT_CLIENT: Duration = Duration::from_secs(10);
/// Requests of a run whose work must not overlap.
const SPARSE_REQUESTS: u32 = 3;
/// The shortest fault phase of such a run: its requests come seconds apart,
/// each done (paid, committed) before the next.
const SPARSE_DURATION: Duration = Duration::from_secs(12);

/// `scenario` with no planted bug and no expectation.
pub fn without_bug(scenario: &Scenario) -> Scenario {
    Scenario {
        system: crate::scenario::System {
            bugs: Vec::new(),
            ..scenario.system.clone()
        },
        expect: None,
        ..scenario.clone()
    }
}

/// `scenario` without `trigger`, its bugs kept and its expectation dropped;
/// `None` when the bug needs no trigger.
pub fn without_trigger(scenario: &Scenario, trigger: Trigger) -> Option<Scenario> {
    let mut control = Scenario {
        expect: None,
        ..scenario.clone()
    };
    match trigger {
        Trigger::Always => return None,
        Trigger::Crashes => {
            // A lost disk, or a node lost for good, is a crash too.
            control.events.retain(|event| {
                !matches!(
                    event.action,
                    Action::Crash | Action::Restart | Action::Retire | Action::DbWipe
                )
            });
            control.faults.crash_every = None;
            control.faults.db_wipe_every = None;
            control.faults.crash_points = 0.0;
        }
        Trigger::TornWrites => control.faults.torn_writes = 0.0,
        Trigger::Wipes => {
            control
                .events
                .retain(|event| event.action != Action::DbWipe);
            control.faults.db_wipe_every = None;
        }
        Trigger::Reorgs => {
            control
                .events
                .retain(|event| event.action != Action::ChainReorg);
            control.faults.chain_reorg_every = None;
        }
        Trigger::Retries => {
            faultless(&mut control);
            control.workload.client_retries = 0;
            control.workload.late_resends = 0.0;
            control.workload.client_timeout = Dur(PATIENT_CLIENT);
            // A client reusing an accepted request id for another transfer
            // presents that id twice as surely as a retry does.
            control.workload.invalid_fraction = 0.0;
        }
        Trigger::Faults => faultless(&mut control),
        Trigger::InvalidInput => control.workload.invalid_fraction = 0.0,
        Trigger::FeeBumps => control.workload.fee_bumps = 0.0,
        Trigger::Clocks => {
            control.events.retain(|event| event.action != Action::Clock);
            control.faults.clock_skew = None;
            control.faults.clock_drift_ppm = 0;
        }
        Trigger::Concurrency => {
            faultless(&mut control);
            control.cluster.clients = 1;
            control.cluster.ledger_replicas = 1;
            control.workload.kv_sessions = control.workload.kv_sessions.min(1);
            control.workload.requests = control.workload.requests.min(SPARSE_REQUESTS);
            control.duration = Dur(control.duration().max(SPARSE_DURATION));
        }
    }
    control.name = format!("{} without {}", scenario.name, trigger.name());
    Some(control)
}

/// No fault of any kind, scheduled or random.
fn faultless(scenario: &mut Scenario) {
    scenario.events.clear();
    scenario.faults = Faults::default();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        generate::generate_kind,
        scenario::{EventSpec, WorkloadKind},
    };

    #[test]
    fn a_crash_control_keeps_every_fault_but_crashes() {
        let mut scenario = generate_kind(3, WorkloadKind::Transfers);
        scenario.system.bugs = vec!["outbox-dual-write".to_owned()];
        scenario.faults.crash_points = 0.3;
        scenario.faults.drop = 0.1;
        scenario.events = vec![
            EventSpec {
                node: Some("db".to_owned()),
                ..EventSpec::new(crate::scenario::ms(100), Action::Crash)
            },
            EventSpec::new(crate::scenario::ms(200), Action::ChainDrop),
            EventSpec::new(crate::scenario::ms(300), Action::DbWipe),
        ];
        scenario.faults.db_wipe_every = Some(crate::scenario::ms(20_000));
        let control = without_trigger(&scenario, Trigger::Crashes).expect("a control");
        assert_eq!(control.faults.crash_points, 0.0);
        assert_eq!(control.faults.db_wipe_every, None);
        assert_eq!(control.faults.drop, 0.1);
        assert_eq!(control.events.len(), 1);
        assert_eq!(control.events[0].action, Action::ChainDrop);
        assert_eq!(control.system.bugs, scenario.system.bugs);
        assert!(without_bug(&scenario).system.bugs.is_empty());
        assert!(without_trigger(&scenario, Trigger::Always).is_none());
    }

    /// Without retries no request id arrives twice: no retry, no late
    /// resend, no duplicated message, and no invalid request, among which
    /// is a reused id.
    #[test]
    fn a_retries_control_sends_each_request_id_once() {
        let mut scenario = generate_kind(3, WorkloadKind::Transfers);
        scenario.workload.client_retries = 8;
        scenario.workload.late_resends = 0.2;
        scenario.workload.invalid_fraction = 0.17;
        scenario.faults.duplicate = 0.1;
        let control = without_trigger(&scenario, Trigger::Retries).expect("a control");
        assert_eq!(control.workload.client_retries, 0);
        assert_eq!(control.workload.late_resends, 0.0);
        assert_eq!(control.workload.invalid_fraction, 0.0);
        assert_eq!(control.faults.duplicate, 0.0);
    }
}
