//! The isolation rules on small interleavings, one script each.
//!
//! A script line is `<txn> <op> [args] [-> expected]`:
//! `read K`, `write K V`, `insert K V`, `cas K V` (expects the version this
//! transaction read of K), `delete K`, `scan PREFIX [LIMIT]` (100 unless
//! given), `commit`, `rollback`.
//! Expected: a value, `none`, a list `a=1 b=2` for scans, `ok`, or an error
//! (`duplicate`, `version`, `serialization`, `unknown`). Every transaction
//! begins with the isolation level under test, on its first line.

use super::*;

const NOW: Duration = Duration::ZERO;

struct Script {
    engine: Engine,
    isolation: Isolation,
    /// Every transaction the script has begun, by number; finished ones
    /// keep their id, so using them again reaches the engine as unknown.
    begun: BTreeMap<u64, TxnId>,
    read_versions: BTreeMap<(u64, String), u64>,
}

fn key(name: &str) -> Key {
    Key::Str(name.to_owned())
}

fn encode(value: &str) -> Vec<u8> {
    value.as_bytes().to_vec()
}

fn decode(value: &[u8]) -> String {
    String::from_utf8(value.to_vec()).expect("utf-8 values")
}

fn error_name(error: &TxnError) -> &'static str {
    match error {
        TxnError::Unknown(_) => "unknown",
        TxnError::TooManyOpen => "too-many-open",
        TxnError::TooManyWrites => "too-many-writes",
        TxnError::Duplicate { .. } => "duplicate",
        TxnError::VersionMismatch { .. } => "version",
        TxnError::Serialization { .. } => "serialization",
    }
}

impl Script {
    fn new(isolation: Isolation, initial: &[(&str, &str)]) -> Script {
        let mut engine = Engine::default();
        engine.apply(&CommitRecord {
            txn: TxnId(0),
            seq: 1,
            writes: initial
                .iter()
                .map(|(name, value)| ("t".to_owned(), key(name), Some(encode(value))))
                .collect(),
        });
        Script {
            engine,
            isolation,
            begun: BTreeMap::new(),
            read_versions: BTreeMap::new(),
        }
    }

    fn txn(&mut self, number: u64) -> TxnId {
        if let Some(id) = self.begun.get(&number) {
            return *id;
        }
        let id = TxnId(100 + number);
        self.engine.begin(id, self.isolation, NOW).expect("begin");
        self.begun.insert(number, id);
        id
    }

    fn step(&mut self, line: &str) -> String {
        let words: Vec<&str> = line.split_whitespace().collect();
        let number: u64 = words[0].parse().expect("a transaction number");
        let id = self.txn(number);
        let outcome = |result: Result<(), TxnError>| match result {
            Ok(()) => "ok".to_owned(),
            Err(error) => error_name(&error).to_owned(),
        };
        match words[1] {
            "read" => match self.engine.get(id, "t", &key(words[2]), NOW) {
                Ok(Some(found)) => {
                    if let Some(version) = found.version {
                        self.read_versions
                            .insert((number, words[2].to_owned()), version);
                    }
                    decode(&found.value)
                }
                Ok(None) => "none".to_owned(),
                Err(error) => error_name(&error).to_owned(),
            },
            "scan" => match self.engine.scan(
                id,
                "t",
                &ScanRange::Prefix(words.get(2).unwrap_or(&"").to_string()),
                words
                    .get(3)
                    .map_or(100, |limit| limit.parse().expect("a limit")),
                NOW,
            ) {
                Ok(rows) => rows
                    .iter()
                    .map(|(key, found)| {
                        format!(
                            "{}={}",
                            key.to_string().trim_matches('"'),
                            decode(&found.value)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
                Err(error) => error_name(&error).to_owned(),
            },
            "write" => outcome(
                self.engine
                    .put(id, "t", key(words[2]), encode(words[3]), NOW),
            ),
            "insert" => {
                outcome(
                    self.engine
                        .insert_unique(id, "t", key(words[2]), encode(words[3]), NOW),
                )
            }
            "cas" => {
                let expected = self.read_versions[&(number, words[2].to_owned())];
                outcome(self.engine.compare_and_set(
                    id,
                    "t",
                    key(words[2]),
                    expected,
                    encode(words[3]),
                    NOW,
                ))
            }
            "delete" => outcome(self.engine.delete(id, "t", key(words[2]), NOW)),
            "rollback" => outcome(self.engine.rollback(id)),
            "commit" => outcome(self.engine.prepare_commit(id).map(|record| {
                if let Some(record) = record {
                    self.engine.apply(&record);
                }
            })),
            other => panic!("unknown operation `{other}`"),
        }
    }

    fn state(&self) -> String {
        self.engine
            .rows("t")
            .map(|(key, row)| {
                format!(
                    "{}={}",
                    key.to_string().trim_matches('"'),
                    decode(&row.value)
                )
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Runs `script` under `isolation` from `initial`; checks each expectation
/// and the committed state at the end.
fn check(isolation: Isolation, initial: &[(&str, &str)], script: &str, final_state: &str) {
    let mut run = Script::new(isolation, initial);
    for line in script
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
    {
        let (step, expected) = match line.split_once("->") {
            Some((step, expected)) => (step.trim(), Some(expected.trim())),
            None => (line, None),
        };
        let actual = run.step(step);
        if let Some(expected) = expected {
            assert_eq!(actual, expected, "{isolation:?}: `{step}`");
        }
    }
    assert_eq!(run.state(), final_state, "{isolation:?}: final state");
}

const RC: Isolation = Isolation::ReadCommitted;
const SER: Isolation = Isolation::Serializable;

#[test]
fn lost_update_happens_under_read_committed_only() {
    let script = "
        1 read x -> 100
        2 read x -> 100
        1 write x 110
        2 write x 120
        1 commit -> ok
        2 commit";
    check(RC, &[("x", "100")], &format!("{script} -> ok"), "x=120");
    check(
        SER,
        &[("x", "100")],
        &format!("{script} -> serialization"),
        "x=110",
    );
}

#[test]
fn compare_and_set_prevents_the_lost_update_in_both_levels() {
    let script = "
        1 read x -> 100
        2 read x -> 100
        1 cas x 110
        2 cas x 120
        1 commit -> ok
        2 commit -> version";
    check(RC, &[("x", "100")], script, "x=110");
    check(SER, &[("x", "100")], script, "x=110");
}

#[test]
fn write_skew_is_allowed_under_read_committed_and_refused_under_serializable() {
    // Two on-call doctors each go off call after checking the other is on.
    let script = "
        1 read alice -> on
        1 read bob -> on
        2 read alice -> on
        2 read bob -> on
        1 write alice off
        2 write bob off
        1 commit -> ok
        2 commit";
    check(
        RC,
        &[("alice", "on"), ("bob", "on")],
        &format!("{script} -> ok"),
        "alice=off bob=off",
    );
    check(
        SER,
        &[("alice", "on"), ("bob", "on")],
        &format!("{script} -> serialization"),
        "alice=off bob=on",
    );
}

#[test]
fn reads_see_the_latest_commit_under_read_committed() {
    check(
        RC,
        &[("x", "1")],
        "
        1 read x -> 1
        2 write x 2
        2 commit -> ok
        1 read x -> 2
        1 commit -> ok",
        "x=2",
    );
}

#[test]
fn a_read_only_transaction_that_saw_a_changed_row_fails_under_serializable() {
    check(
        SER,
        &[("x", "1"), ("y", "1")],
        "
        1 read x -> 1
        2 write x 2
        2 write y 2
        2 commit -> ok
        1 read y -> 2
        1 commit -> serialization",
        "x=2 y=2",
    );
}

#[test]
fn a_phantom_in_a_scanned_range_fails_under_serializable_only() {
    let script = "
        1 scan acct/ -> acct/a=1
        2 insert acct/b 1
        2 commit -> ok
        1 write total 1
        1 commit";
    check(
        RC,
        &[("acct/a", "1")],
        &format!("{script} -> ok"),
        "acct/a=1 acct/b=1 total=1",
    );
    check(
        SER,
        &[("acct/a", "1")],
        &format!("{script} -> serialization"),
        "acct/a=1 acct/b=1",
    );
}

#[test]
fn a_row_that_changed_between_two_reads_fails_under_serializable_even_if_it_changed_back() {
    // The second read sees the row the first did not; by commit it is gone
    // again. No serial order gives both reads, so SERIALIZABLE must refuse,
    // though the row is as first read. (Found by the property
    // `serializable_runs_are_serializable`: only the first version read of a
    // row used to be validated.)
    let script = "
        1 read x -> none
        2 insert x 1
        2 commit -> ok
        1 read x -> 1
        3 delete x
        3 commit -> ok
        1 write y 1
        1 commit";
    check(RC, &[], &format!("{script} -> ok"), "y=1");
    check(SER, &[], &format!("{script} -> serialization"), "");
}

#[test]
fn a_scan_limit_counts_rows_after_the_transactions_own_deletes() {
    // The limit counts the rows the transaction sees: its own delete of the
    // first row must not use it up. (Found by the properties in
    // `properties.rs`: the scan returned no row.)
    for isolation in [RC, SER] {
        check(
            isolation,
            &[("k/a", "1"), ("k/b", "2"), ("k/c", "3")],
            "
            1 delete k/a
            1 scan k/ 1 -> k/b=2
            1 commit -> ok",
            "k/b=2 k/c=3",
        );
    }
    // And the row read past the deleted one is validated like any other.
    let script = "
        1 delete k/a
        1 scan k/ 1 -> k/b=2
        2 write k/b 5
        2 commit -> ok
        1 commit";
    let initial = [("k/a", "1"), ("k/b", "2"), ("k/c", "3")];
    check(RC, &initial, &format!("{script} -> ok"), "k/b=5 k/c=3");
    check(
        SER,
        &initial,
        &format!("{script} -> serialization"),
        "k/a=1 k/b=5 k/c=3",
    );
}

#[test]
fn unique_inserts_are_checked_at_commit_in_both_levels() {
    for isolation in [RC, SER] {
        check(
            isolation,
            &[],
            "
            1 insert marker 1
            2 insert marker 2
            1 commit -> ok
            2 commit -> duplicate",
            "marker=1",
        );
    }
}

#[test]
fn a_transaction_reads_its_own_writes_and_deletes() {
    check(
        SER,
        &[("x", "1"), ("y", "1")],
        "
        1 write x 5
        1 read x -> 5
        1 delete y
        1 read y -> none
        1 scan  -> x=5
        1 commit -> ok",
        "x=5",
    );
}

#[test]
fn a_finished_or_rolled_back_transaction_is_unknown() {
    check(
        RC,
        &[("x", "1")],
        "
        1 write x 2
        1 rollback -> ok
        3 read x -> 1
        3 commit -> ok
        3 commit -> unknown",
        "x=1",
    );
}

#[test]
fn open_transactions_are_bounded_and_idle_ones_expire() {
    let mut engine = Engine::default();
    for n in 0..MAX_OPEN_TXNS as u64 {
        engine
            .begin(TxnId(n), RC, Duration::from_secs(n % 2))
            .expect("room");
    }
    assert_eq!(
        engine.begin(TxnId(9999), RC, NOW),
        Err(TxnError::TooManyOpen)
    );
    let expired = engine.expire(Duration::from_secs(10), Duration::from_secs(10));
    assert_eq!(expired.len(), MAX_OPEN_TXNS / 2);
    assert_eq!(engine.open_txns(), MAX_OPEN_TXNS / 2);
}
