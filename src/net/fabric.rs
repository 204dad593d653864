//! The network choke point: every packet of a run passes through one
//! [`Fabric`], which decides whether it is sent, dropped, held back, copied or
//! cut off by a partition.
//!
//! madsim's own loss and latency settings are global, so they stay off and the
//! per-message faults live here, drawn from the fabric's own random stream.
//! Partitions live here too rather than in madsim's clogging, because a
//! delayed or duplicated packet must be checked against the partitions in
//! force when it finally arrives, not when it left. Delayed and duplicated
//! packets wait on a harness-owned *wire* node that never crashes, so they
//! can still arrive after their sender or receiver restarted.

use madsim::{net::Endpoint, runtime::NodeHandle};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::{
    collections::BTreeMap,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use super::{Directory, PACKET_TAG, Packet, PacketKind};
use crate::observe::{Event, Fate, NodeName, Observer};

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

/// The choke point all packets of one run go through.
pub struct Fabric {
    directory: Arc<Directory>,
    observer: Arc<dyn Observer>,
    state: Mutex<FabricState>,
}

struct FabricState {
    rates: FaultRates,
    /// The choke point's own random stream, separate from the nemesis's and
    /// the generator's.
    rng: ChaCha8Rng,
    /// Directed links that are cut, (from, to), with how many partitions in
    /// force cut each: overlapping partitions heal independently.
    cut: BTreeMap<(IpAddr, IpAddr), u32>,
    wire: Option<Wire>,
    stats: NetStats,
    /// Packets held on the wire (delayed or duplicated) and not yet
    /// delivered or cut.
    on_the_wire: u64,
    /// Ids of the requests [`Fabric::hold_request`] made up, counting down
    /// from the top so they meet no real call.
    held_calls: u64,
}

#[derive(Clone)]
struct Wire {
    node: NodeHandle,
    endpoint: Endpoint,
}

/// What happens to one packet.
struct Route {
    fate: Fate,
    delay: Duration,
    duplicate_after: Option<Duration>,
}

impl Fabric {
    /// A choke point drawing its faults from `rng`, the run's network
    /// stream.
    pub fn new(
        directory: Arc<Directory>,
        observer: Arc<dyn Observer>,
        rng: ChaCha8Rng,
    ) -> Arc<Fabric> {
        Arc::new(Fabric {
            directory,
            observer,
            state: Mutex::new(FabricState {
                rates: FaultRates::default(),
                rng,
                cut: BTreeMap::new(),
                wire: None,
                stats: NetStats::default(),
                on_the_wire: 0,
                held_calls: u64::MAX,
            }),
        })
    }

    pub fn set_rates(&self, rates: FaultRates) {
        self.lock().rates = rates;
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

    /// Puts a request from `from` to `to` on the wire, to arrive after
    /// `delay` like a late duplicate: for tests that need a message to land
    /// at a chosen moment. Any reply goes to `from` and matches no call.
    pub fn hold_request<T: Serialize>(
        self: &Arc<Self>,
        from: &NodeName,
        to: &NodeName,
        request: &T,
        delay: Duration,
    ) {
        let (Some(from), Some(to)) = (self.directory.addr(from), self.directory.addr(to)) else {
            return;
        };
        let call = {
            let mut state = self.lock();
            state.held_calls -= 1;
            state.held_calls
        };
        let packet = Packet {
            from,
            kind: PacketKind::Request { call },
            body: super::encode(request),
        };
        self.deliver_late(from.ip(), to, delay, packet);
    }

    /// The init future of the harness's wire node: binds its endpoint and
    /// offers it for late deliveries. `node` is the wire node's own handle.
    pub async fn serve_wire(self: Arc<Self>, node: NodeHandle, addr: SocketAddr) {
        let endpoint = Endpoint::bind(addr)
            .await
            .expect("the wire node's address is free");
        self.lock().wire = Some(Wire { node, endpoint });
        std::future::pending::<()>().await;
    }

    /// Sends `packet` from `from` (bound to `endpoint`) to `to`, applying the
    /// faults in force.
    pub(super) async fn transmit(
        self: &Arc<Self>,
        endpoint: &Endpoint,
        from: &NodeName,
        from_addr: SocketAddr,
        to: SocketAddr,
        packet: Packet,
    ) {
        let route = self.route(from_addr.ip(), to.ip());
        if let Some(to_name) = self.directory.name_of(to.ip()) {
            self.observer.record(
                from,
                Event::Message {
                    to: to_name.clone(),
                    bytes: packet.body.len() as u32,
                    fate: route.fate,
                    delay_us: route.delay.as_micros() as u64,
                    duplicate_after_us: route.duplicate_after.map(|after| after.as_micros() as u64),
                },
            );
        }
        if let Some(after) = route.duplicate_after {
            self.deliver_late(from_addr.ip(), to, after, packet.clone());
        }
        match route.fate {
            Fate::Sent => {
                // A send error means nobody listens there (the node is down):
                // the datagram is lost, as on a real network.
                let _ = endpoint.send_to_raw(to, PACKET_TAG, Box::new(packet)).await;
            }
            Fate::Delayed => self.deliver_late(from_addr.ip(), to, route.delay, packet),
            Fate::Dropped | Fate::Cut => {}
        }
    }

    fn route(&self, from: IpAddr, to: IpAddr) -> Route {
        let mut guard = self.lock();
        let state = &mut *guard;
        state.stats.messages += 1;
        let mut route = Route {
            fate: Fate::Sent,
            delay: Duration::ZERO,
            duplicate_after: None,
        };
        let rates = state.rates;
        if state.cut.contains_key(&(from, to)) {
            state.stats.cut += 1;
            route.fate = Fate::Cut;
            return route;
        }
        if rates.drop > 0.0 && state.rng.gen_bool(rates.drop) {
            state.stats.dropped += 1;
            route.fate = Fate::Dropped;
            return route;
        }
        if rates.reorder > 0.0 && !rates.max_delay.is_zero() && state.rng.gen_bool(rates.reorder) {
            state.stats.delayed += 1;
            route.fate = Fate::Delayed;
            route.delay = state.rng.gen_range(Duration::ZERO..=rates.max_delay);
        }
        if rates.duplicate > 0.0 && state.rng.gen_bool(rates.duplicate) {
            state.stats.duplicated += 1;
            route.duplicate_after = Some(state.rng.gen_range(Duration::ZERO..=DUPLICATE_DELAY_MAX));
        }
        route
    }

    /// Hands a packet to the wire node, which delivers it after `delay` unless
    /// a partition then cuts the link.
    fn deliver_late(
        self: &Arc<Self>,
        from: IpAddr,
        to: SocketAddr,
        delay: Duration,
        packet: Packet,
    ) {
        let wire = {
            let mut state = self.lock();
            let Some(wire) = state.wire.clone() else {
                // No wire node in this world: a late packet is a lost one.
                return;
            };
            state.on_the_wire += 1;
            wire
        };
        let fabric = self.clone();
        wire.node.spawn(async move {
            madsim::time::sleep(delay).await;
            let cut = {
                let mut state = fabric.lock();
                state.on_the_wire -= 1;
                let cut = state.cut.contains_key(&(from, to.ip()));
                if cut {
                    state.stats.cut += 1;
                }
                cut
            };
            if !cut {
                let _ = wire
                    .endpoint
                    .send_to_raw(to, PACKET_TAG, Box::new(packet))
                    .await;
            }
        });
    }

    fn lock(&self) -> MutexGuard<'_, FabricState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
