//! The clients and their history: what was sent and what each client was
//! told. Clients never crash, so the history is the ground truth of what the
//! outside world saw.
//!
//! Kind `log`: each client appends its share of the requests to the Raft log,
//! paced over the fault phase, one at a time, retrying the same `(client,
//! seq)` on timeouts up to `client_retries` times before giving up (outcome
//! unknown). In the settle phase clients send nothing new but keep retrying
//! what is in flight until it is answered.

mod history;

pub use history::{Acknowledged, History, Op, Outcome, RequestCounts};

use ledger::{
    log::{AppendError, ClientAppend, LogClient},
    net::Rpc,
    node::NodeEnv,
    observe::NodeName,
};
use rand::Rng;
use std::{
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use crate::{
    scenario::Scenario,
    topology::Topology,
    trace::{HarnessEvent, Trace, now},
};

/// The longest pause between two attempts of one request.
const MAX_BACKOFF: Duration = Duration::from_millis(500);

/// The shared state of all clients of a run.
pub struct Workload {
    replicas: Vec<NodeName>,
    requests_per_client: Vec<u32>,
    duration: Duration,
    client_timeout: Duration,
    client_retries: u32,
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

    fn lock(&self) -> MutexGuard<'_, History> {
        self.history.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, env: &NodeEnv, event: HarnessEvent) {
        self.trace.harness(env.name.as_str(), event);
    }
}

/// The init future of client node number `index` (from 0).
pub async fn run_client(env: NodeEnv, workload: Arc<Workload>, index: usize) {
    let incarnation = env.boot().await;
    // Clients serve nothing; requests addressed to them are dropped.
    let (rpc, _requests) = Rpc::bind(&env, incarnation).await;
    let mut log = LogClient::new(rpc, workload.replicas.clone());
    let client = index as u64 + 1;
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
        append(&env, &workload, &mut log, client, seq).await;
    }
    // Stay up, so that late replies still find a bound endpoint.
    std::future::pending::<()>().await;
}

async fn append(env: &NodeEnv, workload: &Workload, log: &mut LogClient, client: u64, seq: u64) {
    let op = workload.lock().start(client, seq, now());
    workload.record(env, HarnessEvent::Request { client, seq });
    let command = ClientAppend {
        client,
        seq,
        data: format!("client {client} seq {seq}").into_bytes(),
    };
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        workload.lock().attempted(op);
        match log.append(&command, workload.client_timeout).await {
            Ok(index) => {
                workload
                    .lock()
                    .finish(op, Outcome::Acknowledged { index, at: now() });
                workload.record(env, HarnessEvent::Acknowledged { client, seq, index });
                return;
            }
            Err(AppendError::Rejected(reason)) => {
                workload.record(
                    env,
                    HarnessEvent::Rejected {
                        client,
                        seq,
                        reason: reason.clone(),
                    },
                );
                workload.lock().finish(op, Outcome::Rejected { reason });
                return;
            }
            Err(error) => {
                // A stale answer for the request in flight means the log
                // already moved past it: as unknown as a timeout.
                let out_of_retries = attempts > workload.client_retries && !workload.settling();
                if out_of_retries || error == AppendError::Stale {
                    workload.lock().finish(op, Outcome::GaveUp);
                    workload.record(
                        env,
                        HarnessEvent::GaveUp {
                            client,
                            seq,
                            attempts,
                        },
                    );
                    return;
                }
                let backoff = Duration::from_millis(20 << attempts.min(5)).min(MAX_BACKOFF);
                let jitter = madsim::rand::thread_rng().gen_range(Duration::ZERO..=backoff / 2);
                env.sleep(backoff + jitter).await;
            }
        }
    }
}
