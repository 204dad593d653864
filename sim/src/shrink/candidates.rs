//! Smaller versions of a scenario, biggest cuts first: the shrinker tries
//! them in order and keeps the first that still fails the same way. Every
//! candidate keeps the seed; one that the scenario rules reject is never
//! offered.

use std::time::Duration;

use crate::{
    actions, kinds,
    scenario::{Dur, EventSpec, LOG_LEADER, Scenario},
    validate::validate,
};

/// One way of making a scenario smaller.
pub type Pass = fn(&Scenario) -> Vec<Scenario>;

/// The passes, in the order they are tried.
pub const PASSES: [(&str, Pass); 6] = [
    ("events", fewer_events),
    ("duration", shorter_duration),
    ("workload", smaller_workload),
    ("cluster", smaller_cluster),
    ("faults", milder_faults),
    ("milder events", milder_events),
];

/// Valid candidates only, and none equal to `scenario`.
pub fn valid(scenario: &Scenario, candidates: Vec<Scenario>) -> Vec<Scenario> {
    let mut kept: Vec<Scenario> = Vec::new();
    for candidate in candidates {
        if candidate != *scenario && validate(&candidate).is_ok() && !kept.contains(&candidate) {
            kept.push(candidate);
        }
    }
    kept
}

/// Removes runs of events: all of them, then halves, quarters ... single
/// events (delta debugging's complement step).
fn fewer_events(scenario: &Scenario) -> Vec<Scenario> {
    let count = scenario.events.len();
    let mut candidates = Vec::new();
    let mut chunk = count;
    while chunk >= 1 {
        for start in (0..count).step_by(chunk) {
            let mut candidate = scenario.clone();
            candidate.events.drain(start..(start + chunk).min(count));
            candidates.push(candidate);
        }
        if chunk == 1 {
            break;
        }
        chunk = chunk.div_ceil(2);
    }
    candidates
}

/// A quarter, half or three quarters of the fault phase, without the
/// events that no longer fit in it.
fn shorter_duration(scenario: &Scenario) -> Vec<Scenario> {
    let millis = scenario.duration().as_millis() as u64;
    [millis / 4, millis / 2, millis * 3 / 4]
        .into_iter()
        .filter(|shorter| *shorter >= 1000 && *shorter < millis)
        .map(|shorter| {
            let mut candidate = scenario.clone();
            let end = Duration::from_millis(shorter);
            candidate.duration = Dur(end);
            candidate.events.retain(|event| event.at.0 < end);
            candidate
        })
        .collect()
}

/// Fewer requests and clients; no malformed requests.
fn smaller_workload(scenario: &Scenario) -> Vec<Scenario> {
    let mut candidates = Vec::new();
    for requests in fewer(scenario.workload.requests) {
        let mut candidate = scenario.clone();
        candidate.workload.requests = requests;
        candidates.push(candidate);
    }
    for clients in fewer(scenario.cluster.clients) {
        let mut candidate = scenario.clone();
        candidate.cluster.clients = clients;
        candidates.push(pruned(candidate));
    }
    if scenario.workload.invalid_fraction > 0.0 {
        let mut candidate = scenario.clone();
        candidate.workload.invalid_fraction = 0.0;
        candidates.push(candidate);
    }
    if scenario.workload.late_resends > 0.0 {
        let mut candidate = scenario.clone();
        candidate.workload.late_resends = 0.0;
        candidates.push(candidate);
    }
    if scenario.workload.fee_bumps > 0.0 {
        let mut candidate = scenario.clone();
        candidate.workload.fee_bumps = 0.0;
        candidates.push(candidate);
    }
    if scenario.workload.own_reads {
        let mut candidate = scenario.clone();
        candidate.workload.own_reads = false;
        candidates.push(candidate);
    }
    if scenario.workload.reversals {
        let mut candidate = scenario.clone();
        candidate.workload.reversals = false;
        candidates.push(candidate);
    }
    candidates
}

/// Fewer ledger replicas, RPC nodes and log replicas; events naming nodes
/// that are gone go with them.
fn smaller_cluster(scenario: &Scenario) -> Vec<Scenario> {
    let cluster = &scenario.cluster;
    let mut candidates = Vec::new();
    for replicas in fewer(cluster.ledger_replicas) {
        let mut candidate = scenario.clone();
        candidate.cluster.ledger_replicas = replicas;
        candidates.push(pruned(candidate));
    }
    for nodes in fewer(cluster.chain_rpc_nodes) {
        let mut candidate = scenario.clone();
        candidate.cluster.chain_rpc_nodes = nodes;
        candidates.push(pruned(candidate));
    }
    for replicas in [1, 3, 5].into_iter().filter(|n| *n < cluster.log_replicas) {
        let mut candidate = scenario.clone();
        candidate.cluster.log_replicas = replicas;
        candidates.push(pruned(candidate));
    }
    candidates
}

/// Each fault rate turned off, then halved.
fn milder_faults(scenario: &Scenario) -> Vec<Scenario> {
    let Ok(toml::Value::Table(faults)) = toml::Value::try_from(&scenario.faults) else {
        return Vec::new();
    };
    let with = |key: &str, value: Option<toml::Value>| {
        let mut table = faults.clone();
        match value {
            Some(value) => table.insert(key.to_owned(), value),
            None => table.remove(key),
        };
        let mut candidate = scenario.clone();
        candidate.faults = toml::Value::Table(table).try_into().ok()?;
        Some(candidate)
    };
    let mut candidates = Vec::new();
    for (key, value) in &faults {
        let on = match value {
            toml::Value::Float(rate) => *rate > 0.0,
            toml::Value::Integer(amount) => *amount > 0,
            _ => true,
        };
        if on {
            candidates.extend(with(key, None));
        }
        if let toml::Value::Float(rate) = value
            && *rate >= 0.002
        {
            let halved = (rate * 500.0).round() / 1000.0;
            candidates.extend(with(key, Some(toml::Value::Float(halved))));
        }
    }
    candidates
}

/// Each event made milder as its action knows how: shorter, on fewer
/// nodes, a smaller skew or a shallower reorg.
fn milder_events(scenario: &Scenario) -> Vec<Scenario> {
    let mut candidates = Vec::new();
    for (index, event) in scenario.events.iter().enumerate() {
        for milder in actions::of(event.action).milder(event) {
            let mut candidate = scenario.clone();
            candidate.events[index] = milder;
            candidates.push(candidate);
        }
    }
    candidates
}

/// Smaller counts to try instead of `count`, boldest first: 1, a quarter,
/// a half, three quarters, seven eighths, one less. The finer steps matter:
/// a count is not monotonic in a simulation (one request fewer reshuffles
/// the clients' draws), so a failure may survive only a small cut.
fn fewer(count: u32) -> Vec<u32> {
    let mut counts: Vec<u32> = [
        1,
        count / 4,
        count / 2,
        count * 3 / 4,
        count * 7 / 8,
        count.saturating_sub(1),
    ]
    .into_iter()
    .filter(|smaller| *smaller >= 1 && *smaller < count)
    .collect();
    counts.dedup();
    counts
}

/// Drops what the scenario's events say of nodes it no longer runs.
fn pruned(mut scenario: Scenario) -> Scenario {
    let topology = kinds::topology(&scenario);
    let leader_alias = !topology.log.is_empty();
    let exists = |name: &String| {
        topology.all().any(|node| node == name) || (leader_alias && name == LOG_LEADER)
    };
    scenario.events.retain_mut(|event: &mut EventSpec| {
        if let Some(groups) = &mut event.groups {
            for group in groups.iter_mut() {
                group.retain(|name| exists(name));
            }
            groups.retain(|group| !group.is_empty());
            if groups.is_empty() {
                return false;
            }
        }
        event.node.as_ref().is_none_or(exists)
    });
    scenario
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::generate_kind;
    use crate::scenario::WorkloadKind;
    use crate::validate::parse;
    use proptest::{prelude::*, sample::Index};

    /// A scenario a shrink may stand at: a generated one, with the events
    /// of another generated scenario added where they are valid (more of
    /// them, and of kinds its own seed did not draw), then `steps` shrink
    /// steps taken: each a pass and one of the candidates it kept.
    #[derive(Debug, Clone)]
    struct Walk {
        seed: u64,
        kind: WorkloadKind,
        donor: Option<(u64, WorkloadKind)>,
        steps: Vec<(Index, Index)>,
    }

    fn kind() -> impl Strategy<Value = WorkloadKind> {
        prop::sample::select(WorkloadKind::all().collect::<Vec<_>>())
    }

    fn walk() -> impl Strategy<Value = Walk> {
        (
            any::<u64>(),
            kind(),
            prop::option::of((any::<u64>(), kind())),
            prop::collection::vec(any::<(Index, Index)>(), 0..4),
        )
            .prop_map(|(seed, kind, donor, steps)| Walk {
                seed,
                kind,
                donor,
                steps,
            })
    }

    /// `scenario` with each of `donor`'s events that it can take.
    fn grafted(mut scenario: Scenario, donor: &Scenario) -> Scenario {
        for event in &donor.events {
            scenario.events.push(event.clone());
            if validate(&scenario).is_err() {
                scenario.events.pop();
            }
        }
        scenario.events.sort_by_key(|event| event.at);
        scenario
    }

    /// What the shrinker's loop must see shrink: events, requests, nodes
    /// and the fault phase's milliseconds.
    fn size(scenario: &Scenario) -> [u128; 4] {
        [
            scenario.events.len() as u128,
            u128::from(scenario.workload.requests),
            kinds::topology(scenario).all().count() as u128,
            scenario.duration().as_millis(),
        ]
    }

    /// What the shrinker hands the runner from `pass` at `current`, the
    /// candidates `valid` keeps, each checked.
    fn kept(
        pass: &str,
        make: Pass,
        current: &Scenario,
        original: &Scenario,
    ) -> Result<Vec<Scenario>, TestCaseError> {
        let offered = make(current);
        for candidate in &offered {
            prop_assert_eq!(candidate.seed, original.seed, "{} lost the seed", pass);
            prop_assert_eq!(
                &candidate.generator,
                &original.generator,
                "{} lost the generator",
                pass
            );
            prop_assert_eq!(candidate.workload.kind, original.workload.kind);
            prop_assert_eq!(&candidate.system.bugs, &original.system.bugs);
        }
        let kept = valid(current, offered);
        for (index, candidate) in kept.iter().enumerate() {
            let text = candidate.to_toml();
            if let Err(invalid) = validate(candidate) {
                let (key, message) = (invalid.key, invalid.message);
                return Err(TestCaseError::fail(format!(
                    "{pass} kept an invalid candidate: {key}: {message}\n{text}"
                )));
            }
            prop_assert!(candidate != current, "{} kept the scenario itself", pass);
            prop_assert!(!kept[..index].contains(candidate), "{} kept a repeat", pass);
            let (before, after) = (size(current), size(candidate));
            prop_assert!(
                after
                    .iter()
                    .zip(&before)
                    .all(|(after, before)| after <= before),
                "{} grew {:?} to {:?}\n{}",
                pass,
                before,
                after,
                text
            );
            // A shrunk scenario is written out as TOML: the file must run
            // what was run.
            let parsed = parse(&text, "shrunk.toml")
                .map_err(|error| TestCaseError::fail(format!("{error}\n{text}")))?;
            prop_assert_eq!(&parsed, candidate, "{} does not round-trip\n{}", pass, text);
        }
        Ok(kept)
    }

    proptest! {
        #![proptest_config(crate::testing::cases(256))]

        /// Every pass at every step of a walk. The passes may offer invalid
        /// candidates (`max_delay` turned off while `reorder` is on) and
        /// repeats (a run of events cut twice), which `valid` drops; they
        /// must never lose the seed or the generator, which no validation
        /// would notice.
        #[test]
        fn every_candidate_is_valid_smaller_reproducible_and_keeps_the_seed(walk in walk()) {
            let mut current = generate_kind(walk.seed, walk.kind);
            if let Some((seed, kind)) = walk.donor {
                current = grafted(current, &generate_kind(seed, kind));
            }
            let original = current.clone();
            for step in 0..=walk.steps.len() {
                let mut kept_by_pass = Vec::new();
                for (pass, make) in PASSES {
                    kept_by_pass.push(kept(pass, make, &current, &original)?);
                }
                let Some((pass, pick)) = walk.steps.get(step) else {
                    break;
                };
                let kept = &kept_by_pass[pass.index(PASSES.len())];
                if kept.is_empty() {
                    break;
                }
                current = kept[pick.index(kept.len())].clone();
            }
        }
    }

    #[test]
    fn event_removal_tries_everything_then_halves_then_singles() {
        let scenario = generate_kind(1, WorkloadKind::Transfers);
        let count = scenario.events.len();
        assert!(count >= 3, "seed 1 has {count} events");
        let candidates = fewer_events(&scenario);
        assert!(candidates[0].events.is_empty());
        assert_eq!(candidates[1].events.len(), count - count.div_ceil(2));
        let singles = &candidates[candidates.len() - count..];
        assert!(singles.iter().all(|c| c.events.len() == count - 1));
    }

    #[test]
    fn fewer_nodes_drop_the_events_that_named_them() {
        let mut scenario = generate_kind(1, WorkloadKind::Transfers);
        scenario.cluster.ledger_replicas = 3;
        scenario.events = vec![EventSpec {
            node: Some("ledger-3".to_owned()),
            ..EventSpec::new(crate::scenario::ms(100), crate::scenario::Action::Pause)
        }];
        scenario.cluster.ledger_replicas = 2;
        assert!(pruned(scenario).events.is_empty());
    }
}
