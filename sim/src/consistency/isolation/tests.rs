//! Each anomaly class from its textbook history (Adya; Elle's paper), a
//! serial history that has none, and generated serial executions, which
//! never show one.

use super::*;
use proptest::prelude::*;

fn committed(id: u64, ops: &[TxnOp]) -> Txn {
    Txn {
        id,
        level: Level::Serializable,
        status: Status::Committed,
        ops: ops.to_vec(),
    }
}

fn read_committed(txn: Txn) -> Txn {
    Txn {
        level: Level::ReadCommitted,
        ..txn
    }
}

fn r(key: u64, writer: u64, n: u32) -> TxnOp {
    TxnOp::Read {
        key,
        version: Version::Written { writer, n },
    }
}

fn r0(key: u64) -> TxnOp {
    TxnOp::Read {
        key,
        version: Version::Initial,
    }
}

fn w(key: u64, n: u32) -> TxnOp {
    TxnOp::Write { key, n }
}

/// The anomalies, with keys named `k1`, `k2`...
fn check_k(txns: &[Txn]) -> Vec<Anomaly> {
    check(txns, &|key| format!("k{key}"))
}

fn kinds(txns: &[Txn]) -> Vec<AnomalyKind> {
    check_k(txns)
        .into_iter()
        .map(|anomaly| anomaly.kind)
        .collect()
}

#[test]
fn a_cycle_of_write_dependencies_is_g0() {
    // T2 overwrote T1's x, and T1 overwrote T2's y: each read the version
    // it overwrote, so the version order of both keys is known.
    let txns = [
        committed(1, &[r0(1), w(1, 0), r(2, 2, 1), w(2, 1)]),
        committed(2, &[r(1, 1, 0), w(1, 0), r0(2), w(2, 1)]),
    ];
    let anomalies = check_k(&txns);
    assert_eq!(anomalies[0].kind, AnomalyKind::G0, "{anomalies:?}");
    assert_eq!(anomalies[0].txns, vec![1, 2]);
    assert!(
        anomalies[0].explanation.contains("-ww k"),
        "{}",
        anomalies[0]
    );
}

#[test]
fn a_read_of_an_aborted_write_is_g1a() {
    let txns = [
        Txn {
            id: 1,
            level: Level::Serializable,
            status: Status::Aborted,
            ops: vec![r0(1), w(1, 0)],
        },
        committed(2, &[r(1, 1, 0)]),
    ];
    assert_eq!(kinds(&txns), vec![AnomalyKind::G1a]);
}

#[test]
fn a_read_of_an_overwritten_intermediate_write_is_g1b() {
    let txns = [
        committed(1, &[r0(1), w(1, 0), w(1, 1)]),
        committed(2, &[r(1, 1, 0)]),
    ];
    assert_eq!(kinds(&txns), vec![AnomalyKind::G1b]);
}

#[test]
fn a_cycle_of_write_and_read_dependencies_is_g1c() {
    let txns = [
        committed(1, &[w(1, 0), r(2, 2, 0)]),
        committed(2, &[w(2, 0), r(1, 1, 0)]),
    ];
    let anomalies = check_k(&txns);
    assert_eq!(kinds(&txns), vec![AnomalyKind::G1c], "{anomalies:?}");
    assert_eq!(anomalies[0].explanation, "T1 -wr k1-> T2 -wr k2-> T1");
}

/// Read skew: a reader sees x before a transfer and y after it.
#[test]
fn a_read_that_sees_half_of_a_transfer_is_g_single() {
    let txns = [
        committed(2, &[r0(1), w(1, 0), r0(2), w(2, 1)]),
        committed(1, &[r0(1), r(2, 2, 1)]),
    ];
    let anomalies = check_k(&txns);
    assert_eq!(kinds(&txns), vec![AnomalyKind::GSingle], "{anomalies:?}");
    assert_eq!(anomalies[0].explanation, "T1 -rw k1-> T2 -wr k2-> T1");
    // READ COMMITTED allows the reader to see that.
    let [transfer, reader] = txns;
    assert_eq!(kinds(&[transfer, read_committed(reader)]), Vec::new());
}

/// Write skew: each reads both keys and writes one the other read.
#[test]
fn write_skew_and_lost_updates_are_g2() {
    let skew = [
        committed(1, &[r0(1), r0(2), w(1, 0)]),
        committed(2, &[r0(1), r0(2), w(2, 0)]),
    ];
    assert_eq!(kinds(&skew), vec![AnomalyKind::G2]);
    let lost_update = [
        committed(1, &[r0(1), w(1, 0)]),
        committed(2, &[r0(1), w(1, 0)]),
    ];
    assert_eq!(kinds(&lost_update), vec![AnomalyKind::G2]);
    let [first, second] = lost_update;
    let both = [read_committed(first), read_committed(second)];
    assert_eq!(
        kinds(&both),
        Vec::new(),
        "READ COMMITTED allows lost updates"
    );
    // But not a cycle of writes and reads.
    let g1c = [
        read_committed(committed(1, &[w(1, 0), r(2, 2, 0)])),
        read_committed(committed(2, &[w(2, 0), r(1, 1, 0)])),
    ];
    assert_eq!(kinds(&g1c), vec![AnomalyKind::G1c]);
}

#[test]
fn an_unknown_commit_counts_once_read_and_a_garbage_read_is_named() {
    let unknown = |id, ops: &[TxnOp]| Txn {
        id,
        level: Level::Serializable,
        status: Status::Unknown,
        ops: ops.to_vec(),
    };
    // T2's commit is unknown; T1 saw its write, so the cycle is real.
    let seen = [
        committed(1, &[w(1, 0), r(2, 2, 0)]),
        unknown(2, &[w(2, 0), r(1, 1, 0)]),
    ];
    assert_eq!(kinds(&seen), vec![AnomalyKind::G1c]);
    // Unread, it is left out: nothing depends on it.
    let unseen = [
        committed(1, &[r0(1), w(1, 0)]),
        unknown(2, &[r0(1), w(1, 0)]),
    ];
    assert_eq!(kinds(&unseen), Vec::<AnomalyKind>::new());
    let garbage = [committed(1, &[r(1, 9, 0)])];
    assert_eq!(kinds(&garbage), vec![AnomalyKind::GarbageRead]);
}

/// Inside a transaction a read sees its own latest write of the key, and
/// none of its own where it wrote nothing, whatever became of it.
#[test]
fn a_read_that_misses_its_own_write_is_internal() {
    let own = [committed(1, &[r0(1), w(1, 0), w(1, 1), r(1, 1, 1)])];
    assert_eq!(kinds(&own), Vec::new());
    let missed = [committed(1, &[r0(1), w(1, 0), r0(1)])];
    assert_eq!(kinds(&missed), vec![AnomalyKind::Internal]);
    assert_eq!(
        check_k(&missed)[0].explanation,
        "T1 read k1 as its initial value, after writing it as version 1.0"
    );
    let stale_own = [committed(1, &[w(1, 0), w(1, 1), r(1, 1, 0)])];
    assert_eq!(kinds(&stale_own), vec![AnomalyKind::Internal]);
    let aborted = [Txn {
        status: Status::Aborted,
        ..committed(1, &[r(2, 1, 0), w(2, 0)])
    }];
    assert_eq!(kinds(&aborted), vec![AnomalyKind::Internal]);
}

/// A serial execution: transactions one after another, each reading some
/// keys (by key, or with a scan of a range, which reads the keys present
/// and names the gaps absent) and writing or deleting some it read; some
/// abort, and their writes vanish. Every key starts absent.
fn serial_history() -> impl Strategy<Value = Vec<Txn>> {
    let txn = (proptest::collection::vec((0u64..6, 0u8..5), 1..5), 0u32..5);
    proptest::collection::vec(txn, 1..30).prop_map(|txns| {
        // Each key present now, with its version.
        let mut current: BTreeMap<u64, Version> = BTreeMap::new();
        let mut history = Vec::new();
        for (index, (steps, abort)) in txns.into_iter().enumerate() {
            let id = index as u64 + 1;
            let mut mine = current.clone();
            let mut ops = Vec::new();
            for (n, (key, action)) in steps.into_iter().enumerate() {
                let n = n as u32;
                if action == 4 {
                    scan(&mine, key..key + 3, &mut ops);
                    continue;
                }
                let seen = mine.get(&key).copied().unwrap_or(Version::Initial);
                ops.push(TxnOp::Read { key, version: seen });
                match action {
                    1 | 2 => {
                        ops.push(TxnOp::Write { key, n });
                        mine.insert(key, Version::Written { writer: id, n });
                    }
                    3 => {
                        ops.push(TxnOp::Delete { key, n });
                        mine.remove(&key);
                    }
                    _ => {}
                }
            }
            let status = if abort == 0 {
                Status::Aborted
            } else {
                current = mine;
                Status::Committed
            };
            let level = if id.is_multiple_of(3) {
                Level::ReadCommitted
            } else {
                Level::Serializable
            };
            history.push(Txn {
                id,
                level,
                status,
                ops,
            });
        }
        history
    })
}

/// A scan of `range` over the keys `present`: a read of each, and the
/// gaps between them absent.
fn scan(present: &BTreeMap<u64, Version>, range: std::ops::Range<u64>, ops: &mut Vec<TxnOp>) {
    let mut from = range.start;
    for (&key, &version) in present.range(range.clone()) {
        ops.push(TxnOp::Absent { from, to: key });
        ops.push(TxnOp::Read { key, version });
        from = key + 1;
    }
    ops.push(TxnOp::Absent {
        from,
        to: range.end,
    });
}

proptest! {
    #[test]
    fn a_serial_execution_shows_no_anomaly(history in serial_history()) {
        prop_assert_eq!(check_k(&history), Vec::new());
    }
}

/// A scan that missed a row whose writer it saw elsewhere read the row's
/// absence before the insert: a phantom, and a cycle with one rw edge.
#[test]
fn a_phantom_in_a_scanned_range_is_g_single() {
    let insert = committed(2, &[r0(15), w(15, 0), r(1, 9, 0), w(1, 0)]);
    let account = committed(9, &[r0(1), w(1, 0)]);
    let scan = |ops: &[TxnOp]| committed(1, ops);
    let missed = [
        account.clone(),
        insert.clone(),
        scan(&[TxnOp::Absent { from: 10, to: 20 }, r(1, 2, 0)]),
    ];
    let anomalies = check_k(&missed);
    assert_eq!(kinds(&missed), vec![AnomalyKind::GSingle], "{anomalies:?}");
    assert_eq!(anomalies[0].explanation, "T1 -rw k15-> T2 -wr k1-> T1");
    // A range that ends before the row, or a read that saw it, is no
    // phantom; nor is a range nobody writes into.
    for ops in [
        &[TxnOp::Absent { from: 10, to: 15 }, r(1, 2, 0)][..],
        &[r(15, 2, 0), r(1, 2, 0)],
        &[TxnOp::Absent { from: 16, to: 15 }, r(1, 2, 0)],
    ] {
        let history = [account.clone(), insert.clone(), scan(ops)];
        assert_eq!(kinds(&history), Vec::new(), "{ops:?}");
    }
}

/// Absent after a delete is ambiguous: the same reads are serializable if
/// the row was deleted before the scan, so nothing is reported; a read of
/// the row as it was before the delete still orders the delete after it.
#[test]
fn an_absence_where_a_row_was_deleted_proves_nothing() {
    let insert = committed(2, &[r0(15), w(15, 0), r(1, 9, 0), w(1, 0)]);
    let account = committed(9, &[r0(1), w(1, 0)]);
    let delete = committed(3, &[r(15, 2, 0), TxnOp::Delete { key: 15, n: 0 }]);
    let scan = committed(1, &[TxnOp::Absent { from: 10, to: 20 }, r(1, 2, 0)]);
    let history = [account.clone(), insert.clone(), delete.clone(), scan];
    assert_eq!(kinds(&history), Vec::new());
    // T1 saw the row T3 deleted, and T3's write of another key: a read
    // of the row before the delete orders T3 after T1, and T1 after T3.
    let deleter = committed(
        3,
        &[r(15, 2, 0), TxnOp::Delete { key: 15, n: 0 }, r0(2), w(2, 0)],
    );
    let torn = committed(1, &[r(15, 2, 0), r(2, 3, 0)]);
    let anomalies = check_k(&[account, insert, deleter, torn]);
    assert_eq!(anomalies.len(), 1, "{anomalies:?}");
    assert_eq!(anomalies[0].explanation, "T1 -rw k15-> T3 -wr k2-> T1");
}

/// After its own delete a transaction finds the key absent; after its own
/// insert a scan must show the row.
#[test]
fn own_deletes_and_inserts_hold_inside_a_transaction() {
    let delete = TxnOp::Delete { key: 5, n: 0 };
    assert_eq!(
        kinds(&[committed(1, &[r0(5), w(5, 0), delete, r0(5)])]),
        Vec::new()
    );
    let resurrected = [committed(1, &[r0(5), w(5, 0), delete, r(5, 1, 0)])];
    assert_eq!(kinds(&resurrected), vec![AnomalyKind::Internal]);
    assert_eq!(
        check_k(&resurrected)[0].explanation,
        "T1 read k5 as version 1.0, after deleting it"
    );
    let unseen = [committed(
        1,
        &[r0(5), w(5, 0), TxnOp::Absent { from: 0, to: 9 }],
    )];
    assert_eq!(kinds(&unseen), vec![AnomalyKind::Internal]);
}

/// With no steps left for its searches the checker still fails a history
/// with a cycle, naming one cycle by the edges on it; a long knotted
/// history stops searching once each kind is named enough.
#[test]
fn a_search_out_of_steps_still_names_a_cycle() {
    let half_seen = [
        committed(1, &[r0(1), w(1, 0), r0(2), w(2, 0)]),
        committed(2, &[r(1, 1, 0), r0(2)]),
        committed(3, &[r(2, 1, 0), w(2, 1)]),
    ];
    let unlimited = check_k(&half_seen);
    let starved = check_within(&half_seen, &|key| format!("k{key}"), 0);
    assert_eq!(starved.len(), 1, "{starved:?}");
    assert_eq!(starved[0].kind, AnomalyKind::GSingle);
    assert_eq!(
        (starved[0].kind, &starved[0].txns),
        (unlimited[0].kind, &unlimited[0].txns)
    );
    assert_eq!(starved[0].explanation, "T1 -wr k1-> T2 -rw k2-> T1");
    // Every transaction reads its predecessor's write, and the first reads
    // the last one's: one component, a cycle through every edge.
    let length = 5_000;
    let mut knotted: Vec<Txn> = (1..=length)
        .map(|id| {
            let read = if id == 1 { r0(1) } else { r(1, id - 1, 0) };
            committed(id, &[read, w(1, 0), r0(2)])
        })
        .collect();
    knotted[0].ops.push(r(3, length, 0));
    knotted[length as usize - 1].ops.push(w(3, 0));
    knotted.push(committed(length + 1, &[r0(2), w(2, 0)]));
    let anomalies = check_k(&knotted);
    assert_eq!(anomalies[0].kind, AnomalyKind::G1c, "{anomalies:?}");
    assert_eq!(anomalies[0].txns.len(), length as usize);
}

/// A long chain of transactions, each reading its predecessor's write and
/// writing over it: one component per transaction, walked without
/// recursion, and no anomaly; closing the chain makes it one cycle.
#[test]
fn a_long_chain_is_acyclic_until_closed() {
    let chain = |length: u64| -> Vec<Txn> {
        (1..=length)
            .map(|id| {
                let read = if id == 1 { r0(1) } else { r(1, id - 1, 0) };
                committed(id, &[read, w(1, 0)])
            })
            .collect()
    };
    assert_eq!(kinds(&chain(50_000)), Vec::new());
    let mut closed = chain(50);
    closed[0].ops.push(r(2, 50, 0));
    closed[49].ops.push(w(2, 0));
    assert_eq!(kinds(&closed), vec![AnomalyKind::G1c]);
}
