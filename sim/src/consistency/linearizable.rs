//! Linearizability of a client-visible history against a sequential model:
//! the Wing–Gong search with Lowe's memoisation of (linearized set, state),
//! as Knossos and Porcupine run it, on each partition of the history (a key
//! of a key-value store) apart, since a history is linearizable when each
//! key's is (Herlihy and Wing's locality).
//!
//! An operation that never returned (it timed out, or its reply was lost)
//! may have taken effect at any time after its call, or never: it has no
//! return time and any output. On a violation, the report names the first
//! operation that cannot be ordered: the shortest prefix of the history
//! (operations called before a time, those still running then taken as
//! never returned) that is not linearizable ends with its return, and the
//! window is the operations running beside it. The search is bounded; a
//! partition too large to decide says so instead of running on.

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt::{self, Debug},
};

/// A sequential specification: the state of one partition and how each
/// operation moves it.
pub trait Model: Clone + Ord + Debug {
    type Op: Clone + Debug;
    type Output: Clone + Debug + PartialEq;

    /// The state `op` leaves when applied to this one, if it can return
    /// `output` here; `None` when it cannot. `output` is `None` for an
    /// operation that never returned: any output is possible.
    fn step(&self, op: &Self::Op, output: Option<&Self::Output>) -> Option<Self>;

    /// Whether `op` never changes the state: unanswered, it tells nothing
    /// and constrains nothing, and is left out of the search (each one
    /// would double the orders to try).
    fn read_only(op: &Self::Op) -> bool;

    /// The one state in which `op` can return `output`, if there is just
    /// one (a read of a value; a compare-and-set that swapped). A model
    /// that names any must also name, through [`Model::makes`], every
    /// state each operation can move to.
    fn needs(op: &Self::Op, output: Option<&Self::Output>) -> Option<Self> {
        let _ = (op, output);
        None
    }

    /// The state `op` leaves whenever it changes the state; `None` for an
    /// operation that never changes it.
    fn makes(op: &Self::Op) -> Option<Self> {
        let _ = op;
        None
    }

    /// Whether `op`, having returned `output`, leaves any state it can
    /// return that in as it found it (a read; a compare-and-set that did
    /// not swap).
    fn keeps(op: &Self::Op, output: &Self::Output) -> bool {
        let _ = (op, output);
        false
    }
}

/// One client operation as the client saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation<O, R> {
    pub client: u64,
    /// When it was called and when it returned, in any unit of time; no
    /// return for one that timed out or was lost.
    pub call: u64,
    pub returned: Option<(u64, R)>,
    pub op: O,
}

/// Why a history is not linearizable: the first operation that cannot be
/// ordered, and the operations running beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Index, in the history given, of the operation that cannot be ordered.
    pub culprit: usize,
    /// Indices of the operations whose interval overlaps the culprit's.
    pub window: Vec<usize>,
}

/// The verdict on one history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    Violated(Violation),
    /// The search took more than its bound of steps on some partition.
    TooLarge {
        partition_ops: usize,
        steps: u64,
    },
}

/// The most search steps per partition before giving up: a default seed's
/// partitions take a few thousand.
pub const DEFAULT_STEPS: u64 = 2_000_000;

/// Checks `history`, partitioned by `partition` (every operation of one
/// partition must go through one model state), from `initial`.
pub fn check<M: Model, K: Ord>(
    history: &[Operation<M::Op, M::Output>],
    initial: &M,
    partition: impl Fn(&M::Op) -> K,
    max_steps: u64,
) -> Verdict {
    let mut partitions: BTreeMap<K, Vec<usize>> = BTreeMap::new();
    for (index, operation) in history.iter().enumerate() {
        if operation.returned.is_none() && M::read_only(&operation.op) {
            continue;
        }
        partitions
            .entry(partition(&operation.op))
            .or_default()
            .push(index);
    }
    for indices in partitions.values() {
        let ops: Vec<&Operation<M::Op, M::Output>> =
            indices.iter().map(|index| &history[*index]).collect();
        match search(&ops, initial, max_steps) {
            Outcome::Linearizable => {}
            Outcome::TooLarge(steps) => {
                return Verdict::TooLarge {
                    partition_ops: ops.len(),
                    steps,
                };
            }
            Outcome::Stuck => {
                let (culprit, window) = explain(&ops, initial, max_steps);
                return Verdict::Violated(Violation {
                    culprit: indices[culprit],
                    window: window.into_iter().map(|local| indices[local]).collect(),
                });
            }
        }
    }
    Verdict::Linearizable
}

enum Outcome {
    Linearizable,
    Stuck,
    TooLarge(u64),
}

/// The first operation that cannot be ordered, and those beside it: the
/// shortest prefix (by return time) that is not linearizable.
fn explain<M: Model>(
    ops: &[&Operation<M::Op, M::Output>],
    initial: &M,
    max_steps: u64,
) -> (usize, Vec<usize>) {
    let mut returns: Vec<(u64, usize)> = ops
        .iter()
        .enumerate()
        .filter_map(|(index, op)| op.returned.as_ref().map(|(at, _)| (*at, index)))
        .collect();
    returns.sort_unstable();
    if returns.is_empty() {
        // Only a returned operation can fail to be ordered; say all of them.
        return (0, (1..ops.len()).collect());
    }
    // The prefix up to a time, an operation's answer left out if asked:
    // failing is monotone in the time, so a binary search finds the first
    // return after which it fails.
    let fails = |cut: u64, unanswered: Option<usize>| {
        let prefix: Vec<Operation<M::Op, M::Output>> = ops
            .iter()
            .enumerate()
            .filter(|(_, op)| op.call <= cut)
            .map(|(index, op)| Operation {
                returned: op
                    .returned
                    .clone()
                    .filter(|(at, _)| *at <= cut && unanswered != Some(index)),
                ..(*op).clone()
            })
            .collect();
        let prefix: Vec<&Operation<M::Op, M::Output>> = prefix.iter().collect();
        matches!(search(&prefix, initial, max_steps), Outcome::Stuck)
    };
    let (mut low, mut high) = (0, returns.len() - 1);
    while low < high {
        let middle = (low + high) / 2;
        if fails(returns[middle].0, None) {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    // Of the answers at that instant, the one without which it passes.
    let returned = returns[low].0;
    let at_once: Vec<usize> = returns
        .iter()
        .filter(|(at, _)| *at == returned)
        .map(|(_, index)| *index)
        .collect();
    let culprit = match at_once.as_slice() {
        [only] => *only,
        many => many
            .iter()
            .copied()
            .find(|index| !fails(returned, Some(*index)))
            .unwrap_or(many[0]),
    };
    let call = ops[culprit].call;
    let window = ops
        .iter()
        .enumerate()
        .filter(|(index, op)| {
            *index != culprit
                && op.call <= returned
                && op.returned.as_ref().is_none_or(|(at, _)| *at >= call)
        })
        .map(|(index, _)| index)
        .collect();
    (culprit, window)
}

/// One entry of the search's list: an operation's call or its return.
#[derive(Clone, Copy)]
struct Entry {
    op: usize,
    is_call: bool,
    prev: usize,
    next: usize,
}

/// The list's head sentinel's index.
const HEAD: usize = 0;

type Cache<M> = BTreeSet<(Vec<u64>, M)>;

/// The Wing–Gong–Lowe search over one partition.
fn search<M: Model>(ops: &[&Operation<M::Op, M::Output>], initial: &M, max_steps: u64) -> Outcome {
    // Events in time order: at equal times calls come first, so operations
    // that touch at an instant count as concurrent.
    let deadline = deadlines(ops, initial);
    let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(ops.len() * 2);
    for (index, op) in ops.iter().enumerate() {
        events.push((op.call, false, index));
        events.push((deadline[index].unwrap_or(u64::MAX), true, index));
    }
    events.sort_by_key(|(at, is_return, index)| (*at, *is_return, *index));
    // Between two returns, calls may be tried in any order: the same
    // operations are candidates whichever comes first. They are tried
    // earliest return first, as a scheduler serves the earliest deadline:
    // an operation that must take effect soonest is the likeliest to have
    // taken effect first. Unanswered ones with no deadline go last, since
    // they can always wait until the end: trying them first makes the
    // search wander through every subset of them.
    for run in events.chunk_by_mut(|a, b| !a.1 && !b.1) {
        run.sort_by_key(|(at, _, index)| {
            (deadline[*index].is_none(), deadline[*index], *at, *index)
        });
    }
    // Entry 0 is the head; entry i + 1 is event i.
    let mut list: Vec<Entry> = Vec::with_capacity(events.len() + 1);
    list.push(Entry {
        op: usize::MAX,
        is_call: false,
        prev: HEAD,
        next: 1,
    });
    let mut return_of = vec![0; ops.len()];
    for (position, (_, is_return, op)) in events.iter().enumerate() {
        let at = position + 1;
        list.push(Entry {
            op: *op,
            is_call: !is_return,
            prev: at - 1,
            next: if at == events.len() {
                usize::MAX
            } else {
                at + 1
            },
        });
        if *is_return {
            return_of[*op] = at;
        }
    }
    if events.is_empty() {
        return Outcome::Linearizable;
    }
    let unlink = |list: &mut Vec<Entry>, at: usize| {
        let Entry { prev, next, .. } = list[at];
        list[prev].next = next;
        if next != usize::MAX {
            list[next].prev = prev;
        }
    };
    let relink = |list: &mut Vec<Entry>, at: usize| {
        let Entry { prev, next, .. } = list[at];
        list[prev].next = at;
        if next != usize::MAX {
            list[next].prev = at;
        }
    };
    let mut reach = Reach::new(ops);
    if reach.stranded_from(initial) {
        return Outcome::Stuck;
    }
    let words = ops.len().div_ceil(64);
    let mut linearized = vec![0u64; words];
    let mut cache: Cache<M> = BTreeSet::new();
    // An operation that keeps the state, once it can go next, goes next
    // and no other order is tried for it: any order that places it later
    // stays valid with it moved here, since everything that returned
    // before its call is already placed and nothing else sees the
    // difference. Without this, a history of many reads overlapping many
    // writes is searched through every interleaving of the two.
    let keeps: Vec<bool> = ops
        .iter()
        .map(|op| {
            op.returned
                .as_ref()
                .is_some_and(|(_, output)| M::keeps(&op.op, output))
        })
        .collect();
    // Each choice made: the call's entry, the state before it, and whether
    // it was a keeper placed at once (no other order to try).
    let mut stack: Vec<(usize, M, bool)> = Vec::new();
    let mut state = initial.clone();
    let mut entry = list[HEAD].next;
    let mut steps = 0u64;
    while list[HEAD].next != usize::MAX {
        steps += 1;
        if steps > max_steps {
            return Outcome::TooLarge(steps);
        }
        // Past the end, or at a return: the operations before it must be
        // linearized first, and none of the calls left could go next. Undo
        // the last choice and try the call after it.
        if entry == usize::MAX || !list[entry].is_call {
            let Some((call, previous, forced)) = stack.pop() else {
                return Outcome::Stuck;
            };
            let op = list[call].op;
            linearized[op / 64] &= !(1 << (op % 64));
            reach.give_back(op);
            state = previous;
            relink(&mut list, return_of[op]);
            relink(&mut list, call);
            entry = if forced { usize::MAX } else { list[call].next };
            continue;
        }
        let mut forced = false;
        if entry == list[HEAD].next
            && let Some(keeper) = keeper(&list, entry, ops, &keeps, &state)
        {
            entry = keeper;
            forced = true;
        }
        let op = list[entry].op;
        let operation = ops[op];
        let output = operation.returned.as_ref().map(|(_, output)| output);
        if let Some(next) = state.step(&operation.op, output) {
            linearized[op / 64] |= 1 << (op % 64);
            reach.take(op);
            if !reach.strands(op, &state, &next) && cache.insert((linearized.clone(), next.clone()))
            {
                stack.push((entry, std::mem::replace(&mut state, next), forced));
                unlink(&mut list, entry);
                unlink(&mut list, return_of[op]);
                entry = list[HEAD].next;
                continue;
            }
            reach.give_back(op);
            linearized[op / 64] &= !(1 << (op % 64));
        }
        // A keeper that leads nowhere new: no other order can, either.
        entry = if forced { usize::MAX } else { list[entry].next };
    }
    Outcome::Linearizable
}

/// By when each operation must have taken effect: its return; for one
/// never answered that alone can make a state some answered operation
/// needs (a compare-and-set lost in a cut-off leader whose value a read
/// then saw), the earliest return of those that need it, since it must
/// come before them. Left at the end, such an operation would be tried
/// only after every order of the others.
fn deadlines<M: Model>(ops: &[&Operation<M::Op, M::Output>], initial: &M) -> Vec<Option<u64>> {
    let mut makers: BTreeMap<M, Vec<usize>> = BTreeMap::new();
    for (index, op) in ops.iter().enumerate() {
        if let Some(state) = M::makes(&op.op) {
            makers.entry(state).or_default().push(index);
        }
    }
    let mut deadline: Vec<Option<u64>> = ops
        .iter()
        .map(|op| op.returned.as_ref().map(|(at, _)| *at))
        .collect();
    for op in ops {
        let Some((returned, output)) = &op.returned else {
            continue;
        };
        let Some(needed) = M::needs(&op.op, Some(output)).filter(|state| state != initial) else {
            continue;
        };
        if let Some([maker]) = makers.get(&needed).map(Vec::as_slice)
            && ops[*maker].returned.is_none()
        {
            let by = deadline[*maker].map_or(*returned, |by| by.min(*returned));
            deadline[*maker] = Some(by);
        }
    }
    deadline
}

/// The first call from `entry` on, before the next return, of an operation
/// that keeps the state and can go next in `state`.
fn keeper<M: Model>(
    list: &[Entry],
    mut entry: usize,
    ops: &[&Operation<M::Op, M::Output>],
    keeps: &[bool],
    state: &M,
) -> Option<usize> {
    while entry != usize::MAX && list[entry].is_call {
        let op = list[entry].op;
        let output = ops[op].returned.as_ref().map(|(_, output)| output);
        if keeps[op] && state.step(&ops[op].op, output).is_some() {
            return Some(entry);
        }
        entry = list[entry].next;
    }
    None
}

/// Which states the operations not yet linearized need and can still
/// make, to cut a branch as soon as it strands one: once a register has
/// moved on from a value that no operation left writes, a read of it can
/// never be placed, and searching every order of the rest first (the
/// memoised states grow with the subsets of them) cannot change that.
/// Without it a history of twenty writes, all called before a swap from
/// nothing that returned last, took millions of steps to order.
struct Reach<M: Model> {
    needs: Vec<Option<M>>,
    makes: Vec<Option<M>>,
    /// Operations left that need each state.
    needed: BTreeMap<M, usize>,
    /// Operations left that can make each state.
    made: BTreeMap<M, usize>,
}

impl<M: Model> Reach<M> {
    fn new(ops: &[&Operation<M::Op, M::Output>]) -> Reach<M> {
        let needs: Vec<Option<M>> = ops
            .iter()
            .map(|op| M::needs(&op.op, op.returned.as_ref().map(|(_, output)| output)))
            .collect();
        let makes: Vec<Option<M>> = ops.iter().map(|op| M::makes(&op.op)).collect();
        let mut reach = Reach {
            needs,
            makes,
            needed: BTreeMap::new(),
            made: BTreeMap::new(),
        };
        for op in 0..ops.len() {
            reach.give_back(op);
        }
        reach
    }

    /// `op` is linearized: it needs nothing more and makes nothing more.
    fn take(&mut self, op: usize) {
        for (count, state) in [
            (&mut self.needed, &self.needs[op]),
            (&mut self.made, &self.makes[op]),
        ] {
            if let Some(state) = state
                && let Some(left) = count.get_mut(state)
            {
                *left -= 1;
            }
        }
    }

    /// `op` is no longer linearized.
    fn give_back(&mut self, op: usize) {
        for (count, state) in [
            (&mut self.needed, &self.needs[op]),
            (&mut self.made, &self.makes[op]),
        ] {
            if let Some(state) = state {
                *count.entry(state.clone()).or_default() += 1;
            }
        }
    }

    /// Whether some operation left needs a state other than `now` that
    /// none left can make.
    fn stranded_from(&self, now: &M) -> bool {
        self.needed
            .iter()
            .any(|(state, count)| *count > 0 && state != now && !self.can_make(state))
    }

    /// Whether taking `op`, which moved the state from `before` to `now`,
    /// stranded an operation: only the state left behind and the one `op`
    /// could make have lost a way to be reached.
    fn strands(&self, op: usize, before: &M, now: &M) -> bool {
        [Some(before), self.makes[op].as_ref()]
            .into_iter()
            .flatten()
            .any(|state| {
                state != now
                    && self.needed.get(state).is_some_and(|count| *count > 0)
                    && !self.can_make(state)
            })
    }

    fn can_make(&self, state: &M) -> bool {
        self.made.get(state).is_some_and(|count| *count > 0)
    }
}

/// A register per key, with reads, writes and compare-and-sets: the log's
/// key-value state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Register(pub Option<u64>);

/// An operation on one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvOp {
    Read {
        key: u64,
    },
    Write {
        key: u64,
        value: u64,
    },
    Cas {
        key: u64,
        from: Option<u64>,
        to: u64,
    },
}

impl KvOp {
    pub fn key(&self) -> u64 {
        match self {
            KvOp::Read { key } | KvOp::Write { key, .. } | KvOp::Cas { key, .. } => *key,
        }
    }
}

/// What a key-value operation returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvOutput {
    Value(Option<u64>),
    Written,
    Swapped(bool),
    /// A compare-and-set acknowledged as committed without saying whether
    /// it swapped: it took effect before it returned, swapping if it could.
    Committed,
}

impl Model for Register {
    type Op = KvOp;
    type Output = KvOutput;

    fn read_only(op: &KvOp) -> bool {
        matches!(op, KvOp::Read { .. })
    }

    fn needs(op: &KvOp, output: Option<&KvOutput>) -> Option<Register> {
        match (op, output) {
            (KvOp::Read { .. }, Some(KvOutput::Value(value))) => Some(Register(*value)),
            (KvOp::Cas { from, .. }, Some(KvOutput::Swapped(true))) => Some(Register(*from)),
            _ => None,
        }
    }

    fn keeps(op: &KvOp, output: &KvOutput) -> bool {
        matches!(
            (op, output),
            (KvOp::Read { .. }, KvOutput::Value(_)) | (KvOp::Cas { .. }, KvOutput::Swapped(false))
        )
    }

    /// A compare-and-set counts as making its value even when it answered
    /// that it did not swap: a state claimed reachable that is not only
    /// searches on, and the search stays exact.
    fn makes(op: &KvOp) -> Option<Register> {
        match op {
            KvOp::Read { .. } => None,
            KvOp::Write { value: to, .. } | KvOp::Cas { to, .. } => Some(Register(Some(*to))),
        }
    }

    fn step(&self, op: &KvOp, output: Option<&KvOutput>) -> Option<Register> {
        match (op, output) {
            (KvOp::Read { .. }, None) => Some(*self),
            (KvOp::Read { .. }, Some(KvOutput::Value(value))) => {
                (*value == self.0).then_some(*self)
            }
            (KvOp::Write { value, .. }, None | Some(KvOutput::Written)) => {
                Some(Register(Some(*value)))
            }
            (KvOp::Cas { from, to, .. }, None | Some(KvOutput::Committed)) => {
                // Never returned, or not told: it swapped if it could have.
                Some(if self.0 == *from {
                    Register(Some(*to))
                } else {
                    *self
                })
            }
            (KvOp::Cas { from, to, .. }, Some(KvOutput::Swapped(swapped))) => {
                match (self.0 == *from, swapped) {
                    (true, true) => Some(Register(Some(*to))),
                    (false, false) => Some(*self),
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

impl fmt::Display for KvOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = |value: &Option<u64>| value.map_or("nothing".to_owned(), |v| v.to_string());
        match self {
            KvOp::Read { key } => write!(f, "read k{key}"),
            KvOp::Write { key, value } => write!(f, "write k{key} := {value}"),
            KvOp::Cas { key, from, to } => write!(f, "cas k{key} {} → {to}", shown(from)),
        }
    }
}

#[cfg(test)]
mod tests;
