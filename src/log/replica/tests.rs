//! A real cluster of three on a test fabric. A leader cut off from its
//! followers: its bounds, paths no generated scenario takes, since they
//! need more load than a workload sends; and its read lease, whose loss no
//! checker would see, since a leader without one still answers reads
//! correctly, a heartbeat round later. And the limit of a read of committed
//! entries, which no checker would see broken either, since every entry it
//! returns is committed.

use futures::future::join_all;
// An address value only, as in `net`: no socket is opened.
use std::{future::Future, net::IpAddr, sync::Arc};

use super::*;
use crate::{
    log::{AppendError, Committed, LogClient},
    net::test_network::{network, outcome_on},
    observe::NodeName,
};

/// What a client sees of a cluster of three once it has committed a first
/// command, and then, if `cut`, cut its leader off from both followers:
/// `after` runs then, given the client's endpoint and the replicas' names,
/// and what it returns is the outcome.
fn after_a_first_command<T, F>(
    read_lease: bool,
    cut: bool,
    after: impl Fn(Rpc, Vec<NodeName>) -> F + Send + Sync + 'static,
) -> T
where
    F: Future<Output = T> + 'static,
    T: Send + 'static,
{
    let names = ["log-1", "log-2", "log-3", "client"];
    let runtime = madsim::runtime::Runtime::new();
    let network = network(&runtime, &names, 7);
    let fabric = network.1.clone();
    let [one, two, three, client] = NodeEnv::all_for_tests(&network, names);
    let replicas: Vec<NodeName> = names[..3].iter().map(|name| NodeName::new(name)).collect();
    let config = LogConfig {
        replicas: replicas.clone(),
        election_timeout: ELECTION_TIMEOUT,
        heartbeat: Duration::from_millis(50),
        rpc_timeout: Duration::from_millis(100),
        read_lease,
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
    let after = Arc::new(after);
    outcome_on(&runtime, 4, move || {
        let (client, fabric) = (client.clone(), fabric.clone());
        let (replicas, after) = (replicas.clone(), after.clone());
        async move {
            let (rpc, _incoming) = Rpc::bind(&client, 1).await;
            let mut first = LogClient::new(rpc.clone(), replicas.clone());
            let mut committed = false;
            for _ in 0..20 {
                committed = first.submit(&command(u64::MAX), TIMEOUT).await.is_ok();
                if committed {
                    break;
                }
            }
            assert!(committed, "a cluster with no fault commits a command");
            for from in replicas.iter().filter(|_| cut) {
                for to in replicas.iter().filter(|to| *to != from) {
                    fabric.cut(from, to);
                }
            }
            after(rpc, replicas).await
        }
    })
}

const ELECTION_TIMEOUT: std::ops::Range<Duration> =
    Duration::from_millis(150)..Duration::from_millis(300);

/// How long the client waits for each answer.
const TIMEOUT: Duration = Duration::from_millis(500);

/// What a leader cut off from its followers answers each of `commands`,
/// all sent at once.
fn answers_of_a_leader_cut_off(commands: Vec<ClientAppend>) -> Vec<Result<Committed, AppendError>> {
    after_a_first_command(false, true, move |rpc, replicas| {
        join_all(commands.clone().into_iter().map(move |command| {
            let mut log = LogClient::new(rpc.clone(), replicas.clone());
            async move { log.submit(&command, TIMEOUT).await }
        }))
    })
}

/// The first command of a client of its own.
fn command(client: u64) -> ClientAppend {
    ClientAppend {
        client,
        seq: 1,
        data: Vec::new(),
        read_from: 0,
    }
}

/// How many of `answers` are `Busy`, and how many say their command
/// committed.
fn busy_and_committed(answers: &[Result<Committed, AppendError>]) -> (usize, usize) {
    let busy = answers
        .iter()
        .filter(|answer| matches!(answer, Err(AppendError::Busy)))
        .count();
    (busy, answers.iter().filter(|answer| answer.is_ok()).count())
}

/// A leader cut off from both followers holds `MAX_UNCOMMITTED` commands
/// it cannot commit and answers the next one `Busy`: a leader that cannot
/// reach a majority does not grow its log, its sync work and its followers'
/// catch-up without bound while its clients keep sending.
#[test]
fn a_leader_that_cannot_commit_refuses_commands_past_its_uncommitted_bound() {
    // Each from a client of its own, so that no session orders them.
    let commands = (0..=MAX_UNCOMMITTED).map(command).collect();
    assert_eq!(
        busy_and_committed(&answers_of_a_leader_cut_off(commands)),
        (1, 0),
        "of {} commands at a leader that cannot commit, one is refused `Busy` and none commits",
        MAX_UNCOMMITTED + 1
    );
}

/// Retries of one command each join its pending entry and wait with it,
/// up to `MAX_WAITERS` clients; the next is answered `Busy`: clients that
/// keep retrying a command a cut-off leader cannot commit do not grow its
/// memory without bound.
#[test]
fn a_leader_answers_busy_past_its_bound_of_waiting_clients() {
    let commands = vec![command(0); MAX_WAITERS + 1];
    assert_eq!(
        busy_and_committed(&answers_of_a_leader_cut_off(commands)),
        (1, 0),
        "of {} copies of a command at a leader that cannot commit, one is refused `Busy`",
        MAX_WAITERS + 1
    );
}

/// A leader with a read lease answers a read on its own while the lease
/// lasts, even cut off from both followers: no other replica can lead
/// before it ends. Once it has ended, the same leader answers nothing, since
/// a new leader may have taken writes it cannot see.
#[test]
fn a_leader_answers_reads_cut_off_while_its_lease_lasts_and_not_after() {
    let (within, after) = after_a_first_command(true, true, |rpc, replicas| async move {
        let mut log = LogClient::new(rpc, replicas);
        let within = log.read_key(7, TIMEOUT).await;
        madsim::time::sleep(ELECTION_TIMEOUT.end).await;
        (within, log.read_key(7, TIMEOUT).await)
    });
    assert_eq!(within, Ok(None), "a read within the lease is answered");
    assert_eq!(
        after,
        Err(AppendError::Timeout),
        "a read past the lease is not"
    );
}

/// A read of committed entries returns at most its limit, from the index
/// it asks for, up to the last entry applied, and nothing past it.
#[test]
fn a_read_of_committed_entries_returns_at_most_its_limit() {
    let (last, lengths) = after_a_first_command(false, false, |rpc, replicas| async move {
        let mut log = LogClient::new(rpc, replicas);
        let mut last = 0;
        for client in 1..=4 {
            let committed = log.submit(&command(client), TIMEOUT).await;
            last = committed.expect("a cluster with no fault commits").index;
        }
        let mut lengths = Vec::new();
        for (from, limit) in [(1, 3), (2, 1), (1, 1000), (last, 5), (last + 1, 5)] {
            let read = log.read_committed(from, limit, TIMEOUT).await;
            lengths.push(read.expect("a leader with no fault answers").len());
        }
        (last, lengths)
    });
    assert_eq!(lengths, [3, 1, last as usize, 1, 0]);
}
