//! Scenario files in: text parsed into a [`Scenario`], then checked for
//! values that cannot run, naming the file and key.
//!
//! Every duration and number a scenario holds has bounds that the code using
//! it can handle (nanoseconds that fit an `i64`, instants that do not
//! overflow, totals of money that fit a `u64`) and that keep a run within
//! what the simulator can do (a bounded number of blocks, faults and
//! events), so that a file the validator accepts runs to a verdict. Rules
//! only one workload kind has are that kind's (`Kind::validate`).

use std::{path::Path, time::Duration};

use crate::{
    actions, kinds,
    scenario::{
        Dur, EventSpec, Invalid, MAX_DRIFT_PPM, Scenario, ScenarioError, System, WorkloadKind,
        parse_toml, read_file,
        rules::{MAX_BLOCKS, MAX_PHASE, invalid, probability, within},
    },
    world::LEDGER_DB_TIMEOUT,
};

const MAX_REQUESTS: u32 = 100_000;
/// Scheduled events a file may hold.
const MAX_EVENTS: usize = 10_000;
/// Random faults of one kind a run may draw (`duration / *_every`).
const MAX_RANDOM_FAULTS: u32 = 10_000;
/// madsim's timers tick in milliseconds: nothing periodic runs faster.
const MILLISECOND: Duration = Duration::from_millis(1);
/// The shortest time between blocks, and between random faults.
const SHORTEST_INTERVAL: Duration = Duration::from_millis(10);
/// The shortest idle timeout the database takes: it looks for idle
/// transactions every half timeout, and a client's round trip takes
/// milliseconds.
const SHORTEST_IDLE_TIMEOUT: Duration = Duration::from_millis(100);
/// The largest amount one request may ask for (the ledger's own limit).
const MAX_AMOUNT: u64 = ledger::ledger::MAX_AMOUNT;
/// The longest a message takes on a healthy network.
const LONGEST_LATENCY: Duration = ledger::net::DEFAULT_LATENCY.end;

/// Parses and validates scenario text; `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<Scenario, ScenarioError> {
    let scenario = parse_toml(text, file)?;
    validate(&scenario).map_err(|invalid| ScenarioError {
        file: file.to_owned(),
        line: None,
        key: Some(invalid.key),
        message: invalid.message,
    })?;
    Ok(scenario)
}

/// Reads, parses and validates a scenario file.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let text = read_file(path)?;
    parse(&text, &path.display().to_string())
}

/// Validates `scenario`, returning the first problem found.
pub fn validate(scenario: &Scenario) -> Result<(), Invalid> {
    top_level(scenario)?;
    cluster(scenario)?;
    system(scenario)?;
    workload(scenario)?;
    settle_long_enough(scenario)?;
    money(scenario)?;
    kinds::of(scenario.workload.kind).validate(scenario)?;
    faults(scenario)?;
    if scenario.events.len() > MAX_EVENTS {
        return invalid(
            "events",
            format!(
                "expected at most {MAX_EVENTS} events, got {}",
                scenario.events.len()
            ),
        );
    }
    for (index, event) in scenario.events.iter().enumerate() {
        self::event(scenario, index, event)?;
    }
    if let Some(expect) = &scenario.expect {
        let kind = scenario.workload.kind;
        let checkers = kinds::of(kind).checkers();
        if !checkers.contains(&expect.violation) {
            let names: Vec<&str> = checkers.iter().map(|checker| checker.name()).collect();
            return invalid(
                "expect.violation",
                format!(
                    "expected a checker that judges `{}` runs ({}), got `{}`, which never runs on them",
                    kind.name(),
                    names.join(", "),
                    expect.violation
                ),
            );
        }
    }
    Ok(())
}

fn positive_phase(key: &str, value: Duration) -> Result<(), Invalid> {
    if value.is_zero() || value > MAX_PHASE {
        return invalid(
            key,
            format!("expected a duration above 0s and at most 1h, got {value:?}"),
        );
    }
    Ok(())
}

fn in_range(key: &str, value: u32, low: u32, high: u32) -> Result<(), Invalid> {
    if !(low..=high).contains(&value) {
        return invalid(key, format!("expected {low} to {high}, got {value}"));
    }
    Ok(())
}

fn top_level(scenario: &Scenario) -> Result<(), Invalid> {
    if scenario.name.trim().is_empty() {
        return invalid("name", "expected a non-empty name");
    }
    positive_phase("duration", scenario.duration())?;
    positive_phase("settle", scenario.settle())
}

/// A settle phase too short for a correct cluster to repair what the
/// faults left fails `liveness` whatever the code does.
fn settle_long_enough(scenario: &Scenario) -> Result<(), Invalid> {
    let least = scenario.least_settle();
    if scenario.settle() >= least {
        return Ok(());
    }
    let roles = kinds::of(scenario.workload.kind).roles();
    let mut needs = vec![format!(
        "a request lost as the faults stop is sent again only after `workload.client_timeout` ({})",
        scenario.workload.client_timeout
    )];
    if roles.log {
        needs.push(format!(
            "a log leader lost then is replaced only after an election timeout (twice the longest, {}, should a vote split)",
            scenario.system.election_timeout.end
        ));
    }
    if roles.chain {
        needs.push(
            "a payment sent then is seen confirmed only after `confirmations` + 1 blocks and `chain_lag`"
                .to_owned(),
        );
    }
    let got = if scenario.settle.is_some() {
        format!("got {}", Dur(scenario.settle()))
    } else {
        format!(
            "unset, it is {}, as long as a settle phase may be",
            Dur(scenario.settle())
        )
    };
    invalid(
        "settle",
        format!(
            "expected at least {}: {}; {got}",
            Dur(least),
            needs.join("; ")
        ),
    )
}

fn cluster(scenario: &Scenario) -> Result<(), Invalid> {
    let cluster = &scenario.cluster;
    if ![1, 3, 5, 7].contains(&cluster.log_replicas) {
        return invalid(
            "cluster.log_replicas",
            format!(
                "expected one of 1, 3, 5, 7 (an odd-sized quorum), got {}",
                cluster.log_replicas
            ),
        );
    }
    in_range("cluster.ledger_replicas", cluster.ledger_replicas, 1, 5)?;
    in_range("cluster.chain_rpc_nodes", cluster.chain_rpc_nodes, 1, 4)?;
    in_range("cluster.clients", cluster.clients, 1, 16)
}

fn system(scenario: &Scenario) -> Result<(), Invalid> {
    let system = &scenario.system;
    in_range("system.confirmations", system.confirmations, 1, 64)?;
    positive_phase("system.block_time", system.block_time.0)?;
    // A block every `block_time` for the whole run, bounded.
    let run = scenario.duration() + scenario.settle();
    let fastest = SHORTEST_INTERVAL.max(run / MAX_BLOCKS);
    if system.block_time.0 < fastest {
        return invalid(
            "system.block_time",
            format!(
                "expected at least {} (at most {MAX_BLOCKS} blocks over `duration` and `settle`), got {}",
                Dur(fastest),
                system.block_time
            ),
        );
    }
    within("system.lease", system.lease.0, MILLISECOND, MAX_PHASE)?;
    within(
        "system.heartbeat",
        system.heartbeat.0,
        MILLISECOND,
        Duration::from_secs(60),
    )?;
    within(
        "system.election_timeout",
        system.election_timeout.start.0,
        MILLISECOND,
        Duration::from_secs(60),
    )?;
    within(
        "system.election_timeout",
        system.election_timeout.end.0,
        MILLISECOND,
        Duration::from_secs(60),
    )?;
    // A heartbeat must land before a follower's shortest timeout runs out,
    // or followers stand against a healthy leader (Raft §5.6: broadcast
    // time well under the election timeout).
    if system.heartbeat.0 + LONGEST_LATENCY >= system.election_timeout.start.0 {
        return invalid(
            "system.heartbeat",
            format!(
                "expected less than the shortest election timeout ({}) by more than the network's longest latency ({}), so that a heartbeat lands before a follower stands, got {}",
                system.election_timeout.start,
                Dur(LONGEST_LATENCY),
                system.heartbeat
            ),
        );
    }
    within(
        "system.db_idle_timeout",
        system.db_idle_timeout.0,
        SHORTEST_IDLE_TIMEOUT,
        MAX_PHASE,
    )?;
    if system.sync_latency.end.0 > Duration::from_secs(1) {
        return invalid(
            "system.sync_latency",
            format!("expected at most 1s, got {}", system.sync_latency),
        );
    }
    let roles = kinds::of(scenario.workload.kind).roles();
    if roles.log {
        raft_timing(system)?;
    }
    // The database syncs each commit before it serves the next request, so
    // a commit may wait for another's sync as well as its own.
    if roles.ledger && system.sync_latency.end.0 * 2 > LEDGER_DB_TIMEOUT {
        return invalid(
            "system.sync_latency",
            format!(
                "expected the longest sync at most half of the {} a ledger replica waits on the database, got {}",
                Dur(LEDGER_DB_TIMEOUT),
                system.sync_latency
            ),
        );
    }
    for (index, name) in system.bugs.iter().enumerate() {
        if ledger::bugs::Bug::from_name(name).is_none() {
            let known: Vec<_> = ledger::bugs::Bug::all().map(|bug| bug.name()).collect();
            return invalid(
                format!("system.bugs[{index}]"),
                format!(
                    "expected a planted bug ({}), got `{name}`",
                    known.join(", ")
                ),
            );
        }
    }
    Ok(())
}

fn workload(scenario: &Scenario) -> Result<(), Invalid> {
    let workload = &scenario.workload;
    if workload.requests > MAX_REQUESTS {
        return invalid(
            "workload.requests",
            format!("expected at most {MAX_REQUESTS}, got {}", workload.requests),
        );
    }
    in_range("workload.accounts", workload.accounts, 1, 10_000)?;
    if !(1..=MAX_AMOUNT).contains(&workload.max_amount) {
        return invalid(
            "workload.max_amount",
            format!(
                "expected an amount from 1 to {MAX_AMOUNT}, got {}",
                workload.max_amount
            ),
        );
    }
    within(
        "workload.client_timeout",
        workload.client_timeout.0,
        MILLISECOND,
        MAX_PHASE,
    )?;
    // The quickest answer of any kind: the request reaches its server,
    // which replicates it (the log) or syncs it behind another commit (the
    // database) before it answers; a read of the log without a lease waits
    // for the leader's next heartbeats to confirm it still leads. A shorter
    // timeout gives up on every request a correct system answers.
    let roles = kinds::of(workload.kind).roles();
    let syncs = if roles.log || roles.db { 2 } else { 0 };
    let mut answer = LONGEST_LATENCY * 4 + scenario.system.sync_latency.end.0 * syncs;
    let mut why = format!(
        "four messages at the network's longest latency, {}, and {syncs} syncs at the longest of `system.sync_latency`",
        Dur(LONGEST_LATENCY)
    );
    if workload.kind == WorkloadKind::Log && !scenario.system.read_lease {
        answer += scenario.system.heartbeat.0;
        why.push_str(", and a heartbeat interval: a read waits for the leader's next heartbeats to confirm it still leads");
    }
    if workload.client_timeout.0 < answer {
        return invalid(
            "workload.client_timeout",
            format!(
                "expected at least {} to wait for an answer ({why}), got {}",
                Dur(answer),
                workload.client_timeout
            ),
        );
    }
    in_range("workload.client_retries", workload.client_retries, 0, 100)?;
    probability("workload.invalid_fraction", workload.invalid_fraction)?;
    in_range("workload.kv_sessions", workload.kv_sessions, 0, 8)?;
    probability("workload.fee_bumps", workload.fee_bumps)?;
    probability("workload.late_resends", workload.late_resends)
}

/// What Raft's liveness rests on (Ongaro and Ousterhout, §5.6): election
/// timeouts drawn at random, so that one replica stands before the others
/// can, and far longer than it takes to ask for and record a vote. A
/// scenario outside them fails `liveness` whatever the code does: with one
/// timeout for all every election splits the vote, and with a disk slower
/// than half the shortest timeout no candidate hears from a majority in
/// time (it and its voters each sync before a vote counts).
fn raft_timing(system: &System) -> Result<(), Invalid> {
    let election = &system.election_timeout;
    if election.end <= election.start {
        return invalid(
            "system.election_timeout",
            format!(
                "expected a range whose end is above its start, each replica drawing its own timeout from it (with one for all, every election splits the vote), got {election}"
            ),
        );
    }
    if system.sync_latency.end.0 * 2 > election.start.0 {
        return invalid(
            "system.sync_latency",
            format!(
                "expected the longest sync at most half the shortest election timeout ({}), since a candidate and its voters each sync before a vote counts, got {}",
                election.start, system.sync_latency
            ),
        );
    }
    let vote = system.sync_latency.end.0 * 2 + LONGEST_LATENCY * 2;
    // Raft §9.3: with a spread narrower than a vote takes, the replicas
    // that stand together split the vote again and again.
    if election.end.0 - election.start.0 < vote {
        return invalid(
            "system.election_timeout",
            format!(
                "expected a spread (end less start) of at least {}, a vote at the longest sync and latency, so that a replica can ask for and hear its votes before the next one stands (narrower, the votes split again and again), got {election}",
                Dur(vote)
            ),
        );
    }
    if vote > election.start.0 {
        return invalid(
            "system.election_timeout",
            format!(
                "expected the shortest election timeout to cover a vote at the longest sync and latency, at least {} (a candidate and its voter each sync, and the request and its answer take up to {} each), got {election}",
                Dur(vote),
                Dur(LONGEST_LATENCY)
            ),
        );
    }
    Ok(())
}

/// Every run that moves money starts with some.
fn money(scenario: &Scenario) -> Result<(), Invalid> {
    if scenario.system.initial_balance == 0 {
        return invalid("system.initial_balance", "expected a balance above 0");
    }
    Ok(())
}

fn faults(scenario: &Scenario) -> Result<(), Invalid> {
    let faults = &scenario.faults;
    probability("faults.drop", faults.drop)?;
    probability("faults.duplicate", faults.duplicate)?;
    probability("faults.reorder", faults.reorder)?;
    probability("faults.crash_points", faults.crash_points)?;
    probability("faults.torn_writes", faults.torn_writes)?;
    probability("faults.chain_drop", faults.chain_drop)?;
    probability("faults.db_unknown_commit", faults.db_unknown_commit)?;
    for (key, value, most) in [
        (
            "faults.max_delay",
            faults.max_delay,
            Duration::from_secs(60),
        ),
        (
            "faults.chain_lag",
            faults.chain_lag,
            Duration::from_secs(60),
        ),
        ("faults.clock_skew", faults.clock_skew, MAX_PHASE),
    ] {
        if let Some(value) = value {
            within(key, value.0, Duration::ZERO, most)?;
        }
    }
    if faults.reorder > 0.0 && faults.max_delay.is_none_or(|delay| delay.0.is_zero()) {
        return invalid(
            "faults.max_delay",
            "expected a delay above 0s when `reorder` is on",
        );
    }
    for fault in actions::RANDOM {
        // At most so many random faults of a kind over the fault phase.
        let shortest = SHORTEST_INTERVAL.max(scenario.duration() / MAX_RANDOM_FAULTS);
        if let Some(every) = fault.every(faults)
            && (every.0 < shortest || every.0 > MAX_PHASE)
        {
            return invalid(
                fault.key(),
                format!(
                    "expected a mean interval from {} to 1h (at most {MAX_RANDOM_FAULTS} faults a run), got {every}",
                    Dur(shortest)
                ),
            );
        }
    }
    if faults.clock_drift_ppm > MAX_DRIFT_PPM {
        return invalid(
            "faults.clock_drift_ppm",
            format!(
                "expected at most {MAX_DRIFT_PPM} ppm, got {}",
                faults.clock_drift_ppm
            ),
        );
    }
    let kind = scenario.workload.kind;
    let roles = kinds::of(kind).roles();
    let (runs_chain, runs_db) = (roles.chain, roles.db);
    let absent = |key: &str, present: bool, part: &str| {
        if present {
            invalid(
                key,
                format!(
                    "workload kind `{}` runs no {part}; expected it unset",
                    kind.name()
                ),
            )
        } else {
            Ok(())
        }
    };
    absent(
        "faults.chain_drop",
        !runs_chain && faults.chain_drop > 0.0,
        "chain",
    )?;
    absent(
        "faults.chain_reorg_every",
        !runs_chain && faults.chain_reorg_every.is_some(),
        "chain",
    )?;
    absent(
        "faults.chain_lag",
        !runs_chain && faults.chain_lag.is_some(),
        "chain",
    )?;
    absent(
        "faults.db_unknown_commit",
        !runs_db && faults.db_unknown_commit > 0.0,
        "database",
    )?;
    if faults.chain_reorg_every.is_some() {
        actions::reorgs_fit("faults.chain_reorg_every", scenario)?;
    }
    if faults.db_wipe_every.is_some() {
        actions::rebuilds_db("faults.db_wipe_every", scenario, "`db_wipe_every`")?;
    }
    Ok(())
}

/// The rules every event shares (a time inside the fault phase, only the
/// fields its action reads, a bounded `for`), then its action's own.
fn event(scenario: &Scenario, index: usize, event: &EventSpec) -> Result<(), Invalid> {
    let topology = kinds::topology(scenario);
    let context = actions::EventContext {
        scenario,
        topology: &topology,
        event,
        index,
    };
    if event.at >= scenario.duration {
        return invalid(
            context.key("at"),
            format!(
                "expected a time before `duration` ({}), got {}",
                scenario.duration, event.at
            ),
        );
    }
    if let Some(field) = actions::Field::unused_by(event) {
        return invalid(
            context.key(field.name()),
            format!("not used by action `{}`", event.action.name()),
        );
    }
    if let Some(for_) = event.for_ {
        within(
            &context.key("for"),
            for_.0,
            Duration::from_micros(1),
            MAX_PHASE,
        )?;
    }
    actions::of(event.action).validate(&context)
}

#[cfg(test)]
mod reference_tests;
#[cfg(test)]
mod tests;
