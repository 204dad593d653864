//! Data-driven tests of scenario parsing and validation: one `check` per
//! input, naming the key and the expectation the error must carry.

use super::*;
use crate::{
    generate::{GENERATOR, generate, generate_kind, generate_with},
    scenario::{Cluster, WorkloadKind},
};
use proptest::prelude::*;

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
    check_error_in(VALID, extra, key, expected);
}

/// Parses `base` with `extra` appended and expects an error on `key` whose
/// message contains `expected`, on one line naming the file.
fn check_error_in(base: &str, extra: &str, key: &str, expected: &str) {
    let text = format!("{base}{extra}");
    let error = parse(&text, "t.toml").expect_err(extra);
    assert_eq!(error.key.as_deref(), Some(key), "{error}");
    assert!(error.message.contains(expected), "{error}");
    let line = error.to_string();
    assert!(line.starts_with("t.toml"), "{line}");
    assert!(!line.contains('\n'), "{line}");
}

#[test]
fn a_minimal_file_takes_the_defaults() {
    let scenario = parse(VALID, "t.toml").unwrap();
    assert_eq!(scenario.cluster, Cluster::default());
    assert_eq!(scenario.settle(), Duration::from_secs(60));
    assert_eq!(scenario.system.election_timeout.to_string(), "150ms..300ms");
    assert!(scenario.events.is_empty());
}

/// A chain slower than the default settle phase allows gets a settle phase
/// twice what a payment lost as the faults stop takes to be sent again and
/// seen confirmed; a set `settle`
/// long enough stands, and kinds without a chain keep the minute.
#[test]
fn the_default_settle_phase_waits_for_a_slow_chain() {
    let file = |top: &str, kind: &str, system: &str| {
        let text = format!(
            "name = \"t\"\nseed = 7\nduration = \"10s\"\n{top}[workload]\nkind = \"{kind}\"\n[system]\n{system}[faults]\nchain_lag = \"20s\"\n"
        );
        parse(&text, "t.toml").unwrap_or_else(|error| panic!("{error}"))
    };
    let slow = "confirmations = 12\nblock_time = \"3s\"\n";
    // The client's 2s timeout, then (12 + 1) blocks of 3s and the 20s
    // lag, twice over.
    assert_eq!(
        file("", "transfers", slow).settle(),
        Duration::from_secs(122)
    );
    assert_eq!(file("", "chain", slow).settle(), Duration::from_secs(122));
    assert_eq!(
        file("settle = \"80s\"\n", "transfers", slow).settle(),
        Duration::from_secs(80)
    );
    // The log kind runs no chain; its default stays a minute.
    let log = parse(&format!("{VALID}[system]\n{slow}"), "t.toml")
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(log.settle(), Duration::from_secs(60));
    let fast = "confirmations = 3\nblock_time = \"1s\"\n";
    assert_eq!(
        file("", "transfers", fast).settle(),
        Duration::from_secs(60)
    );
    // A chain too slow to confirm a payment within the longest settle
    // phase a file may have is refused: no run of it could converge.
    let glacial = "confirmations = 12\nblock_time = \"10m\"\n";
    let text = format!("name = \"t\"\nseed = 7\n[workload]\nkind = \"chain\"\n[system]\n{glacial}");
    let error = parse(&text, "t.toml").unwrap_err();
    assert_eq!(error.key.as_deref(), Some("settle"), "{error}");
    assert!(error.message.contains("expected at least 130m"), "{error}");
    assert!(error.message.contains("unset, it is 1h"), "{error}");
}

#[test]
fn unknown_keys_are_named_in_full() {
    let error = parse(&format!("{VALID}\n[cluster]\nlog_replica = 3\n"), "t.toml").unwrap_err();
    assert_eq!(error.key.as_deref(), Some("cluster.log_replica"), "{error}");
    assert!(error.message.starts_with("unknown key"), "{error}");
    assert!(error.message.contains("log_replicas"), "{error}");
    assert_eq!(error.line, Some(9));
    let error = parse("name = \"t\"\nseed = 1\ncolour = \"red\"\n", "t.toml").unwrap_err();
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
        let error = parse(text, "t.toml").unwrap_err();
        assert_eq!(error.line, Some(line), "{error}");
        assert!(!error.to_string().contains('\n'), "{error}");
    }
}

#[test]
fn required_keys_are_required() {
    let error = parse("name = \"t\"\n", "t.toml").unwrap_err();
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
        "[system]\ndb_idle_timeout = \"10ms\"",
        "system.db_idle_timeout",
        "expected a duration from 100ms to 1h, got 10ms",
    );
    check_error(
        "[system]\nbugs = [\"no-such-bug\"]",
        "system.bugs[0]",
        "expected a planted bug",
    );
    check_error(
        "[expect]\nviolation = \"speed\"",
        "expect.violation",
        "unknown variant `speed`, expected one of `raft-safety`",
    );
    check_error(
        "[expect]\nviolation = 1",
        "expect.violation",
        "expected one of `raft-safety`, `chain-safety`",
    );
    check_error(
        "[[events]]\nat = \"1s\"\naction = [\"crash\"]",
        "events[0].action",
        "expected one of `crash`, `restart`, `retire`, `pause`, `resume`, `partition`, `heal`, `clock`, `chain-drop`, `chain-reorg`, `db-wipe`, got [\"crash\"]",
    );
}

/// The timings under which a correct cluster cannot answer, elect or
/// settle are refused, and the first that can is accepted: each bound is
/// at the edge a scenario drawn at random found.
#[test]
fn timings_no_correct_cluster_can_live_with_are_refused() {
    let accepts = |text: &str| parse(text, "t.toml").map_err(|error| error.to_string());
    // The quickest answer: four messages at 3ms, and two syncs where a log
    // or a database answers (the default sync ends at 5ms).
    // In `log` runs without a read lease, a read also waits for the
    // leader's next heartbeats (50ms by default).
    check_error(
        "client_timeout = \"71ms\"",
        "workload.client_timeout",
        "expected at least 72ms to wait for an answer",
    );
    accepts(&format!("{VALID}client_timeout = \"72ms\"")).unwrap();
    let leased = format!("{VALID}client_timeout = \"22ms\"\n[system]\nread_lease = true\n");
    accepts(&leased).unwrap();
    check_error_in(
        &leased.replace("22ms", "21ms"),
        "",
        "workload.client_timeout",
        "expected at least 22ms",
    );
    let chain = "name = \"t\"\nseed = 7\n[workload]\nkind = \"chain\"\n";
    check_error_in(
        chain,
        "client_timeout = \"11ms\"",
        "workload.client_timeout",
        "expected at least 12ms",
    );
    accepts(&format!("{chain}client_timeout = \"12ms\"")).unwrap();

    // A vote: a candidate and its voter each sync, and its request and the
    // answer take up to 3ms each.
    let fast = "[system]\nsync_latency = \"0ms..1ms\"\nheartbeat = \"1ms\"\n";
    check_error(
        &format!("{fast}election_timeout = \"7ms..40ms\""),
        "system.election_timeout",
        "at least 8ms",
    );
    accepts(&format!("{VALID}{fast}election_timeout = \"8ms..40ms\"")).unwrap();
    // And a spread that lets one replica hear its votes before the next
    // stands.
    check_error(
        &format!("{fast}election_timeout = \"150ms..157ms\""),
        "system.election_timeout",
        "expected a spread (end less start) of at least 8ms",
    );
    accepts(&format!("{VALID}{fast}election_timeout = \"150ms..158ms\"")).unwrap();

    // A heartbeat lands before a follower's shortest timeout runs out.
    check_error(
        "[system]\nheartbeat = \"147ms\"",
        "system.heartbeat",
        "by more than the network's longest latency (3ms)",
    );
    accepts(&format!("{VALID}[system]\nheartbeat = \"146ms\"")).unwrap();

    // A request lost as the faults stop is sent again after the client's
    // timeout; a lost leader is replaced within two election timeouts.
    let settled = |settle: &str, extra: &str| {
        format!(
            "name = \"t\"\nseed = 7\nsettle = \"{settle}\"\n[workload]\nkind = \"log\"\n{extra}"
        )
    };
    let error = parse(&settled("1999ms", ""), "t.toml").unwrap_err();
    assert_eq!(error.key.as_deref(), Some("settle"), "{error}");
    assert!(
        error.message.contains("`workload.client_timeout` (2s)"),
        "{error}"
    );
    accepts(&settled("2s", "")).unwrap();
    let slow_elections = "[system]\nelection_timeout = \"1s..3s\"\n";
    let error = parse(&settled("5s", slow_elections), "t.toml").unwrap_err();
    assert!(error.message.contains("expected at least 6s"), "{error}");
    accepts(&settled("6s", slow_elections)).unwrap();
    // A scenario that sets no settle gets one long enough.
    let patient = format!("{VALID}client_timeout = \"2m\"");
    assert_eq!(
        accepts(&patient).unwrap().settle(),
        Duration::from_secs(240)
    );
    // A payment must be seen buried `confirmations` deep.
    let chain = "name = \"t\"\nseed = 7\nsettle = \"15s\"\n[system]\nconfirmations = 3\nblock_time = \"3s\"\n[workload]\nkind = \"chain\"\n[faults]\nchain_lag = \"4s\"\n";
    let error = parse(chain, "t.toml").unwrap_err();
    assert!(error.message.contains("expected at least 16s"), "{error}");
    accepts(&chain.replace("15s", "16s")).unwrap();
    // Elections count in exactly the kinds that run the log, the chain's
    // pace in those that run the chain.
    let mut scenario = accepts(VALID).unwrap();
    scenario.system.election_timeout.end = Dur(Duration::from_secs(10));
    scenario.system.block_time = Dur(Duration::from_secs(9));
    for kind in WorkloadKind::all() {
        scenario.workload.kind = kind;
        let roles = kinds::of(kind).roles();
        let least = if roles.chain {
            36
        } else if roles.log {
            20
        } else {
            2
        };
        assert_eq!(
            scenario.least_settle(),
            Duration::from_secs(least),
            "{kind:?}"
        );
    }
}

/// A settle phase the file sets is a deadline; one it leaves unset may go
/// on to an hour, or as far as the chain's block bound allows.
#[test]
fn only_an_unset_settle_may_go_on() {
    let unset = parse("name = \"t\"\nseed = 1\nduration = \"10s\"\n", "t.toml").unwrap();
    assert_eq!(unset.settle(), Duration::from_secs(60));
    assert_eq!(unset.longest_settle(), Duration::from_secs(3600));
    let set = parse(
        "name = \"t\"\nseed = 1\nduration = \"10s\"\nsettle = \"2m\"\n",
        "t.toml",
    )
    .unwrap();
    assert_eq!(set.longest_settle(), Duration::from_secs(120));
    let fast_chain = parse(
        "name = \"t\"\nseed = 1\nduration = \"10s\"\n[system]\nblock_time = \"10ms\"\n",
        "t.toml",
    )
    .unwrap();
    // 100 000 blocks of 10ms, less the fault phase.
    assert_eq!(fast_chain.longest_settle(), Duration::from_secs(990));
    // A payment lost as the faults stop is sent again after the client's
    // minute, then takes 4 blocks and the view's minute of lag: twice
    // that, where the bound a file must meet is the longer of the two.
    let lagging = parse(
        "name = \"t\"\nseed = 1\n[system]\nconfirmations = 3\n[workload]\nkind = \"chain\"\nclient_timeout = \"1m\"\n[faults]\nchain_lag = \"1m\"\n",
        "t.toml",
    )
    .unwrap();
    assert_eq!(lagging.least_settle(), Duration::from_secs(64));
    assert_eq!(lagging.settle(), Duration::from_secs(248));
}

#[test]
fn the_default_kind_is_the_whole_system() {
    let scenario = parse("name = \"t\"\nseed = 1\n", "t.toml").unwrap();
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

/// A transfers run: the kind whose database may lose its disk.
const TRANSFERS: &str = r#"
name = "t"
seed = 7
duration = "10s"
"#;

/// A node is retired only where the rest can go on without it: a minority
/// of the log's replicas, all but one ledger replica or RPC node, never
/// anything else; every `retire` event counts, the leader's alias too.
#[test]
fn only_a_minority_of_the_log_and_all_but_one_ledger_replica_or_rpc_node_may_be_retired() {
    let retire = |nodes: &[&str]| -> String {
        nodes
            .iter()
            .enumerate()
            .map(|(at, node)| {
                format!(
                    "[[events]]\nat = \"{}s\"\naction = \"retire\"\nnode = \"{node}\"\n",
                    at + 1
                )
            })
            .collect()
    };
    // The default cluster: three log replicas, two ledger replicas, two
    // RPC nodes.
    for nodes in [
        &["log-1"][..],
        &["log-leader"],
        &["ledger-2"],
        &["chain-rpc-2"],
        &["log-3", "ledger-1", "chain-rpc-1"],
    ] {
        parse(&format!("{TRANSFERS}{}", retire(nodes)), "t.toml").expect("a valid retirement");
    }
    check_error_in(
        TRANSFERS,
        &retire(&["db"]),
        "events[0].node",
        "`retire` takes a log or ledger replica (or `log-leader`) or an RPC node, got `db`",
    );
    check_error_in(
        TRANSFERS,
        &retire(&["chain-rpc-2", "chain-rpc-1"]),
        "events[1].node",
        "at most 1 of the RPC nodes may be retired",
    );
    check_error_in(
        TRANSFERS,
        &retire(&["log-1", "log-leader"]),
        "events[1].node",
        "at most 1 of the log replicas may be retired (the rest must go on), and this is retirement 2",
    );
    check_error_in(
        TRANSFERS,
        &retire(&["ledger-1", "log-2", "ledger-2"]),
        "events[2].node",
        "at most 1 of the ledger replicas may be retired",
    );
    let five = format!("{TRANSFERS}[cluster]\nlog_replicas = 5\n");
    parse(
        &format!("{five}{}", retire(&["log-1", "log-leader"])),
        "t.toml",
    )
    .expect("two of five");
    check_error_in(
        &five,
        &retire(&["log-1", "log-2", "log-3"]),
        "events[2].node",
        "at most 2 of the log replicas may be retired",
    );
    check_error_in(
        TRANSFERS,
        "[[events]]\nat = \"1s\"\naction = \"retire\"\nnode = \"log-1\"\nfor = \"1s\"",
        "events[0].for",
        "not used by action `retire`",
    );
    check_error_in(
        TRANSFERS,
        "[[events]]\nat = \"1s\"\naction = \"retire\"",
        "events[0].node",
        "action `retire` needs a node",
    );
}

#[test]
fn a_database_wipe_takes_only_the_database_of_a_kind_that_rebuilds_it() {
    for kind in ["log", "bank", "chain"] {
        let base = format!("{TRANSFERS}[workload]\nkind = \"{kind}\"\n");
        check_error_in(
            &base,
            "[[events]]\nat = \"1s\"\naction = \"db-wipe\"",
            "events[0].action",
            &format!(
                "`db-wipe` needs a database rebuilt from the log, which workload kind `{kind}` does not have (only `transfers`)"
            ),
        );
        check_error_in(
            &base,
            "[faults]\ndb_wipe_every = \"20s\"",
            "faults.db_wipe_every",
            &format!("which workload kind `{kind}` does not have (only `transfers`)"),
        );
    }
    for node in ["log-1", "ledger-1", "chain", "log-leader", "nowhere"] {
        check_error_in(
            TRANSFERS,
            &format!("[[events]]\nat = \"1s\"\naction = \"db-wipe\"\nnode = \"{node}\""),
            "events[0].node",
            &format!("expected `db` (only the database's disk is wiped), got `{node}`"),
        );
    }
    check_error_in(
        TRANSFERS,
        "[[events]]\nat = \"1s\"\naction = \"db-wipe\"\ndepth = 1",
        "events[0].depth",
        "not used by action `db-wipe`",
    );
    for rate in ["1ms", "61m"] {
        check_error_in(
            TRANSFERS,
            &format!("[faults]\ndb_wipe_every = \"{rate}\""),
            "faults.db_wipe_every",
            "expected a mean interval from 10ms to 1h",
        );
    }
    check_error_in(
        TRANSFERS,
        "[faults]\ndb_wipe_every = \"soon\"",
        "faults.db_wipe_every",
        "expected a duration",
    );
}

#[test]
fn a_database_wipe_round_trips_through_toml() {
    let text = format!(
        "{TRANSFERS}[faults]\ndb_wipe_every = \"20s\"\n[[events]]\nat = \"1s\"\naction = \"db-wipe\"\n[[events]]\nat = \"2s\"\naction = \"db-wipe\"\nnode = \"db\"\nfor = \"500ms\"\n"
    );
    let scenario = parse(&text, "t.toml").unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(
        scenario.faults.db_wipe_every,
        Some(crate::scenario::ms(20_000))
    );
    assert_eq!(scenario.events[0].node, None);
    assert_eq!(scenario.events[1].node.as_deref(), Some("db"));
    let written = scenario.to_toml();
    assert!(written.contains("action = \"db-wipe\""), "{written}");
    let again = parse(&written, "written.toml").unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(again, scenario);
}

/// The README's example is a scenario that loads. (The whole format's
/// reference, docs/scenarios.md, is held to the code in `reference_tests`.)
#[test]
fn the_readmes_scenario_example_parses() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let section = readme
        .split("## Scenario files")
        .nth(1)
        .expect("a scenario section");
    let text = section
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a TOML block");
    let scenario = parse(text, "README.md").unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(scenario.workload.kind, WorkloadKind::Log);
    assert_eq!(scenario.events.len(), 2);
    assert!(section.contains("[docs/scenarios.md](docs/scenarios.md)"));
}

proptest! {
    #![proptest_config(crate::testing::cases(1024))]

    /// Every kind for each seed. `generate` needs no case of its own: it
    /// is `generate_kind` of the kind its seed draws.
    #[test]
    fn generated_scenarios_are_valid_and_round_trip_through_toml(seed in any::<u64>()) {
        let drawn = generate(seed);
        prop_assert_eq!(&drawn, &generate_kind(seed, drawn.workload.kind));
        for kind in WorkloadKind::all() {
            let scenario = generate_kind(seed, kind);
            prop_assert_eq!(scenario.seed, seed);
            prop_assert_eq!(scenario.workload.kind, kind);
            prop_assert_eq!(scenario.generator.as_deref(), Some(GENERATOR));
            let text = scenario.to_toml();
            let parsed = parse(&text, "generated.toml")
                .map_err(|error| TestCaseError::fail(format!("{error}\n{text}")))?;
            prop_assert_eq!(&parsed, &scenario, "{}", text);
            prop_assert_eq!(parsed.to_toml(), text);
            prop_assert_eq!(generate_kind(seed, kind), scenario);
        }
    }
}

/// The database wipes the generator draws (off for now) are valid and
/// round-trip too.
#[test]
fn generated_scenarios_with_database_wipes_are_valid() {
    for seed in 0..50 {
        let scenario = generate_with(seed, WorkloadKind::Transfers, 1.0);
        assert!(scenario.faults.db_wipe_every.is_some());
        let text = scenario.to_toml();
        let parsed =
            parse(&text, "generated.toml").unwrap_or_else(|error| panic!("{error}\n{text}"));
        assert_eq!(parsed, scenario);
    }
}

#[test]
fn generation_depends_only_on_the_seed() {
    assert_eq!(generate(17), generate(17));
    assert_ne!(generate(17), generate(18));
}
