//! Which nodes a scenario runs, and their names.

use super::Scenario;

/// The database node's name: a run has at most one.
pub(crate) const DB: &str = "db";

/// The nodes of one run, by role, in name order within each role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Topology {
    /// Raft log replicas, `log-1` ...
    pub(crate) log: Vec<String>,
    /// The database node, `db`, when the workload needs one.
    pub(crate) db: Vec<String>,
    /// The ledger's service replicas, `ledger-1` ...
    pub(crate) ledger: Vec<String>,
    /// The canonical chain, `chain`: it never crashes.
    pub(crate) chain: Vec<String>,
    /// The chain's RPC nodes, `chain-rpc-1` ...
    pub(crate) chain_rpc: Vec<String>,
    /// Client nodes, `client-1` ...: they never crash.
    pub(crate) clients: Vec<String>,
}

/// Which parts of the system a workload kind runs (clients always run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Roles {
    pub(crate) log: bool,
    pub(crate) db: bool,
    pub(crate) chain: bool,
    pub(crate) ledger: bool,
}

impl Topology {
    /// The nodes of `scenario` when its kind runs `roles`.
    pub(crate) fn build(scenario: &Scenario, roles: Roles) -> Topology {
        let numbered = |on: bool, prefix: &str, count: u32| -> Vec<String> {
            if on {
                (1..=count).map(|i| format!("{prefix}-{i}")).collect()
            } else {
                Vec::new()
            }
        };
        let single = |on: bool, name: &str| -> Vec<String> {
            if on {
                vec![name.to_owned()]
            } else {
                Vec::new()
            }
        };
        let cluster = &scenario.cluster;
        Topology {
            log: numbered(roles.log, "log", cluster.log_replicas),
            db: single(roles.db, DB),
            ledger: numbered(roles.ledger, "ledger", cluster.ledger_replicas),
            chain: single(roles.chain, "chain"),
            chain_rpc: numbered(roles.chain, "chain-rpc", cluster.chain_rpc_nodes),
            clients: numbered(true, "client", cluster.clients),
        }
    }

    /// Nodes the nemesis may crash, pause or skew.
    pub(crate) fn crashable(&self) -> impl Iterator<Item = &String> {
        self.log
            .iter()
            .chain(&self.db)
            .chain(&self.ledger)
            .chain(&self.chain_rpc)
    }

    /// Every node, clients and the chain included.
    pub(crate) fn all(&self) -> impl Iterator<Item = &String> {
        self.crashable().chain(&self.chain).chain(&self.clients)
    }
}
