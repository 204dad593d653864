//! Log clients: append commands to the Raft log. Each client node appends
//! through several sessions at once (its lanes), so that many appends are
//! in flight and a deposed leader can hold a long uncommitted tail. A
//! session has one command in flight at a time, retried under the same
//! `(session, seq)` so the log's sessions can apply it once; a lane takes
//! the requests the schedule gives it in turn. Now and then a command has
//! exactly the largest size the log takes, or one byte more (which must be
//! refused), and an acknowledged one is sent again later (which must be
//! answered with its first index). Beside them, four more sessions run
//! key-value operations back to back through the fault phase: writes of
//! unique values to a few keys, compare-and-sets and linearizable reads of
//! them; what each returned, and when, goes to the history for
//! `linearizable`. When the faults stop, the first of a client's key-value
//! sessions reads once more, and the run settles only once it is answered.

use futures::{StreamExt, channel::mpsc};
use ledger::{
    log::{AppendError, ClientAppend, KvCommand, LogClient, MAX_COMMAND_BYTES},
    net::Rpc,
    node::NodeEnv,
};
use rand::Rng;
use std::{collections::BTreeMap, sync::Arc, time::Duration};

use crate::{
    consistency::linearizable::{KvOp, KvOutput, Operation},
    events::now,
    history::{Outcome, Receipt, Request},
    scenario::log_uniform,
    workload::{Workload, paced},
};

/// Sessions per client node for plain appends; the next ones are its
/// key-value sessions.
const LANES: u64 = 8;
/// Keys of the key-value state machine in use at a time: few, so
/// operations contend.
const KEYS: u64 = 3;
/// How long a set of keys is in use before the sessions move to fresh ones
/// (Jepsen's independent keys): every operation never answered may take
/// effect at any point after its call, so a key's history must stay short
/// for `linearizable` to decide it.
const KEY_EPOCH: Duration = Duration::from_secs(2);
/// The range a key-value session's mean think time is drawn from.
const THINK: std::ops::Range<Duration> = Duration::from_millis(10)..Duration::from_millis(500);
/// Shares of commands of exactly the largest size, and one byte larger.
const LARGEST_SHARE: f64 = 0.05;
const TOO_LARGE_SHARE: f64 = 0.03;

/// The log session of lane `lane` (from 0) of client `client` (from 1):
/// client 2's lanes are sessions 200 to 207, its key-value sessions 208 on.
pub(crate) fn session(client: u64, lane: u64) -> u64 {
    client * 100 + lane
}

pub(super) async fn run(env: &NodeEnv, workload: &Arc<Workload>, rpc: Rpc, index: usize) {
    let client = index as u64 + 1;
    let log = || LogClient::new(rpc.clone(), workload.replicas.clone());
    let kv_sessions = u64::from(workload.kv_sessions);
    for lane in LANES..LANES + kv_sessions {
        // Beside others, the first only reads: writes are retried until
        // answered, so the others may all be stuck behind one while a
        // stale leader still answers reads.
        let read_share = if lane == LANES && kv_sessions > 1 {
            1.0
        } else {
            READ_SHARE
        };
        madsim::task::spawn_local(kv_loop(
            env.clone(),
            workload.clone(),
            log(),
            session(client, lane),
            KvSession {
                read_share,
                reads_at_settle: lane == LANES,
            },
        ));
    }
    // One task per lane, fed a unit per request it is to send.
    let lanes: Vec<mpsc::UnboundedSender<()>> = (0..LANES)
        .map(|lane| {
            let (next, requests) = mpsc::unbounded();
            madsim::task::spawn_local(lane_loop(
                env.clone(),
                workload.clone(),
                log(),
                session(client, lane),
                requests,
            ));
            next
        })
        .collect();
    paced(workload, index, async |seq| {
        let _ = lanes[((seq - 1) % LANES) as usize].unbounded_send(());
    })
    .await;
}

/// Shares of a mixed key-value session's operations that are reads and
/// writes; the rest are compare-and-sets.
const READ_SHARE: f64 = 0.4;
const WRITE_SHARE: f64 = 0.3;

/// What a compare-and-set of `key` expects: the value the session last
/// saw it hold; for a key it never saw, nothing, except every fourth time
/// a value nobody writes (its number 0), which must never swap, not even
/// on a key nobody wrote yet.
fn expected(
    last_seen: &BTreeMap<u64, Option<u64>>,
    key: u64,
    session: u64,
    seq: u64,
) -> Option<u64> {
    match last_seen.get(&key) {
        Some(seen) => *seen,
        None if seq.is_multiple_of(4) => Some(session * 1_000_000),
        None => None,
    }
}

/// How a key-value session behaves.
#[derive(Clone, Copy)]
struct KvSession {
    /// The share of its operations that are reads.
    read_share: f64,
    /// Whether it reads once more when the faults stop (see
    /// [`settle_read`]).
    reads_at_settle: bool,
}

/// A key-value session: operations one at a time, from the start of the
/// fault phase to its end, each a think time after the last (Jepsen's
/// closed-loop clients). A compare-and-set expects the value the session
/// last saw the key hold (see [`expected`]), so that some succeed and,
/// when others wrote since, some fail.
async fn kv_loop(
    env: NodeEnv,
    workload: Arc<Workload>,
    mut log: LogClient,
    session: u64,
    KvSession {
        read_share,
        reads_at_settle,
    }: KvSession,
) {
    if reads_at_settle {
        workload.expect_settle_read(session);
    }
    let mut seq = 0;
    let mut last_key = None;
    let mut last_seen: BTreeMap<u64, Option<u64>> = BTreeMap::new();
    // Some sessions touch the keys now and then, some hammer them.
    let think = Duration::from_secs_f64(log_uniform(
        &mut madsim::rand::thread_rng(),
        THINK.start.as_secs_f64(),
        THINK.end.as_secs_f64(),
    ));
    loop {
        let pause = madsim::rand::thread_rng().gen_range(Duration::ZERO..=think * 2);
        env.sleep(pause).await;
        if workload.settling() {
            if reads_at_settle {
                settle_read(&env, &workload, &mut log, session, last_key).await;
            }
            return;
        }
        let (key, draw) = {
            let mut rng = madsim::rand::thread_rng();
            let epoch = (now().as_nanos() / KEY_EPOCH.as_nanos()) as u64;
            (
                epoch * KEYS + rng.gen_range(0..KEYS),
                rng.gen_range(0.0..1.0),
            )
        };
        last_key = Some(key);
        let op = if draw < read_share {
            KvOp::Read { key }
        } else {
            seq += 1;
            let value = session * 1_000_000 + seq;
            if draw < read_share + WRITE_SHARE {
                KvOp::Write { key, value }
            } else {
                KvOp::Cas {
                    key,
                    from: expected(&last_seen, key, session, seq),
                    to: value,
                }
            }
        };
        let record = workload.kv_called(Operation {
            client: session,
            call: now().as_micros() as u64,
            returned: None,
            op,
        });
        let command = |command: KvCommand| ClientAppend {
            client: session,
            seq,
            data: command.encode(),
            read_from: 0,
        };
        // Not one of the scenario's requests: judged by `linearizable`
        // alone, as the log's own checkers judge the entry it makes.
        let output = match op {
            KvOp::Read { key } => until_answered(&env, &workload, Persist::GiveUp, async || {
                log.read_key(key, workload.client_timeout).await
            })
            .await
            .map(KvOutput::Value),
            KvOp::Write { key, value } => {
                let put = command(KvCommand::Put { key, value });
                until_answered(&env, &workload, Persist::UntilAnswered, async || {
                    log.submit(&put, workload.client_timeout).await
                })
                .await
                .map(|_| KvOutput::Written)
            }
            KvOp::Cas { key, from, to } => {
                let cas = command(KvCommand::Cas { key, from, to });
                until_answered(&env, &workload, Persist::UntilAnswered, async || {
                    log.submit(&cas, workload.client_timeout).await
                })
                .await
                // Acknowledged, it took effect before this return, whether
                // or not the log said how: never an unanswered call.
                .map(|committed| {
                    committed
                        .swapped
                        .map_or(KvOutput::Committed, KvOutput::Swapped)
                })
            }
        };
        match (op, output) {
            (KvOp::Read { key }, Some(KvOutput::Value(value))) => {
                last_seen.insert(key, value);
            }
            (KvOp::Cas { .. }, Some(KvOutput::Swapped(false))) => {}
            (KvOp::Write { key, value }, _) | (KvOp::Cas { key, to: value, .. }, _) => {
                // Answered or not, it may have taken effect: a later
                // compare-and-set expecting it tests which.
                last_seen.insert(key, Some(value));
            }
            _ => {}
        }
        if let Some(output) = output {
            workload.kv_returned(record, output);
        }
    }
}

/// Once the faults have stopped, one more read, of the key the session
/// last used (or one of the keys now in use), retried until answered: the
/// run settles only once it is. Reads are given up during faults and no
/// write waits on them, so a healed log that never again confirms its
/// leadership for a read would otherwise pass; the read also comes after
/// every write of the run, for `linearizable`.
async fn settle_read(
    env: &NodeEnv,
    workload: &Workload,
    log: &mut LogClient,
    session: u64,
    last_key: Option<u64>,
) {
    let key = last_key.unwrap_or_else(|| {
        (now().as_nanos() / KEY_EPOCH.as_nanos()) as u64 * KEYS + session % KEYS
    });
    let record = workload.kv_settle_read(Operation {
        client: session,
        call: now().as_micros() as u64,
        returned: None,
        op: KvOp::Read { key },
    });
    let value = until_answered(env, workload, Persist::UntilAnswered, async || {
        log.read_key(key, workload.client_timeout).await
    })
    .await;
    if let Some(value) = value {
        workload.kv_returned(record, KvOutput::Value(value));
    }
}

/// Whether an operation is given up after the workload's retries.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Persist {
    /// A read tells nothing unanswered: give it up.
    GiveUp,
    /// A write given up would stay unknown for good, and every unknown
    /// write may take effect anywhere after its call: a few dozen on one
    /// key are more orders than `linearizable` can try. The log's sessions
    /// make retries safe and tell a retry the first attempt's outcome, so a
    /// write is retried until answered and stays unknown only if the run
    /// ends first.
    UntilAnswered,
}

/// Tries `attempt` until it is answered or, if `persist` allows, the
/// workload gives up; `None` for an operation whose outcome stays unknown.
/// A rejection is never retried (and none is expected of a well-formed
/// operation).
async fn until_answered<T>(
    env: &NodeEnv,
    workload: &Workload,
    persist: Persist,
    mut attempt: impl AsyncFnMut() -> Result<T, AppendError>,
) -> Option<T> {
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        match attempt().await {
            Ok(answer) => return Some(answer),
            Err(AppendError::Rejected(_)) => return None,
            Err(_) if persist == Persist::GiveUp && workload.give_up(attempts) => return None,
            Err(_) => workload.backoff(env, attempts).await,
        }
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
        // A lane behind its schedule (no leader for a while) holds requests
        // the schedule gave it in the fault phase; in the settle phase a
        // client sends nothing new, so they are never sent.
        if workload.settling() {
            return;
        }
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
        read_from: 0,
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
        match log.submit(command, workload.client_timeout).await {
            Ok(committed) => {
                return Outcome::Acknowledged {
                    receipt: Receipt::LogIndex(committed.index),
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
