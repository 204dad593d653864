//! The verdict of a finished run: ground truth read from the synced disks
//! with the system's own recovery code, the online checkers' last probe,
//! the kind's final checks and liveness.

use ledger::{
    db::{DurableReader, Recovered},
    log::DurableLog,
};
use std::{
    collections::BTreeMap,
    panic::{AssertUnwindSafe, catch_unwind},
    sync::PoisonError,
    time::Duration,
};

use super::{RunOutcome, Simulated, Verdict, crashed, outcome, panic_message};
use crate::{
    check::{self, CheckResult, GroundTruth, Online},
    kinds,
    scenario::Scenario,
    trace::TraceSummary,
};

pub(super) fn judge(
    scenario: &Scenario,
    summary: TraceSummary,
    online: &mut Online,
    mut simulated: Simulated,
) -> RunOutcome {
    // What the final checks find at the end is dated at the quiet tail's
    // end, where the run converged; the final probe's own finding carries
    // the time it was made.
    let end = simulated.fault_phase + simulated.settle_phase + simulated.quiet_tail;
    // Ground truth is read with the system's own recovery and decoders, so
    // a panic in them is this run's crash, not the end of a fuzz run.
    let db_reader = std::mem::take(&mut simulated.db_reader);
    let checked = catch_unwind(AssertUnwindSafe(|| {
        checks(scenario, online, &simulated, db_reader, end)
    }));
    let checks = match checked {
        Ok(checks) => checks,
        Err(panic) => {
            let message = format!("in the final checks: {}", panic_message(&panic));
            return crashed(scenario, summary, message);
        }
    };
    let verdict = verdict(scenario, &checks);
    let mut outcome = outcome(scenario, summary, checks, verdict);
    outcome.sim_time = end + simulated.final_probe;
    outcome.fault_phase = simulated.fault_phase;
    outcome.settle_phase = simulated.settle_phase;
    outcome.quiet_tail = simulated.quiet_tail;
    outcome.final_probe = simulated.final_probe;
    outcome.in_flight_at_tail = simulated.in_flight_at_tail;
    outcome.requests = simulated.history.counts();
    outcome.net = simulated.net;
    outcome.crash_points = simulated.crash_points;
    outcome
}

/// Every checker's result: the online checkers after a last probe, the
/// kind's final checks and liveness, against the disks and chain as the
/// run left them.
fn checks(
    scenario: &Scenario,
    online: &mut Online,
    simulated: &Simulated,
    db_reader: DurableReader,
    end: Duration,
) -> Vec<CheckResult> {
    let kind = kinds::of(scenario.workload.kind);
    let topology = kinds::topology(scenario);
    let disk = |name: &String| &simulated.disks[name];
    // A last look by the online checkers, before the chain is locked here;
    // the logs are then read on from there, the same way.
    online.probe_synced_logs(end);
    let replicas: BTreeMap<String, DurableLog> = online.take_synced_logs();
    // Ground truth is read one way, whatever bug is planted: the synced
    // commits up to the first bad record (going on from the database's
    // last look, which read them the same way).
    let database: Option<Recovered> = topology.db.first().map(|name| db_reader.finish(disk(name)));
    online.probe_chain(end);
    let chain = simulated
        .chain
        .as_ref()
        .map(|chain| chain.lock().unwrap_or_else(PoisonError::into_inner));
    let mut truth = GroundTruth {
        scenario,
        history: &simulated.history,
        replicas: &replicas,
        database: database.as_ref(),
        lost_disks: &simulated.lost_disks,
        db_looks: &simulated.db_looks,
        chain: chain.as_deref(),
        pending: &simulated.pending,
        lives: &simulated.lives,
        retired: &simulated.retired,
        block_times: &simulated.block_times,
        height_times: &simulated.height_times,
        crash_times: &simulated.crash_times,
        db_commits: &simulated.db_commits,
        stall: simulated.stall.as_ref(),
        end,
    };
    // A stalled run's reasons, with where things stand by ground truth.
    let stall = simulated.stall.clone().map(|mut stall| {
        stall.reasons.extend(kind.stall_details(&truth));
        stall
    });
    truth.stall = stall.as_ref();
    let mut violations = online.violations().to_vec();
    violations.extend(kind.final_checks(&truth));
    violations.extend(check::liveness_check(&truth));
    check::results(kind.checkers(), &violations, online.uncounted())
}

/// A run with `[expect]` passes when the expected checker fired; any other
/// fails by its worst violation, safety before liveness.
fn verdict(scenario: &Scenario, checks: &[CheckResult]) -> Verdict {
    let failed = |safety: bool| {
        checks
            .iter()
            .any(|check| !check.passed() && check.checker.is_safety() == safety)
    };
    if let Some(expect) = &scenario.expect {
        let found = checks
            .iter()
            .any(|check| check.checker == expect.violation && !check.passed());
        return if found {
            Verdict::Pass
        } else {
            Verdict::ExpectationUnmet
        };
    }
    if failed(true) {
        Verdict::SafetyViolation
    } else if failed(false) {
        Verdict::LivenessFailure
    } else {
        Verdict::Pass
    }
}
