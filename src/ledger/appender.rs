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
/// A command to append and the caller waiting for its index.
type Queued = (Command, Waiter);

/// A handle to queue commands for the log.
#[derive(Clone)]
pub struct Appender {
    queue: mpsc::UnboundedSender<Queued>,
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
    mut queue: mpsc::UnboundedReceiver<Queued>,
    fold: SharedFold,
) {
    let mut seq = 0;
    let mut held: Option<Queued> = None;
    while let Some(batch) = next_batch(&mut held, &mut queue).await {
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

/// The next batch: the command held back from the last one (else the next
/// to arrive), then whatever else is queued, up to [`MAX_BATCH_BYTES`]. The
/// first command that does not fit is held back for the batch after, so
/// the queue's order is the log's. `None` once the queue is closed and
/// nothing is held.
async fn next_batch(
    held: &mut Option<Queued>,
    queue: &mut mpsc::UnboundedReceiver<Queued>,
) -> Option<Vec<Queued>> {
    // Never `held.take().or(queue.next().await)`: its argument is awaited
    // first, so it would wait for a new command while one is held and then
    // drop the new one.
    let first = match held.take() {
        Some(first) => first,
        None => queue.next().await?,
    };
    let mut bytes = encode_batch(std::slice::from_ref(&first.0)).len();
    let mut batch = vec![first];
    while let Ok(next) = queue.try_recv() {
        let size = encode_batch(std::slice::from_ref(&next.0)).len();
        if bytes + size > MAX_BATCH_BYTES {
            *held = Some(next);
            break;
        }
        bytes += size;
        batch.push(next);
    }
    Some(batch)
}

#[cfg(test)]
mod tests {
    use futures::FutureExt;

    use super::*;
    use crate::ledger::types::TransferRequest;

    fn command(n: u64) -> Command {
        Command::Transfer {
            client: 1,
            request: TransferRequest {
                request_id: format!("{n:0>60}"),
                account: "acct-0".to_owned(),
                to_address: "user-1".to_owned(),
                amount: n,
            },
        }
    }

    /// Batches that overflow the byte limit take every queued command once,
    /// in order, each batch at once: the command held back from one batch
    /// opens the next without waiting for another to arrive.
    #[test]
    fn overflowing_batches_keep_every_command_in_order() {
        let (sender, mut queue) = mpsc::unbounded();
        let mut waiters = Vec::new();
        for n in 0..50 {
            let (waiter, index) = oneshot::channel();
            sender
                .unbounded_send((command(n), waiter))
                .expect("queue open");
            waiters.push(index);
        }
        let mut held = None;
        let mut taken = Vec::new();
        let mut batches = 0;
        while taken.len() < 50 {
            let batch = next_batch(&mut held, &mut queue)
                .now_or_never()
                .expect("a held or queued command makes a batch at once")
                .expect("the queue is open");
            let commands: Vec<Command> = batch.iter().map(|(command, _)| command.clone()).collect();
            assert!(encode_batch(&commands).len() <= MAX_BATCH_BYTES);
            taken.extend(commands);
            batches += 1;
        }
        assert!(batches >= 3, "50 commands overflow a batch more than once");
        assert_eq!(taken, (0..50).map(command).collect::<Vec<_>>());
        assert!(held.is_none());
        assert!(
            next_batch(&mut held, &mut queue).now_or_never().is_none(),
            "nothing queued"
        );
        drop(sender);
        assert!(matches!(
            next_batch(&mut held, &mut queue).now_or_never(),
            Some(None)
        ));
    }
}
