//! The network choke point: every packet of a run passes through one
//! [`Fabric`], which decides whether it is sent, dropped, held back, copied or
//! cut off by a partition, and then carries it.
//!
//! The fabric is the network: it does not use madsim's endpoints. madsim's
//! send path costs three timers and a formatted address string per datagram,
//! and its loss and latency settings are global; here a packet costs one entry
//! in an ordered queue of arrivals, served by one task on a harness-owned
//! *wire* node that never crashes. Packets in flight therefore outlive a crash
//! of their sender or receiver, as on a real network: a packet reaches
//! whatever socket is bound at its address when it arrives, and is lost if
//! none is (the node is down).
//!
//! Per-message faults are drawn from the fabric's own random stream.
//! Partitions live here too, and a delayed or duplicated packet is checked
//! against the partitions in force when it finally arrives, not when it left.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::{
    collections::{BTreeMap, BTreeSet},
    future::Future,
    net::IpAddr,
    ops::Range,
    pin::Pin,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    task::{Context, Poll, Waker},
    time::{Duration, Instant},
};

use super::{Directory, Packet, PacketKind, Socket};
use crate::{
    clock::SimTime,
    observe::{Event, Fate, NodeName, Observer},
};

/// The longest a duplicate trails its original. Long enough to arrive after
/// a restart of either end.
const DUPLICATE_DELAY_MAX: Duration = Duration::from_secs(3);

/// Per-message fault probabilities in force.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FaultRates {
    /// Probability a message is lost.
    pub drop: f64,
    /// Probability a message is delivered a second time, up to
    /// 3 seconds later.
    pub duplicate: f64,
    /// Probability a message is held back by up to `max_delay`, so that later
    /// messages overtake it.
    pub reorder: f64,
    pub max_delay: Duration,
}

impl FaultRates {
    /// The longest a packet sent under these rates may stay on the wire:
    /// its latency plus the longer of its delay and its duplicate's lag.
    /// Once the faults stop, a packet sent before lands within this.
    pub fn longest_on_the_wire(&self) -> Duration {
        let mut held = Duration::ZERO;
        if self.reorder > 0.0 {
            held = self.max_delay;
        }
        if self.duplicate > 0.0 {
            held = held.max(DUPLICATE_DELAY_MAX);
        }
        DEFAULT_LATENCY.end + held
    }
}

/// Counts of what the fabric did, for reports and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct NetStats {
    /// Messages handed to the fabric.
    pub messages: u64,
    pub dropped: u64,
    pub cut: u64,
    pub delayed: u64,
    pub duplicated: u64,
}

/// How long a packet takes to cross the network when nothing holds it
/// back, unless [`Fabric::set_latency`] says otherwise.
pub const DEFAULT_LATENCY: Range<Duration> = Duration::from_millis(1)..Duration::from_millis(3);

/// The choke point all packets of one run go through.
pub struct Fabric {
    directory: Arc<Directory>,
    observer: Arc<dyn Observer>,
    state: Mutex<FabricState>,
}

struct FabricState {
    time: SimTime,
    rates: FaultRates,
    latency: Range<Duration>,
    /// The choke point's own random stream, separate from the nemesis's and
    /// the generator's.
    rng: ChaCha8Rng,
    /// Directed links that are cut, (from, to), with how many partitions in
    /// force cut each: overlapping partitions heal independently.
    cut: BTreeMap<(IpAddr, IpAddr), u32>,
    /// The socket bound at each address: the node's current incarnation.
    sockets: BTreeMap<IpAddr, Arc<dyn Socket>>,
    /// Packets on their way, by arrival time and then by the order they were
    /// sent, so that the same run delivers them in the same order.
    arrivals: BTreeMap<(Instant, u64), Parcel>,
    sent: u64,
    /// The wire task's waker, once it first waited.
    wire_waker: Option<Waker>,
    /// Arrival times the wire task has a timer for.
    armed: BTreeSet<Instant>,
    stats: NetStats,
    /// Packets held on the wire (delayed or duplicated) and not yet
    /// delivered or cut.
    on_the_wire: u64,
    /// Ids of the requests [`Fabric::hold_request`] made up, counting down
    /// from the top so they meet no real call.
    held_calls: u64,
}

/// A packet on its way.
struct Parcel {
    from: IpAddr,
    to: IpAddr,
    /// Delayed or duplicated: checked against the partitions when it arrives,
    /// and counted in [`Fabric::on_the_wire`] until then.
    late: bool,
    packet: Packet,
}

/// What happens to one packet.
struct Route {
    fate: Fate,
    latency: Duration,
    delay: Duration,
    duplicate_after: Option<Duration>,
}

impl Fabric {
    /// A choke point drawing its faults from `rng`, the run's network
    /// stream. Nothing arrives until [`Fabric::serve_wire`] runs.
    pub fn new(
        directory: Arc<Directory>,
        observer: Arc<dyn Observer>,
        rng: ChaCha8Rng,
    ) -> Arc<Fabric> {
        Arc::new(Fabric {
            directory,
            observer,
            state: Mutex::new(FabricState {
                time: SimTime::default(),
                rates: FaultRates::default(),
                latency: DEFAULT_LATENCY,
                rng,
                cut: BTreeMap::new(),
                sockets: BTreeMap::new(),
                arrivals: BTreeMap::new(),
                sent: 0,
                wire_waker: None,
                armed: BTreeSet::new(),
                stats: NetStats::default(),
                on_the_wire: 0,
                held_calls: u64::MAX,
            }),
        })
    }

    pub fn set_rates(&self, rates: FaultRates) {
        self.lock().rates = rates;
    }

    /// The range every packet's latency is drawn from. An empty range means
    /// its start.
    pub fn set_latency(&self, latency: Range<Duration>) {
        self.lock().latency = latency;
    }

    /// Cuts the link from `from` to `to` (one direction).
    pub fn cut(&self, from: &NodeName, to: &NodeName) {
        if let (Some(from), Some(to)) = (self.directory.addr(from), self.directory.addr(to)) {
            *self.lock().cut.entry((from.ip(), to.ip())).or_default() += 1;
        }
    }

    /// Undoes one `cut` of the link from `from` to `to`; the link is restored
    /// once no partition in force cuts it.
    pub fn uncut(&self, from: &NodeName, to: &NodeName) {
        if let (Some(from), Some(to)) = (self.directory.addr(from), self.directory.addr(to)) {
            let mut state = self.lock();
            let link = (from.ip(), to.ip());
            if let Some(count) = state.cut.get_mut(&link) {
                *count -= 1;
                if *count == 0 {
                    state.cut.remove(&link);
                }
            }
        }
    }

    /// Restores every link.
    pub fn heal_all(&self) {
        self.lock().cut.clear();
    }

    /// Whether any link is cut.
    pub fn is_partitioned(&self) -> bool {
        !self.lock().cut.is_empty()
    }

    pub fn stats(&self) -> NetStats {
        self.lock().stats
    }

    /// Packets still held on the wire: delayed or duplicated copies that
    /// have not arrived yet. A run's verdict waits for them.
    pub fn on_the_wire(&self) -> u64 {
        self.lock().on_the_wire
    }

    /// Binds `socket` at `ip` for a node's new incarnation, replacing the
    /// last one's: the packets that arrive there from now on go to it.
    pub(super) fn bind(&self, ip: IpAddr, socket: Arc<dyn Socket>) {
        self.lock().sockets.insert(ip, socket);
    }

    /// Puts a request from `from` to `to` on the wire, to arrive after
    /// `delay` like a late duplicate: for tests that need a message to land
    /// at a chosen moment. Any reply goes to `from` and matches no call.
    pub fn hold_request<T: Serialize>(
        &self,
        from: &NodeName,
        to: &NodeName,
        request: &T,
        delay: Duration,
    ) {
        let (Some(from), Some(to)) = (self.directory.addr(from), self.directory.addr(to)) else {
            return;
        };
        let mut state = self.lock();
        state.held_calls -= 1;
        let packet = Packet {
            from,
            kind: PacketKind::Request {
                call: state.held_calls,
            },
            body: super::encode(request),
        };
        state.post(from.ip(), to.ip(), delay, true, packet);
    }

    /// The wire node's task: delivers every packet when it arrives. Runs
    /// for the whole run on a node that never crashes.
    pub async fn serve_wire(self: Arc<Self>) {
        loop {
            NextArrival { fabric: &self }.await;
            let now = self.lock().time.now_instant();
            loop {
                let parcel = {
                    let mut state = self.lock();
                    match state.arrivals.first_key_value() {
                        Some((&(at, _), _)) if at <= now => {}
                        _ => break,
                    }
                    let Some((_, parcel)) = state.arrivals.pop_first() else {
                        break;
                    };
                    if parcel.late {
                        state.on_the_wire -= 1;
                        if state.cut.contains_key(&(parcel.from, parcel.to)) {
                            state.stats.cut += 1;
                            continue;
                        }
                    }
                    state
                        .sockets
                        .get(&parcel.to)
                        .map(|socket| (socket.clone(), parcel.packet))
                };
                // Nobody bound there, or the node is down: lost, as a
                // datagram to a dead host is.
                if let Some((socket, packet)) = parcel {
                    socket.deliver(packet);
                }
            }
        }
    }

    /// Sends `packet` (a message of `kind`) from `from` to `to`, applying
    /// the faults in force.
    pub(super) fn transmit(&self, from: &NodeName, to: IpAddr, kind: &'static str, packet: Packet) {
        let from_ip = packet.from.ip();
        let bytes = packet.body.len() as u32;
        let route = {
            let mut state = self.lock();
            let route = state.route(from_ip, to);
            // Only a duplicated packet is copied; the original goes first.
            let duplicate = route.duplicate_after.map(|after| (after, packet.clone()));
            match route.fate {
                Fate::Sent => state.post(from_ip, to, route.latency, false, packet),
                Fate::Delayed => {
                    state.post(from_ip, to, route.latency + route.delay, true, packet);
                }
                Fate::Dropped | Fate::Cut => {}
            }
            if let Some((after, packet)) = duplicate {
                state.post(from_ip, to, route.latency + after, true, packet);
            }
            route
        };
        if let Some(to_name) = self.directory.name_of(to) {
            self.observer.record(
                from,
                Event::Message {
                    to: to_name.clone(),
                    kind,
                    bytes,
                    fate: route.fate,
                    latency_us: route.latency.as_micros() as u64,
                    delay_us: route.delay.as_micros() as u64,
                    duplicate_after_us: route.duplicate_after.map(|after| after.as_micros() as u64),
                },
            );
        }
    }

    fn lock(&self) -> MutexGuard<'_, FabricState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl FabricState {
    fn route(&mut self, from: IpAddr, to: IpAddr) -> Route {
        self.stats.messages += 1;
        let latency = if self.latency.is_empty() {
            self.latency.start
        } else {
            self.rng.gen_range(self.latency.clone())
        };
        let mut route = Route {
            fate: Fate::Sent,
            latency,
            delay: Duration::ZERO,
            duplicate_after: None,
        };
        let rates = self.rates;
        if self.cut.contains_key(&(from, to)) {
            self.stats.cut += 1;
            route.fate = Fate::Cut;
            return route;
        }
        if rates.drop > 0.0 && self.rng.gen_bool(rates.drop) {
            self.stats.dropped += 1;
            route.fate = Fate::Dropped;
            return route;
        }
        if rates.reorder > 0.0 && !rates.max_delay.is_zero() && self.rng.gen_bool(rates.reorder) {
            self.stats.delayed += 1;
            route.fate = Fate::Delayed;
            route.delay = self.rng.gen_range(Duration::ZERO..=rates.max_delay);
        }
        if rates.duplicate > 0.0 && self.rng.gen_bool(rates.duplicate) {
            self.stats.duplicated += 1;
            route.duplicate_after = Some(self.rng.gen_range(Duration::ZERO..=DUPLICATE_DELAY_MAX));
        }
        route
    }

    /// Queues a packet to arrive after `after`, with a timer to wake the
    /// wire task then.
    fn post(&mut self, from: IpAddr, to: IpAddr, after: Duration, late: bool, packet: Packet) {
        let at = self.time.now_instant() + after;
        self.sent += 1;
        if late {
            self.on_the_wire += 1;
        }
        self.arrivals.insert(
            (at, self.sent),
            Parcel {
                from,
                to,
                late,
                packet,
            },
        );
        if let Some(waker) = self.wire_waker.clone() {
            self.arm(at, &waker);
        }
    }

    /// Sets a timer that wakes the wire task at `at`, unless one is set.
    ///
    /// Set when the packet is posted, its latency ahead, rather than when
    /// the wire task next waits: madsim sets no timer closer than a
    /// millisecond, which would make packets that follow each other closely
    /// late.
    fn arm(&mut self, at: Instant, waker: &Waker) {
        if self.armed.insert(at) {
            // Polling a sleep once leaves its timer set to wake `waker`;
            // the sleep itself is not needed after that.
            let mut sleep = std::pin::pin!(self.time.sleep_until(at));
            let _ = sleep.as_mut().poll(&mut Context::from_waker(waker));
        }
    }
}

/// Ready once the earliest packet on its way is due. There is one madsim
/// timer per arrival time, however often this is polled.
struct NextArrival<'a> {
    fabric: &'a Fabric,
}

impl Future for NextArrival<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.fabric.lock();
        let now = state.time.now_instant();
        // Timers at or before now have fired: drop them without walking
        // the ones still to come.
        while state.armed.first().is_some_and(|at| *at <= now) {
            state.armed.pop_first();
        }
        if state
            .wire_waker
            .as_ref()
            .is_none_or(|waker| !waker.will_wake(cx.waker()))
        {
            state.wire_waker = Some(cx.waker().clone());
        }
        let Some(&(first, _)) = state.arrivals.keys().next() else {
            return Poll::Pending;
        };
        if first <= now {
            return Poll::Ready(());
        }
        state.arm(first, cx.waker());
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::test_network::{address as addr, network};
    use futures::{StreamExt, channel::mpsc};

    /// A fabric between `a` (10.0.0.1) and `b` (10.0.0.2), its wire served.
    fn fabric(runtime: &madsim::runtime::Runtime) -> Arc<Fabric> {
        network(runtime, &["a", "b"], 7).1
    }

    fn packet(call: u64) -> Packet {
        Packet {
            from: addr(1),
            kind: PacketKind::Request { call },
            body: vec![call as u8],
        }
    }

    fn call_of(packet: &Packet) -> u64 {
        match packet.kind {
            PacketKind::Request { call } | PacketKind::Response { call } => call,
        }
    }

    fn elapsed() -> Duration {
        madsim::time::TimeHandle::current().elapsed()
    }

    /// A socket that queues what arrives; lost once the receiver is gone.
    impl Socket for mpsc::UnboundedSender<Packet> {
        fn deliver(&self, packet: Packet) {
            let _ = self.unbounded_send(packet);
        }
    }

    fn bind(fabric: &Fabric, ip: IpAddr) -> mpsc::UnboundedReceiver<Packet> {
        let (sender, receiver) = mpsc::unbounded();
        fabric.bind(ip, Arc::new(sender));
        receiver
    }

    /// Packets take their latency, reach the socket bound when they
    /// arrive, and are lost while none is; a delayed packet outlives the
    /// receiver's restart and reaches its next life.
    #[test]
    fn packets_reach_whoever_is_bound_when_they_arrive() {
        let runtime = madsim::runtime::Runtime::new();
        let fabric = fabric(&runtime);
        let a = NodeName::new("a");
        runtime.block_on(async move {
            let ip_b = addr(2).ip();
            let mut b = bind(&fabric, ip_b);
            let sent = elapsed();
            for call in 0..20 {
                fabric.transmit(&a, ip_b, "Request", packet(call));
            }
            let mut calls = Vec::new();
            for _ in 0..20 {
                calls.push(call_of(&b.next().await.expect("a packet")));
            }
            calls.sort_unstable();
            assert_eq!(calls, (0..20).collect::<Vec<_>>());
            let took = elapsed() - sent;
            assert!(
                took >= DEFAULT_LATENCY.start && took <= DEFAULT_LATENCY.end,
                "{took:?}"
            );

            // The receiver is down: what arrives meanwhile is lost.
            drop(b);
            fabric.transmit(&a, ip_b, "Request", packet(100));
            madsim::time::sleep(Duration::from_millis(10)).await;
            let mut b = bind(&fabric, ip_b);
            fabric.transmit(&a, ip_b, "Request", packet(101));
            assert_eq!(call_of(&b.next().await.expect("a packet")), 101);

            // Held back by a second, then the receiver restarts: the
            // packet reaches the new life.
            fabric.set_rates(FaultRates {
                reorder: 1.0,
                max_delay: Duration::from_secs(1),
                ..FaultRates::default()
            });
            fabric.transmit(&a, ip_b, "Request", packet(102));
            assert_eq!(fabric.on_the_wire(), 1);
            drop(b);
            let mut b = bind(&fabric, ip_b);
            assert_eq!(call_of(&b.next().await.expect("a packet")), 102);
            assert_eq!(fabric.on_the_wire(), 0);
            assert_eq!(fabric.stats().messages, 23);
        });
    }

    /// Two partitions that cut the same link heal independently: the link
    /// carries packets again only once both have healed, and only in the
    /// direction healed. A link left cut would stretch a scenario's
    /// partition to the end of its fault phase, a fault schedule other than
    /// the file's, which no checker can tell from a correct run.
    #[test]
    fn a_link_cut_by_two_partitions_is_restored_once_both_heal() {
        let runtime = madsim::runtime::Runtime::new();
        let fabric = fabric(&runtime);
        let (a, b) = (NodeName::new("a"), NodeName::new("b"));
        runtime.block_on(async move {
            let ip_b = addr(2).ip();
            let mut at_b = bind(&fabric, ip_b);
            let mut at_a = bind(&fabric, addr(1).ip());
            // Sends one packet each way and says which arrived.
            let mut exchange = async |call: u64| {
                fabric.transmit(&a, ip_b, "Request", packet(call));
                let from_b = Packet {
                    from: addr(2),
                    ..packet(call)
                };
                fabric.transmit(&b, addr(1).ip(), "Request", from_b);
                madsim::time::sleep(DEFAULT_LATENCY.end).await;
                let got = |socket: &mut mpsc::UnboundedReceiver<Packet>| {
                    socket.try_recv().ok().map(|packet| call_of(&packet))
                };
                (got(&mut at_b), got(&mut at_a))
            };
            fabric.cut(&a, &b);
            fabric.cut(&a, &b);
            fabric.cut(&b, &a);
            assert_eq!(exchange(1).await, (None, None), "both ways cut");
            fabric.uncut(&b, &a);
            assert_eq!(exchange(2).await, (None, Some(2)), "b to a healed");
            fabric.uncut(&a, &b);
            assert_eq!(exchange(3).await, (None, Some(3)), "a to b still cut once");
            assert!(fabric.is_partitioned());
            fabric.uncut(&a, &b);
            assert_eq!(exchange(4).await, (Some(4), Some(4)), "both healed");
            assert!(!fabric.is_partitioned());
            assert_eq!(fabric.stats().cut, 4);
        });
    }

    /// What the quiet tail waits for before it calls a cluster stalled: a
    /// packet's latency and the longer of a reorder's delay and a
    /// duplicate's lag, each counted only where its rate is on (a delay
    /// may be a minute, past the tail's own grace).
    #[test]
    fn a_packet_stays_on_the_wire_for_the_faults_that_are_on() {
        let rates = |reorder, duplicate, max_delay| FaultRates {
            drop: 0.5,
            duplicate,
            reorder,
            max_delay,
        };
        let (long, short) = (Duration::from_secs(40), Duration::from_secs(1));
        let latency = DEFAULT_LATENCY.end;
        assert_eq!(rates(0.0, 0.0, long).longest_on_the_wire(), latency);
        assert_eq!(rates(0.1, 0.0, long).longest_on_the_wire(), latency + long);
        assert_eq!(
            rates(0.0, 0.1, long).longest_on_the_wire(),
            latency + DUPLICATE_DELAY_MAX
        );
        assert_eq!(rates(0.1, 0.1, long).longest_on_the_wire(), latency + long);
        assert_eq!(
            rates(0.1, 0.1, short).longest_on_the_wire(),
            latency + DUPLICATE_DELAY_MAX
        );
    }

    /// Each fault rate takes its share of the packets at the choke point
    /// every message passes: a lost packet never arrives, a duplicated one
    /// arrives twice, and the counts say exactly which.
    #[test]
    fn each_fault_rate_takes_its_share_of_the_packets() {
        const SENT: u64 = 2000;
        let runtime = madsim::runtime::Runtime::new();
        let fabric = fabric(&runtime);
        let a = NodeName::new("a");
        runtime.block_on(async move {
            let ip_b = addr(2).ip();
            let mut b = bind(&fabric, ip_b);
            let rates = FaultRates {
                drop: 0.25,
                duplicate: 0.25,
                reorder: 0.25,
                max_delay: Duration::from_secs(1),
            };
            fabric.set_rates(rates);
            for call in 0..SENT {
                fabric.transmit(&a, ip_b, "Request", packet(call));
            }
            madsim::time::sleep(DEFAULT_LATENCY.end + rates.longest_on_the_wire()).await;
            assert_eq!(fabric.on_the_wire(), 0);
            let mut arrivals: BTreeMap<u64, u64> = BTreeMap::new();
            while let Ok(packet) = b.try_recv() {
                *arrivals.entry(call_of(&packet)).or_default() += 1;
            }
            let stats = fabric.stats();
            assert_eq!(stats.messages, SENT);
            // A lost packet is neither delayed nor duplicated: those take
            // their share of the three quarters left.
            let share = |count: u64| count as f64 / SENT as f64;
            assert!((0.2..0.3).contains(&share(stats.dropped)), "{stats:?}");
            assert!((0.14..0.24).contains(&share(stats.delayed)), "{stats:?}");
            assert!((0.14..0.24).contains(&share(stats.duplicated)), "{stats:?}");
            let arrived = |times: u64| arrivals.values().filter(|n| **n == times).count() as u64;
            assert_eq!(SENT - arrivals.len() as u64, stats.dropped);
            assert_eq!(arrived(2), stats.duplicated);
            assert_eq!(arrived(1) + arrived(2), arrivals.len() as u64);
        });
    }
}
