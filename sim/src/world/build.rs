//! Building a run's world: every node of the scenario on the current
//! runtime, each with its address, disk, clock and planted bugs, started in
//! one fixed order (madsim numbers nodes and tasks as they are made, so the
//! order is part of what a seed means).

use ledger::{
    bugs::{Bug, Bugs},
    chain::{
        ChainConfig, ChainFaults, ChainSetup, ChainState, MINER, Mempool, RpcNodeConfig,
        SigningKey, run_chain, run_chain_rpc,
    },
    clock::{Clock, ClockSkew},
    db::{DbConfig, run_db},
    ledger::{HOT_WALLET, LedgerConfig, run_ledger},
    log::{LogConfig, run_replica},
    net::{Directory, Fabric, FaultRates},
    node::NodeEnv,
    observe::NodeName,
    storage::{Disk, DiskConfig},
};
use madsim::{
    runtime::{Handle, NodeHandle},
    task::NodeId,
};
use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use super::{
    ClusterView, NEMESIS, Status, World, WorldNode, db_looks::DbLooks,
    fault_points::FaultPointPolicy, lock,
};
use crate::{
    check::Online,
    kinds::{self, Kind, PAYOUT_FEE, ledger_account},
    scenario::{Scenario, Topology},
    streams::{self, Stream},
    trace::Trace,
    workload::Workload,
};

/// The port every node listens on.
const PORT: u16 = 1;
/// How long an RPC node waits to ask the chain for new blocks again after
/// it did not answer, and how often it resends what its mempool holds.
const RPC_POLL: Duration = Duration::from_millis(100);
const RPC_REBROADCAST: Duration = Duration::from_secs(1);
/// Transactions per block at most.
const BLOCK_SIZE: usize = 64;
/// How often a ledger replica's applier asks the log for news while a
/// request waits on it, and when idle; how often its worker goes over the
/// outbox.
const APPLY_POLL: Duration = Duration::from_millis(20);
const IDLE_POLL: Duration = Duration::from_millis(100);
const OUTBOX_POLL: Duration = Duration::from_millis(200);
/// How long a ledger replica leaves work another replica is first in line
/// for (projecting the entries it appended, claiming the payouts it is
/// first in line for) before it does it itself.
const STANDBY_GRACE: Duration = Duration::from_millis(400);
/// The address block of each role: `10.0.<role>.<index + 1>`.
const LOG_ROLE: u8 = 1;
const CLIENT_ROLE: u8 = 2;
const DB_ROLE: u8 = 3;
/// The chain is `10.0.4.1`, its RPC nodes follow it.
const CHAIN_ROLE: u8 = 4;
const LEDGER_ROLE: u8 = 5;

impl World {
    /// Builds every node of `scenario` on the current runtime and starts them,
    /// each carrying the scenario's planted bugs. `view` and `online`
    /// watch `trace`; the world reads the one and probes with the other.
    pub(crate) fn build(
        scenario: &Scenario,
        trace: Arc<Trace>,
        view: Arc<Mutex<ClusterView>>,
        online: Arc<Mutex<Online>>,
        workload: Arc<Workload>,
    ) -> Arc<World> {
        let mut builder = Builder::new(scenario, trace);
        builder.start_log();
        builder.start_db();
        let chain = builder.start_chain(&online);
        builder.start_ledger();
        builder.start_clients(&workload);
        let Builder {
            handle,
            topology,
            fabric,
            trace,
            fault_points,
            nodes,
            others,
            harness,
            ..
        } = builder;
        lock(&online).watch_log_disks(
            nodes
                .iter()
                .filter(|(name, _)| topology.log.contains(*name))
                .map(|(name, node)| (name.clone(), node.disk.clone())),
        );
        let db_looks = DbLooks::new(!topology.ledger.is_empty());
        let world = Arc::new(World {
            handle,
            topology,
            fabric,
            trace,
            view,
            online,
            nodes: Mutex::new(nodes),
            others,
            harness,
            rng: Mutex::new(streams::rng(scenario.seed, Stream::Nemesis)),
            torn_writes: scenario.faults.torn_writes,
            fault_points,
            chain: chain.state,
            chain_faults: chain.faults,
            mempools: chain.mempools,
            key_secret: streams::key_secret(scenario.seed),
            partitions: Mutex::new(0),
            lost_disks: Mutex::new(Vec::new()),
            db_looks,
        });
        world.fault_points.attach(&world);
        world
    }
}

/// A world while its nodes are made.
struct Builder<'a> {
    scenario: &'a Scenario,
    kind: &'static dyn Kind,
    handle: Handle,
    topology: Topology,
    directory: Arc<Directory>,
    fabric: Arc<Fabric>,
    trace: Arc<Trace>,
    fault_points: Arc<FaultPointPolicy>,
    disk_config: DiskConfig,
    bugs: Bugs,
    /// The nodes the nemesis controls, each with a disk and a clock that
    /// outlive its incarnations.
    nodes: BTreeMap<String, WorldNode>,
    /// Nodes never crashed: the harness's, the chain, the clients.
    others: Vec<NodeId>,
    harness: NodeHandle,
}

/// The chain's parts, when the scenario runs one.
#[derive(Default)]
struct ChainParts {
    state: Option<Arc<Mutex<ChainState>>>,
    faults: Arc<ChainFaults>,
    mempools: BTreeMap<String, Arc<Mempool>>,
}

impl<'a> Builder<'a> {
    /// The directory, the network's choke point and the harness's nodes.
    fn new(scenario: &'a Scenario, trace: Arc<Trace>) -> Builder<'a> {
        let handle = Handle::current();
        let topology = kinds::topology(scenario);
        let directory = Arc::new(directory(&topology));
        let fabric = Fabric::new(
            directory.clone(),
            trace.clone(),
            streams::rng(scenario.seed, Stream::Net),
        );
        fabric.set_rates(fault_rates(scenario));
        let harness = handle.create_node().name(NEMESIS).build();
        let wire = handle.create_node().name("wire").build();
        wire.spawn(fabric.clone().serve_wire());
        let others = vec![harness.id(), wire.id()];
        Builder {
            scenario,
            kind: kinds::of(scenario.workload.kind),
            handle,
            topology,
            directory,
            fabric,
            trace,
            fault_points: FaultPointPolicy::new(
                scenario.faults.crash_points,
                scenario.faults.db_unknown_commit,
            ),
            disk_config: DiskConfig {
                sync_latency: scenario.system.sync_latency.range(),
            },
            bugs: Bugs::of(
                scenario
                    .system
                    .bugs
                    .iter()
                    .filter_map(|name| Bug::from_name(name)),
            ),
            nodes: BTreeMap::new(),
            others,
            harness,
        }
    }

    /// A node's environment: its name, clock, disk and planted bugs, and the
    /// count of its incarnations the harness keeps beside its disk.
    fn env(&self, name: &str, skew: Arc<ClockSkew>, disk: Arc<Disk>) -> NodeEnv {
        NodeEnv {
            name: NodeName::new(name),
            directory: self.directory.clone(),
            fabric: self.fabric.clone(),
            clock: Clock::new(skew),
            disk,
            observer: self.trace.clone(),
            faults: self.fault_points.clone(),
            bugs: self.bugs,
            incarnations: Arc::default(),
        }
    }

    /// Starts a node the nemesis controls, at `address`, running `init`
    /// in each incarnation.
    fn controlled<F, Fut>(&mut self, name: &str, address: SocketAddr, init: F)
    where
        F: Fn(NodeEnv) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let skew = ClockSkew::new();
        let disk = Disk::new(self.disk_config.clone());
        let node = self.node(
            name,
            address,
            self.env(name, skew.clone(), disk.clone()),
            init,
        );
        self.nodes.insert(
            name.to_owned(),
            WorldNode {
                id: node.id(),
                disk,
                skew,
                status: Status::Up,
            },
        );
    }

    /// Starts a node no fault reaches but the network's.
    fn other<F, Fut>(&mut self, name: &str, address: SocketAddr, init: F)
    where
        F: Fn(NodeEnv) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let env = self.env(name, ClockSkew::new(), Disk::new(self.disk_config.clone()));
        let node = self.node(name, address, env, init);
        self.others.push(node.id());
    }

    /// Makes a node at `address` whose every incarnation runs `init`.
    fn node<F, Fut>(&self, name: &str, address: SocketAddr, env: NodeEnv, init: F) -> NodeHandle
    where
        F: Fn(NodeEnv) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        self.handle
            .create_node()
            .name(name)
            .ip(address.ip())
            // Boxed here, where the future is made: madsim moves what the
            // closure returns into its task through two wrappers, and a
            // node's whole future copied at every start and restart cost
            // up to 1.2% of a `transfers` seed's instructions.
            .init(move || Box::pin(init(env.clone())))
            .build()
    }

    fn start_log(&mut self) {
        let system = &self.scenario.system;
        let config = LogConfig {
            replicas: self
                .topology
                .log
                .iter()
                .map(|name| NodeName::new(name))
                .collect(),
            election_timeout: system.election_timeout.range(),
            heartbeat: system.heartbeat.0,
            rpc_timeout: system.election_timeout.start.0,
            read_lease: system.read_lease,
            // No clock the harness sets runs further off than this.
            max_clock_drift_ppm: crate::scenario::MAX_DRIFT_PPM,
        };
        for (index, name) in self.topology.log.clone().iter().enumerate() {
            let config = config.clone();
            self.controlled(name, addr(LOG_ROLE, index), move |env| {
                run_replica(env, config.clone())
            });
        }
    }

    fn start_db(&mut self) {
        let config = DbConfig {
            genesis: self.kind.db_genesis(self.scenario),
            idle_timeout: self.scenario.system.db_idle_timeout.0,
        };
        for (index, name) in self.topology.db.clone().iter().enumerate() {
            let config = config.clone();
            self.controlled(name, addr(DB_ROLE, index), move |env| {
                run_db(env, config.clone())
            });
        }
    }

    /// The RPC nodes, then the chain itself, which `online` watches.
    fn start_chain(&mut self, online: &Mutex<Online>) -> ChainParts {
        let faults = ChainFaults::new(self.scenario.faults.chain_drop);
        let Some(chain) = self.topology.chain.first().cloned() else {
            return ChainParts {
                faults,
                ..ChainParts::default()
            };
        };
        let state = Arc::new(Mutex::new(chain_setup(self.scenario, self.kind, self.bugs)));
        let (genesis, keys) = {
            let state = state.lock().unwrap_or_else(PoisonError::into_inner);
            (state.genesis().clone(), state.keys().clone())
        };
        let max_lag = self
            .scenario
            .faults
            .chain_lag
            .map_or(Duration::ZERO, |lag| lag.0);
        let rpc_nodes = self.topology.chain_rpc.clone();
        let mut mempools = BTreeMap::new();
        for (index, name) in rpc_nodes.iter().enumerate() {
            let mempool = Arc::new(Mempool::default());
            mempools.insert(name.clone(), mempool.clone());
            let config = RpcNodeConfig {
                chain: NodeName::new(&chain),
                genesis: genesis.clone(),
                keys: keys.clone(),
                // Spread evenly: the last node trails by the most.
                lag: max_lag * (index as u32 + 1) / rpc_nodes.len() as u32,
                wait: self.scenario.system.block_time.0,
                poll: RPC_POLL,
                rebroadcast: RPC_REBROADCAST,
                call_timeout: self.scenario.system.election_timeout.end.0,
                faults: faults.clone(),
                mempool,
            };
            self.controlled(name, addr(CHAIN_ROLE, index + 1), move |env| {
                run_chain_rpc(env, config.clone())
            });
        }
        let config = ChainConfig {
            block_time: self.scenario.system.block_time.0,
            faults: faults.clone(),
        };
        lock(online).watch_chain(
            state.clone(),
            self.kind.confirmations_watched(self.scenario),
        );
        let shared = state.clone();
        self.other(&chain, addr(CHAIN_ROLE, 0), move |env| {
            run_chain(env, config.clone(), shared.clone())
        });
        ChainParts {
            state: Some(state),
            faults,
            mempools,
        }
    }

    fn start_ledger(&mut self) {
        for (index, name) in self.topology.ledger.clone().iter().enumerate() {
            let config = ledger_config(self.scenario, &self.topology, index);
            self.controlled(name, addr(LEDGER_ROLE, index), move |env| {
                run_ledger(env, config.clone())
            });
        }
    }

    fn start_clients(&mut self, workload: &Arc<Workload>) {
        for (index, name) in self.topology.clients.clone().iter().enumerate() {
            let workload = workload.clone();
            self.other(name, addr(CLIENT_ROLE, index), move |env| {
                kinds::run_client(env, workload.clone(), index)
            });
        }
    }
}

/// Every node's address by name, the choke point's too.
fn directory(topology: &Topology) -> Directory {
    let mut directory = Directory::default();
    let roles = [
        (LOG_ROLE, topology.log.iter().collect::<Vec<_>>()),
        (CLIENT_ROLE, topology.clients.iter().collect()),
        (DB_ROLE, topology.db.iter().collect()),
        (
            CHAIN_ROLE,
            topology.chain.iter().chain(&topology.chain_rpc).collect(),
        ),
        (LEDGER_ROLE, topology.ledger.iter().collect()),
    ];
    for (role, names) in roles {
        for (index, name) in names.into_iter().enumerate() {
            directory.insert(NodeName::new(name), addr(role, index));
        }
    }
    directory
}

/// The settings of ledger replica number `index` (from 0).
pub(super) fn ledger_config(
    scenario: &Scenario,
    topology: &Topology,
    index: usize,
) -> LedgerConfig {
    let names = |names: &[String]| names.iter().map(|name| NodeName::new(name)).collect();
    let block_time = scenario.system.block_time.0;
    LedgerConfig {
        replica: index,
        replicas: topology.ledger.len(),
        log_replicas: names(&topology.log),
        db: NodeName::new(&topology.db[0]),
        rpc_nodes: names(&topology.chain_rpc),
        accounts: (0..scenario.workload.accounts)
            .map(ledger_account)
            .collect(),
        initial_balance: scenario.system.initial_balance,
        hot_wallet_key: SigningKey::derive(streams::key_secret(scenario.seed), HOT_WALLET),
        fee: PAYOUT_FEE,
        confirmations: u64::from(scenario.system.confirmations),
        log_timeout: scenario.system.election_timeout.end.0,
        db_timeout: super::LEDGER_DB_TIMEOUT,
        chain_timeout: scenario.system.election_timeout.end.0,
        request_timeout: scenario.workload.client_timeout.0 * 4 / 5,
        apply_poll: APPLY_POLL,
        idle_poll: IDLE_POLL,
        outbox_poll: OUTBOX_POLL,
        standby_grace: STANDBY_GRACE,
        resubmit_after: block_time * 3,
        receipt_poll: block_time / 2,
        block_time,
        lease: scenario.system.lease.0,
    }
}

/// The chain of a scenario, its accounts funded as the workload kind says,
/// keys drawn from the seed.
fn chain_setup(scenario: &Scenario, kind: &dyn Kind, bugs: Bugs) -> ChainState {
    let secret = streams::key_secret(scenario.seed);
    let (users, funds) = kind.chain_genesis(scenario);
    let mut genesis: BTreeMap<String, u64> =
        users.iter().map(|user| (user.clone(), funds)).collect();
    genesis.insert(MINER.to_owned(), 0);
    ChainState::new(ChainSetup {
        genesis,
        keys: users
            .iter()
            .map(|user| (user.clone(), SigningKey::derive(secret, user)))
            .collect(),
        block_size: BLOCK_SIZE,
        double_include: bugs.has(Bug::ChainDoubleInclude),
        skip_signatures: bugs.has(Bug::ChainSkipsSignature),
        reorg_loses_transactions: bugs.has(Bug::ReorgLosesTransactions),
        replacement_fee_inverted: bugs.has(Bug::ReplacementFeeInverted),
    })
}

/// The address of the `index`-th node of a role.
fn addr(role: u8, index: usize) -> SocketAddr {
    let index = u8::try_from(index + 1).expect("fewer than 255 nodes per role");
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, role, index)), PORT)
}

/// The per-message faults a scenario asks for.
pub(super) fn fault_rates(scenario: &Scenario) -> FaultRates {
    let faults = &scenario.faults;
    FaultRates {
        drop: faults.drop,
        duplicate: faults.duplicate,
        reorder: faults.reorder,
        max_delay: faults.max_delay.map_or(Duration::ZERO, |delay| delay.0),
    }
}
