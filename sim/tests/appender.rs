//! An append's acknowledgement brings back the committed entries the
//! appending replica's fold lacks, so that the replica folds up to its own
//! entry without reading the log: a lone replica reads the log only when
//! idle, not once per append (with the acknowledgements bringing nothing,
//! this run reads the log about 320 times for 500 appends; with them, 36).

use sim::{RunOptions, Verdict, run::run};

#[test]
fn a_lone_replica_folds_its_appends_without_reading_them_back() {
    let text = "name = \"appends\"\nseed = 3\nduration = \"10s\"\n[cluster]\nledger_replicas = 1\nclients = 4\n[workload]\nrequests = 200\n";
    let scenario = sim::parse(text, "appends.toml").unwrap_or_else(|error| panic!("{error}"));
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
    let kinds = outcome.profile.expect("profiled").kinds;
    let count = |kind: &str| kinds.get(kind).copied().unwrap_or(0);
    let (appends, reads) = (count("ledger → log Client"), count("ledger → log Read"));
    assert!(appends >= 200, "every request is appended: {kinds:?}");
    assert!(reads < appends / 4, "{reads} reads for {appends} appends");
}
