//! Verdicts a skeptic cannot fault: nothing still in flight when the checks
//! run, and nothing caught but through the hazard it plants.

use ledger::bugs::Checker;
use ledger::{
    chain::{ChainRequest, Transfer},
    ledger::HOT_WALLET,
    observe::NodeName,
};
use sim::{
    Scenario, World,
    run::{Hook, RunOptions, Verdict, run},
};
use std::{
    sync::{Arc, PoisonError},
    time::Duration,
};

/// A quiet transfers run: one client, no faults.
fn quiet_transfers(seed: u64) -> Scenario {
    let text = format!(
        r#"
name = "quiet transfers"
seed = {seed}
duration = "5s"
[cluster]
clients = 1
[workload]
requests = 6
invalid_fraction = 0.0
"#
    );
    sim::parse(&text, "quiet.toml").expect("a valid scenario")
}

/// At convergence, signs a second payout of the first transfer paid, with
/// the hot wallet's next free nonce, and holds its submission on the wire
/// for a second: a late duplicate of a submission, still on its way when
/// the cluster first looks settled.
fn second_payout_on_the_wire() -> Hook {
    Hook(Arc::new(|world: &World| {
        let chain = world.chain().expect("the transfers workload runs a chain");
        let (first, next) = {
            let chain = chain.lock().unwrap_or_else(PoisonError::into_inner);
            let first = chain
                .blocks()
                .iter()
                .flat_map(|block| &block.transactions)
                .find(|tx| tx.transfer.from == HOT_WALLET)
                .expect("a payout was made")
                .clone();
            (first, chain.next_nonce(HOT_WALLET))
        };
        let key = world.signing_key(HOT_WALLET);
        let second = key.sign(Transfer {
            nonce: next,
            ..first.transfer
        });
        world.fabric().hold_request(
            &NodeName::new("ledger-1"),
            &NodeName::new("chain-rpc-1"),
            &ChainRequest::Submit(second),
            Duration::from_secs(1),
        );
    }))
}

/// Without the quiet tail, the verdict was given at the first poll that
/// looked converged, and a second payout still on its way was never seen.
/// With it, the run goes on until the wire and every mempool are empty, and
/// the payout paid twice is caught.
#[test]
fn a_second_payout_in_flight_at_convergence_is_caught_after_the_quiet_tail() {
    let scenario = quiet_transfers(1);
    let planted = Some(second_payout_on_the_wire());

    let without_tail = run(
        &scenario,
        &RunOptions {
            at_convergence: planted.clone(),
            skip_quiet_tail: true,
            ..RunOptions::default()
        },
    );
    assert_eq!(
        without_tail.verdict,
        Verdict::Pass,
        "{:?}",
        without_tail.first_failure()
    );
    assert_eq!(without_tail.in_flight_at_tail.late_messages, 1);

    let with_tail = run(
        &scenario,
        &RunOptions {
            at_convergence: planted,
            ..RunOptions::default()
        },
    );
    assert_eq!(with_tail.verdict, Verdict::SafetyViolation);
    let paid_twice = with_tail
        .checks
        .iter()
        .filter(|check| check.checker == Checker::ExactlyOnce)
        .flat_map(|check| &check.violations)
        .any(|violation| violation.message.contains("is paid 2 times on chain"));
    assert!(paid_twice, "{:#?}", with_tail.checks);
    assert!(with_tail.violated(Checker::NonceHygiene));

    let control = run(&scenario, &RunOptions::default());
    assert_eq!(
        control.verdict,
        Verdict::Pass,
        "{:?}",
        control.first_failure()
    );
}

/// `no-idempotency-key` plants one mistake: a request appended twice is
/// paid twice. With no retry, no resend and no fault, no request is ever
/// appended twice, so the bug must go unnoticed; it used to be "caught" at
/// the first payout because it also changed every transfer's id.
#[test]
fn no_idempotency_key_without_retries_is_harmless() {
    let mut scenario = quiet_transfers(2);
    scenario.system.bugs = vec!["no-idempotency-key".to_owned()];
    scenario.workload.client_retries = 0;
    scenario.workload.late_resends = 0.0;
    scenario.workload.requests = 20;
    let outcome = run(&scenario, &RunOptions::default());
    assert_eq!(
        outcome.verdict,
        Verdict::Pass,
        "{:?}",
        outcome.first_failure()
    );
}

/// Every planted bug is a safety bug or a liveness bug, and counts as
/// caught only by a checker of its class, one that judges runs of the
/// workload kind the bug lives in.
#[test]
fn each_bug_is_caught_only_by_checkers_of_its_class() {
    use ledger::bugs::{Bug, BugClass};
    use sim::WorkloadKind;
    for bug in Bug::all() {
        let kind = WorkloadKind::from_name(bug.workload()).expect("a workload kind");
        for checker in bug.expected_checkers() {
            assert!(
                sim::checkers_for(kind).contains(checker),
                "{bug}: {checker} does not judge {} runs",
                kind.name()
            );
            assert_eq!(
                checker.is_safety(),
                bug.class() == BugClass::Safety,
                "{bug} is a {:?} bug, but {checker} is not of its class",
                bug.class()
            );
        }
    }
}

/// Ground truth is read one way whatever bug is planted, and no checker
/// knows which bug is: nothing that reads ground truth or judges a run
/// consults the planted bugs. (A kind's client is part of the system
/// under test, where bugs are planted: the bank client's isolation level is
/// one.)
#[test]
fn no_checker_or_ground_truth_reader_consults_the_planted_bugs() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sim/src");
    let mut files = vec![root.join("history.rs")];
    let mut dirs = vec![
        root.join("run"),
        root.join("check"),
        root.join("trace"),
        root.join("kinds"),
    ];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("a source folder") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs")
                && !path.ends_with("client.rs")
            {
                files.push(path);
            }
        }
    }
    for file in files {
        let text = std::fs::read_to_string(&file).expect("a source file");
        for (number, line) in text.lines().enumerate() {
            let consults = line.contains("Bug::") || line.contains(".has(");
            assert!(
                !consults,
                "{}:{}: {}",
                file.display(),
                number + 1,
                line.trim()
            );
        }
    }
}

/// Clients of every kind send on schedule, many requests in flight, so a
/// run whose one server is cut off for most of the fault phase still sends
/// every request it was asked to (the bank and chain clients used to send
/// one at a time and stop short).
#[test]
fn clients_send_every_request_however_long_earlier_ones_take() {
    for (kind, server) in [("bank", "db"), ("chain", "chain"), ("log", "log-leader")] {
        let text = format!(
            r#"
name = "a server cut off"
seed = 5
duration = "10s"
[workload]
kind = "{kind}"
requests = 40
client_timeout = "1s"
[[events]]
at = "1s"
action = "partition"
groups = [["{server}"]]
for = "8s"
"#
        );
        let scenario = sim::parse(&text, "cut-off.toml").expect("a valid scenario");
        let outcome = run(&scenario, &RunOptions::default());
        assert_eq!(outcome.requests.sent, 40, "{kind}");
        assert_eq!(
            outcome.verdict,
            Verdict::Pass,
            "{kind}: {:?}",
            outcome.first_failure()
        );
    }
}

/// The liveness failure's first words for a cluster stopped short.
fn liveness_message(outcome: &sim::RunOutcome) -> String {
    outcome
        .checks
        .iter()
        .filter(|check| check.checker == Checker::Liveness)
        .flat_map(|check| &check.violations)
        .map(|violation| violation.message.clone())
        .next()
        .unwrap_or_else(|| panic!("no liveness failure: {:?}", outcome.first_failure()))
}

/// A settle phase too short for a slow disk ends with payouts still being
/// made: the failure says the cluster was still settling, so a longer
/// `settle` is worth a try. The planted liveness bug's stuck payout, whose
/// log stands still and whose other requests settled long before, must not
/// read so.
#[test]
fn a_liveness_failure_says_whether_the_cluster_was_still_settling() {
    let slow = sim::parse(
        r#"
name = "slow settle"
seed = 3
duration = "2s"
settle = "4s"
[cluster]
clients = 2
[system]
sync_latency = "20ms..40ms"
[workload]
requests = 60
invalid_fraction = 0.0
"#,
        "slow.toml",
    )
    .expect("a valid scenario");
    let outcome = run(&slow, &RunOptions::default());
    assert_eq!(outcome.verdict, Verdict::LivenessFailure);
    let message = liveness_message(&outcome);
    assert!(
        message.starts_with("the settle phase ended unconverged: still settling when it ended ("),
        "{message}"
    );

    let longer = Scenario {
        settle: Some(sim::scenario::Dur(Duration::from_secs(60))),
        ..slow
    };
    let outcome = run(&longer, &RunOptions::default());
    assert_eq!(
        outcome.verdict,
        Verdict::Pass,
        "{:?}",
        outcome.first_failure()
    );

    let mut stuck = sim::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/no-resubmit.toml"
    )))
    .expect("the planted liveness bug's scenario");
    stuck.expect = None;
    let outcome = run(&stuck, &RunOptions::default());
    assert_eq!(outcome.verdict, Verdict::LivenessFailure);
    let message = liveness_message(&outcome);
    assert!(!message.contains("still settling"), "{message}");
}

/// A file that sets no `settle` is not failed for the length of a default
/// it never chose: 3000 payouts asked for in a second take the chain about
/// a minute and a half to confirm, and the settle phase goes on while they
/// still settle. Set, `settle` is a deadline the same cluster misses.
#[test]
fn a_default_settle_goes_on_while_the_cluster_still_settles() {
    let heavy = sim::parse(
        r#"
name = "heavy"
seed = 1
duration = "1s"
[cluster]
clients = 8
[workload]
requests = 3000
"#,
        "heavy.toml",
    )
    .expect("a valid scenario");
    assert_eq!(heavy.settle(), Duration::from_secs(60));
    let outcome = run(&heavy, &RunOptions::default());
    assert_eq!(
        outcome.verdict,
        Verdict::Pass,
        "{:?}",
        outcome.first_failure()
    );
    assert!(
        outcome.settle_phase > Duration::from_secs(60),
        "{:?}",
        outcome.settle_phase
    );

    let deadline = Scenario {
        settle: Some(sim::scenario::Dur(Duration::from_secs(60))),
        ..heavy
    };
    let outcome = run(&deadline, &RunOptions::default());
    assert_eq!(outcome.verdict, Verdict::LivenessFailure);
    let message = liveness_message(&outcome);
    assert!(message.contains("still settling"), "{message}");
}

/// Wallets that speed up every payment they can contest their own nonces
/// in the mempool: each speed-up either pushes the pending version out or
/// meets a nonce the first one already spent, either version may land, and
/// a correct chain passes every check; the same run with the fee rule
/// turned round is caught by `chain-safety` on the chain's answers alone.
#[test]
fn speed_ups_replace_pending_payments_and_a_turned_fee_rule_is_caught() {
    let text = r#"
name = "speed-ups"
seed = 7
duration = "8s"
[cluster]
clients = 2
chain_rpc_nodes = 2
[workload]
kind = "chain"
requests = 20
invalid_fraction = 0.0
fee_bumps = 1.0
"#;
    let scenario = sim::parse(text, "speed-ups.toml").expect("a valid scenario");
    let options = RunOptions {
        keep_trace: true,
        ..RunOptions::default()
    };
    let outcome = run(&scenario, &options);
    assert_eq!(
        outcome.verdict,
        Verdict::Pass,
        "{:?}",
        outcome.first_failure()
    );
    let lines = outcome.trace_lines.expect("the trace was kept");
    let speed_ups: Vec<&String> = lines
        .iter()
        .filter(|line| line.contains("\"event\":\"sped-up\""))
        .collect();
    assert!(
        speed_ups.len() >= 10,
        "most of 20 payments are sped up: {speed_ups:#?}"
    );
    assert!(
        speed_ups
            .iter()
            .any(|line| line.contains("accepted, replacing")),
        "{speed_ups:#?}"
    );
    assert!(
        outcome
            .marks
            .get("nonce-contested-in-mempool")
            .is_some_and(|count| *count > 0)
    );

    let mut turned = scenario.clone();
    turned.system.bugs = vec!["replacement-fee-inverted".to_owned()];
    let caught = run(&turned, &RunOptions::default());
    assert_eq!(caught.verdict, Verdict::SafetyViolation);
    assert!(
        caught.violated(Checker::ChainSafety),
        "{:#?}",
        caught.checks
    );
}
