//! A replica's bounds, on a real cluster of three on a test fabric: paths
//! no generated scenario takes, since they need more load than a
//! workload sends.

use futures::future::join_all;
// An address value only, as in `net`: no socket is opened.
use std::net::IpAddr;

use super::*;
use crate::{
    log::{AppendError, LogClient},
    net::test_network::{network, outcome_on},
    observe::NodeName,
};

/// A leader cut off from both followers holds `MAX_UNCOMMITTED` commands
/// it cannot commit and answers the next one `Busy`: a leader that cannot
/// reach a majority does not grow its log, its sync work and its followers'
/// catch-up without bound while its clients keep sending.
#[test]
fn a_leader_that_cannot_commit_refuses_commands_past_its_uncommitted_bound() {
    let names = ["log-1", "log-2", "log-3", "client"];
    let runtime = madsim::runtime::Runtime::new();
    let network = network(&runtime, &names, 7);
    let fabric = network.1.clone();
    let [one, two, three, client] = NodeEnv::all_for_tests(&network, names);
    let replicas: Vec<NodeName> = names[..3].iter().map(|name| NodeName::new(name)).collect();
    let config = LogConfig {
        replicas: replicas.clone(),
        election_timeout: Duration::from_millis(150)..Duration::from_millis(300),
        heartbeat: Duration::from_millis(50),
        rpc_timeout: Duration::from_millis(100),
        read_lease: false,
        max_clock_drift_ppm: 0,
    };
    let _replicas: Vec<_> = [one, two, three]
        .into_iter()
        .zip(1u8..)
        .map(|(env, position)| {
            let config = config.clone();
            runtime
                .create_node()
                .ip(IpAddr::from([10, 0, 0, position]))
                .init(move || run_replica(env.clone(), config.clone()))
                .build()
        })
        .collect();
    let answers = outcome_on(&runtime, 4, move || {
        let (client, fabric, replicas) = (client.clone(), fabric.clone(), replicas.clone());
        async move {
            let (rpc, _incoming) = Rpc::bind(&client, 1).await;
            // Each command from a client of its own, so that no session
            // orders them.
            let command = |client| ClientAppend {
                client,
                seq: 1,
                data: Vec::new(),
                read_from: 0,
            };
            let timeout = Duration::from_millis(500);
            let mut first = LogClient::new(rpc.clone(), replicas.clone());
            let mut committed = false;
            for _ in 0..20 {
                committed = first.submit(&command(0), timeout).await.is_ok();
                if committed {
                    break;
                }
            }
            assert!(committed, "a cluster with no fault commits a command");
            for from in &replicas {
                for to in replicas.iter().filter(|to| *to != from) {
                    fabric.cut(from, to);
                }
            }
            join_all((1..=MAX_UNCOMMITTED + 1).map(|client| {
                let mut log = LogClient::new(rpc.clone(), replicas.clone());
                async move { log.submit(&command(client), timeout).await }
            }))
            .await
        }
    });
    let busy = answers
        .iter()
        .filter(|answer| matches!(answer, Err(AppendError::Busy)))
        .count();
    let appended = answers.iter().filter(|answer| answer.is_ok()).count();
    assert_eq!(
        (busy, appended),
        (1, 0),
        "of {} commands at a leader that cannot commit, one is refused `Busy` and none commits",
        MAX_UNCOMMITTED + 1
    );
}
