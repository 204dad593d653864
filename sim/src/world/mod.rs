//! The simulated world of one run: every node of a scenario built on the
//! madsim runtime, with the controls the nemesis and the settle phase use
//! (crash, restart, pause, partition, skew) and the ground truth they leave.
//!
//! Nodes are built from factories (`init` closures), so a restart re-creates
//! a node from what survived: memory is gone, its [`Disk`] is not.

mod build;
mod db_looks;
mod fault_points;
mod view;

pub(crate) use view::ClusterView;

use ledger::{
    chain::{ChainFaults, ChainState, Mempool, SigningKey, Transaction},
    clock::ClockSkew,
    net::{Fabric, FaultRates},
    observe::NodeName,
    storage::Disk,
};
use madsim::{
    runtime::{Handle, NodeHandle},
    task::NodeId,
};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use crate::{
    check::{DbMoment, LostDisk, Online, reorgs::Fork},
    coverage::HarnessMark,
    events::HarnessEvent,
    kinds::{self},
    scenario::{LOG_LEADER, Scenario, Topology},
    trace::Trace,
    words::count,
};
use db_looks::DbLooks;
use fault_points::FaultPointPolicy;

/// How long a ledger replica waits on the database; a scenario's disk
/// must sync well within it (see `validate`).
pub(crate) const LEDGER_DB_TIMEOUT: Duration = Duration::from_millis(500);

/// The name harness events of the nemesis are recorded under.
pub const NEMESIS: &str = "nemesis";
/// A node crashed at a crash point restarts after a delay in this range.
const CRASH_POINT_DOWNTIME: std::ops::Range<Duration> =
    Duration::from_millis(10)..Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Up,
    Down,
    Paused,
    /// Down for good: nothing restarts it.
    Retired,
}

struct WorldNode {
    id: NodeId,
    disk: Arc<Disk>,
    skew: Arc<ClockSkew>,
    status: Status,
}

/// One run's nodes and the controls over them.
pub struct World {
    handle: Handle,
    topology: Topology,
    fabric: Arc<Fabric>,
    trace: Arc<Trace>,
    /// What the trace says of the cluster: who leads, who has applied what.
    view: Arc<Mutex<ClusterView>>,
    /// The online checkers, probed after every crash of a log replica and
    /// every reorg.
    online: Arc<Mutex<Online>>,
    /// Nodes the nemesis controls (the log replicas), by name.
    nodes: Mutex<BTreeMap<String, WorldNode>>,
    /// Harness nodes and clients: never crashed, killed at the end.
    others: Vec<NodeId>,
    /// Runs the nemesis and delayed restarts; never crashes.
    harness: NodeHandle,
    /// The nemesis's random stream: crash-point draws, torn writes, downtimes.
    rng: Mutex<ChaCha8Rng>,
    torn_writes: f64,
    fault_points: Arc<FaultPointPolicy>,
    /// The canonical chain, the world's truth, when the scenario runs one.
    chain: Option<Arc<Mutex<ChainState>>>,
    chain_faults: Arc<ChainFaults>,
    /// Each RPC node's mempool, by node name.
    mempools: BTreeMap<String, Arc<Mempool>>,
    /// What every chain account's key is derived from.
    key_secret: u64,
    /// Partitions made so far: each one's number in the trace.
    partitions: Mutex<u64>,
    /// The disks lost so far, in order, with the commits each held.
    lost_disks: Mutex<Vec<LostDisk>>,
    /// The database's synced disk at moments mid-run.
    db_looks: DbLooks,
}

/// The links one partition cut, and its number in the trace.
pub(crate) struct Cut {
    id: u64,
    links: Vec<(NodeName, NodeName)>,
}

/// What is still on its way somewhere: the quiet tail waits for nothing to
/// be, and a verdict is given only then.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct InFlight {
    /// Delayed or duplicated messages still on the wire.
    pub late_messages: u64,
    /// Transactions waiting in a mempool (the chain's, or a running RPC
    /// node's), with where they wait.
    #[serde(skip)]
    pub pending: Vec<(String, Transaction)>,
}

impl InFlight {
    pub(crate) fn is_empty(&self) -> bool {
        self.late_messages == 0 && self.pending.is_empty()
    }
}

impl std::fmt::Display for InFlight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} on the wire, {} pending",
            count(self.late_messages, "late message"),
            count(self.pending.len() as u64, "transaction")
        )?;
        let mut places: Vec<&str> = self.pending.iter().map(|(at, _)| at.as_str()).collect();
        places.dedup();
        if !places.is_empty() {
            write!(f, " (in {})", places.join(", "))?;
        }
        Ok(())
    }
}

impl World {
    /// Reads what the trace says of the cluster.
    pub(crate) fn view<R>(&self, read: impl FnOnce(&ClusterView) -> R) -> R {
        read(&lock(&self.view))
    }

    pub(crate) fn topology(&self) -> &Topology {
        &self.topology
    }

    pub(crate) fn trace(&self) -> &Arc<Trace> {
        &self.trace
    }

    pub fn fabric(&self) -> &Arc<Fabric> {
        &self.fabric
    }

    /// Runs `future` on the harness node, which never crashes.
    pub(crate) fn spawn(&self, future: impl Future<Output = ()> + Send + 'static) {
        self.harness.spawn(future);
    }

    /// Draws from the nemesis's random stream.
    pub(crate) fn with_rng<R>(&self, draw: impl FnOnce(&mut ChaCha8Rng) -> R) -> R {
        draw(&mut self.rng.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Resolves a node name of a scenario: `log-leader` becomes the replica
    /// leading the highest term seen, if it is up.
    pub(crate) fn resolve(&self, name: &str) -> Result<String, String> {
        if name != LOG_LEADER {
            return Ok(name.to_owned());
        }
        let leader = self.view(|view| view.leader().map(|(term, node)| (term, node.to_string())));
        match leader {
            None => Err("no log leader has been elected yet".to_owned()),
            Some((term, node)) => match self.status(&node) {
                Some(Status::Up) | Some(Status::Paused) => Ok(node),
                _ => Err(format!("the last leader, {node} of term {term}, is down")),
            },
        }
    }

    /// Crashes `name`: its tasks die, its unsynced writes are lost.
    pub(crate) fn crash(&self, name: &str) -> bool {
        let mut nodes = self.nodes();
        let Some(node) = nodes.get_mut(name) else {
            return false;
        };
        if matches!(node.status, Status::Down | Status::Retired) {
            return false;
        }
        self.handle.kill(node.id);
        node.status = Status::Down;
        let damage = self.with_rng(|rng| node.disk.crash(rng, self.torn_writes));
        self.look_at_db(name, node, DbMoment::Crash);
        drop(nodes);
        self.trace.harness(
            NEMESIS,
            HarnessEvent::Crash {
                node: name.to_owned(),
            },
        );
        for damage in damage {
            self.trace.harness(
                NEMESIS,
                HarnessEvent::DiskDamage {
                    node: name.to_owned(),
                    file: damage.file,
                    lost_bytes: damage.lost_bytes as u64,
                    torn: damage.torn,
                },
            );
        }
        if self.topology.log.iter().any(|replica| replica == name) {
            self.probe_log_durability();
        }
        true
    }

    /// A crash is when promises break: everything applied or acknowledged
    /// must still be in the synced logs of a majority of replicas.
    fn probe_log_durability(&self) {
        lock(&self.online).probe_synced_logs(crate::events::now());
    }

    /// Crashes `name` at a crash point and restarts it after a short while.
    fn crash_at_point(self: &Arc<Self>, name: &str) {
        if !self.crash(name) {
            return;
        }
        let downtime = self.with_rng(|rng| rng.gen_range(CRASH_POINT_DOWNTIME));
        self.restart_after(name, downtime);
    }

    /// Loses `name`'s disk: the node is killed as a crash kills it, then
    /// every file is erased, synced or not. It stays down until restarted,
    /// and then starts empty. Only the database's disk is ever lost (the
    /// `db-wipe` fault): the ledger can rebuild it from the log.
    pub(crate) fn wipe(&self, name: &str) -> bool {
        let mut nodes = self.nodes();
        let Some(node) = nodes.get_mut(name) else {
            return false;
        };
        if node.status == Status::Down {
            return false;
        }
        self.handle.kill(node.id);
        node.status = Status::Down;
        // The crash's own damage (unsynced writes lost, a record torn) is
        // moot: nothing of the disk is left. What it held synced is kept
        // first: the commits of every disk after it must be numbered past it.
        let held = ledger::db::read_durable(&node.disk);
        let lost = LostDisk {
            node: name.to_owned(),
            at: crate::events::now(),
            commits: held.commit_range(),
        };
        lock(&self.lost_disks).push(lost);
        self.keep_db_look(DbMoment::Wipe, held);
        let lost_bytes = node.disk.wipe() as u64;
        drop(nodes);
        tracing::info!(node = name, lost_bytes, "disk wiped");
        self.trace.harness(
            NEMESIS,
            HarnessEvent::DbWipe {
                node: name.to_owned(),
                lost_bytes,
            },
        );
        true
    }

    /// Takes `name` out for good, as a machine is lost: crashed if it is
    /// not down already, and never restarted, not even by the settle phase.
    /// The rest of the cluster must go on without it, so only a minority of
    /// the log's replicas, and never every ledger replica or RPC node, may
    /// be retired (the scenario's rules hold every event to that).
    pub(crate) fn retire(&self, name: &str) -> bool {
        match self.status(name) {
            None | Some(Status::Retired) => return false,
            Some(Status::Down) => {}
            Some(Status::Up | Status::Paused) => {
                self.crash(name);
            }
        }
        if let Some(node) = self.nodes().get_mut(name) {
            node.status = Status::Retired;
        }
        self.trace.harness(
            NEMESIS,
            HarnessEvent::Retire {
                node: name.to_owned(),
            },
        );
        true
    }

    /// Whether `name` was taken out for good.
    pub(crate) fn retired(&self, name: &str) -> bool {
        self.status(name) == Some(Status::Retired)
    }

    /// Every node taken out for good.
    pub(crate) fn retired_nodes(&self) -> BTreeSet<String> {
        self.nodes()
            .iter()
            .filter(|(_, node)| node.status == Status::Retired)
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Restarts `name` `downtime` from now, if it is down then.
    pub(crate) fn restart_after(self: &Arc<Self>, name: &str, downtime: Duration) {
        let world = self.clone();
        let name = name.to_owned();
        self.spawn(async move {
            madsim::time::sleep(downtime).await;
            world.restart(&name);
        });
    }

    /// Starts a crashed node again.
    pub(crate) fn restart(&self, name: &str) -> bool {
        let mut nodes = self.nodes();
        let Some(node) = nodes.get_mut(name) else {
            return false;
        };
        if node.status != Status::Down {
            return false;
        }
        // The node was killed when it crashed, which dropped its tasks and
        // with them what its socket delivers to; restart only runs its
        // factory again, which binds a new socket.
        self.handle.restart(node.id);
        node.status = Status::Up;
        drop(nodes);
        self.trace.harness(
            NEMESIS,
            HarnessEvent::Restart {
                node: name.to_owned(),
            },
        );
        true
    }

    /// Freezes a node, like a long garbage-collection pause.
    pub(crate) fn pause(&self, name: &str) -> bool {
        self.transition(name, Status::Up, Status::Paused, |handle, id| {
            handle.pause(id)
        })
        .then(|| {
            self.trace.harness(
                NEMESIS,
                HarnessEvent::Pause {
                    node: name.to_owned(),
                },
            )
        })
        .is_some()
    }

    pub(crate) fn resume(&self, name: &str) -> bool {
        self.transition(name, Status::Paused, Status::Up, |handle, id| {
            handle.resume(id)
        })
        .then(|| {
            self.trace.harness(
                NEMESIS,
                HarnessEvent::Resume {
                    node: name.to_owned(),
                },
            )
        })
        .is_some()
    }

    fn transition(
        &self,
        name: &str,
        from: Status,
        to: Status,
        act: impl FnOnce(&Handle, NodeId),
    ) -> bool {
        let mut nodes = self.nodes();
        match nodes.get_mut(name) {
            Some(node) if node.status == from => {
                act(&self.handle, node.id);
                node.status = to;
                true
            }
            _ => false,
        }
    }

    /// Cuts every link between nodes of different groups; a single group is
    /// cut off from everyone else. `one_way` cuts only the first group's
    /// outgoing links. Returns the cut, to heal it with.
    pub(crate) fn partition(&self, groups: &[Vec<String>], one_way: bool) -> Cut {
        let mut groups: Vec<Vec<String>> = groups.to_vec();
        if groups.len() == 1 {
            let rest = self
                .topology
                .all()
                .filter(|node| !groups[0].contains(node))
                .cloned()
                .collect();
            groups.push(rest);
        }
        let mut links = Vec::new();
        for (i, group) in groups.iter().enumerate() {
            for (j, other) in groups.iter().enumerate() {
                if i == j || (one_way && i != 0) {
                    continue;
                }
                for from in group {
                    for to in other {
                        links.push((NodeName::new(from), NodeName::new(to)));
                    }
                }
            }
        }
        for (from, to) in &links {
            self.fabric.cut(from, to);
        }
        let id = {
            let mut partitions = lock(&self.partitions);
            *partitions += 1;
            *partitions
        };
        tracing::info!(id, ?groups, one_way, "partition");
        self.trace.harness(
            NEMESIS,
            HarnessEvent::Partition {
                id,
                groups,
                one_way,
            },
        );
        Cut { id, links }
    }

    /// Restores the links `cut` cut.
    pub(crate) fn heal(&self, cut: &Cut) {
        for (from, to) in &cut.links {
            self.fabric.uncut(from, to);
        }
        self.trace.harness(
            NEMESIS,
            HarnessEvent::Heal {
                partition: Some(cut.id),
            },
        );
    }

    /// The canonical chain, when the scenario runs one.
    /// The key `account` signs its chain transactions with, as the system
    /// holds it: for tests that forge what the system might have sent.
    pub fn signing_key(&self, account: &str) -> SigningKey {
        SigningKey::derive(self.key_secret, account)
    }

    pub fn chain(&self) -> Option<&Arc<Mutex<ChainState>>> {
        self.chain.as_ref()
    }

    /// Replaces the chain's last `depth` blocks; each of their transactions
    /// vanishes with probability `drop` instead of returning to the mempool.
    pub(crate) fn chain_reorg(&self, depth: u64, drop: f64) -> bool {
        let Some(chain) = &self.chain else {
            return false;
        };
        let (fork, reorg, over_head_transactions) = {
            let mut chain = chain.lock().unwrap_or_else(PoisonError::into_inner);
            let head_has_transactions = chain
                .blocks()
                .last()
                .is_some_and(|head| !head.transactions.is_empty());
            let fork = Fork::before(&chain, depth as usize);
            let reorg = self.with_rng(|rng| chain.reorg(depth as usize, drop, rng));
            let over = head_has_transactions && !reorg.replaced.is_empty();
            (fork, reorg, over)
        };
        if over_head_transactions {
            self.trace
                .harness_mark(HarnessMark::ReorgOverTransactionAtDepth1);
        }
        tracing::info!(depth, dropped = reorg.dropped.len(), "chain reorg");
        self.trace.harness(
            NEMESIS,
            HarnessEvent::ChainReorg {
                depth: reorg.replaced.len() as u64,
                dropped: reorg.dropped.len() as u64,
            },
        );
        lock(&self.online).reorged(crate::events::now(), &fork, &reorg, drop);
        true
    }

    /// Makes the chain's mempool forget every pending transaction.
    pub(crate) fn chain_drop(&self) -> bool {
        let Some(chain) = &self.chain else {
            return false;
        };
        let forgotten = {
            let mut chain = chain.lock().unwrap_or_else(PoisonError::into_inner);
            self.with_rng(|rng| chain.drop_pending(1.0, rng))
        };
        self.trace.harness(
            NEMESIS,
            HarnessEvent::ChainDrop {
                forgotten: forgotten.len() as u64,
            },
        );
        true
    }

    /// Restores every link.
    pub(crate) fn heal_all(&self) {
        self.fabric.heal_all();
        self.trace
            .harness(NEMESIS, HarnessEvent::Heal { partition: None });
    }

    /// Changes a node's clock: `offset` sets the offset, `jump` moves it,
    /// `drift_ppm` sets the rate error.
    pub(crate) fn skew_clock(
        &self,
        name: &str,
        offset: Option<i64>,
        jump: Option<i64>,
        drift_ppm: Option<i64>,
    ) -> bool {
        let nodes = self.nodes();
        let Some(node) = nodes.get(name) else {
            return false;
        };
        if let Some(offset) = offset {
            node.skew.set_offset(offset);
        }
        if let Some(jump) = jump {
            node.skew.jump(jump);
        }
        if let Some(drift) = drift_ppm {
            node.skew.set_drift_ppm(drift);
        }
        let (offset_nanos, drift_ppm) = node.skew.offset_and_drift();
        drop(nodes);
        self.trace.harness(
            NEMESIS,
            HarnessEvent::Clock {
                node: name.to_owned(),
                offset_nanos,
                drift_ppm,
            },
        );
        true
    }

    /// Ends the fault phase: no more message faults or crash points, every
    /// partition healed, every node up but those retired, clock offsets
    /// reset (drift stays).
    pub(crate) fn settle(&self) {
        self.fabric.set_rates(FaultRates::default());
        self.fault_points.disable();
        self.chain_faults.set_forget(0.0);
        if self.fabric.is_partitioned() {
            self.heal_all();
        }
        let names: Vec<String> = self.nodes().keys().cloned().collect();
        for name in &names {
            self.restart(name);
            self.resume(name);
            let offset = self
                .nodes()
                .get(name)
                .map(|node| node.skew.offset_and_drift().0);
            if offset.is_some_and(|offset| offset != 0) {
                self.skew_clock(name, Some(0), None, None);
            }
        }
    }

    /// What is still on its way: late messages on the wire, and every
    /// transaction waiting in the chain's mempool or a running RPC node's.
    pub(crate) fn in_flight(&self) -> InFlight {
        let mut pending: Vec<(String, Transaction)> = Vec::new();
        if let (Some(chain), Some(name)) = (&self.chain, self.topology.chain.first()) {
            let chain = chain.lock().unwrap_or_else(PoisonError::into_inner);
            pending.extend(chain.pending().map(|tx| (name.clone(), tx.clone())));
        }
        for (name, mempool) in &self.mempools {
            // A node that is down lost its mempool; its slot is emptied
            // when it starts again, which a retired node never does.
            if !matches!(self.status(name), Some(Status::Down | Status::Retired)) {
                pending.extend(
                    mempool
                        .transactions()
                        .into_iter()
                        .map(|tx| (name.clone(), tx)),
                );
            }
        }
        InFlight {
            late_messages: self.fabric.on_the_wire(),
            pending,
        }
    }

    /// Whether every controlled node is up, but those retired.
    pub(crate) fn all_up(&self) -> bool {
        self.nodes()
            .values()
            .all(|node| matches!(node.status, Status::Up | Status::Retired))
    }

    /// Kills every node, so no task outlives the run.
    pub(crate) fn kill_all(&self) {
        for node in self.nodes().values() {
            self.handle.kill(node.id);
        }
        for id in &self.others {
            self.handle.kill(*id);
        }
    }

    /// How often each crash point was reached, by its name.
    pub(crate) fn crash_points_reached(&self) -> BTreeMap<&'static str, u64> {
        self.fault_points
            .reached()
            .into_iter()
            .map(|(point, count)| (point.name(), count))
            .collect()
    }

    /// The disks lost so far, in order.
    pub(crate) fn lost_disks(&self) -> Vec<LostDisk> {
        lock(&self.lost_disks).clone()
    }

    /// Each controlled node's disk, for reading ground truth after the run.
    pub(crate) fn disks(&self) -> BTreeMap<String, Arc<Disk>> {
        self.nodes()
            .iter()
            .map(|(name, node)| (name.clone(), node.disk.clone()))
            .collect()
    }

    fn status(&self, name: &str) -> Option<Status> {
        self.nodes().get(name).map(|node| node.status)
    }

    fn nodes(&self) -> MutexGuard<'_, BTreeMap<String, WorldNode>> {
        self.nodes.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The shortest quiet tail for `scenario`: long enough for every ledger
/// replica's lease to lapse and its resubmission and receipt timers to fire
/// once after convergence, so that whatever a worker would still do (a
/// resubmission, a takeover, a second signing) is done before the verdict.
pub(crate) fn quiet_tail_minimum(scenario: &Scenario) -> Duration {
    let topology = kinds::topology(scenario);
    if topology.ledger.is_empty() {
        return Duration::ZERO;
    }
    let config = build::ledger_config(scenario, &topology, 0);
    config.lease.max(config.resubmit_after) + config.outbox_poll + config.receipt_poll
}

/// How long the quiet tail may go on past its minimum before what is still
/// unsettled is reported as a stall: 15 s, or in kinds with the chain long
/// enough for a payment sent again as the settle phase ended to be mined,
/// buried `confirmations` deep and seen through the most lagging RPC node.
/// Never shorter than a message sent in the fault phase may stay on the
/// wire: one held back by `max_delay` as the faults stopped is still the
/// network's, not a cluster that never goes quiet.
pub(crate) fn quiet_tail_grace(scenario: &Scenario) -> Duration {
    let grace = Duration::from_secs(15).max(build::fault_rates(scenario).longest_on_the_wire());
    if kinds::topology(scenario).chain.is_empty() {
        return grace;
    }
    let lag = scenario
        .faults
        .chain_lag
        .map_or(Duration::ZERO, |lag| lag.0);
    let buried = scenario.system.block_time.0 * scenario.system.confirmations.saturating_add(3);
    grace.max(buried + lag)
}

/// Locks a piece of shared state, poisoned or not.
fn lock<T: ?Sized>(shared: &Mutex<T>) -> MutexGuard<'_, T> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}
