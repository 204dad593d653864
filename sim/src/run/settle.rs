//! The end of a run: the settle phase, healed, waits for the cluster to
//! converge; the quiet tail then waits, with no faults, for everything in
//! flight to land.

use std::{sync::PoisonError, time::Duration};

use crate::{
    check::Stall,
    events::now,
    kinds,
    scenario::{Dur, LOG_LEADER},
    workload::Workload,
    world::World,
};

/// How often the settle phase and the quiet tail look at the cluster.
const SETTLE_POLL: Duration = Duration::from_millis(50);

/// Polls in a row that must find the cluster converged and nothing in
/// flight before the quiet tail ends.
const QUIET_POLLS: u32 = 2;

/// Waits until the cluster has converged or `settle` has passed; what is
/// left unconverged then is why the run stalled. A cluster still settling
/// as `settle` ends gets `settle` again, and again, while it still is, up
/// to `longest` (the same as `settle` when the scenario set it).
pub(super) async fn converge(
    world: &World,
    workload: &Workload,
    settle: Duration,
    longest: Duration,
) -> Option<Stall> {
    let start = now();
    let mut deadline = settle;
    let mut progress = LastStretch::ending(deadline, settle);
    loop {
        // Sleep first: nodes restarted just now must boot and report before
        // their progress can be judged.
        madsim::time::sleep(SETTLE_POLL).await;
        // Converged: no stall to report.
        convergence(world, workload, Detail::Whether)?;
        let waited = now() - start;
        progress.look(world, workload, waited);
        if waited >= deadline {
            let mut stall = convergence(world, workload, Detail::All)?;
            let still = progress.still_settling(world, workload);
            // Requests settling, not a log growing alone: a cluster that
            // elects leader after leader grows its log by their no-ops.
            if still.as_ref().is_some_and(|still| still.requests > 0) && deadline < longest {
                deadline = deadline.saturating_add(settle).min(longest);
                progress = LastStretch::ending(deadline, settle);
                continue;
            }
            if let Some(still) = still {
                let advice = advice(settle, deadline, longest);
                stall.reasons.insert(0, still.reason(&advice));
            }
            return Some(stall);
        }
    }
}

/// What to do about a settle phase of `settle`, ended at `deadline`, that
/// was still settling: extended as far as it goes (`longest`), a longer
/// `settle` is no help.
fn advice(settle: Duration, deadline: Duration, longest: Duration) -> String {
    if longest > settle && deadline >= longest {
        format!(
            "after the longest settle phase a file may have, {}",
            Dur(longest)
        )
    } else {
        "so a longer `settle` may let it converge".to_owned()
    }
}

/// A phase's last stretch is its last 1/`LAST_STRETCH`: progress in it
/// (requests settled, the log grown) tells a cluster slow to converge (a
/// slow disk, a long chain lag, many requests) from a stuck one, whose other
/// requests settled long before and whose log stands still (as with the
/// planted liveness bug).
const LAST_STRETCH: u32 = 4;

/// Where a phase stood as its last stretch began.
struct LastStretch {
    begins: Duration,
    length: Duration,
    then: Option<Progress>,
}

/// What a cluster has done so far, in the counts a stall report compares.
#[derive(Debug, Clone, Copy)]
struct Progress {
    /// Requests not settled yet, counting accepted transfers whose payout
    /// the ledger has yet to confirm (their clients may have given up on
    /// them long before).
    unsettled: usize,
    /// The furthest index a log replica has applied.
    log_applied: u64,
}

impl Progress {
    fn now(world: &World, workload: &Workload) -> Self {
        let chain = world
            .chain()
            .map(|chain| chain.lock().unwrap_or_else(PoisonError::into_inner));
        let requests = workload.history(|history| {
            kinds::of(workload.kind()).unsettled_count(history, chain.as_deref())
        });
        let payouts = world.view(|view| view.unconfirmed_payouts());
        Self {
            unsettled: requests + payouts as usize,
            log_applied: log_applied(world),
        }
    }
}

impl LastStretch {
    /// The last stretch of a phase of `phase` that ends at `end`, both
    /// counted from where the phase's first stretch began.
    fn ending(end: Duration, phase: Duration) -> Self {
        let length = phase / LAST_STRETCH;
        Self {
            begins: end.saturating_sub(length),
            length,
            then: None,
        }
    }

    fn of(phase: Duration) -> Self {
        Self::ending(phase, phase)
    }

    /// Notes where the cluster stands once `waited` reaches the last
    /// stretch.
    fn look(&mut self, world: &World, workload: &Workload, waited: Duration) {
        if self.then.is_none() && waited >= self.begins {
            self.then = Some(Progress::now(world, workload));
        }
    }

    /// Says so when the cluster made progress in the last stretch.
    fn still_settling(&self, world: &World, workload: &Workload) -> Option<StillSettling> {
        let then = self.then?;
        let now = Progress::now(world, workload);
        let settled = then.unsettled.saturating_sub(now.unsettled);
        let grew = now.log_applied.saturating_sub(then.log_applied);
        (settled > 0 || grew > 0).then_some(StillSettling {
            requests: settled,
            grew,
            stretch: self.length,
        })
    }
}

/// Progress in a phase's last stretch.
struct StillSettling {
    /// Requests settled in it.
    requests: usize,
    /// Entries the log applied in it.
    grew: u64,
    stretch: Duration,
}

impl StillSettling {
    /// What a stall report says of it, with `advice` on what to do when
    /// requests were settling.
    fn reason(&self, advice: &str) -> String {
        let stretch = crate::words::seconds(self.stretch);
        let grew = self.grew;
        match self.requests {
            // A log growing alone is no sign of converging: a worker whose
            // every intent is refused, or leader after leader elected,
            // grows it too. Say what happened, not that it was settling.
            0 => format!(
                "no request settled in its last {stretch}, though the log grew by \
                 {grew} entries (a backlog being worked through, or a cluster going round \
                 in circles: a longer `settle` would tell)"
            ),
            settled if grew == 0 => format!(
                "still settling when it ended ({settled} requests settled in its last \
                 {stretch}, {advice})"
            ),
            settled => format!(
                "still settling when it ended ({settled} requests settled and the log grew by \
                 {grew} entries in its last {stretch}, {advice})"
            ),
        }
    }
}

/// The quiet tail of a converged run: no faults, and time for everything
/// in flight to land. It ends once `minimum` has passed and nothing is in
/// flight with the cluster still converged; if that never comes, what is
/// left is why the run did not settle.
pub(super) async fn quiet_tail(
    world: &World,
    workload: &Workload,
    minimum: Duration,
    grace: Duration,
) -> Option<Stall> {
    let start = now();
    let mut quiet_polls = 0;
    let mut progress = LastStretch::of(minimum + grace);
    loop {
        madsim::time::sleep(SETTLE_POLL).await;
        let in_flight = world.in_flight();
        let converged = convergence(world, workload, Detail::Whether).is_none();
        let quiet = converged && in_flight.is_empty();
        quiet_polls = if quiet { quiet_polls + 1 } else { 0 };
        let waited = now() - start;
        if quiet_polls >= QUIET_POLLS && waited >= minimum {
            return None;
        }
        progress.look(world, workload, waited);
        if waited >= minimum + grace {
            let mut reasons = convergence(world, workload, Detail::All)
                .map(|stall| stall.reasons)
                .unwrap_or_default();
            // The tail's length comes from `settle` (what the settle phase
            // left unused) or from the chain's pace.
            if let Some(still) = progress.still_settling(world, workload) {
                reasons.insert(0, still.reason("so a longer `settle` may let it converge"));
            }
            if !in_flight.is_empty() {
                reasons.push(format!(
                    "the quiet tail never became quiet: after {:.3}s, {in_flight}",
                    waited.as_secs_f64()
                ));
            }
            return (!reasons.is_empty()).then_some(Stall {
                reasons,
                in_quiet_tail: true,
            });
        }
    }
}

/// How many of the requests not settled a stall names; the kinds explain
/// the stuck ones in detail after them (a transfer's payout, for one), and
/// a run that stalls with hundreds unanswered says no more by listing all.
const UNSETTLED_SHOWN: usize = 5;

/// How much a convergence check says of the requests not settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Detail {
    /// Only whether any is, enough to know the run has not converged:
    /// asked every poll, and a run has up to a hundred thousand requests,
    /// whose reasons may each cost a search.
    Whether,
    /// All of them, for the report of a stall.
    All,
}

/// Why the cluster has not converged yet, or `None` once it has: a leader is
/// up, every replica has applied as far as any, the ledger has settled every
/// payout, every request is answered as its kind requires, every node is up
/// but those retired for good.
fn convergence(world: &World, workload: &Workload, detail: Detail) -> Option<Stall> {
    let mut reasons = log_unconverged(world);
    reasons.extend(ledger_unconverged(world));
    let chain = world
        .chain()
        .map(|chain| chain.lock().unwrap_or_else(PoisonError::into_inner));
    workload.history(|history| {
        let kind = kinds::of(workload.kind());
        let chain = chain.as_deref();
        match detail {
            Detail::Whether => {
                if !kind.settled(history, chain) {
                    reasons.push("requests are not settled".to_owned());
                }
            }
            Detail::All => {
                let shown: Vec<String> = kind
                    .unsettled(history, chain)
                    .take(UNSETTLED_SHOWN)
                    .collect();
                let more = kind.unsettled_count(history, chain) - shown.len();
                reasons.extend(shown);
                if more > 0 {
                    reasons.push(format!("and {more} more requests not settled"));
                }
            }
        }
    });
    if !world.all_up() {
        reasons.push("a node is still down".to_owned());
    }
    // Up is not serving: a database recovers (a fresh disk syncs its
    // genesis) before it answers, and its disk is what the checks read.
    for db in &world.topology().db {
        if !world.retired(db) && !world.view(|view| view.serving_db(db)) {
            reasons.push(format!("{db} has not recovered"));
        }
    }
    (!reasons.is_empty()).then_some(Stall {
        reasons,
        in_quiet_tail: false,
    })
}

/// A log converges once a leader has committed in its term and every replica
/// not retired has applied as far as the furthest.
fn log_unconverged(world: &World) -> Vec<String> {
    let log = &world.topology().log;
    let mut reasons = Vec::new();
    if log.is_empty() {
        return reasons;
    }
    match world.resolve(LOG_LEADER) {
        Err(reason) => reasons.push(format!("no log leader ({reason})")),
        Ok(leader) if !world.view(|view| view.leader_committed_in_term()) => {
            reasons.push(format!(
                "the log leader {leader} has committed nothing in its term"
            ));
        }
        Ok(_) => {}
    }
    // A retired replica is gone for good: the others must go on without it.
    let applied: Vec<(&String, Option<u64>)> = log
        .iter()
        .filter(|node| !world.retired(node))
        .map(|node| (node, world.view(|view| view.applied(node))))
        .collect();
    let furthest = applied
        .iter()
        .filter_map(|(_, index)| *index)
        .max()
        .unwrap_or(0);
    for (node, index) in &applied {
        match index {
            None => reasons.push(format!("{node} has not recovered")),
            Some(index) if *index < furthest => reasons.push(format!(
                "{node} has applied up to index {index}, others up to {furthest}"
            )),
            Some(_) => {}
        }
    }
    reasons
}

/// The ledger converges once some replica has folded the whole log with
/// every accepted transfer confirmed, and every replica reaches the
/// database.
fn ledger_unconverged(world: &World) -> Vec<String> {
    let mut reasons = Vec::new();
    if world.topology().ledger.is_empty() {
        return reasons;
    }
    let committed = log_applied(world);
    world.view(|view| {
        if !view.payouts_settled(committed) {
            reasons.push(format!(
                "no ledger replica has folded the log up to index {committed} with every accepted transfer confirmed"
            ));
        }
        for replica in view.cut_off_from_db() {
            reasons.push(format!("{replica} cannot reach the database"));
        }
    });
    reasons
}

/// The furthest index a log replica up has applied: committed, since
/// replicas apply only what is.
fn log_applied(world: &World) -> u64 {
    world.view(|view| {
        world
            .topology()
            .log
            .iter()
            .filter_map(|node| view.applied(node))
            .max()
            .unwrap_or(0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minutes(count: u64) -> Duration {
        Duration::from_secs(60 * count)
    }

    #[test]
    fn only_requests_settling_read_as_still_settling() {
        let stretch = Duration::from_secs(15);
        let still = |requests, grew| StillSettling {
            requests,
            grew,
            stretch,
        };
        let advice = advice(minutes(1), minutes(1), minutes(1));
        assert_eq!(
            still(34, 80).reason(&advice),
            "still settling when it ended (34 requests settled and the log grew by 80 entries \
             in its last 15s, so a longer `settle` may let it converge)"
        );
        assert_eq!(
            still(3, 0).reason(&advice),
            "still settling when it ended (3 requests settled in its last 15s, so a longer \
             `settle` may let it converge)"
        );
        assert_eq!(
            still(0, 389).reason(&advice),
            "no request settled in its last 15s, though the log grew by 389 entries (a backlog \
             being worked through, or a cluster going round in circles: a longer `settle` \
             would tell)"
        );
    }

    #[test]
    fn the_advice_says_a_longer_settle_is_no_help_only_at_the_longest() {
        let longer = "so a longer `settle` may let it converge";
        // Set by the file: the phase is never extended.
        assert_eq!(advice(minutes(1), minutes(1), minutes(1)), longer);
        // Unset, ended at its default (nothing settling to extend it for).
        assert_eq!(advice(minutes(1), minutes(1), minutes(60)), longer);
        assert_eq!(
            advice(minutes(1), minutes(60), minutes(60)),
            "after the longest settle phase a file may have, 1h"
        );
    }
}
