//! Isolation anomalies among transactions, found as Elle finds them: every
//! write writes a version no other write does, so a read names the write
//! it saw; from reads and writes the checker builds Adya's dependency graph
//! and looks for its cycles.
//!
//! - *wr*: T2 read a version T1 wrote.
//! - *ww*: T2 wrote the version after one T1 wrote. The version order is
//!   known where a transaction read a key and then wrote it (its write
//!   follows the version it read), and within a transaction's own writes.
//! - *rw*: T1 read a version, and T2 wrote the version after it.
//!
//! Anomalies, as Adya names them: G0 (a cycle of ww edges: dirty writes),
//! G1a (a read of an aborted write), G1b (a read of a write its
//! transaction later overwrote), G1c (a cycle of ww and wr edges), G-single
//! (a cycle with exactly one rw edge: read skew), G2 (a cycle with rw edges:
//! write skew, lost update). A read of a version no transaction wrote is a
//! garbage read. Inside a transaction, a read of a key it wrote must see
//! its own latest write, and one of a key it did not write may not see a
//! write of its own (Elle's *internal* anomaly). SERIALIZABLE allows none
//! of them; READ COMMITTED allows G-single and G2. Levels mix as in Adya's mixed serialization graph: an
//! rw edge counts only when its reader ran SERIALIZABLE, so every cycle
//! found is one the transactions' own levels rule out.
//!
//! A transaction whose commit is unknown counts as committed once another
//! read what it wrote, and is left out otherwise.
//!
//! Keys may be created and deleted. A key's initial version is then its
//! absence: a read that found nothing read it, and a scan names the gaps
//! between the rows it returned as absent ranges, which stand for a read
//! of the initial version of every key in them that some transaction
//! writes (the phantoms a predicate read must not miss). A delete writes a
//! version too, one no read can name: finding nothing is then ambiguous
//! (never created, or deleted), so absent reads of a key some transaction
//! deleted are left out of the graph. That misses anomalies through them,
//! and never reports one that is not there.

use std::{
    collections::{BTreeMap, BTreeSet, VecDeque},
    fmt,
};

/// A version of a key: the `n`-th write of transaction `writer`, or the
/// key's initial version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    Initial,
    Written { writer: u64, n: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Committed,
    Aborted,
    /// Its commit's answer was lost.
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnOp {
    Read {
        key: u64,
        version: Version,
    },
    /// Writes version `(this transaction, n)`.
    Write {
        key: u64,
        n: u32,
    },
    /// Deletes the key: writes version `(this transaction, n)`, in which
    /// the key does not exist.
    Delete {
        key: u64,
        n: u32,
    },
    /// Found no key in `from..to`: a read of the initial version of each
    /// key in the range that a transaction of the history writes.
    Absent {
        from: u64,
        to: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Txn {
    pub id: u64,
    pub level: Level,
    pub status: Status,
    pub ops: Vec<TxnOp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AnomalyKind {
    G0,
    G1a,
    G1b,
    G1c,
    GSingle,
    G2,
    GarbageRead,
    Internal,
}

impl AnomalyKind {
    pub fn name(self) -> &'static str {
        match self {
            AnomalyKind::G0 => "G0",
            AnomalyKind::G1a => "G1a",
            AnomalyKind::G1b => "G1b",
            AnomalyKind::G1c => "G1c",
            AnomalyKind::GSingle => "G-single",
            AnomalyKind::G2 => "G2",
            AnomalyKind::GarbageRead => "garbage read",
            AnomalyKind::Internal => "internal",
        }
    }
}

/// An isolation level's promise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Serializable,
    ReadCommitted,
}

/// One anomaly: its kind, the transactions in it and, for a cycle, its
/// edges in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anomaly {
    pub kind: AnomalyKind,
    pub txns: Vec<u64>,
    pub explanation: String,
}

impl fmt::Display for Anomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.name(), self.explanation)
    }
}

/// Anomalies reported per kind: the first explain a failure.
const MOST_PER_KIND: usize = 4;

/// Edges the searches for cycles may look at in all: a history a bug has
/// knotted into one large component would otherwise cost a search over it
/// per edge. Past it, a failing history still fails (see
/// [`find_cycles`]), with fewer of its anomalies named.
const SEARCH_STEPS: usize = 2_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Dependency {
    Ww,
    Wr,
    Rw,
}

impl Dependency {
    fn name(self) -> &'static str {
        match self {
            Dependency::Ww => "ww",
            Dependency::Wr => "wr",
            Dependency::Rw => "rw",
        }
    }
}

/// Edges by source: target → (kind, key), the first of each kind kept.
type Graph = BTreeMap<u64, BTreeMap<u64, BTreeMap<Dependency, u64>>>;

/// Every anomaly among `txns`, by kind, at most a few of each; `key_name`
/// names a key in the explanations.
pub fn check(txns: &[Txn], key_name: &dyn Fn(u64) -> String) -> Vec<Anomaly> {
    check_within(txns, key_name, SEARCH_STEPS)
}

/// [`check`], its searches for cycles looking at `steps` edges at most.
fn check_within(txns: &[Txn], key_name: &dyn Fn(u64) -> String, steps: usize) -> Vec<Anomaly> {
    let txns = &spell_out_absences(txns);
    let by_id: BTreeMap<u64, &Txn> = txns.iter().map(|txn| (txn.id, txn)).collect();
    let mut anomalies = Vec::new();
    let mut report = |kind: AnomalyKind, txns: Vec<u64>, explanation: String| {
        if anomalies
            .iter()
            .filter(|anomaly: &&Anomaly| anomaly.kind == kind)
            .count()
            < MOST_PER_KIND
        {
            anomalies.push(Anomaly {
                kind,
                txns,
                explanation,
            });
        }
    };
    // Who wrote each version, and the last version each writer left.
    let mut last_write: BTreeMap<(u64, u64), u32> = BTreeMap::new();
    for txn in txns {
        for op in &txn.ops {
            if let TxnOp::Write { key, n } | TxnOp::Delete { key, n } = op {
                let last = last_write.entry((txn.id, *key)).or_default();
                *last = (*last).max(*n);
            }
        }
    }
    let written = |key: u64, writer: u64, n: u32| {
        by_id
            .get(&writer)
            .is_some_and(|txn| txn.ops.contains(&TxnOp::Write { key, n }))
    };
    // Whatever became of a transaction, the reads it was answered are
    // held to its own writes before them.
    for txn in txns {
        if let Some(explanation) = internal_read(txn, key_name) {
            report(AnomalyKind::Internal, vec![txn.id], explanation);
        }
    }
    // Transactions in the graph: committed ones, and unknown ones whose
    // writes another read.
    let mut seen_unknown: BTreeSet<u64> = BTreeSet::new();
    for txn in txns.iter().filter(|txn| txn.status == Status::Committed) {
        for op in &txn.ops {
            let TxnOp::Read {
                key,
                version: Version::Written { writer, n },
            } = *op
            else {
                continue;
            };
            if writer == txn.id {
                continue;
            }
            if !written(key, writer, n) {
                report(
                    AnomalyKind::GarbageRead,
                    vec![txn.id],
                    format!(
                        "T{} read {} at version {writer}.{n}, which nobody wrote",
                        txn.id,
                        key_name(key)
                    ),
                );
                continue;
            }
            match by_id[&writer].status {
                Status::Aborted => report(
                    AnomalyKind::G1a,
                    vec![writer, txn.id],
                    format!(
                        "T{} read {} as aborted T{writer} wrote it",
                        txn.id,
                        key_name(key)
                    ),
                ),
                Status::Unknown => {
                    seen_unknown.insert(writer);
                }
                Status::Committed => {}
            }
            if last_write.get(&(writer, key)).is_some_and(|last| *last > n) {
                report(
                    AnomalyKind::G1b,
                    vec![writer, txn.id],
                    format!(
                        "T{} read {} as T{writer} wrote it before writing it again",
                        txn.id,
                        key_name(key)
                    ),
                );
            }
        }
    }
    let in_graph = |txn: &Txn| {
        txn.status == Status::Committed
            || (txn.status == Status::Unknown && seen_unknown.contains(&txn.id))
    };
    let graph = build_graph(txns.iter().filter(|txn| in_graph(txn)), &deleted(txns));
    find_cycles(&graph, key_name, steps, &mut report);
    anomalies.sort_by_key(|anomaly| anomaly.kind);
    anomalies
}

/// `txns` with every absent range spelled out as reads of the initial
/// version of the keys in it that some transaction writes: keys nobody
/// writes add no dependency.
fn spell_out_absences(txns: &[Txn]) -> Vec<Txn> {
    let written: BTreeSet<u64> = txns
        .iter()
        .flat_map(|txn| &txn.ops)
        .filter_map(|op| match *op {
            TxnOp::Write { key, .. } | TxnOp::Delete { key, .. } => Some(key),
            TxnOp::Read { .. } | TxnOp::Absent { .. } => None,
        })
        .collect();
    txns.iter()
        .map(|txn| Txn {
            ops: txn
                .ops
                .iter()
                .flat_map(|op| match *op {
                    TxnOp::Absent { from, to } if from < to => written
                        .range(from..to)
                        .map(|&key| TxnOp::Read {
                            key,
                            version: Version::Initial,
                        })
                        .collect(),
                    TxnOp::Absent { .. } => Vec::new(),
                    op => vec![op],
                })
                .collect(),
            ..txn.clone()
        })
        .collect()
}

/// Keys a transaction that may have committed deleted: a read that found
/// them absent may have read the deletion.
fn deleted(txns: &[Txn]) -> BTreeSet<u64> {
    txns.iter()
        .filter(|txn| txn.status != Status::Aborted)
        .flat_map(|txn| &txn.ops)
        .filter_map(|op| match *op {
            TxnOp::Delete { key, .. } => Some(key),
            _ => None,
        })
        .collect()
}

/// The first read of `txn` that does not see its own latest write of the
/// key (or, after deleting it, its absence), or sees a write of its own
/// where it made none, in words.
fn internal_read(txn: &Txn, key_name: &dyn Fn(u64) -> String) -> Option<String> {
    // Per key written: its own latest version, and whether it deleted it.
    let mut own: BTreeMap<u64, (Version, bool)> = BTreeMap::new();
    for op in &txn.ops {
        match *op {
            TxnOp::Write { key, n } => {
                own.insert(key, (Version::Written { writer: txn.id, n }, false));
            }
            TxnOp::Delete { key, n } => {
                own.insert(key, (Version::Written { writer: txn.id, n }, true));
            }
            TxnOp::Read { key, version } => {
                let mine = matches!(version, Version::Written { writer, .. } if writer == txn.id);
                let wrong = match own.get(&key) {
                    Some((_, true)) if version != Version::Initial => Some(format!(
                        "T{} read {} as {}, after deleting it",
                        txn.id,
                        key_name(key),
                        describe_version(version)
                    )),
                    Some((expected, false)) if version != *expected => Some(format!(
                        "T{} read {} as {}, after writing it as {}",
                        txn.id,
                        key_name(key),
                        describe_version(version),
                        describe_version(*expected)
                    )),
                    None if mine => Some(format!(
                        "T{} read {} as {}, before writing it",
                        txn.id,
                        key_name(key),
                        describe_version(version)
                    )),
                    _ => None,
                };
                if wrong.is_some() {
                    return wrong;
                }
            }
            TxnOp::Absent { .. } => {}
        }
    }
    None
}

fn describe_version(version: Version) -> String {
    match version {
        Version::Initial => "its initial value".to_owned(),
        Version::Written { writer, n } => format!("version {writer}.{n}"),
    }
}

/// Adya's dependency graph of `txns`.
/// `deleted` holds the keys whose absent reads are ambiguous.
fn build_graph<'a>(txns: impl Iterator<Item = &'a Txn> + Clone, deleted: &BTreeSet<u64>) -> Graph {
    // Per key: who wrote each installed version (a transaction's last write
    // of the key), the installed versions known to follow each version, and
    // who read each version. Intermediate versions are no part of the
    // version order; reads of them are G1b, reported apart.
    let mut writers: BTreeMap<(u64, Version), u64> = BTreeMap::new();
    let mut follows: BTreeMap<(u64, Version), BTreeSet<Version>> = BTreeMap::new();
    let mut readers: BTreeMap<(u64, Version), BTreeSet<u64>> = BTreeMap::new();
    let serializable: BTreeSet<u64> = txns
        .clone()
        .filter(|txn| txn.level == Level::Serializable)
        .map(|txn| txn.id)
        .collect();
    for txn in txns.clone() {
        // Per key: the version it read before first writing it, and its
        // last write.
        let mut before: BTreeMap<u64, Version> = BTreeMap::new();
        let mut last: BTreeMap<u64, Version> = BTreeMap::new();
        for op in &txn.ops {
            match *op {
                TxnOp::Read { key, version } => {
                    let own =
                        matches!(version, Version::Written { writer, .. } if writer == txn.id);
                    // Absent after a delete, its own or another's: which
                    // version it read is unknown.
                    let ambiguous = version == Version::Initial
                        && (deleted.contains(&key) || last.contains_key(&key));
                    if !own && !ambiguous {
                        readers.entry((key, version)).or_default().insert(txn.id);
                        if !last.contains_key(&key) {
                            before.insert(key, version);
                        }
                    }
                }
                TxnOp::Write { key, n } | TxnOp::Delete { key, n } => {
                    last.insert(key, Version::Written { writer: txn.id, n });
                }
                TxnOp::Absent { .. } => {}
            }
        }
        for (key, version) in last {
            writers.insert((key, version), txn.id);
            if let Some(before) = before.get(&key) {
                follows.entry((key, *before)).or_default().insert(version);
            }
        }
    }
    let mut graph = Graph::new();
    let mut edge = |from: u64, to: u64, kind: Dependency, key: u64| {
        if from != to {
            graph
                .entry(from)
                .or_default()
                .entry(to)
                .or_default()
                .entry(kind)
                .or_insert(key);
        }
    };
    for ((key, version), nexts) in &follows {
        for next in nexts {
            let Some(&to) = writers.get(&(*key, *next)) else {
                continue;
            };
            if let Some(&from) = writers.get(&(*key, *version)) {
                edge(from, to, Dependency::Ww, *key);
            }
            // A READ COMMITTED reader may miss later writes: its
            // anti-dependencies promise nothing.
            for reader in readers.get(&(*key, *version)).into_iter().flatten() {
                if serializable.contains(reader) {
                    edge(*reader, to, Dependency::Rw, *key);
                }
            }
        }
    }
    for ((key, version), readers) in &readers {
        if let Some(&from) = writers.get(&(*key, *version)) {
            for reader in readers {
                edge(from, *reader, Dependency::Wr, *key);
            }
        }
    }
    graph
}

/// Looks for cycles, most severe first: G0 in ww edges alone, G1c in ww
/// and wr edges, then, through each rw edge, G-single (the way back uses
/// no other rw edge) or G2.
fn find_cycles(
    graph: &Graph,
    key_name: &dyn Fn(u64) -> String,
    mut steps: usize,
    report: &mut impl FnMut(AnomalyKind, Vec<u64>, String),
) {
    let ww = [Dependency::Ww];
    let ww_wr = [Dependency::Ww, Dependency::Wr];
    let all = [Dependency::Ww, Dependency::Wr, Dependency::Rw];
    // Only an edge inside a strongly connected component can be on a
    // cycle: in a history without anomalies every component is a single
    // transaction, and no path is searched at all.
    let component = components(graph);
    let cyclic = |from: &u64, to: &u64| component.get(from) == component.get(to);
    let mut found = Found::default();
    let mut cycle = |found: &mut Found, kind: AnomalyKind, path: Vec<u64>, first: Dependency| {
        if let Some(members) = found.add(kind, &path) {
            report(kind, members, describe(graph, &path, first, key_name));
        }
    };
    for (allowed, kind) in [(&ww[..], AnomalyKind::G0), (&ww_wr[..], AnomalyKind::G1c)] {
        for (from, targets) in graph {
            if found.full(kind) {
                break;
            }
            for (to, kinds) in targets {
                let Some(first) = kinds.keys().copied().find(|kind| allowed.contains(kind)) else {
                    continue;
                };
                if !cyclic(from, to) {
                    continue;
                }
                if let Some(back) = path(graph, *to, *from, allowed, &mut steps) {
                    let mut path = vec![*from];
                    path.extend(back);
                    cycle(&mut found, kind, path, first);
                }
            }
        }
    }
    for (from, targets) in graph {
        if found.full(AnomalyKind::GSingle) && found.full(AnomalyKind::G2) {
            break;
        }
        for (to, kinds) in targets {
            if !kinds.contains_key(&Dependency::Rw) || !cyclic(from, to) {
                continue;
            }
            let (kind, back) = match path(graph, *to, *from, &ww_wr, &mut steps) {
                Some(back) => (AnomalyKind::GSingle, back),
                None => match path(graph, *to, *from, &all, &mut steps) {
                    Some(back) => (AnomalyKind::G2, back),
                    None => continue,
                },
            };
            let mut path = vec![*from];
            path.extend(back);
            cycle(&mut found, kind, path, Dependency::Rw);
        }
    }
    // Searches cut short by the budget must not pass a history with a
    // cycle: a component of more than one transaction holds one, found by
    // one unbounded search and named by the edges on it.
    if found.members.is_empty() {
        let mut unbounded = usize::MAX;
        let inside = graph.iter().find_map(|(from, targets)| {
            targets
                .keys()
                .find(|to| cyclic(from, to))
                .map(|to| (*from, *to))
        });
        if let Some((from, to)) = inside
            && let Some(back) = path(graph, to, from, &all, &mut unbounded)
        {
            let mut path = vec![from];
            path.extend(back);
            let (kind, first) = classify(graph, &path);
            cycle(&mut found, kind, path, first);
        }
    }
}

/// The kind of the cycle on `path`, from the edges between its steps (each
/// taken as the mildest it can be), and the kind of its first edge.
fn classify(graph: &Graph, path: &[u64]) -> (AnomalyKind, Dependency) {
    let mildest: Vec<Dependency> = path
        .iter()
        .enumerate()
        .map(|(index, from)| {
            let to = path[(index + 1) % path.len()];
            *graph[from][&to].keys().next().expect("an edge")
        })
        .collect();
    let anti = mildest
        .iter()
        .filter(|kind| **kind == Dependency::Rw)
        .count();
    let kind = match anti {
        0 if mildest.iter().all(|kind| *kind == Dependency::Ww) => AnomalyKind::G0,
        0 => AnomalyKind::G1c,
        1 => AnomalyKind::GSingle,
        _ => AnomalyKind::G2,
    };
    (kind, mildest[0])
}

/// The cycles reported so far: each set of members once, and at most
/// [`MOST_PER_KIND`] of a kind, past which the search for that kind stops
/// (a history a bug has knotted into one component would otherwise cost a
/// search per edge).
#[derive(Default)]
struct Found {
    members: BTreeSet<Vec<u64>>,
    per_kind: BTreeMap<AnomalyKind, usize>,
}

impl Found {
    fn full(&self, kind: AnomalyKind) -> bool {
        self.per_kind
            .get(&kind)
            .is_some_and(|count| *count >= MOST_PER_KIND)
    }

    /// The members of the cycle on `path`, sorted, unless they were
    /// reported already or `kind` is full.
    fn add(&mut self, kind: AnomalyKind, path: &[u64]) -> Option<Vec<u64>> {
        if self.full(kind) {
            return None;
        }
        let mut members = path.to_vec();
        members.sort_unstable();
        members.dedup();
        if !self.members.insert(members.clone()) {
            return None;
        }
        *self.per_kind.entry(kind).or_default() += 1;
        Some(members)
    }
}

/// Each transaction's strongly connected component, by Tarjan's algorithm
/// (iterative, so a long chain of dependencies cannot overflow the stack).
fn components(graph: &Graph) -> BTreeMap<u64, usize> {
    let mut tarjan = Tarjan {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        on_stack: BTreeSet::new(),
        stack: Vec::new(),
        frames: Vec::new(),
        component: BTreeMap::new(),
        components: 0,
    };
    let nodes: BTreeSet<u64> = graph
        .iter()
        .flat_map(|(from, targets)| std::iter::once(*from).chain(targets.keys().copied()))
        .collect();
    for root in nodes {
        if !tarjan.index.contains_key(&root) {
            tarjan.walk(root);
        }
    }
    tarjan.component
}

struct Tarjan<'a> {
    graph: &'a Graph,
    index: BTreeMap<u64, usize>,
    low: BTreeMap<u64, usize>,
    on_stack: BTreeSet<u64>,
    stack: Vec<u64>,
    /// The depth-first walk: each node and its successors still to visit.
    frames: Vec<(u64, Vec<u64>)>,
    component: BTreeMap<u64, usize>,
    components: usize,
}

impl Tarjan<'_> {
    fn enter(&mut self, node: u64) {
        let next = self.index.len();
        self.index.insert(node, next);
        self.low.insert(node, next);
        self.stack.push(node);
        self.on_stack.insert(node);
        let mut left: Vec<u64> = self
            .graph
            .get(&node)
            .map(|targets| targets.keys().copied().collect())
            .unwrap_or_default();
        left.reverse();
        self.frames.push((node, left));
    }

    fn walk(&mut self, root: u64) {
        self.enter(root);
        while let Some((node, left)) = self.frames.last_mut() {
            let node = *node;
            if let Some(next) = left.pop() {
                if !self.index.contains_key(&next) {
                    self.enter(next);
                } else if self.on_stack.contains(&next) {
                    let lowest = self.low[&node].min(self.index[&next]);
                    self.low.insert(node, lowest);
                }
                continue;
            }
            self.frames.pop();
            if let Some((parent, _)) = self.frames.last() {
                let lowest = self.low[parent].min(self.low[&node]);
                self.low.insert(*parent, lowest);
            }
            if self.low[&node] == self.index[&node] {
                while let Some(member) = self.stack.pop() {
                    self.on_stack.remove(&member);
                    self.component.insert(member, self.components);
                    if member == node {
                        break;
                    }
                }
                self.components += 1;
            }
        }
    }
}

/// The shortest way from `start` back to `goal` over edges of the
/// `allowed` kinds: the transactions on it, `start` first, `goal` left out.
/// Each edge it looks at costs one of `steps`; with none left it gives up.
fn path(
    graph: &Graph,
    start: u64,
    goal: u64,
    allowed: &[Dependency],
    steps: &mut usize,
) -> Option<Vec<u64>> {
    let mut came_from: BTreeMap<u64, u64> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    let mut visited = BTreeSet::from([start]);
    while let Some(at) = queue.pop_front() {
        for (next, kinds) in graph.get(&at).into_iter().flatten() {
            *steps = steps.checked_sub(1)?;
            if !kinds.keys().any(|kind| allowed.contains(kind)) {
                continue;
            }
            if *next == goal {
                let mut path = vec![at];
                while let Some(previous) = came_from.get(path.last().expect("a step")) {
                    path.push(*previous);
                }
                path.reverse();
                return Some(path);
            }
            if visited.insert(*next) {
                came_from.insert(*next, at);
                queue.push_back(*next);
            }
        }
    }
    None
}

/// A cycle in words, `T1 -rw k3-> T2 -wr k1-> T1`: its first edge of
/// kind `first`, the others of the mildest kind they have.
fn describe(
    graph: &Graph,
    path: &[u64],
    first: Dependency,
    key_name: &dyn Fn(u64) -> String,
) -> String {
    let mut words = format!("T{}", path[0]);
    for (index, from) in path.iter().enumerate() {
        let to = path[(index + 1) % path.len()];
        let kinds = &graph[from][&to];
        let (kind, key) = match kinds.get(&first).filter(|_| index == 0) {
            Some(key) => (first, key),
            None => kinds
                .iter()
                .next()
                .map(|(kind, key)| (*kind, key))
                .expect("an edge"),
        };
        words += &format!(" -{} {}-> T{to}", kind.name(), key_name(*key));
    }
    words
}

#[cfg(test)]
mod tests;
