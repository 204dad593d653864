//! The clients and their history: what was sent and what each client was
//! told. Clients never crash, so the history is the ground truth of what the
//! outside world saw.
//!
//! Each client issues its share of the requests paced over the fault phase,
//! one at a time (ledger clients: on schedule, many in flight), retrying on timeouts up to `client_retries` times before
//! giving up (outcome unknown). In the settle phase clients send nothing new
//! but keep retrying what is in flight until it is answered.
//!
//! - kind `log` ([`log`]): appends to the Raft log, retrying the same
//!   `(client, seq)`.
//! - kind `bank` ([`bank`]): transfers between accounts in database
//!   transactions, resolving unknown commits by reading back a per-transfer
//!   row.
//! - kind `chain` ([`chain`]): signed payments straight to the chain.
//! - kind `transfers` ([`transfers`]): payout requests to the ledger, some
//!   of them bad input, and status polls.

pub mod bank;
pub mod chain;
mod history;
mod log;
pub mod transfers;

pub use history::{Acknowledged, BadInput, History, Op, Outcome, Receipt, Request, RequestCounts};

use ledger::{chain::TxHash, net::Rpc, node::NodeEnv, observe::NodeName};
use rand::Rng;
use std::{
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use crate::{
    scenario::{Scenario, WorkloadKind},
    topology::Topology,
    trace::{HarnessEvent, Trace},
};

/// The longest pause between two attempts of one request.
const MAX_BACKOFF: Duration = Duration::from_millis(500);

/// What chain clients need to know of the chain.
struct ChainSettings {
    rpc_nodes: Vec<NodeName>,
    key_secret: u64,
    confirmations: u64,
    block_time: Duration,
    /// The most an RPC node's view trails the chain.
    lag: Duration,
}

/// What ledger clients need to know.
struct LedgerSettings {
    replicas: Vec<NodeName>,
    invalid_fraction: f64,
    initial_balance: u64,
}

/// The shared state of all clients of a run.
pub struct Workload {
    kind: WorkloadKind,
    replicas: Vec<NodeName>,
    requests_per_client: Vec<u32>,
    duration: Duration,
    client_timeout: Duration,
    client_retries: u32,
    accounts: u32,
    max_amount: u64,
    chain: ChainSettings,
    ledger: LedgerSettings,
    trace: Arc<Trace>,
    settling: AtomicBool,
    history: Mutex<History>,
}

impl Workload {
    pub fn new(scenario: &Scenario, trace: Arc<Trace>) -> Arc<Workload> {
        let topology = Topology::of(scenario);
        let clients = topology.clients.len() as u32;
        let requests = scenario.workload.requests;
        Arc::new(Workload {
            kind: scenario.workload.kind,
            replicas: topology
                .log
                .iter()
                .map(|name| NodeName::new(name))
                .collect(),
            requests_per_client: (0..clients)
                .map(|client| requests / clients + u32::from(client < requests % clients))
                .collect(),
            duration: scenario.duration(),
            client_timeout: scenario.workload.client_timeout.0,
            client_retries: scenario.workload.client_retries,
            accounts: scenario.workload.accounts,
            max_amount: scenario.workload.max_amount,
            chain: ChainSettings {
                rpc_nodes: topology
                    .chain_rpc
                    .iter()
                    .map(|name| NodeName::new(name))
                    .collect(),
                key_secret: chain::key_secret(scenario.seed),
                confirmations: u64::from(scenario.system.confirmations),
                block_time: scenario.system.block_time.0,
                lag: scenario
                    .faults
                    .chain_lag
                    .map_or(Duration::ZERO, |lag| lag.0),
            },
            ledger: LedgerSettings {
                replicas: topology
                    .ledger
                    .iter()
                    .map(|name| NodeName::new(name))
                    .collect(),
                invalid_fraction: scenario.workload.invalid_fraction,
                initial_balance: scenario.system.initial_balance,
            },
            trace,
            settling: AtomicBool::new(false),
            history: Mutex::new(History::default()),
        })
    }

    /// Enters the settle phase: no new requests from now on.
    pub fn settle(&self) {
        self.settling.store(true, Ordering::Relaxed);
    }

    /// Reads the history so far.
    pub fn history<R>(&self, read: impl FnOnce(&History) -> R) -> R {
        read(&self.lock())
    }

    fn settling(&self) -> bool {
        self.settling.load(Ordering::Relaxed)
    }

    /// Whether a request that has failed `attempts` times is given up. In the
    /// settle phase nothing is: faults have stopped, so it must get through.
    fn give_up(&self, attempts: u32) -> bool {
        attempts > self.client_retries && !self.settling()
    }

    /// Waits before the next attempt: exponential, capped, jittered.
    async fn backoff(&self, env: &NodeEnv, attempts: u32) {
        let backoff = Duration::from_millis(20 << attempts.min(5)).min(MAX_BACKOFF);
        let jitter = madsim::rand::thread_rng().gen_range(Duration::ZERO..=backoff / 2);
        env.sleep(backoff + jitter).await;
    }

    /// Records a new request in the history and the trace.
    fn start(&self, env: &NodeEnv, client: u64, seq: u64, request: Request) -> usize {
        let event = match request {
            Request::Append => HarnessEvent::Request { client, seq },
            Request::Transfer { from, to, amount } => HarnessEvent::Transfer {
                client,
                seq,
                from,
                to,
                amount,
            },
            Request::Payment { to, amount } => HarnessEvent::Payment {
                client,
                seq,
                to,
                amount,
            },
            Request::Payout { ref request, bad } => HarnessEvent::Payout {
                client,
                seq,
                request_id: request.request_id.clone(),
                amount: request.amount,
                bad,
            },
        };
        let op = self.lock().start(client, seq, request, crate::trace::now());
        self.trace.harness(env.name.as_str(), event);
        op
    }

    /// Records what the client was finally told.
    fn finish(&self, env: &NodeEnv, op: usize, outcome: Outcome) {
        let (client, seq, attempts) = {
            let history = self.lock();
            let op = &history.ops()[op];
            (op.client, op.seq, op.attempts)
        };
        let event = match &outcome {
            Outcome::Acknowledged {
                receipt: Receipt::LogIndex(index),
                ..
            } => HarnessEvent::Acknowledged {
                client,
                seq,
                index: *index,
            },
            Outcome::Acknowledged {
                receipt: Receipt::Commit(commit),
                ..
            } => HarnessEvent::Committed {
                client,
                seq,
                commit: *commit,
            },
            Outcome::Acknowledged {
                receipt: Receipt::Tx { hash, height },
                ..
            } => HarnessEvent::Confirmed {
                client,
                seq,
                tx: hash.0,
                height: *height,
            },
            Outcome::Acknowledged {
                receipt: Receipt::Transfer(transfer),
                ..
            } => HarnessEvent::Accepted {
                client,
                seq,
                transfer: transfer.0,
            },
            Outcome::Rejected { reason, .. } => HarnessEvent::Rejected {
                client,
                seq,
                reason: reason.clone(),
            },
            Outcome::GaveUp | Outcome::Pending => HarnessEvent::GaveUp {
                client,
                seq,
                attempts,
            },
        };
        self.lock().finish(op, outcome);
        self.trace.harness(env.name.as_str(), event);
    }

    /// Records that a status request reported `op`'s payout confirmed.
    fn told_confirmed(&self, env: &NodeEnv, op: usize, tx: TxHash, height: u64) {
        let (client, seq) = {
            let mut history = self.lock();
            history.told_confirmed(op, tx, height);
            let op = &history.ops()[op];
            (op.client, op.seq)
        };
        let event = HarnessEvent::Confirmed {
            client,
            seq,
            tx: tx.0,
            height,
        };
        self.trace.harness(env.name.as_str(), event);
    }

    fn attempted(&self, op: usize) {
        self.lock().attempted(op);
    }

    fn lock(&self) -> MutexGuard<'_, History> {
        self.history.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The init future of client node number `index` (from 0).
pub async fn run_client(env: NodeEnv, workload: Arc<Workload>, index: usize) {
    let incarnation = env.boot().await;
    // Clients serve nothing; requests addressed to them are dropped.
    let (rpc, _requests) = Rpc::bind(&env, incarnation).await;
    match workload.kind {
        WorkloadKind::Log => log::run(&env, &workload, rpc, index).await,
        WorkloadKind::Bank => bank::run(&env, &workload, rpc, index).await,
        WorkloadKind::Chain => chain::run(&env, &workload, rpc, index).await,
        WorkloadKind::Transfers => transfers::run(&env, &workload, rpc, index).await,
    }
    // Stay up, so that late replies still find a bound endpoint.
    std::future::pending::<()>().await;
}

/// Issues client `index`'s share of the requests, paced evenly over the
/// fault phase; a request that `issue` awaits to the end delays the next
/// (ledger clients spawn theirs and return at once).
async fn paced(workload: &Workload, index: usize, mut issue: impl AsyncFnMut(u64)) {
    let count = workload.requests_per_client[index];
    let interval = workload.duration / count.max(1);
    let start = madsim::time::TimeHandle::current().now_instant();
    // Spread clients so they do not all fire at once.
    let phase = madsim::rand::thread_rng().gen_range(Duration::ZERO..=interval / 2);
    for seq in 1..=u64::from(count) {
        madsim::time::sleep_until(start + phase + interval * (seq as u32 - 1)).await;
        if workload.settling() {
            break;
        }
        issue(seq).await;
    }
}
