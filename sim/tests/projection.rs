//! Who projects the log into the database: the replica that appended an
//! entry projects it, and the other replicas stand in (the mark
//! `standby-projected`) only for an appender that left its entries
//! unprojected past the grace, here one cut off from the database.

use sim::{RunOptions, Scenario, Verdict, run::run};

const STANDBY: &str = "standby-projected";

/// Two ledger replicas serving one client for 10 s, with `extra` appended.
fn scenario(seed: u64, extra: &str) -> Scenario {
    let text = format!(
        "name = \"projection\"\nseed = {seed}\nduration = \"10s\"\n[cluster]\nledger_replicas = 2\nclients = 1\n[workload]\nrequests = 10\n{extra}"
    );
    sim::parse(&text, "projection.toml").unwrap_or_else(|error| panic!("{error}"))
}

/// How often a replica stood in, in a run that must pass.
fn stood_in(scenario: &Scenario) -> u64 {
    let outcome = run(scenario, &RunOptions::default());
    assert_eq!(
        outcome.verdict,
        Verdict::Pass,
        "{:?}",
        outcome.first_failure()
    );
    outcome.marks.get(STANDBY).copied().unwrap_or(0)
}

const CUT_OFF: &str = "[[events]]\nat = \"1s\"\naction = \"partition\"\ngroups = [[\"ledger-1\"], [\"db\"]]\nfor = \"8s\"\n";

#[test]
fn without_faults_every_entry_is_projected_by_its_appender() {
    for seed in [1, 2, 7] {
        assert_eq!(stood_in(&scenario(seed, "")), 0, "seed {seed}");
    }
}

#[test]
fn the_other_replica_stands_in_for_one_cut_off_from_the_database() {
    let stood: Vec<u64> = [1, 2, 7]
        .into_iter()
        .map(|seed| stood_in(&scenario(seed, CUT_OFF)))
        .collect();
    assert!(stood.iter().all(|count| *count > 0), "{stood:?}");
}
