//! Log clients: append commands to the Raft log. Each client node appends
//! through several sessions at once (its lanes), so that many appends are
//! in flight and a deposed leader can hold a long uncommitted tail. A
//! session has one command in flight at a time, retried under the same
//! `(session, seq)` so the log's sessions can apply it once; a lane takes
//! the requests the schedule gives it in turn. Now and then a command has
//! exactly the largest size the log takes, or one byte more (which must be
//! refused), and an acknowledged one is sent again later (which must be
//! answered with its first index). Every other scheduled request also
//! sends a key-value operation through one more session: a write of a
//! unique value to one of a few keys, or a linearizable read of one; what
//! each returned, and when, goes to the history for `linearizable`.

use futures::{StreamExt, channel::mpsc, future::LocalBoxFuture};
use ledger::{
    log::{AppendError, ClientAppend, KvCommand, LogClient, MAX_COMMAND_BYTES},
    net::Rpc,
    node::NodeEnv,
};
use rand::Rng;
use std::sync::Arc;

use crate::{
    consistency::linearizable::{KvOp, KvOutput, Operation},
    events::now,
    history::{Outcome, Receipt, Request},
    workload::{Workload, paced},
};

/// Sessions per client node for plain appends; the next one is its
/// key-value session.
const LANES: u64 = 8;
/// Keys of the key-value state machine: few, so operations contend.
const KEYS: u64 = 3;
/// One key-value operation for this many scheduled requests.
const KV_EVERY: u64 = 2;
/// Shares of commands of exactly the largest size, and one byte larger.
const LARGEST_SHARE: f64 = 0.05;
const TOO_LARGE_SHARE: f64 = 0.03;

/// The log session of lane `lane` (from 0) of client `client` (from 1):
/// client 2's lanes are sessions 20 to 27.
pub(crate) fn session(client: u64, lane: u64) -> u64 {
    client * 10 + lane
}

pub(super) async fn run(env: &NodeEnv, workload: &Arc<Workload>, rpc: Rpc, index: usize) {
    let client = index as u64 + 1;
    // One task per session, fed a unit per request it is to send.
    let start = |lane: u64, body: SessionLoop| {
        let (next, requests) = mpsc::unbounded();
        let log = LogClient::new(rpc.clone(), workload.replicas.clone());
        madsim::task::spawn_local(body(
            env.clone(),
            workload.clone(),
            log,
            session(client, lane),
            requests,
        ));
        next
    };
    let lanes: Vec<mpsc::UnboundedSender<()>> = (0..LANES)
        .map(|lane| {
            start(lane, |env, workload, log, session, requests| {
                Box::pin(lane_loop(env, workload, log, session, requests))
            })
        })
        .collect();
    let kv = start(LANES, |env, workload, log, session, requests| {
        Box::pin(kv_loop(env, workload, log, session, requests))
    });
    paced(workload, index, async |seq| {
        let _ = lanes[((seq - 1) % LANES) as usize].unbounded_send(());
        if seq % KV_EVERY == 0 {
            let _ = kv.unbounded_send(());
        }
    })
    .await;
}

/// A session's loop, given its node, workload, client, session number and
/// the queue of its requests.
type SessionLoop = fn(
    NodeEnv,
    Arc<Workload>,
    LogClient,
    u64,
    mpsc::UnboundedReceiver<()>,
) -> LocalBoxFuture<'static, ()>;

/// The key-value session: its operations one at a time.
async fn kv_loop(
    env: NodeEnv,
    workload: Arc<Workload>,
    mut log: LogClient,
    session: u64,
    mut requests: mpsc::UnboundedReceiver<()>,
) {
    let mut seq = 0;
    while requests.next().await.is_some() {
        let (key, write) = {
            let mut rng = madsim::rand::thread_rng();
            (rng.gen_range(0..KEYS), rng.gen_bool(0.5))
        };
        let op = if write {
            seq += 1;
            KvOp::Write {
                key,
                value: session * 1_000_000 + seq,
            }
        } else {
            KvOp::Read { key }
        };
        let record = workload.kv_called(Operation {
            client: session,
            call: now().as_micros() as u64,
            returned: None,
            op,
        });
        let output = if let KvOp::Write { key, value } = op {
            // Not one of the scenario's requests: judged by `linearizable`
            // alone, as the log's own checkers judge the entry it makes.
            let command = ClientAppend {
                client: session,
                seq,
                data: KvCommand::Put { key, value }.encode(),
            };
            let outcome = attempts(&env, &workload, &mut log, &command, None).await;
            matches!(outcome, Outcome::Acknowledged { .. }).then_some(KvOutput::Written)
        } else {
            read(&env, &workload, &mut log, key)
                .await
                .map(KvOutput::Value)
        };
        if let Some(output) = output {
            workload.kv_returned(record, output);
        }
    }
}

/// Reads `key` until answered or given up.
async fn read(
    env: &NodeEnv,
    workload: &Workload,
    log: &mut LogClient,
    key: u64,
) -> Option<Option<u64>> {
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        if let Ok(value) = log.read_key(key, workload.client_timeout).await {
            return Some(value);
        }
        if workload.give_up(attempts) {
            return None;
        }
        workload.backoff(env, attempts).await;
    }
}

/// One session: its commands one at a time, in the order scheduled.
async fn lane_loop(
    env: NodeEnv,
    workload: Arc<Workload>,
    mut log: LogClient,
    session: u64,
    mut requests: mpsc::UnboundedReceiver<()>,
) {
    let mut seq = 0;
    while requests.next().await.is_some() {
        seq += 1;
        append(&env, &workload, &mut log, session, seq).await;
    }
}

async fn append(env: &NodeEnv, workload: &Workload, log: &mut LogClient, session: u64, seq: u64) {
    let mut data = format!("session {session} seq {seq}").into_bytes();
    let size = {
        let mut rng = madsim::rand::thread_rng();
        match rng.gen_range(0.0..1.0) {
            draw if draw < LARGEST_SHARE => MAX_COMMAND_BYTES,
            draw if draw < LARGEST_SHARE + TOO_LARGE_SHARE => MAX_COMMAND_BYTES + 1,
            _ => data.len(),
        }
    };
    data.resize(size, b'.');
    let op = workload.start(env, session, seq, Request::Append { bytes: size });
    let command = ClientAppend {
        client: session,
        seq,
        data,
    };
    let outcome = attempts(env, workload, log, &command, Some(op)).await;
    let answered = !matches!(outcome, Outcome::GaveUp);
    workload.finish(env, op, outcome);
    if answered {
        workload
            .maybe_resend_later(env, op, async || {
                attempts(env, workload, log, &command, None).await
            })
            .await;
    }
}

/// Sends `command` until it is answered or given up; `op` counts the
/// attempts of a first send.
async fn attempts(
    env: &NodeEnv,
    workload: &Workload,
    log: &mut LogClient,
    command: &ClientAppend,
    op: Option<usize>,
) -> Outcome {
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        if let Some(op) = op {
            workload.attempted(op);
        }
        match log.append(command, workload.client_timeout).await {
            Ok(index) => {
                return Outcome::Acknowledged {
                    receipt: Receipt::LogIndex(index),
                    at: crate::events::now(),
                };
            }
            Err(AppendError::Rejected(reason)) => {
                return Outcome::Rejected { reason, kind: None };
            }
            // The session has moved past this command: the log says it
            // is no longer the latest, without saying where it went.
            Err(AppendError::Stale) => {
                return Outcome::Rejected {
                    reason: "stale: the session has moved past this command".to_owned(),
                    kind: Some("stale".to_owned()),
                };
            }
            Err(_) if workload.give_up(attempts) => return Outcome::GaveUp,
            Err(_) => workload.backoff(env, attempts).await,
        }
    }
}
