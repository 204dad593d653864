//! New candidates from corpus members: a few mutations stacked on one
//! member (a new seed; events shifted, retimed, removed, copied, borrowed
//! from a freshly generated scenario, moved to other nodes, lengthened or
//! shortened; a fault rate or the workload changed), or a crossover of two
//! members. Every candidate is a valid scenario: one the rules reject is
//! drawn again.

use rand::{Rng, seq::SliceRandom};
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

use crate::{
    generate::generate_kind,
    kinds,
    scenario::{LOG_LEADER, Scenario, ms, rounded},
    validate::validate,
};

/// Draws before a candidate falls back to the parent with a new seed,
/// which is always valid.
const ATTEMPTS: usize = 16;

/// The mutations, each with how often it is drawn against the others. A new
/// seed is drawn most: the same faults over another schedule is what finds
/// the narrow interleavings a rare mark is close to.
const MUTATIONS: [(Mutation, u32); 11] = [
    (Mutation::NewSeed, 12),
    (Mutation::ShiftEvent, 3),
    (Mutation::RetimeEvent, 1),
    (Mutation::RemoveEvent, 1),
    (Mutation::CopyEvent, 1),
    (Mutation::BorrowEvent, 2),
    (Mutation::MoveEvent, 2),
    (Mutation::StretchEvent, 1),
    (Mutation::FaultRate, 2),
    (Mutation::Workload, 1),
    (Mutation::Crossover, 2),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "kebab-case")]
pub enum Mutation {
    NewSeed,
    ShiftEvent,
    RetimeEvent,
    RemoveEvent,
    CopyEvent,
    BorrowEvent,
    MoveEvent,
    StretchEvent,
    FaultRate,
    Workload,
    Crossover,
}

impl Mutation {
    pub fn name(self) -> &'static str {
        self.into()
    }
}

/// A valid candidate derived from `parent`, with `other` for a crossover,
/// and the mutations applied, in order.
pub fn mutate(
    parent: &Scenario,
    other: &Scenario,
    rng: &mut ChaCha8Rng,
) -> (Scenario, Vec<Mutation>) {
    for _ in 0..ATTEMPTS {
        let mut candidate = parent.clone();
        let mut applied = Vec::new();
        // One to four mutations, fewer more often.
        let stacked = 1 + (0..3).take_while(|_| rng.gen_bool(0.4)).count();
        for _ in 0..stacked {
            let mutation = draw(rng);
            if apply(mutation, &mut candidate, other, rng) {
                applied.push(mutation);
            }
        }
        candidate.events.sort_by_key(|event| event.at);
        if !applied.is_empty() && candidate != *parent && validate(&candidate).is_ok() {
            return (candidate, applied);
        }
    }
    let mut candidate = parent.clone();
    apply(Mutation::NewSeed, &mut candidate, other, rng);
    (candidate, vec![Mutation::NewSeed])
}

fn draw(rng: &mut ChaCha8Rng) -> Mutation {
    MUTATIONS
        .choose_weighted(rng, |(_, weight)| *weight)
        .expect("weights are positive")
        .0
}

/// Applies `mutation` to `scenario`; false when it does not apply (an
/// event mutation on a scenario without events).
fn apply(
    mutation: Mutation,
    scenario: &mut Scenario,
    other: &Scenario,
    rng: &mut ChaCha8Rng,
) -> bool {
    let duration_ms = scenario.duration().as_millis() as u64;
    let count = scenario.events.len();
    let pick = |rng: &mut ChaCha8Rng| (count > 0).then(|| rng.gen_range(0..count));
    match mutation {
        Mutation::NewSeed => scenario.seed = u64::from(rng.r#gen::<u32>()),
        Mutation::ShiftEvent => {
            let Some(index) = pick(rng) else { return false };
            let at = scenario.events[index].at.0.as_millis() as i64;
            let shifted = (at + rng.gen_range(-2_000..=2_000)).clamp(0, duration_ms as i64 - 1);
            scenario.events[index].at = ms(shifted as u64);
        }
        Mutation::RetimeEvent => {
            let Some(index) = pick(rng) else { return false };
            scenario.events[index].at = ms(rng.gen_range(0..duration_ms));
        }
        Mutation::RemoveEvent => {
            let Some(index) = pick(rng) else { return false };
            scenario.events.remove(index);
        }
        Mutation::CopyEvent => {
            let Some(index) = pick(rng) else { return false };
            let mut copy = scenario.events[index].clone();
            copy.at = ms(rng.gen_range(0..duration_ms));
            scenario.events.push(copy);
        }
        Mutation::BorrowEvent => {
            // A fresh scenario of the same kind draws events the way the
            // generator does; those that name nodes this one lacks are
            // rejected with the candidate.
            let donor = generate_kind(u64::from(rng.r#gen::<u32>()), scenario.workload.kind);
            let Some(event) = donor.events.choose(rng) else {
                return false;
            };
            let mut event = event.clone();
            event.at = ms(event.at.0.as_millis() as u64 % duration_ms);
            scenario.events.push(event);
        }
        Mutation::MoveEvent => return move_event(scenario, rng),
        Mutation::StretchEvent => {
            let Some(index) = pick(rng) else { return false };
            let Some(length) = scenario.events[index].for_ else {
                return false;
            };
            let factor = *[0.25, 0.5, 2.0, 4.0].choose(rng).expect("factors");
            let millis = (length.0.as_millis() as f64 * factor) as u64;
            scenario.events[index].for_ = Some(ms(millis.max(10)));
        }
        Mutation::FaultRate => fault_rate(scenario, rng),
        Mutation::Workload => {
            let workload = &mut scenario.workload;
            match rng.gen_range(0..3) {
                0 => workload.requests = rng.gen_range(30..=200),
                1 => workload.client_timeout = ms(rng.gen_range(3..=15) * 100),
                _ => workload.client_retries = rng.gen_range(2..=8),
            }
        }
        Mutation::Crossover => {
            // Its events up to a cut, the other's after it, and the other's
            // fault rates half the time: both must be of one kind.
            if other.workload.kind != scenario.workload.kind || other == scenario {
                return false;
            }
            let cut = Duration::from_millis(rng.gen_range(0..duration_ms));
            scenario.events.retain(|event| event.at.0 < cut);
            scenario.events.extend(
                other
                    .events
                    .iter()
                    .filter(|event| event.at.0 >= cut && event.at.0 < scenario.duration.0)
                    .cloned(),
            );
            if rng.gen_bool(0.5) {
                scenario.faults = other.faults.clone();
            }
        }
    }
    true
}

/// Moves an event to another node: a node's event to another crashable node
/// (or to whichever log replica leads), a partition's node to the other
/// side.
fn move_event(scenario: &mut Scenario, rng: &mut ChaCha8Rng) -> bool {
    let topology = kinds::topology(scenario);
    let mut nodes: Vec<String> = topology.crashable().cloned().collect();
    if !topology.log.is_empty() {
        nodes.push(LOG_LEADER.to_owned());
    }
    let Some(event) = scenario.events.choose_mut(rng) else {
        return false;
    };
    if let Some(node) = &mut event.node {
        let Some(other) = nodes
            .iter()
            .filter(|name| *name != node)
            .collect::<Vec<_>>()
            .choose(rng)
            .map(|name| (*name).clone())
        else {
            return false;
        };
        *node = other;
        return true;
    }
    let Some(groups) = &mut event.groups else {
        return false;
    };
    if groups.len() < 2 {
        return false;
    }
    let from = rng.gen_range(0..groups.len());
    if groups[from].len() < 2 {
        return false;
    }
    let member = rng.gen_range(0..groups[from].len());
    let taken = groups[from].remove(member);
    let to = (from + rng.gen_range(1..groups.len())) % groups.len();
    groups[to].push(taken);
    groups[to].sort();
    true
}

/// Turns one fault rate off, on at a typical strength, halved or doubled.
fn fault_rate(scenario: &mut Scenario, rng: &mut ChaCha8Rng) {
    let faults = &mut scenario.faults;
    let (rate, typical): (&mut f64, f64) = match rng.gen_range(0..7) {
        0 => (&mut faults.drop, 0.02),
        1 => (&mut faults.duplicate, 0.05),
        2 => (&mut faults.reorder, 0.1),
        3 => (&mut faults.crash_points, 0.05),
        4 => (&mut faults.torn_writes, 0.5),
        5 => (&mut faults.db_unknown_commit, 0.05),
        _ => (&mut faults.chain_drop, 0.05),
    };
    *rate = if *rate == 0.0 {
        typical
    } else {
        match rng.gen_range(0..3) {
            0 => 0.0,
            1 => rounded(*rate / 2.0),
            _ => rounded((*rate * 2.0).min(0.5)),
        }
    };
    if faults.reorder > 0.0 && faults.max_delay.is_none() {
        faults.max_delay = Some(ms(200));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{generate::generate, streams};

    /// Every candidate is valid and differs from its parent, for parents of
    /// every kind and all mutations.
    #[test]
    fn candidates_are_valid_and_new() {
        let mut rng = streams::rng(7, streams::Stream::Guided);
        for seed in 0..60 {
            let (parent, other) = (generate(seed), generate(seed + 1000));
            for _ in 0..5 {
                let (candidate, applied) = mutate(&parent, &other, &mut rng);
                assert!(!applied.is_empty());
                assert_ne!(candidate, parent);
                validate(&candidate).expect("a valid candidate");
                assert_eq!(candidate.workload.kind, parent.workload.kind);
            }
        }
    }

    #[test]
    fn a_stretched_event_lasts_at_least_ten_milliseconds() {
        let mut scenario = (0..)
            .map(generate)
            .find(|scenario| !scenario.events.is_empty())
            .expect("a scenario with events");
        scenario.events.truncate(1);
        scenario.events[0].for_ = Some(ms(12));
        let mut rng = streams::rng(1, streams::Stream::Guided);
        for _ in 0..20 {
            let mut stretched = scenario.clone();
            apply(Mutation::StretchEvent, &mut stretched, &scenario, &mut rng);
            assert!(stretched.events[0].for_.unwrap().0 >= Duration::from_millis(10));
        }
    }
}
