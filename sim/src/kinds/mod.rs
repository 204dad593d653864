//! Workload kinds: everything that differs between what the clients drive,
//! one module per kind behind one trait, [`Kind`]: the parts of the system it
//! runs, how a generated scenario of it is shaped and what a file of it must
//! respect, what the database and chain start with, its client, the
//! checkers that judge it and the final checks they run on ground truth.
//!
//! Adding a kind: a variant of [`WorkloadKind`], a module here implementing
//! [`Kind`], and its line in [`of`]. The match there is exhaustive, so a
//! kind without its module does not build.

mod bank;
mod chain;
mod log;
mod transfers;

pub(crate) use transfers::{PAYOUT_FEE, ledger_account};

use futures::future::LocalBoxFuture;
use ledger::{bugs::Checker, chain::ChainState, net::Rpc, node::NodeEnv};
use rand_chacha::ChaCha8Rng;
use std::{sync::Arc, time::Duration};

use crate::{
    check::{GroundTruth, Violation},
    history::{History, Op},
    scenario::{EventSpec, Invalid, Roles, Scenario, Topology, WorkloadKind},
    workload::Workload,
};

/// What a workload kind brings to a run.
pub(crate) trait Kind: Sync {
    /// The parts of the system its runs start.
    fn roles(&self) -> Roles;

    /// The checkers that judge its runs, in report order.
    fn checkers(&self) -> &'static [Checker];

    /// One line naming what a run of `scenario` drives.
    fn describe(&self, scenario: &Scenario) -> String;

    /// Draws the kind's own shape of a generated scenario: cluster,
    /// workload and system settings (after the draws common to every kind).
    fn shape(&self, rng: &mut ChaCha8Rng, scenario: &mut Scenario);

    /// Draws scheduled faults only this kind's nodes take (after the common
    /// ones).
    fn events(
        &self,
        rng: &mut ChaCha8Rng,
        scenario: &Scenario,
        topology: &Topology,
        events: &mut Vec<EventSpec>,
    ) {
        let _ = (rng, scenario, topology, events);
    }

    /// Whether the database holds only what the kind's system rebuilds from
    /// its log, so that losing its disk (`db-wipe`) is a fault the system
    /// must survive rather than the loss of the only copy.
    fn rebuilds_db(&self) -> bool {
        false
    }

    /// What a scenario of this kind must respect beyond the common rules.
    fn validate(&self, scenario: &Scenario) -> Result<(), Invalid> {
        let _ = scenario;
        Ok(())
    }

    /// The rows the database starts with.
    fn db_genesis(&self, scenario: &Scenario) -> Vec<(String, ledger::db::Key, Vec<u8>)> {
        let _ = scenario;
        Vec::new()
    }

    /// The chain's funded accounts at genesis, and each one's funds.
    fn chain_genesis(&self, scenario: &Scenario) -> (Vec<String>, u64) {
        let _ = scenario;
        (Vec::new(), 0)
    }

    /// How deep ledger replicas confirm payouts, when the kind runs them:
    /// every confirmation is then checked online against the chain.
    fn confirmations_watched(&self, scenario: &Scenario) -> Option<u64> {
        let _ = scenario;
        None
    }

    /// The most simulated time the kind's clients take for a probe once
    /// the run has gone quiet ([`crate::workload::FinalProbe`]); zero for
    /// a kind that makes none.
    fn final_probe_budget(&self, scenario: &Scenario) -> Duration {
        let _ = scenario;
        Duration::ZERO
    }

    /// Client number `index`'s work (from 0), on a node already booted.
    fn client(
        &self,
        env: NodeEnv,
        workload: Arc<Workload>,
        rpc: Rpc,
        index: usize,
    ) -> LocalBoxFuture<'static, ()>;

    /// Why the run has not settled as far as the clients can tell: requests
    /// unanswered, answers that still wait on something. Lazy, since the
    /// settle phase asks every poll and needs only the first reason until
    /// it gives up.
    fn unsettled<'a>(
        &self,
        history: &'a History,
        chain: Option<&'a ChainState>,
    ) -> Box<dyn Iterator<Item = String> + 'a> {
        let _ = chain;
        Box::new(history.pending().map(unanswered))
    }

    /// How many reasons `unsettled` gives, without writing each out: a
    /// settling run counts them now and then to see whether it gets
    /// anywhere, and a kind whose reasons cost a search each counts
    /// them more cheaply.
    fn unsettled_count(&self, history: &History, chain: Option<&ChainState>) -> usize {
        self.unsettled(history, chain).count()
    }

    /// Whether `unsettled` gives no reason at all, asked every settle poll.
    fn settled(&self, history: &History, chain: Option<&ChainState>) -> bool {
        self.unsettled(history, chain).next().is_none()
    }

    /// The kind's final checks on ground truth.
    fn final_checks(&self, truth: &GroundTruth<'_>) -> Vec<Violation>;

    /// Where things stand for a run that did not settle, from ground truth.
    fn stall_details(&self, truth: &GroundTruth<'_>) -> Vec<String> {
        let _ = truth;
        Vec::new()
    }
}

/// The module of workload kind `kind`.
pub(crate) fn of(kind: WorkloadKind) -> &'static dyn Kind {
    match kind {
        WorkloadKind::Transfers => &transfers::Transfers,
        WorkloadKind::Log => &log::Log,
        WorkloadKind::Bank => &bank::Bank,
        WorkloadKind::Chain => &chain::Chain,
    }
}

/// The checkers that judge runs of `kind`, in report order.
pub fn checkers_for(kind: WorkloadKind) -> &'static [Checker] {
    of(kind).checkers()
}

/// The nodes `scenario` runs.
pub(crate) fn topology(scenario: &Scenario) -> Topology {
    Topology::build(scenario, of(scenario.workload.kind).roles())
}

/// The init future of client node number `index` (from 0).
pub(crate) async fn run_client(env: NodeEnv, workload: Arc<Workload>, index: usize) {
    let incarnation = env.boot().await;
    // Clients serve nothing; requests addressed to them are dropped.
    let (rpc, _requests) = Rpc::bind(&env, incarnation).await;
    let kind = of(workload.kind());
    kind.client(env, workload, rpc, index).await;
    // Stay up, so that late replies still find a bound endpoint.
    std::future::pending::<()>().await;
}

/// The reason a request still waits for its answer.
pub(crate) fn unanswered(op: &Op) -> String {
    format!(
        "client {} request {} is unanswered after {} attempts (sent at {:.3}s)",
        op.client,
        op.seq,
        op.attempts,
        op.sent_at.as_secs_f64()
    )
}

/// The money a run holds must fit a `u64` however it is summed: `holders`
/// accounts of `initial_balance` each, and `spare` beside them.
fn money_fits(scenario: &Scenario, holders: u64, spare: u64) -> Result<(), Invalid> {
    let initial = scenario.system.initial_balance;
    let fits = initial
        .checked_mul(holders)
        .and_then(|total| total.checked_add(spare))
        .is_some();
    if fits {
        return Ok(());
    }
    Err(Invalid {
        key: "system.initial_balance".to_owned(),
        message: format!(
            "expected a balance whose total over {holders} accounts fits 64 bits, got {initial}"
        ),
    })
}
