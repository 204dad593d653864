//! Where a run's work goes, for `sim bench --profile`: the messages between
//! each pair of roles (with their bytes and fates), the trace events by
//! part, and the wall time of the simulation against that of the final
//! checks. Collected by a trace subscriber and a clock outside the
//! simulation, so a profiled run is the same run, only slower.

use ledger::observe::{Event, Fate, NodeName};
use serde::Serialize;
use std::{collections::BTreeMap, time::Duration};

use crate::trace::Subscriber;

/// Messages over one route, from one role to another.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RouteCount {
    pub messages: u64,
    pub bytes: u64,
    /// Dropped, cut, delayed or duplicated on the way.
    pub disturbed: u64,
}

/// One phase of a run: how long it lasted in simulated time, and the
/// messages sent in it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct PhaseCount {
    pub simulated_seconds: f64,
    pub messages: u64,
}

/// The phases of a run (see `run`): the fault phase, the settle phase, the
/// quiet tail.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Phases {
    pub faults: PhaseCount,
    pub settle: PhaseCount,
    pub quiet_tail: PhaseCount,
}

impl Phases {
    /// Splits messages sent at `times` by the phase they fell in, given
    /// how long each phase lasted; what came after the quiet tail (the
    /// end of the run) counts with it.
    pub(crate) fn split(
        times: &[Duration],
        faults: Duration,
        settle: Duration,
        quiet_tail: Duration,
    ) -> Phases {
        let settle_start = faults;
        let tail_start = faults + settle;
        let in_phase = |from: Duration, to: Option<Duration>| {
            times
                .iter()
                .filter(|at| **at >= from && to.is_none_or(|to| **at < to))
                .count() as u64
        };
        Phases {
            faults: PhaseCount {
                simulated_seconds: faults.as_secs_f64(),
                messages: in_phase(Duration::ZERO, Some(settle_start)),
            },
            settle: PhaseCount {
                simulated_seconds: settle.as_secs_f64(),
                messages: in_phase(settle_start, Some(tail_start)),
            },
            quiet_tail: PhaseCount {
                simulated_seconds: quiet_tail.as_secs_f64(),
                messages: in_phase(tail_start, None),
            },
        }
    }

    fn add(&mut self, other: &Phases) {
        for (sum, phase) in [
            (&mut self.faults, &other.faults),
            (&mut self.settle, &other.settle),
            (&mut self.quiet_tail, &other.quiet_tail),
        ] {
            sum.simulated_seconds += phase.simulated_seconds;
            sum.messages += phase.messages;
        }
    }
}

/// The profile of one run, or of many added up.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Profile {
    /// Messages by the sender's role and the receiver's (`ledger → db`).
    pub routes: BTreeMap<String, RouteCount>,
    /// Messages by route and kind (`ledger → db Atomic`).
    pub kinds: BTreeMap<String, u64>,
    /// Trace events by the part that recorded them.
    pub events: BTreeMap<&'static str, u64>,
    /// Simulated time and messages by phase.
    pub phases: Phases,
    /// Wall seconds inside the simulation (every phase).
    pub simulation_seconds: f64,
    /// Wall seconds judging the run afterwards (recovery, final checks).
    pub checks_seconds: f64,
}

impl Profile {
    /// Adds `other`'s counts and times to this one.
    pub fn add(&mut self, other: &Profile) {
        for (route, count) in &other.routes {
            let sum = self.routes.entry(route.clone()).or_default();
            sum.messages += count.messages;
            sum.bytes += count.bytes;
            sum.disturbed += count.disturbed;
        }
        for (kind, count) in &other.kinds {
            *self.kinds.entry(kind.clone()).or_default() += count;
        }
        for (part, count) in &other.events {
            *self.events.entry(part).or_default() += count;
        }
        self.phases.add(&other.phases);
        self.simulation_seconds += other.simulation_seconds;
        self.checks_seconds += other.checks_seconds;
    }

    /// Every message counted.
    pub fn messages(&self) -> u64 {
        self.routes.values().map(|count| count.messages).sum()
    }
}

/// The subscriber that counts, with each node's role worked out once.
#[derive(Default)]
pub(crate) struct Profiler {
    pub(crate) profile: Profile,
    /// When each message was sent, to split them by phase once the run
    /// says where its phases ended.
    pub(crate) message_times: Vec<Duration>,
    roles: BTreeMap<NodeName, String>,
}

impl Profiler {
    fn role(&mut self, node: &NodeName) -> String {
        self.roles
            .entry(node.clone())
            .or_insert_with(|| role(node.as_str()).to_owned())
            .clone()
    }
}

/// A node's role: its name without the replica number (`ledger-2` is a
/// `ledger`, `chain-rpc-1` a `chain-rpc`).
fn role(name: &str) -> &str {
    match name.rsplit_once('-') {
        Some((role, number)) if number.bytes().all(|byte| byte.is_ascii_digit()) => role,
        _ => name,
    }
}

impl Subscriber for Profiler {
    fn sees_messages(&self) -> bool {
        true
    }

    fn system(
        &mut self,
        at: Duration,
        node: &NodeName,
        event: &Event,
        _: &mut Vec<crate::coverage::HarnessMark>,
    ) {
        let part = match event {
            Event::Message {
                to,
                kind,
                bytes,
                fate,
                duplicate_after_us,
                ..
            } => {
                let route = format!("{} → {}", self.role(node), self.role(to));
                *self
                    .profile
                    .kinds
                    .entry(format!("{route} {kind}"))
                    .or_default() += 1;
                let count = self.profile.routes.entry(route).or_default();
                count.messages += 1;
                count.bytes += u64::from(*bytes);
                let disturbed = *fate != Fate::Sent || duplicate_after_us.is_some();
                count.disturbed += u64::from(disturbed);
                self.message_times.push(at);
                "message"
            }
            Event::Boot { .. } | Event::CrashPoint { .. } | Event::ReplyLost { .. } => "node",
            Event::Log(_) => "log",
            Event::Db(_) => "db",
            Event::Chain(_) => "chain",
            Event::Ledger(_) => "ledger",
        };
        *self.profile.events.entry(part).or_default() += 1;
    }

    fn harness(&mut self, _: Duration, _: &str, _: &crate::events::HarnessEvent) {
        *self.profile.events.entry("harness").or_default() += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_drop_the_replica_number_only() {
        assert_eq!(role("ledger-2"), "ledger");
        assert_eq!(role("chain-rpc-1"), "chain-rpc");
        assert_eq!(role("db"), "db");
        assert_eq!(role("chain"), "chain");
    }

    #[test]
    fn messages_are_split_by_the_phase_they_were_sent_in() {
        let ms = Duration::from_millis;
        let times = [ms(0), ms(999), ms(1000), ms(1499), ms(1500), ms(9000)];
        let phases = Phases::split(&times, ms(1000), ms(500), ms(2000));
        assert_eq!(
            (
                phases.faults.messages,
                phases.settle.messages,
                phases.quiet_tail.messages
            ),
            (2, 2, 2)
        );
        assert_eq!(phases.settle.simulated_seconds, 0.5);
    }

    #[test]
    fn profiles_add_up() {
        let mut one = Profile::default();
        one.routes.insert(
            "ledger → db".to_owned(),
            RouteCount {
                messages: 2,
                bytes: 10,
                disturbed: 1,
            },
        );
        one.events.insert("message", 2);
        one.simulation_seconds = 1.0;
        let mut sum = Profile::default();
        sum.add(&one);
        sum.add(&one);
        assert_eq!(sum.messages(), 4);
        assert_eq!(sum.routes["ledger → db"].bytes, 20);
        assert_eq!(sum.events["message"], 4);
        assert_eq!(sum.simulation_seconds, 2.0);
    }
}
