//! What a run reached, as features guided search can count: each coverage
//! mark, each mark at a depth (reached at least 2, 4, 8 ... times), each
//! mark by when it was first reached (which quarter of the fault phase, or
//! the settle phase), each crash point, each violated checker, and pairs of
//! marks that are rare so far. A run that reaches a feature no run before
//! it did is kept in the corpus.

use ledger::bugs::Checker;
use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

/// The deepest count bucket: a mark reached 2^10 times is as deep as one
/// reached more often.
const DEEPEST: u32 = 10;

/// A mark reached by fewer than one run in this many, over the runs so far,
/// is rare: pairs of rare marks are features of their own.
const RARE: u64 = 8;

/// Runs to count before a mark can be called rare: before them, every mark
/// would be, and every pair a feature.
const RARITY_WARMUP: u64 = 32;

/// What one run reached, as its outcome tells it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reached {
    /// How often each mark was reached.
    pub marks: BTreeMap<String, u64>,
    /// When each mark was first reached.
    pub first_at: BTreeMap<String, Duration>,
    /// The fault phase of the run, against which times are placed.
    pub fault_phase: Duration,
    /// Crash points reached, fired or not.
    pub crash_points: BTreeSet<String>,
    /// Checkers that reported a violation.
    pub violated: Vec<Checker>,
}

/// The features of a run that do not depend on other runs: its marks, their
/// depths and times, its crash points and its violations.
pub fn own_features(reached: &Reached) -> BTreeSet<String> {
    let mut features = BTreeSet::new();
    for (mark, count) in &reached.marks {
        features.insert(mark.clone());
        let mut depth = 1;
        while depth < DEEPEST && *count >= 1 << depth {
            features.insert(format!("{mark} ×{}", 1u64 << depth));
            depth += 1;
        }
        if let Some(at) = reached.first_at.get(mark) {
            features.insert(format!("{mark} {}", when(*at, reached.fault_phase)));
        }
    }
    for point in &reached.crash_points {
        features.insert(format!("crash point {point}"));
    }
    for checker in &reached.violated {
        features.insert(format!("violation {}", checker.name()));
    }
    features
}

/// Whether a feature steers the search's energy: marks, crash points and
/// violations do. A mark's depth and time only keep the corpus varied, and
/// would otherwise draw the search to every member that happened to reach a
/// common mark at an odd moment. Pairs of rare marks keep it varied too: a
/// member reaching k rare marks has k(k-1)/2 pairs, so steering by them
/// drew every parent from the few members where rare marks cluster (the
/// clock-storm seeds), and no mutant of any other reached a bug first.
pub fn steers(feature: &str) -> bool {
    !(feature.contains(" ×") || feature.contains(" in the ") || feature.contains(" + "))
}

/// Pairs of marks both reached by the run and both rare among the `runs`
/// counted in `marks_reached` (runs that reached each mark).
pub fn rare_pairs(
    reached: &Reached,
    marks_reached: &BTreeMap<String, u64>,
    runs: u64,
) -> BTreeSet<String> {
    if runs < RARITY_WARMUP {
        return BTreeSet::new();
    }
    let rare: Vec<&String> = reached
        .marks
        .keys()
        .filter(|mark| {
            marks_reached
                .get(*mark)
                .copied()
                .unwrap_or(0)
                .saturating_mul(RARE)
                < runs
        })
        .collect();
    let mut pairs = BTreeSet::new();
    for (index, first) in rare.iter().enumerate() {
        for second in &rare[index + 1..] {
            pairs.insert(format!("{first} + {second}"));
        }
    }
    pairs
}

/// When a mark was first reached: in which quarter of the fault phase, or
/// in the settle phase after it.
fn when(at: Duration, fault_phase: Duration) -> &'static str {
    if fault_phase.is_zero() || at >= fault_phase {
        return "in the settle phase";
    }
    match (at.as_nanos() * 4 / fault_phase.as_nanos()).min(3) {
        0 => "in the first quarter",
        1 => "in the second quarter",
        2 => "in the third quarter",
        _ => "in the last quarter",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reached(marks: &[(&str, u64, u64)]) -> Reached {
        Reached {
            marks: marks
                .iter()
                .map(|(mark, count, _)| ((*mark).to_owned(), *count))
                .collect(),
            first_at: marks
                .iter()
                .map(|(mark, _, at)| ((*mark).to_owned(), Duration::from_millis(*at)))
                .collect(),
            fault_phase: Duration::from_secs(10),
            crash_points: BTreeSet::from(["log-append-before-sync".to_owned()]),
            violated: vec![Checker::RaftSafety],
        }
    }

    #[test]
    fn a_run_counts_its_marks_their_depth_and_time() {
        let features = own_features(&reached(&[("split-vote", 5, 2_600), ("rare", 1, 12_000)]));
        let expected: BTreeSet<String> = [
            "split-vote",
            "split-vote ×2",
            "split-vote ×4",
            "split-vote in the second quarter",
            "rare",
            "rare in the settle phase",
            "crash point log-append-before-sync",
            "violation raft-safety",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        assert_eq!(features, expected);
    }

    #[test]
    fn only_marks_rare_so_far_pair_up() {
        let run = reached(&[("a", 1, 0), ("b", 1, 0), ("c", 1, 0)]);
        let reached_by: BTreeMap<String, u64> = [
            ("a".to_owned(), 2),
            ("b".to_owned(), 3),
            ("c".to_owned(), 90),
        ]
        .into();
        assert_eq!(
            rare_pairs(&run, &reached_by, 100),
            BTreeSet::from(["a + b".to_owned()])
        );
        assert!(rare_pairs(&run, &reached_by, RARITY_WARMUP - 1).is_empty());
    }
}
