//! Bank clients: transfers between accounts in database transactions, written
//! correctly. Even-numbered clients use SERIALIZABLE read-modify-writes,
//! odd-numbered ones READ COMMITTED with compare-and-set on the rows'
//! versions. Each transfer also inserts a unique row named after the
//! request; after an unknown commit the client reads that row back to learn
//! the outcome, and a retry of an already-committed transfer fails on it.

use ledger::{
    bugs::Bug,
    db::{DbClient, DbError, Isolation, Key, TxnError},
    net::Rpc,
    node::NodeEnv,
    observe::NodeName,
};
use rand::Rng;

use super::{Outcome, Receipt, Request, Workload, paced};

/// The table of account balances: key = account number, value = balance.
pub const ACCOUNTS: &str = "accounts";
/// One row per committed transfer: key = request, value = what it moved.
pub const TRANSFERS: &str = "transfers";

/// How a client keeps concurrent transfers from losing updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strategy {
    Serializable,
    CompareAndSet,
    /// The planted bug `db-lost-update`: plain writes under READ COMMITTED.
    Unconditional,
}

/// How one attempt ended.
enum Attempt {
    Committed(Option<u64>),
    Insufficient,
    /// The commit's outcome is unknown.
    Unknown,
    /// Nothing was committed by this attempt; try again.
    Retry,
}

pub fn encode_balance(balance: u64) -> Vec<u8> {
    balance.to_le_bytes().to_vec()
}

pub fn decode_balance(value: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(value.try_into().ok()?))
}

/// The row of a committed transfer: `(from, to, amount)`.
pub fn encode_transfer(from: i64, to: i64, amount: u64) -> Vec<u8> {
    [from.to_le_bytes(), to.to_le_bytes(), amount.to_le_bytes()].concat()
}

pub fn decode_transfer(value: &[u8]) -> Option<(i64, i64, u64)> {
    let value: &[u8; 24] = value.try_into().ok()?;
    let word = |i: usize| -> [u8; 8] { value[i * 8..i * 8 + 8].try_into().expect("8 bytes") };
    Some((
        i64::from_le_bytes(word(0)),
        i64::from_le_bytes(word(1)),
        u64::from_le_bytes(word(2)),
    ))
}

/// The key of client `client`'s request `seq` in [`TRANSFERS`].
pub fn transfer_key(client: u64, seq: u64) -> Key {
    Key::Str(format!("c{client}-{seq}"))
}

pub(super) async fn run(env: &NodeEnv, workload: &Workload, rpc: Rpc, index: usize) {
    let db = DbClient::new(rpc, NodeName::new("db"), workload.client_timeout);
    let strategy = if env.bugs.has(Bug::DbLostUpdate) {
        Strategy::Unconditional
    } else if index.is_multiple_of(2) {
        Strategy::Serializable
    } else {
        Strategy::CompareAndSet
    };
    let client = index as u64 + 1;
    paced(workload, index, async |seq| {
        transfer(env, workload, &db, strategy, client, seq).await
    })
    .await;
}

async fn transfer(
    env: &NodeEnv,
    workload: &Workload,
    db: &DbClient,
    strategy: Strategy,
    client: u64,
    seq: u64,
) {
    let (from, to, amount) = {
        let mut rng = madsim::rand::thread_rng();
        let accounts = i64::from(workload.accounts.max(2));
        let from = rng.gen_range(0..accounts);
        let to = (from + rng.gen_range(1..accounts)) % accounts;
        (from, to, rng.gen_range(1..=workload.max_amount))
    };
    let op = workload.start(env, client, seq, Request::Transfer { from, to, amount });
    let marker = transfer_key(client, seq);
    let mut attempts = 0u32;
    let outcome = loop {
        attempts += 1;
        workload.attempted(op);
        match attempt(db, strategy, from, to, amount, &marker).await {
            Attempt::Committed(commit) => {
                break Outcome::Acknowledged {
                    receipt: Receipt::Commit(commit),
                    at: crate::trace::now(),
                };
            }
            Attempt::Insufficient => {
                break Outcome::Rejected {
                    reason: format!("account {from} cannot cover {amount}"),
                    kind: None,
                };
            }
            Attempt::Unknown => {
                if read_back(db, &marker).await == Some(true) {
                    break Outcome::Acknowledged {
                        receipt: Receipt::Commit(None),
                        at: crate::trace::now(),
                    };
                }
                // Absent, or unreadable: retrying is safe, because a retry
                // of a transfer that did commit fails on its unique row.
            }
            Attempt::Retry => {}
        }
        if workload.give_up(attempts) {
            break Outcome::GaveUp;
        }
        workload.backoff(env, attempts).await;
    };
    workload.finish(env, op, outcome);
}

/// One transaction moving `amount` from `from` to `to`.
async fn attempt(
    db: &DbClient,
    strategy: Strategy,
    from: i64,
    to: i64,
    amount: u64,
    marker: &Key,
) -> Attempt {
    let isolation = match strategy {
        Strategy::Serializable => Isolation::Serializable,
        Strategy::CompareAndSet | Strategy::Unconditional => Isolation::ReadCommitted,
    };
    let Ok(txn) = db.begin(isolation).await else {
        return Attempt::Retry;
    };
    let body = async {
        let source = txn.get(ACCOUNTS, Key::Int(from)).await?;
        let target = txn.get(ACCOUNTS, Key::Int(to)).await?;
        let (Some(source), Some(target)) = (source, target) else {
            return Err(DbError::Protocol("an account is missing".to_owned()));
        };
        let balance = |found: &ledger::db::Found| decode_balance(&found.value);
        let (Some(source_balance), Some(target_balance)) = (balance(&source), balance(&target))
        else {
            return Err(DbError::Protocol("a balance is malformed".to_owned()));
        };
        let Some(debited) = source_balance.checked_sub(amount) else {
            return Ok(false);
        };
        let credited = target_balance
            .checked_add(amount)
            .ok_or_else(|| DbError::Protocol("a balance would overflow".to_owned()))?;
        if strategy == Strategy::CompareAndSet {
            let (Some(source_version), Some(target_version)) = (source.version, target.version)
            else {
                return Err(DbError::Protocol(
                    "a committed row has no version".to_owned(),
                ));
            };
            txn.compare_and_set(
                ACCOUNTS,
                Key::Int(from),
                source_version,
                encode_balance(debited),
            )
            .await?;
            txn.compare_and_set(
                ACCOUNTS,
                Key::Int(to),
                target_version,
                encode_balance(credited),
            )
            .await?;
        } else {
            txn.put(ACCOUNTS, Key::Int(from), encode_balance(debited))
                .await?;
            txn.put(ACCOUNTS, Key::Int(to), encode_balance(credited))
                .await?;
        }
        txn.insert_unique(TRANSFERS, marker.clone(), encode_transfer(from, to, amount))
            .await?;
        Ok(true)
    };
    match body.await {
        Ok(true) => {}
        Ok(false) => {
            txn.rollback().await;
            return Attempt::Insufficient;
        }
        Err(_) => {
            txn.rollback().await;
            return Attempt::Retry;
        }
    }
    match txn.commit().await {
        Ok(commit) => Attempt::Committed(commit),
        Err(DbError::CommitUnknown) => Attempt::Unknown,
        // This transfer's own row already exists: an earlier attempt
        // committed. (Any other duplicate proves nothing about this one.)
        Err(DbError::Failed(TxnError::Duplicate { table, key }))
            if table == TRANSFERS && key == *marker =>
        {
            Attempt::Committed(None)
        }
        Err(_) => Attempt::Retry,
    }
}

/// Whether the transfer's row is committed; `None` when the database cannot
/// say. Only a committed row (one with a version) counts.
async fn read_back(db: &DbClient, marker: &Key) -> Option<bool> {
    let txn = db.begin(Isolation::ReadCommitted).await.ok()?;
    let found = txn.get(TRANSFERS, marker.clone()).await;
    txn.rollback().await;
    Some(found.ok()?.is_some_and(|row| row.version.is_some()))
}
