//! Kind `transfers`: the whole system. Clients ask ledger replicas for
//! payouts; the replicas append them to the Raft log, project them into the
//! database and pay them out on the chain.

mod checks;
mod client;

pub(crate) use client::ledger_account;

use futures::future::LocalBoxFuture;
use ledger::{
    bugs::Checker,
    chain::{ChainState, SigningKey},
    ledger::HOT_WALLET,
    net::Rpc,
    node::NodeEnv,
};
use rand::{Rng, seq::SliceRandom};
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;
use strum::IntoEnumIterator;

use super::{Kind, chain::chain_events, money_fits};
use crate::{
    check::{GroundTruth, Violation, majority_log},
    history::{History, Request},
    scenario::{
        Action, EventSpec, Invalid, LOG_LEADER, Roles, Scenario, SignedDur, Topology, ms, rounded,
    },
    streams,
    words::count,
    workload::Workload,
};

/// The fee of every payout.
pub(crate) const PAYOUT_FEE: u64 = 1;
/// Fees the hot wallet holds beyond every account's balance: room for
/// far more payouts than any run makes.
const FEE_BUDGET: u64 = 1_000_000;

pub(super) struct Transfers;

/// Every checker judges the whole system, but `isolation` and
/// `linearizable`: the ledger's transactions are its own, and its clients
/// run no key-value operations on the log.
static CHECKERS: std::sync::LazyLock<Vec<Checker>> = std::sync::LazyLock::new(|| {
    Checker::iter()
        .filter(|checker| !matches!(checker, Checker::Isolation | Checker::Linearizable))
        .collect()
});

impl Kind for Transfers {
    fn roles(&self) -> Roles {
        Roles {
            log: true,
            db: true,
            chain: true,
            ledger: true,
        }
    }

    fn checkers(&self) -> &'static [Checker] {
        &CHECKERS
    }

    fn describe(&self, scenario: &Scenario) -> String {
        let cluster = &scenario.cluster;
        format!(
            "transfers: {}, {}, db, {}, {}, {}",
            count(cluster.log_replicas, "log replica"),
            count(cluster.ledger_replicas, "ledger replica"),
            count(cluster.chain_rpc_nodes, "RPC node"),
            count(cluster.clients, "client"),
            count(scenario.workload.requests, "request")
        )
    }

    fn shape(&self, rng: &mut ChaCha8Rng, scenario: &mut Scenario) {
        // Most seeds run the default cluster (3 log, 2 ledger, 2 RPC nodes,
        // 3 clients, 100 requests); the rest vary it.
        scenario.workload.requests = 100;
        if rng.gen_bool(0.4) {
            scenario.cluster.log_replicas = *[3, 3, 5, 1].choose(rng).expect("sizes");
            scenario.cluster.ledger_replicas = rng.gen_range(1..=5);
            scenario.cluster.chain_rpc_nodes = rng.gen_range(1..=4);
            scenario.cluster.clients = rng.gen_range(1..=4);
            scenario.workload.requests = rng.gen_range(50..=150);
        }
        scenario.system.block_time = ms(rng.gen_range(5..=10) * 100);
        scenario.system.confirmations = rng.gen_range(2..=4);
        scenario.workload.client_timeout = ms(rng.gen_range(5..=20) * 100);
        scenario.workload.invalid_fraction = rounded(rng.gen_range(0.0..0.2));
        // Some seeds run accounts dry, so valid requests overdraw too.
        if rng.gen_bool(0.2) {
            scenario.system.initial_balance = rng.gen_range(2..=20) * 1000;
        }
    }

    fn events(
        &self,
        rng: &mut ChaCha8Rng,
        scenario: &Scenario,
        topology: &Topology,
        events: &mut Vec<EventSpec>,
    ) {
        chain_events(rng, scenario, events);
        ledger_events(rng, scenario, topology, events);
    }

    /// The database is the ledger's projection of the committed log.
    fn rebuilds_db(&self) -> bool {
        true
    }

    fn validate(&self, scenario: &Scenario) -> Result<(), Invalid> {
        money_fits(scenario, u64::from(scenario.workload.accounts), FEE_BUDGET)
    }

    /// The hot wallet holds every internal account's balance, and fees to
    /// spare.
    fn chain_genesis(&self, scenario: &Scenario) -> (Vec<String>, u64) {
        let funds = scenario
            .system
            .initial_balance
            .saturating_mul(u64::from(scenario.workload.accounts))
            .saturating_add(FEE_BUDGET);
        (vec![HOT_WALLET.to_owned()], funds)
    }

    fn confirmations_watched(&self, scenario: &Scenario) -> Option<u64> {
        Some(u64::from(scenario.system.confirmations))
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
        let unanswered = history.pending().map(|op| match &op.request {
            Request::Payout { request, .. } => format!(
                "client {} request {:?} is unanswered after {} attempts (sent at {:.3}s)",
                op.client,
                request.request_id,
                op.attempts,
                op.sent_at.as_secs_f64()
            ),
            _ => super::unanswered(op),
        });
        let unconfirmed = history.unconfirmed().map(|(op, transfer)| {
            format!(
                "client {} seq {}: transfer {transfer} was accepted and is not reported confirmed yet",
                op.client, op.seq
            )
        });
        Box::new(unanswered.chain(unconfirmed))
    }

    fn unsettled_count(&self, history: &History, _chain: Option<&ChainState>) -> usize {
        history.pending().count() + history.unconfirmed().count()
    }

    fn settled(&self, history: &History, _chain: Option<&ChainState>) -> bool {
        history.pending().next().is_none() && history.unconfirmed().next().is_none()
    }

    fn final_checks(&self, truth: &GroundTruth<'_>) -> Vec<Violation> {
        payouts(truth).map_or_else(Vec::new, |payouts| checks::final_checks(&payouts))
    }

    fn stall_details(&self, truth: &GroundTruth<'_>) -> Vec<String> {
        payouts(truth).map_or_else(Vec::new, |payouts| checks::stall_reasons(&payouts))
    }
}

/// What the transfers checks read, from ground truth.
fn payouts<'a>(truth: &'a GroundTruth<'a>) -> Option<checks::PayoutTruth<'a>> {
    let scenario = truth.scenario;
    Some(checks::PayoutTruth {
        log: majority_log(truth.replicas),
        db: truth.database?,
        lost_disks: truth.lost_disks,
        db_looks: truth.db_looks,
        chain: truth.chain?,
        history: truth.history,
        accounts: (0..scenario.workload.accounts)
            .map(ledger_account)
            .collect(),
        initial_balance: scenario.system.initial_balance,
        rules: checks::reference::PayoutRules {
            hot_wallet: SigningKey::derive(streams::key_secret(scenario.seed), HOT_WALLET),
            fee: PAYOUT_FEE,
        },
        confirmations: u64::from(scenario.system.confirmations),
        converged: truth.stall.is_none(),
        pending: truth.pending,
        lives: truth.lives,
        retired: truth.retired,
        block_times: truth.block_times,
        height_times: truth.height_times,
        end: truth.end,
    })
}

/// Faults aimed at ledger replicas, which coordinate only through the
/// database: cut off from it or from the log leader, paused past their
/// leases, clocks set apart by more than a lease.
fn ledger_events(
    rng: &mut ChaCha8Rng,
    scenario: &Scenario,
    topology: &Topology,
    events: &mut Vec<EventSpec>,
) {
    let duration_ms = scenario.duration().as_millis() as u64;
    let lease_ms = scenario.system.lease.0.as_millis() as u64;
    let at = |rng: &mut ChaCha8Rng| ms(rng.gen_range(0..duration_ms));
    let replica = |rng: &mut ChaCha8Rng| topology.ledger.choose(rng).expect("replicas").clone();
    if rng.gen_bool(0.4) {
        for _ in 0..rng.gen_range(1..=3) {
            let other = if rng.gen_bool(0.5) { "db" } else { LOG_LEADER };
            events.push(EventSpec {
                for_: Some(ms(rng.gen_range(50..=500) * 10)),
                groups: Some(vec![vec![replica(rng)], vec![other.to_owned()]]),
                one_way: rng.gen_bool(0.3).then_some(true),
                ..EventSpec::new(at(rng), Action::Partition)
            });
        }
    }
    if rng.gen_bool(0.4) {
        for _ in 0..rng.gen_range(1..=4) {
            events.push(EventSpec {
                for_: Some(ms(rng.gen_range(lease_ms / 4..=lease_ms * 2))),
                node: Some(replica(rng)),
                ..EventSpec::new(at(rng), Action::Pause)
            });
        }
    }
    if rng.gen_bool(0.3) {
        let spread = lease_ms as i64 * 2;
        for _ in 0..rng.gen_range(1..=3) {
            let mut clock = EventSpec {
                node: Some(replica(rng)),
                ..EventSpec::new(at(rng), Action::Clock)
            };
            if rng.gen_bool(0.5) {
                clock.offset = Some(SignedDur(rng.gen_range(-spread..=spread) * 1_000_000));
            } else {
                clock.jump = Some(SignedDur(rng.gen_range(-spread..=spread) * 1_000_000));
            }
            events.push(clock);
        }
    }
}
