//! Kind `bank`: clients move money between accounts in database
//! transactions; only the database runs.

mod checks;
mod client;
mod idle_probe;
mod reversal;
mod settle;
mod watched;

pub(crate) use client::{ACCOUNTS, encode_balance};

use futures::future::LocalBoxFuture;
use ledger::{bugs::Checker, chain::ChainState, db::Key, net::Rpc, node::NodeEnv};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::{sync::Arc, time::Duration};

use super::{Kind, money_fits};
use crate::{
    check::{GroundTruth, Violation},
    history::History,
    scenario::{Invalid, Roles, Scenario},
    words::count,
    workload::Workload,
};

pub(super) struct Bank;

impl Kind for Bank {
    fn roles(&self) -> Roles {
        Roles {
            log: false,
            db: true,
            chain: false,
            ledger: false,
        }
    }

    fn checkers(&self) -> &'static [Checker] {
        &[
            Checker::Conservation,
            Checker::Isolation,
            Checker::Durability,
            Checker::Liveness,
        ]
    }

    fn describe(&self, scenario: &Scenario) -> String {
        format!(
            "bank: db, {}, {} between {}",
            count(scenario.cluster.clients, "client"),
            count(scenario.workload.requests, "transfer"),
            count(scenario.workload.accounts, "account")
        )
    }

    fn shape(&self, rng: &mut ChaCha8Rng, scenario: &mut Scenario) {
        // Few accounts and many clients make transfers contend.
        scenario.cluster.clients = rng.gen_range(2..=6);
        scenario.workload.accounts = rng.gen_range(2..=8);
    }

    fn validate(&self, scenario: &Scenario) -> Result<(), Invalid> {
        if scenario.workload.accounts < 2 {
            return Err(Invalid {
                key: "workload.accounts".to_owned(),
                message: "expected at least 2: a bank transfer moves money between two accounts"
                    .to_owned(),
            });
        }
        money_fits(scenario, u64::from(scenario.workload.accounts), 0)
    }

    fn db_genesis(&self, scenario: &Scenario) -> Vec<(String, Key, Vec<u8>)> {
        (0..i64::from(scenario.workload.accounts))
            .map(|account| {
                let balance = encode_balance(scenario.system.initial_balance);
                (ACCOUNTS.to_owned(), Key::Int(account), balance)
            })
            .collect()
    }

    fn final_probe_budget(&self, scenario: &Scenario) -> Duration {
        idle_probe::probe_budget(
            scenario.system.db_idle_timeout.0,
            scenario.system.sync_latency.end.0,
            scenario.workload.client_timeout.0,
        )
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
        let writes = history
            .settle_writes()
            .iter()
            .filter(|write| write.acknowledged.is_none())
            .map(|write| match &write.last_failure {
                None => format!(
                    "client {}'s write since the faults stopped is not yet acknowledged",
                    write.client
                ),
                Some(why) => format!(
                    "client {}'s write since the faults stopped is not acknowledged after {} (the last: {why})",
                    write.client,
                    count(u64::from(write.attempts), "attempt")
                ),
            });
        Box::new(history.pending().map(super::unanswered).chain(writes))
    }

    fn final_checks(&self, truth: &GroundTruth<'_>) -> Vec<Violation> {
        let Some(recovered) = truth.database else {
            return Vec::new();
        };
        let bank = checks::BankTruth {
            recovered,
            accounts: truth.scenario.workload.accounts,
            initial_balance: truth.scenario.system.initial_balance,
        };
        let mut violations = checks::conservation(&bank, truth.end);
        violations.extend(checks::durability(&bank, truth.history, truth.end));
        violations.extend(checks::settle_writes_durable(&bank, truth.history));
        violations.extend(checks::commits_asked_for(truth.history, truth.db_commits));
        violations.extend(checks::isolation(truth.history, truth.end));
        violations.extend(checks::refusals_founded(truth.history, truth.db_commits));
        let crashes = truth
            .crash_times
            .get(crate::scenario::DB)
            .map_or(&[][..], Vec::as_slice);
        let idle_timeout = truth.scenario.system.db_idle_timeout.0;
        violations.extend(checks::idle_timeout(truth.history, crashes, idle_timeout));
        violations.extend(checks::idle_aborted(truth.history, idle_timeout));
        violations
    }
}
