//! The database server: one actor that handles one request at a time, so a
//! commit's validation, sync and apply happen without interleaving. A commit
//! is acknowledged only after its record is synced; what it wrote becomes
//! visible to others only then. Transaction ids embed the incarnation and a
//! fresh disk numbers its commits past every earlier disk's, so after a
//! lost disk nothing a client holds from an earlier life (a transaction, a
//! row version) matches anything new.

use futures::{FutureExt, pin_mut, select_biased};
use std::{collections::BTreeSet, time::Duration};

use super::{
    DbEvent,
    engine::TxnError,
    engine::{CommitRecord, Engine},
    protocol::{DbRequest, DbResponse, Op, OpResult},
    types::{Isolation, Key, TxnId},
    wal,
};
use crate::{
    bugs::Bug,
    clock::Alarm,
    fault_points::{CrashPoint, ReplyPoint},
    net::{Incoming, ReplyTo, Request, Rpc},
    node::NodeEnv,
    observe::{Event, Mark},
    storage::Storage,
};

/// How often idle transactions are looked for, at most: every half idle
/// timeout under a shorter one, so none outlives its timeout by more than
/// half.
const EXPIRY_INTERVAL: Duration = Duration::from_secs(1);
/// ... and at least: the runtime's timers tick in milliseconds.
const SHORTEST_EXPIRY_INTERVAL: Duration = Duration::from_millis(1);
/// Bounds on what one request may carry.
const MAX_TABLE_BYTES: usize = 64;
const MAX_KEY_BYTES: usize = 256;
const MAX_VALUE_BYTES: usize = 64 * 1024;
/// Transactions aborted as idle that are remembered, the latest, only to
/// mark a late commit of one.
const EXPIRED_REMEMBERED: usize = 1024;

/// The settings of the database node.
#[derive(Debug, Clone)]
pub struct DbConfig {
    /// Rows the first commit of a fresh database writes (its migration).
    pub genesis: Vec<(String, Key, Vec<u8>)>,
    /// Transactions idle this long are aborted.
    pub idle_timeout: Duration,
}

/// How often idle transactions are looked for under `idle_timeout`.
fn expiry_interval(idle_timeout: Duration) -> Duration {
    (idle_timeout / 2).clamp(SHORTEST_EXPIRY_INTERVAL, EXPIRY_INTERVAL)
}

/// How long after its last request, by the server's clock, a transaction
/// left idle is aborted at the latest: its idle timeout, and one interval
/// of the sweep that finds it. The sweep runs between requests, so one
/// that falls due while a request is handled (a commit, syncing) runs
/// once that request is done. Clients may leave a transaction open (a
/// rollback is best effort) on the strength of this.
pub fn idle_abort_within(idle_timeout: Duration) -> Duration {
    idle_timeout + expiry_interval(idle_timeout)
}

/// Runs one incarnation of the database node until it is killed.
pub async fn run_db(env: NodeEnv, config: DbConfig) {
    let incarnation = env.boot().await;
    let storage = env.storage();
    let (recovered, cut) = wal::recover(&storage, env.bugs.has(Bug::DbSkipChecksum));
    if cut {
        env.mark(Mark::DbTornTailCut);
    }
    let replayed = DbEvent::Recovered {
        last_commit: recovered.engine.last_commit(),
        commits: recovered.commits.len() as u64,
    };
    // A fresh disk (the first, or one that replaced a lost disk) numbers its
    // commits past every earlier disk's.
    let fresh = recovered.commits.is_empty();
    if fresh && incarnation > 1 {
        env.mark(Mark::RestartedOnEmptyDisk);
    }
    let mut engine = if fresh {
        let first = if env.bugs.has(Bug::DbVersionsRestart) {
            1
        } else {
            wal::first_commit(incarnation)
        };
        Engine::numbered_after(first - 1)
    } else {
        recovered.engine
    };
    if fresh && !config.genesis.is_empty() {
        let genesis = CommitRecord {
            txn: TxnId(0),
            seq: engine.last_commit() + 1,
            writes: config
                .genesis
                .iter()
                .map(|(table, key, value)| (table.clone(), key.clone(), Some(value.clone())))
                .collect(),
        };
        wal::write(&storage, &genesis);
        storage.sync(wal::WAL_FILE).await;
        engine.apply(&genesis);
    }
    // Only now does it serve: a fresh disk's genesis is synced first.
    env.record(Event::Db(replayed));
    let (rpc, incoming) = Rpc::bind(&env, incarnation).await;
    engine.mark_with(env.clone());
    let server = Server {
        env,
        rpc,
        storage,
        engine,
        config,
        incarnation,
        next_txn: 1,
        expired: BTreeSet::new(),
    };
    server.run(incoming).await;
}

struct Server {
    env: NodeEnv,
    rpc: Rpc,
    storage: Storage,
    engine: Engine,
    config: DbConfig,
    incarnation: u64,
    next_txn: u64,
    /// The latest transactions aborted as idle, kept only to mark a late
    /// commit of one.
    expired: BTreeSet<TxnId>,
}

impl Server {
    async fn run(mut self, mut incoming: Incoming) {
        let interval = expiry_interval(self.config.idle_timeout);
        let mut next_expiry = self.env.clock.mono_now() + interval;
        let mut alarm = Alarm::new(self.env.clock.clone());
        loop {
            let now = self.env.clock.mono_now();
            // Expiry goes first when due, so a steady stream of requests can
            // never hold it off.
            if now >= next_expiry {
                next_expiry = now + interval;
                for txn in self.engine.expire(now, self.config.idle_timeout) {
                    tracing::debug!(%txn, "aborted an idle transaction");
                    self.env.mark(Mark::IdleTransactionExpired);
                    self.expired.insert(txn);
                    if self.expired.len() > EXPIRED_REMEMBERED {
                        self.expired.pop_first();
                    }
                }
                continue;
            }
            alarm.set(next_expiry);
            let request = {
                let timer = alarm.ring().fuse();
                let request = incoming.next::<DbRequest>().fuse();
                pin_mut!(timer, request);
                select_biased! {
                    request = request => Some(request),
                    () = timer => None,
                }
            };
            match request {
                Some(Some(Ok(request))) => self.handle(request).await,
                Some(Some(Err((reply, error)))) => {
                    let reason = format!("malformed request: {error}");
                    self.rpc
                        .reply(reply, &DbResponse::Rejected { reason })
                        .await;
                }
                // The endpoint is gone: the node is being killed.
                Some(None) => return,
                // The timer fired: expiry is handled at the top of the loop.
                None => {}
            }
        }
    }

    async fn handle(&mut self, request: Request<DbRequest>) {
        let now = self.env.clock.mono_now();
        if let Some(reason) = oversized(&request.body) {
            self.rpc
                .reply(request.reply, &DbResponse::Rejected { reason })
                .await;
            return;
        }
        let engine = &mut self.engine;
        let done =
            |result: Result<(), _>| result.map_or_else(DbResponse::Failed, |()| DbResponse::Done);
        let response = match request.body {
            DbRequest::Begin { isolation } => {
                let txn = self.new_txn_id();
                match self.engine.begin(txn, isolation, now) {
                    Ok(()) => DbResponse::Begun { txn },
                    Err(error) => DbResponse::Failed(error),
                }
            }
            DbRequest::Get { txn, table, key } => engine
                .get(txn, &table, &key, now)
                .map_or_else(DbResponse::Failed, DbResponse::Found),
            DbRequest::Scan {
                txn,
                table,
                range,
                limit,
            } => engine
                .scan(txn, &table, &range, limit as usize, now)
                .map_or_else(DbResponse::Failed, DbResponse::Rows),
            DbRequest::Put {
                txn,
                table,
                key,
                value,
            } => done(engine.put(txn, &table, key, value, now)),
            DbRequest::InsertUnique {
                txn,
                table,
                key,
                value,
            } => done(engine.insert_unique(txn, &table, key, value, now)),
            DbRequest::CompareAndSet {
                txn,
                table,
                key,
                expected,
                value,
            } => done(engine.compare_and_set(txn, &table, key, expected, value, now)),
            DbRequest::Delete { txn, table, key } => done(engine.delete(txn, &table, key, now)),
            DbRequest::Rollback { txn } => done(engine.rollback(txn)),
            DbRequest::Commit { txn } => return self.commit(txn, request.reply).await,
            DbRequest::Atomic { isolation, ops } => {
                return self.atomic(isolation, ops, request.reply, now).await;
            }
        };
        self.rpc.reply(request.reply, &response).await;
    }

    async fn commit(&mut self, txn: TxnId, reply: ReplyTo) {
        self.finish(txn, reply, |seq| DbResponse::Committed { seq })
            .await;
    }

    /// Runs a whole transaction sent as one request: begun, each operation
    /// in order (the first failure rolls it back and is the answer), and
    /// committed through the same path as an interactive commit, with its
    /// sync, crash points and a reply that may be lost.
    async fn atomic(&mut self, isolation: Isolation, ops: Vec<Op>, reply: ReplyTo, now: Duration) {
        let txn = self.new_txn_id();
        let applied = self.engine.begin(txn, isolation, now).and_then(|()| {
            ops.into_iter()
                .map(|op| self.op(txn, op, now))
                .collect::<Result<Vec<_>, _>>()
        });
        let results = match applied {
            Ok(results) => results,
            Err(error) => {
                // Rolling back a transaction that never began fails too; the
                // first error is the answer either way.
                let _ = self.engine.rollback(txn);
                return self.rpc.reply(reply, &DbResponse::Failed(error)).await;
            }
        };
        self.finish(txn, reply, move |seq| DbResponse::AtomicCommitted {
            results: results.clone(),
            seq,
        })
        .await;
    }

    /// One operation of an atomic transaction.
    fn op(&mut self, txn: TxnId, op: Op, now: Duration) -> Result<OpResult, TxnError> {
        let engine = &mut self.engine;
        match op {
            Op::Get { table, key } => engine.get(txn, &table, &key, now).map(OpResult::Found),
            Op::Scan {
                table,
                range,
                limit,
            } => engine
                .scan(txn, &table, &range, limit as usize, now)
                .map(OpResult::Rows),
            Op::Put { table, key, value } => engine
                .put(txn, &table, key, value, now)
                .map(|()| OpResult::Done),
            Op::InsertUnique { table, key, value } => engine
                .insert_unique(txn, &table, key, value, now)
                .map(|()| OpResult::Done),
            Op::CompareAndSet {
                table,
                key,
                expected,
                value,
            } => engine
                .compare_and_set(txn, &table, key, expected, value, now)
                .map(|()| OpResult::Done),
            Op::Delete { table, key } => engine
                .delete(txn, &table, key, now)
                .map(|()| OpResult::Done),
        }
    }

    /// Commits `txn`: validated, written and synced, applied, then
    /// acknowledged with `committed(seq)`.
    async fn finish(
        &mut self,
        txn: TxnId,
        reply: ReplyTo,
        committed: impl Fn(Option<u64>) -> DbResponse,
    ) {
        let record = match self.engine.prepare_commit(txn) {
            Err(error) => {
                if matches!(error, TxnError::Unknown(_)) {
                    self.mark_unknown_commit(txn);
                }
                return self.rpc.reply(reply, &DbResponse::Failed(error)).await;
            }
            Ok(None) => return self.rpc.reply(reply, &committed(None)).await,
            Ok(Some(record)) => record,
        };
        wal::write(&self.storage, &record);
        let response = committed(Some(record.seq));
        if self.env.bugs.has(Bug::DbAckBeforeSync) {
            self.apply(&record);
            self.reply_committed(reply, &response).await;
            self.env.crash_point(CrashPoint::DbCommitBeforeSync).await;
            self.storage.sync(wal::WAL_FILE).await;
        } else {
            self.env.crash_point(CrashPoint::DbCommitBeforeSync).await;
            self.storage.sync(wal::WAL_FILE).await;
            self.apply(&record);
            self.env.crash_point(CrashPoint::DbCommitBeforeReply).await;
            self.reply_committed(reply, &response).await;
        }
    }

    /// Marks why a commit found its transaction unknown, when that can be
    /// told. With the planted bug `db-txn-id-reuse` ids name no incarnation.
    fn mark_unknown_commit(&self, txn: TxnId) {
        let (born, counter) = (txn.0 >> 32, txn.0 & 0xffff_ffff);
        if self.expired.contains(&txn) {
            self.env.mark(Mark::CommitOfExpiredTransaction);
        } else if born != 0 && born < self.incarnation {
            self.env.mark(Mark::CommitFromEarlierIncarnation);
            if self
                .engine
                .is_open(TxnId((self.incarnation << 32) | counter))
            {
                self.env
                    .mark(Mark::EarlierIncarnationCommitMatchesOpenCounter);
            }
        } else if born == self.incarnation && counter < self.next_txn {
            self.env.mark(Mark::CommitOfFinishedTransaction);
        }
    }

    fn apply(&mut self, record: &CommitRecord) {
        self.engine.apply(record);
        self.env.record(Event::Db(DbEvent::Committed {
            txn: record.txn.0,
            seq: record.seq,
        }));
    }

    /// Acknowledges a durable commit, unless the harness loses the reply:
    /// then the client cannot know the outcome.
    async fn reply_committed(&self, reply: ReplyTo, response: &DbResponse) {
        if self.env.bugs.has(Bug::DbMuteAfterRestart) && self.incarnation > 1 {
            return;
        }
        if !self.env.reply_lost(ReplyPoint::DbCommitReply) {
            self.rpc.reply(reply, response).await;
        }
    }

    fn new_txn_id(&mut self) -> TxnId {
        let counter = self.next_txn;
        self.next_txn += 1;
        if self.env.bugs.has(Bug::DbTxnIdReuse) {
            TxnId(counter)
        } else {
            TxnId((self.incarnation << 32) | counter)
        }
    }
}

/// Why a request is too large to accept, if it is.
fn oversized(request: &DbRequest) -> Option<String> {
    if let DbRequest::Atomic { ops, .. } = request {
        return ops.iter().find_map(oversized_op);
    }
    let (table, key, value) = match request {
        DbRequest::Get { table, key, .. } | DbRequest::Delete { table, key, .. } => {
            (Some(table), Some(key), None)
        }
        DbRequest::Put {
            table, key, value, ..
        }
        | DbRequest::InsertUnique {
            table, key, value, ..
        }
        | DbRequest::CompareAndSet {
            table, key, value, ..
        } => (Some(table), Some(key), Some(value)),
        DbRequest::Scan { table, .. } => (Some(table), None, None),
        DbRequest::Begin { .. }
        | DbRequest::Commit { .. }
        | DbRequest::Rollback { .. }
        | DbRequest::Atomic { .. } => (None, None, None),
    };
    too_large(table, key, value)
}

/// Why one operation of an atomic transaction is too large, if it is.
fn oversized_op(op: &Op) -> Option<String> {
    let (table, key, value) = match op {
        Op::Get { table, key } | Op::Delete { table, key } => (table, Some(key), None),
        Op::Put { table, key, value }
        | Op::InsertUnique { table, key, value }
        | Op::CompareAndSet {
            table, key, value, ..
        } => (table, Some(key), Some(value)),
        Op::Scan { table, .. } => (table, None, None),
    };
    too_large(Some(table), key, value)
}

/// Why a table name, key or value is too large, if one is.
fn too_large(table: Option<&String>, key: Option<&Key>, value: Option<&Vec<u8>>) -> Option<String> {
    if table.is_some_and(|table| table.len() > MAX_TABLE_BYTES) {
        return Some(format!("table names are at most {MAX_TABLE_BYTES} bytes"));
    }
    if let Some(Key::Str(key)) = key
        && key.len() > MAX_KEY_BYTES
    {
        return Some(format!("keys are at most {MAX_KEY_BYTES} bytes"));
    }
    if value.is_some_and(|value| value.len() > MAX_VALUE_BYTES) {
        return Some(format!("values are at most {MAX_VALUE_BYTES} bytes"));
    }
    None
}

#[cfg(test)]
mod tests;
