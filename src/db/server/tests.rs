//! The database server across a lost disk: nothing handed out in a life
//! before the loss (a transaction id, a row version) means anything after
//! it.

use futures::channel::oneshot;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use super::{DbConfig, run_db};
use crate::{
    bugs::{Bug, Bugs},
    db::{DbClient, DbError, DbRequest, DbResponse, Found, Isolation, Key, Txn, TxnError, TxnId},
    net::{Directory, Fabric, Rpc},
    node::NodeEnv,
    observe::{Discard, NodeName},
};

const TABLE: &str = "t";
const TIMEOUT: Duration = Duration::from_millis(200);

/// What a client saw around the loss of the database's disk.
#[derive(Debug)]
struct Seen {
    /// The transaction begun before the wipe, and the first one after it.
    old: TxnId,
    new: TxnId,
    /// The answer to a late copy of the old transaction's commit, sent
    /// after the new transaction wrote.
    late_commit: DbResponse,
    /// The new transaction's own commit.
    new_commit: Result<Option<u64>, DbError>,
    /// The row after both, and the outcome of a compare-and-set against the
    /// version read before the wipe.
    row: Option<Found>,
    stale_compare_and_set: Result<Option<u64>, DbError>,
    /// The database's incarnation after the wipe.
    incarnation: u64,
}

fn key() -> Key {
    Key::from("row")
}

fn addr(last: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, last)), 1)
}

/// The node environments of a world of the database `db` and `client`,
/// on one fabric, with `bugs` planted.
fn environments(
    db: &NodeName,
    client: &NodeName,
    bugs: Bugs,
) -> impl Fn(&NodeName) -> NodeEnv + use<> {
    let mut directory = Directory::default();
    directory.insert(db.clone(), addr(1));
    directory.insert(client.clone(), addr(2));
    let directory = Arc::new(directory);
    let fabric = Fabric::new(
        directory.clone(),
        Arc::new(Discard),
        ChaCha8Rng::seed_from_u64(0),
    );
    move |name: &NodeName| NodeEnv::for_tests(name, directory.clone(), fabric.clone(), bugs)
}

/// Starts the node that carries the fabric's packets.
fn start_wire(runtime: &madsim::runtime::Runtime, env: &NodeEnv) {
    let wire = runtime.create_node().name("wire").build();
    wire.spawn(env.fabric.clone().serve_wire());
}

/// The database with one row at genesis and a client that begins a
/// transaction, writes in it, then (the disk lost and the database back)
/// begins another, writes in it, and sends the first one's commit again.
fn late_commit_across_a_wipe(bugs: Bugs) -> Seen {
    let runtime = madsim::runtime::Runtime::new();
    let (db, client) = (NodeName::new("db"), NodeName::new("client"));
    let env = environments(&db, &client, bugs);
    let db_env = env(&db);
    start_wire(&runtime, &db_env);
    let disk = db_env.disk.clone();
    let incarnations = db_env.incarnations.clone();
    let config = DbConfig {
        genesis: vec![(TABLE.to_owned(), key(), b"genesis".to_vec())],
        idle_timeout: Duration::from_secs(10),
    };
    let db_node = runtime
        .create_node()
        .ip(addr(1).ip())
        .init(move || run_db(db_env.clone(), config.clone()))
        .build();
    let db_id = db_node.id();
    let client_env = env(&client);
    let (report, seen) = oneshot::channel();
    let report = Arc::new(Mutex::new(Some(report)));
    let _client = runtime
        .create_node()
        .ip(addr(2).ip())
        .init(move || {
            let (env, db, disk, report) =
                (client_env.clone(), db.clone(), disk.clone(), report.clone());
            let incarnations = incarnations.clone();
            async move {
                let (rpc, _incoming) = Rpc::bind(&env, 1).await;
                let client = DbClient::new(rpc.clone(), db.clone(), TIMEOUT);
                let old = begin(&client).await;
                let read = old.get(TABLE, key()).await.expect("a read").expect("a row");
                let version = read.version.expect("a committed row");
                old.put(TABLE, key(), b"old".to_vec())
                    .await
                    .expect("a write");

                let handle = madsim::runtime::Handle::current();
                handle.kill(db_id);
                assert!(disk.wipe() > 0, "the disk held the genesis");
                handle.restart(db_id);

                let new = begin(&client).await;
                new.put(TABLE, key(), b"new".to_vec())
                    .await
                    .expect("a write");
                let late_commit: DbResponse = rpc
                    .call(&db, &DbRequest::Commit { txn: old.id() }, TIMEOUT)
                    .await
                    .expect("an answer");
                let (old, new_id) = (old.id(), new.id());
                let new_commit = new.commit().await;
                let stale = begin(&client).await;
                stale
                    .compare_and_set(TABLE, key(), version, b"stale".to_vec())
                    .await
                    .expect("a conditional write");
                let stale_compare_and_set = stale.commit().await;
                let reader = begin(&client).await;
                let row = reader.get(TABLE, key()).await.expect("a read");
                let seen = Seen {
                    old,
                    new: new_id,
                    late_commit,
                    new_commit,
                    row,
                    stale_compare_and_set,
                    incarnation: incarnations.last(),
                };
                if let Some(report) = report.lock().unwrap_or_else(PoisonError::into_inner).take() {
                    let _ = report.send(seen);
                }
            }
        })
        .build();
    runtime.block_on(seen).expect("the client reports")
}

/// Begins a transaction once the database answers.
async fn begin(client: &DbClient) -> Txn {
    loop {
        match client.begin(Isolation::ReadCommitted).await {
            Ok(txn) => return txn,
            Err(DbError::Timeout) => continue,
            Err(error) => panic!("begin: {error}"),
        }
    }
}

#[test]
fn a_transaction_begun_before_a_wipe_cannot_commit_after_it() {
    let seen = late_commit_across_a_wipe(Bugs::NONE);
    assert_eq!(seen.incarnation, 2, "{seen:?}");
    assert_ne!(seen.old, seen.new, "{seen:?}");
    assert_eq!(
        seen.late_commit,
        DbResponse::Failed(TxnError::Unknown(seen.old)),
        "{seen:?}"
    );
    assert!(matches!(seen.new_commit, Ok(Some(_))), "{seen:?}");
    let row = seen.row.as_ref().expect("the row");
    assert_eq!(row.value, b"new", "{seen:?}");
}

/// With `db-txn-id-reuse` planted, the same script shows the hazard: the
/// new life hands out the old id again, and the late commit commits the new
/// transaction's write, which its own commit then finds gone.
#[test]
fn with_ids_reused_the_late_commit_commits_the_new_transaction() {
    let seen = late_commit_across_a_wipe(Bugs::of([Bug::DbTxnIdReuse]));
    assert_eq!(seen.old, seen.new, "{seen:?}");
    assert!(
        matches!(seen.late_commit, DbResponse::Committed { seq: Some(_) }),
        "{seen:?}"
    );
    assert_eq!(seen.new_commit, Err(DbError::CommitUnknown), "{seen:?}");
}

/// A row version read before the wipe is no version of the new disk: the
/// genesis row is written again, at a version past every one the lost disk
/// could hold, and a compare-and-set against the old version fails.
#[test]
fn a_version_read_before_a_wipe_matches_nothing_after_it() {
    let seen = late_commit_across_a_wipe(Bugs::NONE);
    assert!(
        matches!(
            seen.stale_compare_and_set,
            Err(DbError::Failed(TxnError::VersionMismatch {
                expected: 1,
                ..
            }))
        ),
        "{seen:?}"
    );
    let row = seen.row.as_ref().expect("the row");
    assert!(
        row.version.is_some_and(|version| version > 1 << 32),
        "{seen:?}"
    );
}

/// Runs `script` as the client of a fresh database holding the genesis row,
/// and returns what it reports.
fn with_database<T, F>(script: fn(DbClient) -> F) -> T
where
    T: Send + 'static,
    F: std::future::Future<Output = T> + 'static,
{
    let runtime = madsim::runtime::Runtime::new();
    let (db, client) = (NodeName::new("db"), NodeName::new("client"));
    let env = environments(&db, &client, Bugs::NONE);
    let db_env = env(&db);
    start_wire(&runtime, &db_env);
    let config = DbConfig {
        genesis: vec![(TABLE.to_owned(), key(), b"genesis".to_vec())],
        idle_timeout: Duration::from_secs(10),
    };
    let _db = runtime
        .create_node()
        .ip(addr(1).ip())
        .init(move || run_db(db_env.clone(), config.clone()))
        .build();
    let client_env = env(&client);
    let (report, seen) = oneshot::channel();
    let report = Arc::new(Mutex::new(Some(report)));
    let _client = runtime
        .create_node()
        .ip(addr(2).ip())
        .init(move || {
            let (env, db, report) = (client_env.clone(), db.clone(), report.clone());
            async move {
                let (rpc, _incoming) = Rpc::bind(&env, 1).await;
                let seen = script(DbClient::new(rpc, db, TIMEOUT)).await;
                if let Some(report) = report.lock().unwrap_or_else(PoisonError::into_inner).take() {
                    let _ = report.send(seen);
                }
            }
        })
        .build();
    runtime.block_on(seen).expect("the client reports")
}

/// An atomic transaction applies every operation or none: its reads come
/// back with the commit, and a failing compare-and-set undoes the writes
/// before it.
#[test]
fn an_atomic_transaction_applies_all_of_its_operations_or_none() {
    use crate::db::{Op, OpResult};
    let (first, failed, after) = with_database(|client| async move {
        let read = Op::Get {
            table: TABLE.to_owned(),
            key: key(),
        };
        let put = |key: &str, value: &[u8]| Op::Put {
            table: TABLE.to_owned(),
            key: Key::from(key),
            value: value.to_vec(),
        };
        // Once the database answers (it may still be starting).
        while let Err(DbError::Timeout) = client
            .atomic(Isolation::ReadCommitted, vec![read.clone()])
            .await
        {}
        let first = client
            .atomic(
                Isolation::ReadCommitted,
                vec![read.clone(), put("other", b"one")],
            )
            .await;
        let Ok((results, _)) = &first else {
            panic!("{first:?}");
        };
        let Some(OpResult::Found(Some(found))) = results.first() else {
            panic!("{results:?}");
        };
        let version = found.version.expect("a committed row");
        let failed = client
            .atomic(
                Isolation::ReadCommitted,
                vec![
                    put("other", b"two"),
                    Op::CompareAndSet {
                        table: TABLE.to_owned(),
                        key: key(),
                        expected: version + 1,
                        value: b"never".to_vec(),
                    },
                ],
            )
            .await;
        let after = client
            .atomic(
                Isolation::ReadCommitted,
                vec![
                    read,
                    Op::Get {
                        table: TABLE.to_owned(),
                        key: Key::from("other"),
                    },
                ],
            )
            .await;
        (first, failed, after)
    });
    let (results, seq) = first.expect("committed");
    assert!(seq.is_some(), "it wrote");
    assert_eq!(results[1], crate::db::OpResult::Done);
    assert!(
        matches!(
            failed,
            Err(DbError::Failed(TxnError::VersionMismatch { .. }))
        ),
        "{failed:?}"
    );
    let (results, seq) = after.expect("a read");
    assert_eq!(seq, None, "a read-only transaction writes nothing");
    let values: Vec<Vec<u8>> = results
        .into_iter()
        .map(|result| match result {
            crate::db::OpResult::Found(Some(found)) => found.value,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(values, vec![b"genesis".to_vec(), b"one".to_vec()]);
}

/// A table name, key or value past its bound is refused with the bound
/// named, in an atomic transaction or an open one, and nothing of the
/// request is written; at the bound it is accepted.
#[test]
fn an_oversized_name_key_or_value_is_refused_and_writes_nothing() {
    use super::{MAX_KEY_BYTES, MAX_TABLE_BYTES, MAX_VALUE_BYTES};
    use crate::db::{Op, OpResult};
    let (refusals, at_the_bound, after) = with_database(|client| async move {
        let put = |table: &str, key: &str, value: Vec<u8>| Op::Put {
            table: table.to_owned(),
            key: Key::from(key),
            value,
        };
        // Once the database answers (it may still be starting).
        begin(&client)
            .await
            .rollback()
            .await
            .expect("a fresh transaction rolls back");
        let long_key = "k".repeat(MAX_KEY_BYTES + 1);
        let mut refusals = Vec::new();
        for op in [
            put(&"t".repeat(MAX_TABLE_BYTES + 1), "a", b"x".to_vec()),
            put(TABLE, &long_key, b"x".to_vec()),
            put(TABLE, "a", vec![0; MAX_VALUE_BYTES + 1]),
        ] {
            let write_first = put(TABLE, "b", b"x".to_vec());
            let atomic = client
                .atomic(Isolation::ReadCommitted, vec![write_first, op])
                .await;
            refusals.push(atomic.map(|_| ()));
        }
        let txn = begin(&client).await;
        refusals.push(
            txn.put(TABLE, Key::from(long_key.as_str()), b"x".to_vec())
                .await,
        );
        txn.rollback()
            .await
            .expect("a transaction a write was refused in rolls back");
        let at_the_bound = client
            .atomic(
                Isolation::ReadCommitted,
                vec![put(
                    &"t".repeat(MAX_TABLE_BYTES),
                    &"k".repeat(MAX_KEY_BYTES),
                    vec![0; MAX_VALUE_BYTES],
                )],
            )
            .await
            .map(|(_, seq)| seq);
        let read = |key: &str| Op::Get {
            table: TABLE.to_owned(),
            key: Key::from(key),
        };
        let after = client
            .atomic(Isolation::ReadCommitted, vec![read("a"), read("b")])
            .await
            .map(|(results, _)| results);
        (refusals, at_the_bound, after)
    });
    let bounds = ["table names", "keys", "values", "keys"];
    assert_eq!(refusals.len(), bounds.len());
    for (refusal, bound) in refusals.iter().zip(bounds) {
        assert!(
            matches!(refusal, Err(DbError::Rejected(reason)) if reason.starts_with(&format!("{bound} are at most"))),
            "{bound}: {refusal:?}"
        );
    }
    assert!(matches!(at_the_bound, Ok(Some(_))), "{at_the_bound:?}");
    assert_eq!(
        after.expect("a read"),
        vec![OpResult::Found(None), OpResult::Found(None)],
        "nothing of a refused request is written"
    );
}
