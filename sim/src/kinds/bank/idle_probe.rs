//! Whether the database aborts the transactions clients leave open. A
//! client's rollback is best effort, and a commit's answer can be lost:
//! the database promises to abort a transaction idle for its timeout
//! (within one sweep of it, [`idle_abort_within`]), and clients count on
//! that. Once a run has gone quiet, the first client asks about every
//! transaction a client left open with no answer to its commit or
//! rollback, by rolling it back by its id, after the database has had
//! longer than that to abort it even on a clock running slow by the most
//! drift a scenario sets. The database must not know any of them.
//!
//! When the probe is sent nothing of those transactions can still reach
//! the database: their clients have moved on, the quiet tail ended with no
//! delayed or duplicated copy on the wire, and the probe waits out the
//! network's latency. A request sent after that (a barrier) is handled
//! after every copy that landed, since the database handles requests one
//! at a time in arrival order, so its answer bounds when the database
//! last saw any of them active. Late resends of answered requests may
//! still run meanwhile: they begin transactions of their own, which the
//! probe does not ask about.

use ledger::{
    db::{DbClient, DbError, Isolation, TxnError, TxnId, idle_abort_within},
    net::DEFAULT_LATENCY,
};
use std::time::Duration;

use crate::{
    events::now,
    history::{IdleProbe, ProbeAnswer},
    scenario::MAX_DRIFT_PPM,
    workload::{Prober, Workload},
};

/// Transactions asked about at most: as many as the database may hold.
const MAX_PROBED: usize = ledger::db::MAX_OPEN_TXNS;

/// How long of true time, after the database last saw a transaction
/// active, it has aborted it as idle at the latest: [`idle_abort_within`]
/// by a clock running slow by the most drift a scenario sets, plus the
/// longest sync (the sweep runs between requests, so one due while a
/// commit syncs waits for it), and a millisecond to spare for rounding.
pub(super) fn aborted_within(idle_timeout: Duration, longest_sync: Duration) -> Duration {
    let by_its_clock = (idle_abort_within(idle_timeout) + longest_sync).as_nanos();
    let slowest = u128::from(1_000_000 - MAX_DRIFT_PPM);
    let nanos = by_its_clock * 1_000_000 / slowest;
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX)) + Duration::from_millis(1)
}

/// The most simulated time the probe takes once started: the network's
/// latency, a barrier and its rollback, the wait, and the probes (sent at
/// once), each call at most the client's timeout, and a second to spare.
pub(super) fn probe_budget(
    idle_timeout: Duration,
    longest_sync: Duration,
    client_timeout: Duration,
) -> Duration {
    DEFAULT_LATENCY.end
        + client_timeout * 3
        + aborted_within(idle_timeout, longest_sync)
        + Duration::from_secs(1)
}

/// Waits until the harness starts the probe, then makes it.
pub(super) async fn run(mut prober: Prober, workload: &Workload, db: &DbClient) {
    if prober.started().await {
        probe(workload, db).await;
        prober.finish();
    }
}

async fn probe(workload: &Workload, db: &DbClient) {
    // The newest, should there be more: older ones are the likelier to
    // have been lost in a restart of the database since.
    let mut left_open: Vec<(String, u64)> = workload.history(|history| {
        history
            .begun()
            .iter()
            .rev()
            .filter(|begun| begun.left_open)
            .take(MAX_PROBED)
            .map(|begun| (begun.label.clone(), begun.txn))
            .collect()
    });
    left_open.reverse();
    if left_open.is_empty() {
        return;
    }
    madsim::time::sleep(DEFAULT_LATENCY.end).await;
    // Any answer means the barrier was handled; none leaves the probe
    // without a bound, so it asks nothing.
    let quiet_since = match db.begin(Isolation::ReadCommitted).await {
        Ok(barrier) => {
            let quiet_since = now();
            let _ = barrier.rollback().await;
            quiet_since
        }
        Err(DbError::Failed(_) | DbError::Rejected(_)) => now(),
        Err(_) => return,
    };
    let due = quiet_since + aborted_within(workload.db_idle_timeout, workload.db_longest_sync);
    madsim::time::sleep(due.saturating_sub(now())).await;
    let sent_at = now();
    let answers = futures::future::join_all(
        left_open
            .iter()
            .map(|(_, txn)| async move { db.rollback(TxnId(*txn)).await }),
    )
    .await;
    for ((label, txn), answer) in left_open.into_iter().zip(answers) {
        let answer = match answer {
            Ok(()) => ProbeAnswer::Held,
            Err(DbError::Failed(TxnError::Unknown(_))) => ProbeAnswer::Gone,
            Err(_) => ProbeAnswer::Unanswered,
        };
        workload.idle_probed(IdleProbe {
            label,
            txn,
            quiet_since,
            sent_at,
            answer,
        });
    }
}
