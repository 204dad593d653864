//! Appends the replica's commands to the log, one batch at a time.
//!
//! The log's client session allows one outstanding command per session, so
//! one task owns the session: it batches whatever is queued into one entry
//! and retries that entry under the same sequence number until the log
//! takes it. A retry that lands twice is applied once by the log's session;
//! one that lands after its caller gave up is still a valid command, which
//! the fold judges on its own.
//!
//! Each append asks the log to send back the committed entries from the
//! first this replica's fold lacks: the acknowledgement hands them to the
//! applier ([`Folded::offer`]), which folds up to the appended entry
//! without a read of its own.

use futures::{
    StreamExt,
    channel::{mpsc, oneshot},
};
use std::time::Duration;

use super::{
    applier::{Folded, SharedFold},
    types::{Command, encode_batch},
};
use crate::{
    log::{AppendError, ClientAppend, LogClient},
    node::NodeEnv,
    observe::Mark,
    stable_hash::stable_hash,
};

/// Payload bytes per entry at most, under the log's command limit.
const MAX_BATCH_BYTES: usize = 3 * 1024;
/// The pause before retrying an entry the log did not take.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

type Waiter = oneshot::Sender<u64>;

/// A handle to queue commands for the log.
#[derive(Clone)]
pub struct Appender {
    queue: mpsc::UnboundedSender<(Command, Waiter)>,
    /// The log session this incarnation appends under: the `client` of
    /// every entry it appended.
    pub session: u64,
}

impl Appender {
    /// Starts the appending task of this incarnation.
    pub fn start(
        env: &NodeEnv,
        incarnation: u64,
        log: LogClient,
        timeout: Duration,
        fold: SharedFold,
    ) -> Appender {
        let (queue, commands) = mpsc::unbounded();
        // A session per incarnation: a restarted replica never reuses the
        // sequence numbers of its earlier life.
        let session = stable_hash(&(env.name.as_str(), incarnation));
        madsim::task::spawn_local(run(env.clone(), log, session, timeout, commands, fold));
        Appender { queue, session }
    }

    /// Appends `command`; resolves to the index of the entry holding it once
    /// committed. Never resolves if the log never takes it (callers bound
    /// their wait).
    pub async fn append(&self, command: Command) -> Option<u64> {
        let (waiter, index) = oneshot::channel();
        self.queue.unbounded_send((command, waiter)).ok()?;
        index.await.ok()
    }
}

async fn run(
    env: NodeEnv,
    mut log: LogClient,
    session: u64,
    timeout: Duration,
    mut queue: mpsc::UnboundedReceiver<(Command, Waiter)>,
    fold: SharedFold,
) {
    let mut seq = 0;
    let mut waiting: Option<(Command, Waiter)> = None;
    loop {
        let Some(first) = waiting.take().or(queue.next().await) else {
            return;
        };
        let mut batch = vec![first];
        let mut bytes = encode_batch(std::slice::from_ref(&batch[0].0)).len();
        while let Ok(next) = queue.try_recv() {
            let size = encode_batch(std::slice::from_ref(&next.0)).len();
            if bytes + size > MAX_BATCH_BYTES {
                waiting = Some(next);
                break;
            }
            bytes += size;
            batch.push(next);
        }
        let commands: Vec<Command> = batch.iter().map(|(command, _)| command.clone()).collect();
        seq += 1;
        let mut append = ClientAppend {
            client: session,
            seq,
            data: encode_batch(&commands),
            read_from: 0,
        };
        let index = loop {
            append.read_from = fold.borrow().fold.applied() + 1;
            match log.submit(&append, timeout).await {
                Ok(committed) => {
                    Folded::offer(&fold, append.read_from, committed.entries);
                    break committed.index;
                }
                // Neither happens to a well-formed batch on a session only
                // this task uses.
                Err(error @ (AppendError::Rejected(_) | AppendError::Stale)) => {
                    tracing::error!(node = %env.name, %error, "the log refused a batch");
                    break 0;
                }
                Err(error) => {
                    tracing::debug!(node = %env.name, %error, seq, "append failed; retrying");
                    env.sleep(RETRY_PAUSE).await;
                }
            }
        };
        if index == 0 {
            continue;
        }
        for (_, waiter) in batch {
            if waiter.send(index).is_err() {
                // Its caller stopped waiting; the log holds it all the same.
                env.mark(Mark::CommittedAfterCallerGaveUp);
            }
        }
    }
}
