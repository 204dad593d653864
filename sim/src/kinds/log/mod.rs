//! Kind `log`: clients append commands to the Raft log directly, and read
//! and write its key-value state machine; only the log replicas run.

mod checks;
mod client;
mod lease;

use futures::future::LocalBoxFuture;
use ledger::{bugs::Checker, chain::ChainState, net::Rpc, node::NodeEnv};
use rand::{Rng, seq::SliceRandom};
use rand_chacha::ChaCha8Rng;
use std::{sync::Arc, time::Duration};

use super::{Kind, unanswered};
use crate::{
    check::{GroundTruth, Violation},
    history::History,
    scenario::{EventSpec, Roles, Scenario, Topology},
    words::count,
    workload::Workload,
};

pub(super) struct Log;

impl Kind for Log {
    fn roles(&self) -> Roles {
        Roles {
            log: true,
            db: false,
            chain: false,
            ledger: false,
        }
    }

    fn checkers(&self) -> &'static [Checker] {
        &[
            Checker::RaftSafety,
            Checker::ExactlyOnce,
            Checker::Durability,
            Checker::Linearizable,
            Checker::Liveness,
        ]
    }

    fn describe(&self, scenario: &Scenario) -> String {
        format!(
            "log: {}, {}, {}",
            count(scenario.cluster.log_replicas, "log replica"),
            count(scenario.cluster.clients, "client"),
            count(scenario.workload.requests, "request")
        )
    }

    fn shape(&self, rng: &mut ChaCha8Rng, scenario: &mut Scenario) {
        scenario.cluster.log_replicas = *[3, 3, 3, 3, 3, 3, 3, 5, 5, 1].choose(rng).expect("sizes");
        scenario.cluster.clients = rng.gen_range(1..=4);
        // Many appends in flight, so a deposed leader holds a long
        // uncommitted tail.
        scenario.workload.requests = rng.gen_range(50..=300);
        lease::shape(rng, scenario);
    }

    fn events(
        &self,
        rng: &mut ChaCha8Rng,
        scenario: &Scenario,
        _topology: &Topology,
        events: &mut Vec<EventSpec>,
    ) {
        lease::events(rng, scenario, events);
    }

    fn client(
        &self,
        env: NodeEnv,
        workload: Arc<Workload>,
        rpc: Rpc,
        index: usize,
    ) -> LocalBoxFuture<'static, ()> {
        Box::pin(async move { client::run(&env, &workload, rpc, index).await })
    }

    fn unsettled<'a>(
        &self,
        history: &'a History,
        _chain: Option<&'a ChainState>,
    ) -> Box<dyn Iterator<Item = String> + 'a> {
        let reads = history
            .unanswered_settle_reads()
            .map(|(session, read)| match read {
                Some(read) => format!(
                    "session {session}'s read of key {}, sent at {:.3}s once the faults had stopped, is unanswered",
                    read.op.key(),
                    Duration::from_micros(read.call).as_secs_f64()
                ),
                None => format!("session {session} has not yet made its read since the faults stopped"),
            });
        Box::new(history.pending().map(unanswered).chain(reads))
    }

    fn final_checks(&self, truth: &GroundTruth<'_>) -> Vec<Violation> {
        let mut violations = checks::final_check(truth);
        violations.extend(checks::linearizable(truth.history, truth.end));
        violations
    }
}
