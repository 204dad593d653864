//! Kind `chain`: clients pay each other with signed transactions straight
//! to the chain's RPC nodes; only the chain and its RPC nodes run.

mod checks;
mod client;
mod window;

pub(crate) use client::user_address;

use futures::future::LocalBoxFuture;
use ledger::{bugs::Checker, chain::ChainState, net::Rpc, node::NodeEnv};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;

use super::{Kind, money_fits};
use crate::{
    check::{GroundTruth, Violation},
    history::{History, Request},
    scenario::{Action, EventSpec, Invalid, Roles, Scenario, Topology, ms, rounded},
    words::count,
    workload::Workload,
};

pub(super) struct Chain;

impl Kind for Chain {
    fn roles(&self) -> Roles {
        Roles {
            log: false,
            db: false,
            chain: true,
            ledger: false,
        }
    }

    fn checkers(&self) -> &'static [Checker] {
        &[
            Checker::ChainSafety,
            Checker::ExactlyOnce,
            Checker::Liveness,
        ]
    }

    fn describe(&self, scenario: &Scenario) -> String {
        format!(
            "chain: {}, {}, {}, block every {}",
            count(scenario.cluster.chain_rpc_nodes, "RPC node"),
            count(scenario.cluster.clients, "client"),
            count(scenario.workload.requests, "payment"),
            scenario.system.block_time
        )
    }

    fn shape(&self, rng: &mut ChaCha8Rng, scenario: &mut Scenario) {
        scenario.cluster.clients = rng.gen_range(1..=4);
        scenario.cluster.chain_rpc_nodes = rng.gen_range(1..=4);
        scenario.system.block_time = ms(rng.gen_range(2..=10) * 100);
        scenario.system.confirmations = rng.gen_range(2..=4);
        // A payment waits for its confirmations before the next: fewer.
        scenario.workload.requests = rng.gen_range(10..=60);
        scenario.workload.fee_bumps = rounded(rng.gen_range(0.0..0.5));
    }

    fn events(
        &self,
        rng: &mut ChaCha8Rng,
        scenario: &Scenario,
        _topology: &Topology,
        events: &mut Vec<EventSpec>,
    ) {
        chain_events(rng, scenario, events);
    }

    fn validate(&self, scenario: &Scenario) -> Result<(), Invalid> {
        let workload = &scenario.workload;
        money_fits(scenario, u64::from(scenario.cluster.clients), 0)?;
        // A chain client never skips a nonce, so a payment refused for want
        // of funds would hold up every later one for good.
        let needed = workload
            .max_amount
            .checked_add(client::MAX_FEE)
            .and_then(|most| most.checked_mul(u64::from(workload.requests)));
        let initial = scenario.system.initial_balance;
        if needed.is_none_or(|needed| needed > initial) {
            return Err(Invalid {
                key: "system.initial_balance".to_owned(),
                message: format!(
                    "expected enough for every payment of a chain client ({} payments of up to {} plus a fee of up to {}), got {initial}",
                    workload.requests,
                    workload.max_amount,
                    client::MAX_FEE,
                ),
            });
        }
        Ok(())
    }

    fn chain_genesis(&self, scenario: &Scenario) -> (Vec<String>, u64) {
        let users = (1..=u64::from(scenario.cluster.clients))
            .map(user_address)
            .collect();
        (users, scenario.system.initial_balance)
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
        chain: Option<&'a ChainState>,
    ) -> Box<dyn Iterator<Item = String> + 'a> {
        Box::new(history.pending().map(move |op| match (chain, &op.request) {
            (Some(chain), Request::Payment { .. }) => checks::payment_stall(chain, op),
            _ => super::unanswered(op),
        }))
    }

    /// Each pending payment is one reason; counted without the search
    /// through the chain that says what holds it up.
    fn unsettled_count(&self, history: &History, _chain: Option<&ChainState>) -> usize {
        history.pending().count()
    }

    fn settled(&self, history: &History, _chain: Option<&ChainState>) -> bool {
        history.pending().next().is_none()
    }

    fn final_checks(&self, truth: &GroundTruth<'_>) -> Vec<Violation> {
        let Some(chain) = truth.chain else {
            return Vec::new();
        };
        checks::exactly_once(chain, truth)
    }
}

/// Reorgs (shallower than `confirmations`) and forgetful mempools, for any
/// kind that runs the chain.
pub(super) fn chain_events(rng: &mut ChaCha8Rng, scenario: &Scenario, events: &mut Vec<EventSpec>) {
    let duration_ms = scenario.duration().as_millis() as u64;
    let deepest = scenario.system.confirmations.saturating_sub(1).max(1);
    if rng.gen_bool(0.5) {
        for _ in 0..rng.gen_range(1..=4) {
            events.push(EventSpec {
                depth: Some(rng.gen_range(1..=deepest)),
                drop: Some(rounded(rng.gen_range(0.0..0.5))),
                ..EventSpec::new(ms(rng.gen_range(0..duration_ms)), Action::ChainReorg)
            });
        }
    }
    if rng.gen_bool(0.3) {
        for _ in 0..rng.gen_range(1..=3) {
            events.push(EventSpec::new(
                ms(rng.gen_range(0..duration_ms)),
                Action::ChainDrop,
            ));
        }
    }
}
