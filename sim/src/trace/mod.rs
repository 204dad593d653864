//! The event trace of a run: every explicit event of the system's nodes and
//! of the harness, with its simulated time, folded into a stable hash,
//! counted by fault kind, handed to the run's subscribers (the online
//! checkers, the cluster view), and kept as JSONL on request.
//!
//! The trace knows no subscriber: whatever watches the run registers with
//! [`Trace::subscribe`], and is called inside the trace's lock, in
//! registration order, so every subscriber sees events in the one order
//! they were hashed in.

mod digest;

use digest::TraceDigest;
use ledger::{
    clock::SimTime,
    observe::{Event, Mark, NodeName, Observer},
};
use serde::Serialize;
use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use crate::{coverage::HarnessMark, events::HarnessEvent, faults::FaultKind, watchdog::Progress};

/// Something that watches a run's trace as it is recorded.
pub(crate) trait Subscriber: Send {
    /// Whether [`Subscriber::system`] is to see [`Event::Message`]s too.
    /// Messages are most of a run's events, and the checkers and the
    /// cluster view have no use for them: skipping them saves a lock and a
    /// dispatch per message. Asked once, when subscribing.
    fn sees_messages(&self) -> bool {
        false
    }
    /// Sees a system event of `node` (a message only if
    /// [`Subscriber::sees_messages`]); may name coverage marks only it can
    /// recognise, to be counted.
    fn system(
        &mut self,
        at: Duration,
        node: &NodeName,
        event: &Event,
        marks: &mut Vec<HarnessMark>,
    ) {
        let _ = (at, node, event, marks);
    }

    /// Sees a coverage mark `node` reached; may name harness marks that
    /// the mark completes with what only the harness knows (who else leads).
    fn mark(&mut self, at: Duration, node: &NodeName, mark: Mark, marks: &mut Vec<HarnessMark>) {
        let _ = (at, node, mark, marks);
    }

    /// Sees an event the harness recorded on behalf of `node` (`nemesis`,
    /// a client).
    fn harness(&mut self, at: Duration, node: &str, event: &HarnessEvent) {
        let _ = (at, node, event);
    }
}

/// A subscriber shared between the trace and whoever reads it.
pub(crate) type Shared = Arc<Mutex<dyn Subscriber>>;

/// One trace line: when, where, what.
#[derive(Serialize)]
struct Line<'a, E: Serialize> {
    t_us: u64,
    node: &'a str,
    #[serde(flatten)]
    event: &'a E,
}

/// How many trace events a run may record before it counts as running
/// away: a storm of messages or wake-ups that would otherwise fill memory
/// for ever (a mutant that completes the wrong call with every reply made
/// one seed grow past 20 GB). A default seed records about ten thousand
/// events, some 200 a simulated second and 150 a request; the budget
/// allows a million, plus 20 000 a simulated second and 2000 a request,
/// so only a storm spends it, and on every machine at the same event.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EventBudget {
    base: u64,
}

impl EventBudget {
    const BASE: u64 = 1_000_000;
    const PER_SECOND: u64 = 20_000;
    const PER_REQUEST: u64 = 2_000;

    /// The budget of a run whose workload makes `requests` requests.
    pub(crate) fn for_requests(requests: u32) -> EventBudget {
        EventBudget {
            base: Self::BASE + Self::PER_REQUEST * u64::from(requests),
        }
    }

    fn spent(self, events: u64, now: Duration) -> bool {
        events > self.base + Self::PER_SECOND * now.as_secs()
    }
}

/// A coverage mark as a trace line.
#[derive(Serialize)]
#[serde(tag = "event", rename = "mark")]
struct MarkLine {
    mark: &'static str,
}

/// The trace of one run; the observer every node records into.
pub(crate) struct Trace {
    time: SimTime,
    /// Where the watchdog reads how far the run has come.
    progress: Arc<Progress>,
    state: Mutex<TraceState>,
}

struct TraceState {
    hasher: TraceDigest,
    events: u64,
    /// `None` for the benchmark's ping-pong, whose storm is the point.
    budget: Option<EventBudget>,
    lines: Option<Vec<String>>,
    /// In registration order, each with whether it sees messages.
    subscribers: Vec<(Shared, bool)>,
    faults: BTreeMap<FaultKind, u64>,
    /// How often each coverage mark was reached, and when first.
    marks: BTreeMap<&'static str, (u64, Duration)>,
}

/// What a finished trace hands to the report.
#[derive(Default)]
pub(crate) struct TraceSummary {
    pub(crate) hash: u64,
    pub(crate) events: u64,
    pub(crate) lines: Option<Vec<String>>,
    /// Faults injected, by kind.
    pub(crate) faults: BTreeMap<FaultKind, u64>,
    /// Coverage marks reached, by name.
    pub(crate) marks: BTreeMap<&'static str, u64>,
    /// When each mark was first reached.
    pub(crate) marks_first_at: BTreeMap<&'static str, Duration>,
}

impl Trace {
    /// A new trace; `keep_lines` keeps every event as a JSONL line.
    /// The simulated time of every event goes to `progress`; a run that
    /// spends `budget` crashes.
    pub(crate) fn new(
        keep_lines: bool,
        progress: Arc<Progress>,
        budget: Option<EventBudget>,
    ) -> Arc<Trace> {
        Arc::new(Trace {
            time: SimTime::default(),
            progress,
            state: Mutex::new(TraceState {
                hasher: TraceDigest::default(),
                events: 0,
                budget,
                lines: keep_lines.then(Vec::new),
                subscribers: Vec::new(),
                faults: BTreeMap::new(),
                marks: BTreeMap::new(),
            }),
        })
    }

    /// Adds a subscriber, called for every event from now on.
    pub(crate) fn subscribe(&self, subscriber: Shared) {
        let sees_messages = lock(&subscriber).sees_messages();
        self.lock().subscribers.push((subscriber, sees_messages));
    }

    /// Records a harness event on behalf of `node` (`nemesis`, a client).
    pub(crate) fn harness(&self, node: &str, event: HarnessEvent) {
        let now = self.now();
        let mut state = self.lock();
        if let Some((kind, count)) = FaultKind::of_harness(&event) {
            state.count(kind, count);
        }
        for (subscriber, _) in &state.subscribers {
            lock(subscriber).harness(now, node, &event);
        }
        state.fold(now, node, &event);
    }

    /// Notes that the harness saw a situation worth reaching.
    pub(crate) fn harness_mark(&self, mark: HarnessMark) {
        let now = self.now();
        self.lock().mark(now, "nemesis", mark.name());
    }

    /// Adds faults the harness counts elsewhere (the network's).
    pub(crate) fn count_faults(&self, counts: impl IntoIterator<Item = (FaultKind, u64)>) {
        let mut state = self.lock();
        for (kind, count) in counts {
            state.count(kind, count);
        }
    }

    /// Ends the trace.
    pub(crate) fn finish(&self) -> TraceSummary {
        let mut state = self.lock();
        state.subscribers.clear();
        TraceSummary {
            hash: state.hasher.digest(),
            events: state.events,
            lines: state.lines.take(),
            faults: std::mem::take(&mut state.faults),
            marks: state
                .marks
                .iter()
                .map(|(mark, (count, _))| (*mark, *count))
                .collect(),
            marks_first_at: state
                .marks
                .iter()
                .map(|(mark, (_, first))| (*mark, *first))
                .collect(),
        }
    }

    /// The simulated time, which is also the run's progress.
    fn now(&self) -> Duration {
        let now = self.time.elapsed();
        self.progress.advance(now);
        now
    }

    fn lock(&self) -> MutexGuard<'_, TraceState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn lock(subscriber: &Shared) -> MutexGuard<'_, dyn Subscriber + 'static> {
    subscriber.lock().unwrap_or_else(PoisonError::into_inner)
}

impl TraceState {
    fn count(&mut self, kind: FaultKind, count: u64) {
        if count > 0 {
            let total = self.faults.entry(kind).or_default();
            *total = total.saturating_add(count);
        }
    }

    /// Folds one event into the hash through its stable encoding (see
    /// [`digest`]), so a seed hashes the same on every machine.
    fn fold<E: Serialize>(&mut self, now: Duration, node: &str, event: &E) {
        self.events += 1;
        if self
            .budget
            .is_some_and(|budget| budget.spent(self.events, now))
        {
            // Inside the simulation a panic is the run's crash, reported
            // with this message, deterministically.
            panic!(
                "the run ran away: {} trace events by {:.3}s of simulated time, the last from {node}",
                self.events,
                now.as_secs_f64()
            );
        }
        self.hasher.feed(&(now.as_nanos() as u64, node, event));
        self.line(now, node, event);
    }

    /// Counts a coverage mark and keeps it as a trace line, without
    /// hashing it: marks are bookkeeping, not behaviour.
    fn mark(&mut self, now: Duration, node: &str, mark: &'static str) {
        self.marks.entry(mark).or_insert((0, now)).0 += 1;
        self.line(now, node, &MarkLine { mark });
    }

    fn line<E: Serialize>(&mut self, now: Duration, node: &str, event: &E) {
        if let Some(lines) = &mut self.lines {
            let line = Line {
                t_us: now.as_micros() as u64,
                node,
                event,
            };
            lines.push(serde_json::to_string(&line).expect("trace events serialize"));
        }
    }
}

impl Observer for Trace {
    fn mark(&self, node: &NodeName, mark: Mark) {
        let now = self.now();
        let mut state = self.lock();
        let mut marks = Vec::new();
        for (subscriber, _) in &state.subscribers {
            lock(subscriber).mark(now, node, mark, &mut marks);
        }
        state.mark(now, node.as_str(), mark.name());
        for mark in marks {
            state.mark(now, node.as_str(), mark.name());
        }
    }

    fn record(&self, node: &NodeName, event: Event) {
        let now = self.now();
        let mut state = self.lock();
        if let Some((kind, count)) = FaultKind::of_system(&event) {
            state.count(kind, count);
        }
        let mut marks = Vec::new();
        let message = matches!(event, Event::Message { .. });
        for (subscriber, sees_messages) in &state.subscribers {
            if *sees_messages || !message {
                lock(subscriber).system(now, node, &event, &mut marks);
            }
        }
        for mark in marks {
            state.mark(now, node.as_str(), mark.name());
        }
        state.fold(now, node.as_str(), &event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records `count` events in a simulation and says how it ended: the
    /// panic's message if it crashed.
    fn record_events(budget: EventBudget, count: u64) -> Option<String> {
        let trace = Trace::new(false, Arc::default(), Some(budget));
        let node = NodeName::new("log-1");
        let runtime = madsim::runtime::Runtime::with_seed_and_config(1, madsim::Config::default());
        let ended = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            runtime.block_on(async {
                for _ in 0..count {
                    trace.record(&node, Event::Boot { incarnation: 1 });
                }
            })
        }));
        ended.err().map(|payload| {
            payload
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_default()
        })
    }

    /// A run may spend its budget of events to the last one; the next
    /// crashes it, saying how many events by when and from which node.
    #[test]
    fn a_run_that_records_past_its_event_budget_crashes_as_running_away() {
        let budget = EventBudget { base: 10 };
        assert_eq!(record_events(budget, 10), None);
        let crash = record_events(budget, 11).expect("the eleventh event crashes the run");
        assert_eq!(
            crash,
            "the run ran away: 11 trace events by 0.000s of simulated time, the last from log-1"
        );
    }

    /// The budget grows with the workload's requests and its simulated
    /// time, far above what a default seed records.
    #[test]
    fn the_event_budget_grows_with_requests_and_time() {
        let budget = EventBudget::for_requests(100);
        let at = |seconds| Duration::from_secs(seconds);
        assert!(!budget.spent(1_200_000, at(0)));
        assert!(budget.spent(1_200_001, at(0)));
        assert!(!budget.spent(2_200_000, at(50)));
        assert!(!EventBudget::for_requests(1_000).spent(3_000_000, at(0)));
    }

    /// An event is hashed through its codec encoding, spelled out here
    /// byte for byte (the time, the node's name, the serde tag, the
    /// fields), never through a `Hash` derive whose feed the standard
    /// library may change: a seed gives the same hash on every machine.
    #[test]
    fn an_event_is_hashed_through_its_stable_encoding() {
        let event = (1_000u64, "log-1", &Event::Boot { incarnation: 2 });
        let by_hand: Vec<u8> = [
            &1_000u64.to_le_bytes()[..],
            &5u64.to_le_bytes(),
            b"log-1",
            &4u64.to_le_bytes(),
            b"boot",
            &2u64.to_le_bytes(),
        ]
        .concat();
        assert_eq!(ledger::codec::encode(&event), by_hand);
        let mut traced = TraceDigest::default();
        traced.feed(&event);
        let mut fed_bytes = TraceDigest::default();
        fed_bytes.fold(&by_hand);
        assert_eq!(traced.digest(), fed_bytes.digest());
    }
}
