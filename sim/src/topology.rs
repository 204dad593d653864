//! Which nodes a scenario runs, and their names.

use crate::scenario::{Scenario, WorkloadKind};

/// The nodes of one run, by role, in name order within each role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    /// Raft log replicas, `log-1` ...
    pub log: Vec<String>,
    /// The database node, `db`, when the workload needs one.
    pub db: Vec<String>,
    /// The ledger's service replicas, `ledger-1` ...
    pub ledger: Vec<String>,
    /// The canonical chain, `chain`: it never crashes.
    pub chain: Vec<String>,
    /// The chain's RPC nodes, `chain-rpc-1` ...
    pub chain_rpc: Vec<String>,
    /// Client nodes, `client-1` ...: they never crash.
    pub clients: Vec<String>,
}

impl Topology {
    pub fn of(scenario: &Scenario) -> Topology {
        let numbered =
            |prefix: &str, count: u32| (1..=count).map(|i| format!("{prefix}-{i}")).collect();
        let log = match scenario.workload.kind {
            WorkloadKind::Log | WorkloadKind::Transfers => {
                numbered("log", scenario.cluster.log_replicas)
            }
            WorkloadKind::Bank | WorkloadKind::Chain => Vec::new(),
        };
        let db = match scenario.workload.kind {
            WorkloadKind::Bank | WorkloadKind::Transfers => vec!["db".to_owned()],
            WorkloadKind::Log | WorkloadKind::Chain => Vec::new(),
        };
        let runs_chain = matches!(
            scenario.workload.kind,
            WorkloadKind::Chain | WorkloadKind::Transfers
        );
        let ledger = match scenario.workload.kind {
            WorkloadKind::Transfers => numbered("ledger", scenario.cluster.ledger_replicas),
            _ => Vec::new(),
        };
        Topology {
            log,
            db,
            ledger,
            chain: if runs_chain {
                vec!["chain".to_owned()]
            } else {
                Vec::new()
            },
            chain_rpc: if runs_chain {
                numbered("chain-rpc", scenario.cluster.chain_rpc_nodes)
            } else {
                Vec::new()
            },
            clients: numbered("client", scenario.cluster.clients),
        }
    }

    /// Nodes the nemesis may crash, pause or skew.
    pub fn crashable(&self) -> impl Iterator<Item = &String> {
        self.log
            .iter()
            .chain(&self.db)
            .chain(&self.ledger)
            .chain(&self.chain_rpc)
    }

    /// Every node, clients and the chain included.
    pub fn all(&self) -> impl Iterator<Item = &String> {
        self.crashable().chain(&self.chain).chain(&self.clients)
    }
}
