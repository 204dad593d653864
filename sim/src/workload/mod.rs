//! The clients and their history: what was sent and what each client was
//! told. Clients never crash, so the history is the ground truth of what the
//! outside world saw.
//!
//! Each client issues its share of the requests on a fixed schedule over
//! the fault phase, each in its own task, so several are in flight at once
//! however long earlier ones take; each is retried on timeouts up to
//! `client_retries` times before it is given up (outcome unknown). In the
//! settle phase clients send nothing new but keep retrying what is in
//! flight until it is answered. A share of `late_resends` of the answered
//! requests is sent again a while after its answer, as a client that lost
//! the answer would, and every such answer is recorded: it must be the
//! first one. Values aim at boundaries on purpose now and then (the
//! largest amount, an account's whole balance, a command of the largest
//! size), not only at random.
//!
//! Each kind's client is its module of `kinds/`; this module holds what they
//! share: the schedule, retries and backoff, late resends, and the record of
//! every request and answer in the [`History`].

mod final_probe;

pub(crate) use final_probe::{FinalProbe, Prober};

use ledger::{db::Key, node::NodeEnv, observe::NodeName};
use rand::Rng;
use std::{
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use crate::{
    consistency::{isolation::Status, linearizable::KvOutput},
    events::HarnessEvent,
    history::{
        BalanceSeen, History, IdleProbe, KvRecord, Later, Outcome, Receipt, Refusal, Request,
        StatusSeen, StatusTold, TxnBegun, TxnForgotten, TxnRecord,
    },
    scenario::{Scenario, Topology, WorkloadKind},
    streams,
    trace::Trace,
};

/// The longest pause between two attempts of one request.
const MAX_BACKOFF: Duration = Duration::from_millis(500);
/// A late resend goes out within this long after the answer.
const LATE_RESEND_WITHIN: Duration = Duration::from_secs(3);
/// How often a client waiting for the settle phase looks again, should it
/// wake at the fault phase's end just before the harness enters it.
const SETTLING_POLL: Duration = Duration::from_millis(10);

/// What chain clients need to know of the chain.
pub(crate) struct ChainSettings {
    pub(crate) rpc_nodes: Vec<NodeName>,
    pub(crate) key_secret: u64,
    pub(crate) confirmations: u64,
    pub(crate) block_time: Duration,
    /// The most an RPC node's view trails the chain.
    pub(crate) lag: Duration,
    /// The share of payments their wallet speeds up.
    pub(crate) fee_bumps: f64,
}

/// What ledger clients need to know.
pub(crate) struct LedgerSettings {
    pub(crate) replicas: Vec<NodeName>,
    pub(crate) initial_balance: u64,
}

/// The shared state of all clients of a run.
pub(crate) struct Workload {
    kind: WorkloadKind,
    /// The log replicas.
    pub(crate) replicas: Vec<NodeName>,
    pub(crate) requests_per_client: Vec<u32>,
    /// The share of requests sent with a planted flaw (payouts) or shadowed
    /// by a forgery (chain payments).
    pub(crate) invalid_fraction: f64,
    duration: Duration,
    pub(crate) client_timeout: Duration,
    client_retries: u32,
    late_resends: f64,
    pub(crate) kv_sessions: u32,
    pub(crate) balance_reads: bool,
    pub(crate) own_reads: bool,
    pub(crate) reversals: bool,
    pub(crate) accounts: u32,
    pub(crate) max_amount: u64,
    /// How long the database keeps an idle transaction, and its longest
    /// sync.
    pub(crate) db_idle_timeout: Duration,
    pub(crate) db_longest_sync: Duration,
    /// The probe a client makes once the run has gone quiet, if any.
    pub(crate) final_probe: FinalProbe,
    pub(crate) chain: ChainSettings,
    pub(crate) ledger: LedgerSettings,
    trace: Arc<Trace>,
    settling: AtomicBool,
    history: Mutex<History>,
    txn_ids: AtomicU64,
}

impl Workload {
    pub(crate) fn new(
        scenario: &Scenario,
        topology: &Topology,
        trace: Arc<Trace>,
    ) -> Arc<Workload> {
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
            invalid_fraction: scenario.workload.invalid_fraction,
            duration: scenario.duration(),
            client_timeout: scenario.workload.client_timeout.0,
            client_retries: scenario.workload.client_retries,
            late_resends: scenario.workload.late_resends,
            kv_sessions: scenario.workload.kv_sessions,
            balance_reads: scenario.workload.balance_reads,
            own_reads: scenario.workload.own_reads,
            reversals: scenario.workload.reversals,
            accounts: scenario.workload.accounts,
            max_amount: scenario.workload.max_amount,
            db_idle_timeout: scenario.system.db_idle_timeout.0,
            db_longest_sync: scenario.system.sync_latency.end.0,
            final_probe: FinalProbe::default(),
            chain: ChainSettings {
                rpc_nodes: topology
                    .chain_rpc
                    .iter()
                    .map(|name| NodeName::new(name))
                    .collect(),
                key_secret: streams::key_secret(scenario.seed),
                confirmations: u64::from(scenario.system.confirmations),
                block_time: scenario.system.block_time.0,
                lag: scenario
                    .faults
                    .chain_lag
                    .map_or(Duration::ZERO, |lag| lag.0),
                fee_bumps: scenario.workload.fee_bumps,
            },
            ledger: LedgerSettings {
                replicas: topology
                    .ledger
                    .iter()
                    .map(|name| NodeName::new(name))
                    .collect(),
                initial_balance: scenario.system.initial_balance,
            },
            trace,
            settling: AtomicBool::new(false),
            history: Mutex::new(History::default()),
            txn_ids: AtomicU64::new(0),
        })
    }

    /// The kind of workload the clients drive.
    pub(crate) fn kind(&self) -> WorkloadKind {
        self.kind
    }

    /// Enters the settle phase: no new requests from now on.
    pub(crate) fn settle(&self) {
        self.settling.store(true, Ordering::Relaxed);
    }

    /// Reads the history so far.
    /// Notes a database transaction a client ran: once it ended, or as its
    /// commit goes out. Returns its handle for [`Workload::txn_ended`].
    pub(crate) fn transacted(&self, record: TxnRecord) -> usize {
        self.lock().transacted(record)
    }

    /// Notes how a transaction whose commit went out ended.
    pub(crate) fn txn_ended(&self, txn: usize, status: Status) {
        self.lock().txn_ended(txn, status);
    }

    /// Notes a key-value operation a client calls on the log; returns its
    /// handle for [`Workload::kv_returned`].
    pub(crate) fn kv_called(&self, record: KvRecord) -> usize {
        self.lock().kv_called(record)
    }

    /// Notes that `session` will read once more when the faults stop: the
    /// run does not settle before that read is made and answered.
    pub(crate) fn expect_settle_read(&self, session: u64) {
        self.lock().expect_settle_read(session);
    }

    /// Notes the key-value read a session makes once the faults have
    /// stopped; returns its handle for [`Workload::kv_returned`].
    pub(crate) fn kv_settle_read(&self, record: KvRecord) -> usize {
        self.lock().kv_settle_read(record)
    }

    /// Notes what a key-value operation returned, and when.
    pub(crate) fn kv_returned(&self, op: usize, output: KvOutput) {
        let at = crate::events::now().as_micros() as u64;
        self.lock().kv_returned(op, at, output);
    }

    /// A transaction id no other of this run's transactions has: what a
    /// client writes beside a value, so that every write is told apart.
    pub(crate) fn next_txn_id(&self) -> u64 {
        self.txn_ids.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub(crate) fn history<R>(&self, read: impl FnOnce(&History) -> R) -> R {
        read(&self.lock())
    }

    pub(crate) fn settling(&self) -> bool {
        self.settling.load(Ordering::Relaxed)
    }

    /// Waits for the settle phase: it begins once the fault phase has run
    /// its length, in the harness's own task.
    pub(crate) async fn until_settling(&self) {
        while !self.settling() {
            let left = self.duration.saturating_sub(crate::events::now());
            madsim::time::sleep(left.max(SETTLING_POLL)).await;
        }
    }

    /// Notes that bank client `client` will write once more when the faults
    /// stop: the run does not settle before that write is acknowledged.
    pub(crate) fn expect_settle_write(&self, client: u64) {
        self.lock().expect_settle_write(client);
    }

    /// Notes how an attempt at `client`'s write since the faults stopped
    /// ended.
    pub(crate) fn settle_write_attempted(&self, client: u64, outcome: Result<u64, String>) {
        let at = crate::events::now();
        self.lock().settle_write_attempted(client, outcome, at);
    }

    /// Whether a request that has failed `attempts` times is given up. In the
    /// settle phase nothing is: faults have stopped, so it must get through.
    pub(crate) fn give_up(&self, attempts: u32) -> bool {
        attempts > self.client_retries && !self.settling()
    }

    /// Waits before the next attempt: exponential, capped, jittered.
    pub(crate) async fn backoff(&self, env: &NodeEnv, attempts: u32) {
        let backoff = Duration::from_millis(20 << attempts.min(5)).min(MAX_BACKOFF);
        let jitter = madsim::rand::thread_rng().gen_range(Duration::ZERO..=backoff / 2);
        env.sleep(backoff + jitter).await;
    }

    /// Whether to send an answered request again later, and after how long.
    pub(crate) fn late_resend(&self) -> Option<Duration> {
        let mut rng = madsim::rand::thread_rng();
        rng.gen_bool(self.late_resends)
            .then(|| rng.gen_range(Duration::ZERO..=LATE_RESEND_WITHIN))
    }

    /// Records a new request in the history and the trace.
    pub(crate) fn start(&self, env: &NodeEnv, client: u64, seq: u64, request: Request) -> usize {
        let event = match request {
            Request::Append { .. } => HarnessEvent::Request { client, seq },
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
        let op = self
            .lock()
            .start(client, seq, request, crate::events::now());
        self.trace.harness(env.name.as_str(), event);
        op
    }

    /// Records what the client was finally told.
    pub(crate) fn finish(&self, env: &NodeEnv, op: usize, outcome: Outcome) {
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
                tx: *hash,
                height: *height,
            },
            Outcome::Acknowledged {
                receipt: Receipt::Transfer(transfer),
                ..
            } => HarnessEvent::Accepted {
                client,
                seq,
                transfer: *transfer,
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

    /// After `op`'s first answer: now and then, waits a while and sends the
    /// request again with `resend`, and records that answer.
    pub(crate) async fn maybe_resend_later(
        &self,
        env: &NodeEnv,
        op: usize,
        resend: impl AsyncFnOnce() -> Outcome,
    ) {
        let Some(after) = self.late_resend() else {
            return;
        };
        env.sleep(after).await;
        let outcome = resend().await;
        if matches!(outcome, Outcome::GaveUp) {
            return;
        }
        let answer = outcome.to_string();
        let later = Later {
            at: crate::events::now(),
            outcome,
        };
        self.note(
            env,
            op,
            |client, seq| HarnessEvent::LateAnswer {
                client,
                seq,
                answer,
            },
            |history| history.answered_later(op, later),
        );
    }

    /// Records what a status request said of `op`'s payout, answered from
    /// log position `as_of` when the client had seen up to `seen`.
    pub(crate) fn told_status(
        &self,
        env: &NodeEnv,
        op: usize,
        status: StatusSeen,
        (as_of, seen): (u64, u64),
    ) {
        let said = status.to_string();
        self.note(
            env,
            op,
            |client, seq| HarnessEvent::Status {
                client,
                seq,
                status: said,
            },
            |history| {
                history.told_status(
                    op,
                    StatusTold {
                        at: crate::events::now(),
                        status,
                        as_of,
                        seen,
                    },
                )
            },
        );
    }

    /// Records a forgery a chain client sent, and what it was told.
    pub(crate) fn forged(&self, env: &NodeEnv, event: HarnessEvent) {
        self.trace.harness(env.name.as_str(), event);
    }

    /// Records a payment a chain client's wallet sped up, and what it was
    /// told.
    pub(crate) fn sped_up(&self, env: &NodeEnv, event: HarnessEvent) {
        self.trace.harness(env.name.as_str(), event);
    }

    /// Records a balance a replica reported.
    pub(crate) fn told_balance(&self, balance: BalanceSeen) {
        self.lock().told_balance(balance);
    }

    /// Records a request of an open transaction the database did not know.
    pub(crate) fn txn_forgotten(&self, forgotten: TxnForgotten) {
        self.lock().txn_forgotten(forgotten);
    }

    /// Records a database transaction a client began; returns its handle.
    pub(crate) fn txn_begun(&self, begun: TxnBegun) -> usize {
        self.lock().txn_begun(begun)
    }

    /// Records that a transaction's client sent its commit.
    pub(crate) fn txn_commit_asked(&self, handle: usize) {
        self.lock().txn_commit_asked(handle, crate::events::now());
    }

    pub(crate) fn txn_wrote(&self, handle: usize, table: &str, key: &Key) {
        self.lock().txn_wrote(handle, table, key);
    }

    pub(crate) fn txn_refused(&self, handle: usize, refusal: Refusal) {
        self.lock().txn_refused(handle, refusal);
    }

    /// Records that a transaction's client left it without an answer to
    /// its commit or rollback.
    pub(crate) fn txn_left_open(&self, handle: usize) {
        self.lock().txn_left_open(handle);
    }

    /// Records what the database answered when asked, once the run was
    /// quiet, about a transaction a client had left open.
    pub(crate) fn idle_probed(&self, probe: IdleProbe) {
        self.lock().idle_probed(probe);
    }

    /// Updates `op` in the history and traces what happened to it.
    fn note(
        &self,
        env: &NodeEnv,
        op: usize,
        event: impl FnOnce(u64, u64) -> HarnessEvent,
        update: impl FnOnce(&mut History),
    ) {
        let event = {
            let mut history = self.lock();
            let (client, seq) = (history.ops()[op].client, history.ops()[op].seq);
            update(&mut history);
            event(client, seq)
        };
        self.trace.harness(env.name.as_str(), event);
    }

    pub(crate) fn attempted(&self, op: usize) {
        self.lock().attempted(op);
    }

    fn lock(&self) -> MutexGuard<'_, History> {
        self.history.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Issues client `index`'s share of the requests, paced evenly over the
/// fault phase. `issue` spawns each request's task and returns at once, so
/// a slow request never delays the next.
pub(crate) async fn paced(workload: &Workload, index: usize, mut issue: impl AsyncFnMut(u64)) {
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
