//! Histories from the literature, known linearizable or not, and
//! generated ones: a history recorded from a sequential execution, with
//! any overlap of intervals and any operations left unanswered, is always
//! accepted; one whose read returns a value never written never is; and
//! any small history gets the verdict of trying every order of it.

use super::*;
use proptest::prelude::*;

type Op = Operation<KvOp, KvOutput>;

fn op(client: u64, call: u64, ret: u64, op: KvOp, output: KvOutput) -> Op {
    Operation {
        client,
        call,
        returned: Some((ret, output)),
        op,
    }
}

fn lost(client: u64, call: u64, op: KvOp) -> Op {
    Operation {
        client,
        call,
        returned: None,
        op,
    }
}

fn write(key: u64, value: u64) -> KvOp {
    KvOp::Write { key, value }
}

fn read(key: u64) -> KvOp {
    KvOp::Read { key }
}

fn value(value: Option<u64>) -> KvOutput {
    KvOutput::Value(value)
}

fn verdict(history: &[Op]) -> Verdict {
    check(
        history,
        &Register::default(),
        |op: &KvOp| op.key(),
        DEFAULT_STEPS,
    )
}

fn culprit(history: &[Op]) -> usize {
    match verdict(history) {
        Verdict::Violated(violation) => violation.culprit,
        other => panic!("expected a violation, got {other:?}"),
    }
}

#[test]
fn a_read_overlapping_a_write_may_see_either_value() {
    let history = [
        op(1, 0, 20, write(1, 1), KvOutput::Written),
        op(2, 5, 10, read(1), value(None)),
        op(3, 12, 15, read(1), value(Some(1))),
    ];
    assert_eq!(verdict(&history), Verdict::Linearizable);
}

#[test]
fn a_read_after_a_write_returned_must_see_it() {
    let history = [
        op(1, 0, 10, write(1, 1), KvOutput::Written),
        op(2, 20, 30, read(1), value(None)),
    ];
    assert_eq!(culprit(&history), 1);
}

/// Once a read saw the new value, a later read may not see the old one,
/// even while the write is still running (a new-old inversion).
#[test]
fn reads_never_go_back_in_time() {
    let history = [
        op(1, 0, 100, write(1, 1), KvOutput::Written),
        op(2, 10, 20, read(1), value(Some(1))),
        op(3, 30, 40, read(1), value(None)),
    ];
    match verdict(&history) {
        Verdict::Violated(violation) => {
            assert_eq!(violation.culprit, 2);
            assert_eq!(violation.window, vec![0]);
        }
        other => panic!("{other:?}"),
    }
}

/// An unanswered write may take effect at any time after its call, or
/// never; but once seen, it stays.
#[test]
fn an_unanswered_write_may_take_effect_late_or_never() {
    let seen_late = [
        lost(1, 0, write(1, 7)),
        op(2, 10, 20, read(1), value(None)),
        op(2, 50, 60, read(1), value(Some(7))),
    ];
    assert_eq!(verdict(&seen_late), Verdict::Linearizable);
    let never = [lost(1, 0, write(1, 7)), op(2, 50, 60, read(1), value(None))];
    assert_eq!(verdict(&never), Verdict::Linearizable);
    let undone = [
        lost(1, 0, write(1, 7)),
        op(2, 50, 60, read(1), value(Some(7))),
        op(2, 70, 80, read(1), value(None)),
    ];
    assert_eq!(culprit(&undone), 2);
}

#[test]
fn two_compare_and_sets_from_the_same_value_cannot_both_succeed() {
    let cas = |to| KvOp::Cas {
        key: 1,
        from: None,
        to,
    };
    let history = [
        op(1, 0, 10, cas(1), KvOutput::Swapped(true)),
        op(2, 5, 30, cas(2), KvOutput::Swapped(true)),
    ];
    assert_eq!(culprit(&history), 1);
    let one_fails = [
        op(1, 0, 10, cas(1), KvOutput::Swapped(true)),
        op(2, 5, 30, cas(2), KvOutput::Swapped(false)),
        op(3, 40, 50, read(1), value(Some(1))),
    ];
    assert_eq!(verdict(&one_fails), Verdict::Linearizable);
}

/// A compare-and-set acknowledged without its outcome took effect before
/// it returned: one that could swap and is then read unswapped is caught,
/// where a call never answered might still take effect later.
#[test]
fn an_acknowledged_compare_and_set_took_effect_even_untold_how() {
    let cas = KvOp::Cas {
        key: 1,
        from: Some(1),
        to: 2,
    };
    let untold = [
        op(1, 0, 10, write(1, 1), KvOutput::Written),
        op(2, 20, 30, cas, KvOutput::Committed),
        op(3, 40, 50, read(1), value(Some(1))),
    ];
    assert_eq!(culprit(&untold), 2);
    let swapped = [
        op(1, 0, 10, write(1, 1), KvOutput::Written),
        op(2, 20, 30, cas, KvOutput::Committed),
        op(3, 40, 50, read(1), value(Some(2))),
    ];
    assert_eq!(verdict(&swapped), Verdict::Linearizable);
}

/// Each key is judged alone: a stale read on one key is found among many
/// operations on others, and named by its place in the whole history.
#[test]
fn keys_are_checked_apart_and_violations_named_in_the_whole_history() {
    let mut history: Vec<Op> = (0..40)
        .map(|i| {
            op(
                i % 4,
                i * 10,
                i * 10 + 15,
                write(2 + i % 3, i),
                KvOutput::Written,
            )
        })
        .collect();
    history.push(op(9, 0, 5, write(1, 1), KvOutput::Written));
    history.push(op(9, 6, 8, write(1, 2), KvOutput::Written));
    history.push(op(8, 100, 110, read(1), value(Some(1))));
    assert_eq!(culprit(&history), 42);
}

/// The search gives up past its bound and says so.
#[test]
fn a_history_too_large_for_the_bound_is_reported_as_such() {
    // Many concurrent writes, then compare-and-sets that each deny one of
    // their values is the last: the search must try every order of the
    // writes before it can say no, since no read pins a value.
    let mut history: Vec<Op> = (0..14)
        .map(|i| op(i, 0, 100, write(1, i), KvOutput::Written))
        .collect();
    history.extend((0..14).map(|i| {
        let cas = KvOp::Cas {
            key: 1,
            from: Some(i),
            to: 1000 + i,
        };
        op(
            100 + i,
            200 + 10 * i,
            205 + 10 * i,
            cas,
            KvOutput::Swapped(false),
        )
    }));
    match check(&history, &Register::default(), |op: &KvOp| op.key(), 1000) {
        Verdict::TooLarge {
            partition_ops,
            steps,
        } => assert_eq!((partition_ops, steps), (28, 1001)),
        other => panic!("{other:?}"),
    }
}

/// A compare-and-set that swapped from nothing, called after many writes
/// that all answered later than it did (a cluster that answered nothing
/// for a while): it took effect first. Seen in a run of a seven-replica
/// log, whose 18 operations on one key ran past two million steps when
/// tried in call order.
#[test]
fn a_swap_from_nothing_among_late_writes_is_ordered_at_once() {
    let mut history = late_writes();
    history.push(op(
        99,
        50,
        9_000,
        swap_from_nothing(),
        KvOutput::Swapped(true),
    ));
    assert_eq!(verdict_within(&history, 1_000), Verdict::Linearizable);
}

/// Thirty writes of key 1, all called at once and answered much later.
fn late_writes() -> Vec<Op> {
    (0..30)
        .map(|i| op(i, i, 10_000 + i, write(1, i), KvOutput::Written))
        .collect()
}

fn swap_from_nothing() -> KvOp {
    KvOp::Cas {
        key: 1,
        from: None,
        to: 99,
    }
}

fn verdict_within(history: &[Op], steps: u64) -> Verdict {
    check(history, &Register::default(), |op: &KvOp| op.key(), steps)
}

/// Once the register has moved on from a value no operation left writes,
/// a read of that value can never be placed: the branch ends there, not
/// after every order of the operations still running (seen in a run where
/// a read of nothing that answered last ran past two million steps).
#[test]
fn a_branch_that_strands_a_read_is_cut_at_once() {
    let mut history = late_writes();
    history.push(op(99, 50, 20_000, read(1), value(None)));
    assert_eq!(verdict_within(&history, 1_000), Verdict::Linearizable);
    // Two reads of nothing around a write that returned between them
    // cannot both be placed, and that is found as quickly.
    history.push(op(98, 10_500, 10_600, read(1), value(None)));
    let verdict = verdict_within(&history, 1_000);
    assert!(matches!(verdict, Verdict::Violated(_)), "{verdict:?}");
}

/// Writes and compare-and-sets that were never answered can all wait
/// until the end: a read of the initial value after forty of them is
/// ordered at once, not after trying every subset of them first (seen in a
/// run whose leader was cut off while clients kept writing).
#[test]
fn many_unanswered_writes_before_a_read_are_ordered_without_a_long_search() {
    let mut history: Vec<Op> = (0..40)
        .map(|i| match i % 2 {
            0 => lost(i, i * 10, write(1, i)),
            _ => lost(
                i,
                i * 10,
                KvOp::Cas {
                    key: 1,
                    from: None,
                    to: i,
                },
            ),
        })
        .collect();
    history.push(op(99, 395, 1000, read(1), value(None)));
    history.push(op(98, 396, 1000, read(1), value(None)));
    let verdict = check(&history, &Register::default(), |op: &KvOp| op.key(), 1_000);
    assert_eq!(verdict, Verdict::Linearizable);
}

/// A sequential execution of random operations on a few keys, each given a
/// linearization point; intervals drawn around the points; some left
/// unanswered.
fn sequential_history() -> impl Strategy<Value = Vec<Op>> {
    let step = (0u64..3, 0u64..4, 0u64..5, 0u64..30, 0u64..30, 0u32..10);
    proptest::collection::vec(step, 1..40).prop_map(|steps| {
        let mut state = [None; 3];
        let mut history = Vec::new();
        for (index, (key, kind, value, before, after, unanswered)) in steps.into_iter().enumerate()
        {
            let point = index as u64 * 10 + 10;
            let current = state[key as usize];
            let (op, output) = match kind {
                0 => (read(key), value_of(current)),
                1 => {
                    state[key as usize] = Some(value);
                    (write(key, value), KvOutput::Written)
                }
                _ => {
                    let from = if kind == 2 { current } else { Some(value) };
                    let swapped = current == from;
                    if swapped {
                        state[key as usize] = Some(value + 100);
                    }
                    (
                        KvOp::Cas {
                            key,
                            from,
                            to: value + 100,
                        },
                        KvOutput::Swapped(swapped),
                    )
                }
            };
            history.push(Operation {
                client: index as u64,
                call: point - before.min(point),
                returned: (unanswered != 0).then_some((point + after, output)),
                op,
            });
        }
        history
    })
}

fn value_of(value: Option<u64>) -> KvOutput {
    KvOutput::Value(value)
}

proptest! {
    #[test]
    fn a_history_of_a_sequential_execution_is_always_accepted(history in sequential_history()) {
        prop_assert_eq!(verdict(&history), Verdict::Linearizable);
    }

    #[test]
    fn a_read_of_a_value_never_written_is_always_caught(
        history in sequential_history(),
        pick in any::<proptest::sample::Index>(),
    ) {
        let reads: Vec<usize> = history
            .iter()
            .enumerate()
            .filter(|(_, op)| matches!(op.op, KvOp::Read { .. }) && op.returned.is_some())
            .map(|(index, _)| index)
            .collect();
        prop_assume!(!reads.is_empty());
        let target = reads[pick.index(reads.len())];
        let mut history = history;
        if let Some((_, output)) = &mut history[target].returned {
            *output = value(Some(12_345));
        }
        prop_assert_eq!(culprit(&history), target);
    }
}

/// Whether some order of `history` explains it, by trying them all: each
/// unanswered operation in or out, every order of those in that keeps
/// real time (one that returned before another was called goes first).
fn linearizable_by_brute_force(history: &[Op]) -> bool {
    fn extend(history: &[Op], chosen: &[usize], placed: &mut Vec<usize>, state: Register) -> bool {
        if placed.len() == chosen.len() {
            return true;
        }
        for &next in chosen {
            if placed.contains(&next) {
                continue;
            }
            // Every chosen operation that returned before `next` was called
            // must already be placed.
            let waits = chosen.iter().any(|&other| {
                !placed.contains(&other)
                    && other != next
                    && history[other]
                        .returned
                        .as_ref()
                        .is_some_and(|(at, _)| *at < history[next].call)
            });
            if waits {
                continue;
            }
            let output = history[next].returned.as_ref().map(|(_, output)| output);
            if let Some(after) = state.step(&history[next].op, output) {
                placed.push(next);
                if extend(history, chosen, placed, after) {
                    return true;
                }
                placed.pop();
            }
        }
        false
    }
    let unanswered: Vec<usize> = (0..history.len())
        .filter(|index| history[*index].returned.is_none())
        .collect();
    (0..1u32 << unanswered.len()).any(|subset| {
        let chosen: Vec<usize> = (0..history.len())
            .filter(|index| match unanswered.iter().position(|u| u == index) {
                Some(bit) => subset & (1 << bit) != 0,
                None => true,
            })
            .collect();
        extend(history, &chosen, &mut Vec::new(), Register::default())
    })
}

/// A small history on one key: any intervals, values from a few, any
/// outputs, some unanswered.
fn small_history() -> impl Strategy<Value = Vec<Op>> {
    let operation = (
        0u64..20,
        1u64..20,
        0u32..3,
        0u64..3,
        0u64..3,
        any::<bool>(),
        0u32..5,
    );
    proptest::collection::vec(operation, 1..7).prop_map(|operations| {
        operations
            .into_iter()
            .enumerate()
            .map(|(client, (call, length, kind, a, b, flag, lost))| {
                let small = |value: u64| (value > 0).then_some(value);
                let (kv, output) = match kind {
                    0 => (read(1), value(small(a))),
                    1 => (write(1, a + 1), KvOutput::Written),
                    _ => (
                        KvOp::Cas {
                            key: 1,
                            from: small(a),
                            to: b + 1,
                        },
                        KvOutput::Swapped(flag),
                    ),
                };
                Operation {
                    client: client as u64,
                    call,
                    returned: (lost != 0).then_some((call + length, output)),
                    op: kv,
                }
            })
            .collect()
    })
}

proptest! {
    /// The search, its order and its cuts included, agrees with trying
    /// every order.
    #[test]
    fn the_search_agrees_with_trying_every_order(history in small_history()) {
        let found = verdict(&history);
        let decided = !matches!(found, Verdict::TooLarge { .. });
        prop_assert!(decided, "undecided: {:?}", history);
        prop_assert_eq!(
            found == Verdict::Linearizable,
            linearizable_by_brute_force(&history),
            "{:?}",
            history
        );
    }
}

/// A compare-and-set never answered, whose value a read saw: it must come
/// before the read, so it is tried by then, not after every order of the
/// writes answered later (seen in a run of a one-replica log cut off
/// every few seconds, whose key of 28 operations ran past two million
/// steps).
#[test]
fn an_unanswered_swap_a_read_saw_is_placed_before_the_read() {
    let mut history = late_writes();
    history.push(lost(98, 40, swap_from_nothing()));
    history.push(op(97, 50, 100, read(1), value(Some(99))));
    assert_eq!(verdict_within(&history, 1_000), Verdict::Linearizable);
}

/// A history as sessions make it: each runs one operation at a time, most
/// quick and a fifth slow (a leader lost for a while), each taking effect
/// at a point inside its interval; some writes and swaps never answered.
fn sessions_history(seed: u64, sessions: usize) -> Vec<Op> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut free_at = vec![0u64; sessions];
    let mut intervals = Vec::new();
    for _ in 0..rng.gen_range(50..300) {
        let session = rng.gen_range(0..sessions);
        let call = free_at[session] + rng.gen_range(0..50);
        let length = if rng.gen_bool(0.2) {
            rng.gen_range(100..5000)
        } else {
            rng.gen_range(1..30)
        };
        free_at[session] = call + length;
        intervals.push((call, call + length));
    }
    let mut points: Vec<(u64, usize)> = intervals
        .iter()
        .enumerate()
        .map(|(index, (call, returned))| (rng.gen_range(*call..*returned), index))
        .collect();
    points.sort_unstable();
    let mut state = None;
    let mut done = vec![(read(1), value(None)); intervals.len()];
    for (_, index) in points {
        let written = index as u64 + 1;
        done[index] = match rng.gen_range(0..4) {
            0 => (read(1), value(state)),
            1 => {
                state = Some(written);
                (write(1, written), KvOutput::Written)
            }
            _ => {
                let from = if rng.gen_bool(0.5) {
                    state
                } else {
                    Some(rng.gen_range(1..=intervals.len() as u64))
                };
                let swapped = state == from;
                if swapped {
                    state = Some(written);
                }
                let cas = KvOp::Cas {
                    key: 1,
                    from,
                    to: written,
                };
                (cas, KvOutput::Swapped(swapped))
            }
        };
    }
    intervals
        .iter()
        .zip(done)
        .enumerate()
        .map(|(index, ((call, returned), (op, output)))| {
            let lost = !matches!(op, KvOp::Read { .. }) && rng.gen_bool(0.05);
            Operation {
                client: index as u64,
                call: *call,
                returned: (!lost).then_some((*returned, output)),
                op,
            }
        })
        .collect()
}

/// Histories of 32 sessions on one key, slow operations among them, are
/// decided (and linearizable, as they were made). Tried in call order with
/// no cuts, three in five ran past the bound.
#[test]
fn histories_of_many_sessions_are_decided() {
    for seed in 0..20 {
        let history = sessions_history(seed, 32);
        assert_eq!(verdict(&history), Verdict::Linearizable, "seed {seed}");
    }
}
