//! Round trips the ledger saves without changing what it does: an append's
//! acknowledgement brings the committed entries the appender's fold lacks
//! (so a lone replica reads the log only when idle, not once per append),
//! and the receipts due in one pass of the outbox worker are asked for in
//! one request.

use sim::{RunOptions, Verdict, run::run};
use std::collections::BTreeMap;

/// Messages by route and kind in a passing run of one ledger replica
/// serving `requests` from four clients.
fn messages(requests: u32) -> BTreeMap<String, u64> {
    let text = format!(
        "name = \"round trips\"\nseed = 3\nduration = \"10s\"\n[cluster]\nledger_replicas = 1\nclients = 4\n[workload]\nrequests = {requests}\n"
    );
    let scenario = sim::parse(&text, "round-trips.toml").unwrap_or_else(|error| panic!("{error}"));
    let outcome = run(
        &scenario,
        &RunOptions {
            profile: true,
            ..RunOptions::default()
        },
    );
    assert_eq!(
        outcome.verdict,
        Verdict::Pass,
        "{:?}",
        outcome.first_failure()
    );
    outcome.profile.expect("profiled").kinds
}

fn count(messages: &BTreeMap<String, u64>, kind: &str) -> u64 {
    messages.get(kind).copied().unwrap_or(0)
}

/// With the acknowledgements bringing nothing, this run reads the log
/// about 320 times for 500 appends; with them, 36.
#[test]
fn a_lone_replica_folds_its_appends_without_reading_them_back() {
    let messages = messages(200);
    let appends = count(&messages, "ledger → log Client");
    let reads = count(&messages, "ledger → log Read");
    assert!(appends >= 200, "every request is appended: {messages:?}");
    assert!(reads < appends / 4, "{reads} reads for {appends} appends");
}

/// Asked one by one, a payout's receipt is asked for several times.
#[test]
fn receipts_due_together_are_asked_for_together() {
    let messages = messages(100);
    let batched = count(&messages, "ledger → chain-rpc Receipts");
    let single = count(&messages, "ledger → chain-rpc Receipt");
    let submissions = count(&messages, "ledger → chain-rpc Submit");
    assert!(batched > 0, "{messages:?}");
    assert!(
        batched + single < submissions,
        "{batched} batched and {single} single receipt requests for {submissions} submissions"
    );
}
