//! Data-driven tests of scenario parsing and validation: one `check` per
//! input, naming the key and the expectation the error must carry.

use super::*;

const VALID: &str = r#"
name = "t"
seed = 7
duration = "10s"
[workload]
kind = "log"
"#;

/// Parses `VALID` with `extra` appended and expects an error on `key`
/// whose message contains `expected`.
fn check_error(extra: &str, key: &str, expected: &str) {
    let text = format!("{VALID}{extra}");
    let error = Scenario::parse(&text, "t.toml").expect_err(extra);
    assert_eq!(error.key.as_deref(), Some(key), "{error}");
    assert!(error.message.contains(expected), "{error}");
    let line = error.to_string();
    assert!(line.starts_with("t.toml"), "{line}");
    assert!(!line.contains('\n'), "{line}");
}

#[test]
fn a_minimal_file_takes_the_defaults() {
    let scenario = Scenario::parse(VALID, "t.toml").unwrap();
    assert_eq!(scenario.cluster, Cluster::default());
    assert_eq!(scenario.settle(), Duration::from_secs(60));
    assert_eq!(scenario.system.election_timeout.to_string(), "150ms..300ms");
    assert!(scenario.events.is_empty());
}

#[test]
fn unknown_keys_are_named_in_full() {
    let error =
        Scenario::parse(&format!("{VALID}\n[cluster]\nlog_replica = 3\n"), "t.toml").unwrap_err();
    assert_eq!(error.key.as_deref(), Some("cluster.log_replica"), "{error}");
    assert!(error.message.starts_with("unknown key"), "{error}");
    assert!(error.message.contains("log_replicas"), "{error}");
    assert_eq!(error.line, Some(9));
    let error =
        Scenario::parse("name = \"t\"\nseed = 1\ncolour = \"red\"\n", "t.toml").unwrap_err();
    assert_eq!(error.key.as_deref(), Some("colour"), "{error}");
}

#[test]
fn malformed_values_name_their_key() {
    check_error(
        "[faults]\nmax_delay = \"fast\"",
        "faults.max_delay",
        "expected a duration",
    );
    check_error(
        "[system]\nelection_timeout = \"300ms..150ms\"",
        "system.election_timeout",
        "start ≤ end",
    );
    check_error(
        "[cluster]\nclients = \"three\"",
        "cluster.clients",
        "invalid type",
    );
}

#[test]
fn syntax_errors_name_the_line() {
    for (text, line) in [
        ("name = \"t\nseed = 1\n", 1),
        (&*format!("{VALID}[workload]\nrequests = 5\n"), 7),
    ] {
        let error = Scenario::parse(text, "t.toml").unwrap_err();
        assert_eq!(error.line, Some(line), "{error}");
        assert!(!error.to_string().contains('\n'), "{error}");
    }
}

#[test]
fn required_keys_are_required() {
    let error = Scenario::parse("name = \"t\"\n", "t.toml").unwrap_err();
    assert!(error.message.contains("missing field `seed`"), "{error}");
}

#[test]
fn impossible_values_are_rejected() {
    check_error(
        "[cluster]\nlog_replicas = 4",
        "cluster.log_replicas",
        "expected one of 1, 3, 5, 7",
    );
    check_error(
        "[cluster]\nclients = 0",
        "cluster.clients",
        "expected 1 to 16",
    );
    check_error("[faults]\ndrop = 1.5", "faults.drop", "probability");
    check_error("[faults]\nreorder = 0.1", "faults.max_delay", "above 0s");
    check_error(
        "[faults]\nchain_drop = 0.1",
        "faults.chain_drop",
        "runs no chain",
    );
    check_error(
        "[system]\nheartbeat = \"200ms\"",
        "system.heartbeat",
        "less than the shortest election timeout",
    );
    check_error(
        "[system]\nbugs = [\"no-such-bug\"]",
        "system.bugs[0]",
        "expected a planted bug",
    );
    check_error(
        "[expect]\nviolation = \"speed\"",
        "expect.violation",
        "expected one of raft-safety",
    );
}

#[test]
fn the_default_kind_is_the_whole_system() {
    let scenario = Scenario::parse("name = \"t\"\nseed = 1\n", "t.toml").unwrap();
    assert_eq!(scenario.workload.kind, WorkloadKind::Transfers);
}

#[test]
fn events_are_validated_against_the_cluster() {
    check_error(
        "[[events]]\nat = \"10s\"\naction = \"crash\"\nnode = \"log-1\"",
        "events[0].at",
        "before `duration` (10s)",
    );
    check_error(
        "[[events]]\nat = \"1s\"\naction = \"crash\"\nnode = \"log-9\"",
        "events[0].node",
        "expected one of log-1, log-2, log-3, log-leader",
    );
    check_error(
        "[[events]]\nat = \"1s\"\naction = \"crash\"\nnode = \"client-1\"",
        "events[0].node",
        "got `client-1`",
    );
    check_error(
        "[[events]]\nat = \"1s\"\naction = \"crash\"",
        "events[0].node",
        "needs a node",
    );
    check_error(
        "[[events]]\nat = \"1s\"\naction = \"heal\"\nnode = \"log-1\"",
        "events[0].node",
        "not used by action `heal`",
    );
    check_error(
        "[[events]]\nat = \"1s\"\naction = \"partition\"\ngroups = [[\"log-1\"], [\"log-1\"]]",
        "events[0].groups",
        "disjoint",
    );
    check_error(
        "[[events]]\nat = \"1s\"\naction = \"partition\"\ngroups = [[\"db\"]]",
        "events[0].groups",
        "got `db`",
    );
    check_error(
        "[[events]]\nat = \"1s\"\naction = \"chain-reorg\"\ndepth = 1",
        "events[0].action",
        "needs the chain",
    );
    check_error(
        "[[events]]\nat = \"1s\"\naction = \"clock\"\nnode = \"log-1\"",
        "events[0].offset",
        "needs `offset`",
    );
    check_error(
        "[[events]]\nat = \"1s\"\naction = \"explode\"",
        "events[0].action",
        "unknown variant `explode`",
    );
}

#[test]
fn the_design_example_parses() {
    // DESIGN.md §7's example, which drives the whole system (not built yet).
    let text = r#"
name = "leader crash during commit"
description = "why this scenario exists"
seed = 7
duration = "30s"
settle = "60s"
[cluster]
log_replicas = 3
ledger_replicas = 2
chain_rpc_nodes = 2
clients = 3
[system]
confirmations = 3
block_time = "1s"
lease = "2s"
election_timeout = "150ms..300ms"
heartbeat = "50ms"
sync_latency = "200us..5ms"
initial_balance = 1000000
bugs = []
[workload]
kind = "transfers"
requests = 100
accounts = 8
max_amount = 1000
client_timeout = "2s"
client_retries = 5
invalid_fraction = 0.05
[faults]
drop = 0.01
duplicate = 0.02
reorder = 0.1
max_delay = "500ms"
crash_every = "10s"
crash_points = 0.01
pause_every = "20s"
partition_every = "15s"
clock_skew = "2s"
clock_drift_ppm = 1000
chain_drop = 0.05
chain_reorg_every = "20s"
chain_lag = "3s"
db_unknown_commit = 0.01
[[events]]
at = "5s"
action = "crash"
node = "log-leader"
for = "2s"
[[events]]
at = "10s"
action = "partition"
groups = [["log-1"], ["log-2", "log-3"]]
for = "3s"
[[events]]
at = "12s"
action = "clock"
node = "log-2"
offset = "+3s"
[[events]]
at = "14s"
action = "chain-reorg"
depth = 2
drop = 0.5
[expect]
violation = "exactly-once"
"#;
    let scenario = Scenario::parse(text, "design.toml").unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(scenario.workload.kind, WorkloadKind::Transfers);
    assert_eq!(scenario.events.len(), 4);
}

#[test]
fn generated_scenarios_are_valid_and_round_trip_through_toml() {
    for seed in 0..200 {
        let scenario = generate(seed);
        assert_eq!(scenario.generator.as_deref(), Some(GENERATOR));
        let text = scenario.to_toml();
        let parsed = Scenario::parse(&text, "generated.toml")
            .unwrap_or_else(|error| panic!("{error}\n{text}"));
        assert_eq!(parsed, scenario);
    }
}

#[test]
fn generation_depends_only_on_the_seed() {
    assert_eq!(generate(17), generate(17));
    assert_ne!(generate(17), generate(18));
}
