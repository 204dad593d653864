//! Bank clients: transfers between accounts in database transactions, written
//! correctly. Even-numbered clients use SERIALIZABLE read-modify-writes,
//! odd-numbered ones READ COMMITTED with compare-and-set on the rows'
//! versions. Each transfer also inserts a unique row named after the
//! request, and each attempt, once it has read both accounts, looks for
//! that row (and its reversal's mark) before it moves anything: a
//! transfer whose commit was unknown, retried, or sent again long after it
//! was answered, is found committed instead of moving money again (and a
//! retry racing a late copy of its own commit fails on the row or on an
//! account). Transfers go out on
//! schedule, several in flight; now and then one moves a whole balance, or
//! the largest amount. Every third scheduled transfer is accompanied by an
//! audit: a read-only transaction, at the client's isolation level, that
//! first reads every client's newest transfer rows, then every account
//! (of a bank of more than sixteen, a window of sixteen).
//! Every other audit reads them one at a time: the rows of each client's
//! requests `seq - 1` and `seq` by key, present or not, then each account.
//! The others scan: each client's rows of its next few requests from
//! `seq - 1` on (a limit may cut the scan short), then the accounts in
//! pages (a page's limit cuts the range short, and the next page starts
//! after the last row read). A
//! SERIALIZABLE audit must so fail to commit once a transfer inserted a
//! row it found absent, or one inside a range it scanned (a phantom), or
//! changed an account it already read. With `workload.reversals`, every
//! fourth is accompanied by a reversal (`reversal`), and a transfer
//! reversed since it committed is found done.
//!
//! Every balance and every transfer row is written with the id of the
//! transaction that wrote it, so each version is unique and every read
//! names the write it saw: each transaction, with what it read (a row found
//! absent, the gaps between a scan's rows), wrote and deleted, and how it
//! ended, goes to the history for the `isolation` checker. Rows and
//! accounts share the history's key space: a row's key (its client in the
//! high half) lies above every account number.
//!
//! Once the faults stop, each client writes once more (`settle`), until a
//! commit is acknowledged.

use ledger::{
    bugs::Bug,
    db::{DbClient, DbError, Isolation, Key, ScanRange, TxnError},
    net::Rpc,
    node::NodeEnv,
    observe::NodeName,
};
use rand::Rng;
use std::{ops::Range, sync::Arc};

use super::{
    idle_probe,
    reversal::{self, Lookup, REVERSED},
    settle,
    watched::Watched,
};
use crate::{
    consistency::isolation::{Level, Status, Txn, TxnOp, Version},
    history::{Outcome, Receipt, Request, TxnRecord},
    workload::{Workload, paced},
};

/// The share of transfers that move the largest amount, and the share that
/// move the whole balance of their source.
const LARGEST_SHARE: f64 = 0.05;
const DRAIN_SHARE: f64 = 0.05;

/// The table of account balances: key = account number, value = balance.
pub(crate) const ACCOUNTS: &str = "accounts";
/// One row per committed transfer: key = request, value = what it moved.
pub(super) const TRANSFERS: &str = "transfers";

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
    /// Refused for good, moving nothing: why.
    Refused(String),
    /// Nothing was committed by this attempt, or its commit's outcome is
    /// unknown; the next attempt looks for its row first.
    Retry,
}

/// An account's value as it starts: its balance, written by no
/// transaction (id 0).
pub(crate) fn encode_balance(balance: u64) -> Vec<u8> {
    encode_written(balance, 0)
}

/// An account's value: its balance and the id of the transaction that
/// wrote it.
pub(super) fn encode_written(balance: u64, writer: u64) -> Vec<u8> {
    [balance.to_le_bytes(), writer.to_le_bytes()].concat()
}

pub(super) fn decode_balance(value: &[u8]) -> Option<u64> {
    decode_account(value).map(|(balance, _)| balance)
}

/// An account's balance and the version it is: initial, or the write of
/// the transaction whose id it carries.
fn decode_account(value: &[u8]) -> Option<(u64, Version)> {
    let value: &[u8; 16] = value.try_into().ok()?;
    let balance = u64::from_le_bytes(value[..8].try_into().expect("8 bytes"));
    let writer = u64::from_le_bytes(value[8..].try_into().expect("8 bytes"));
    let version = match writer {
        0 => Version::Initial,
        writer => Version::Written { writer, n: 0 },
    };
    Some((balance, version))
}

/// The row of a committed transfer: `(from, to, amount)` and the id of
/// the transaction that inserted it, which names the row's version.
fn encode_transfer(from: i64, to: i64, amount: u64, writer: u64) -> Vec<u8> {
    [
        from.to_le_bytes(),
        to.to_le_bytes(),
        amount.to_le_bytes(),
        writer.to_le_bytes(),
    ]
    .concat()
}

pub(super) fn decode_transfer(value: &[u8]) -> Option<(i64, i64, u64)> {
    let words = transfer_words(value)?;
    Some((
        i64::from_le_bytes(words[0]),
        i64::from_le_bytes(words[1]),
        u64::from_le_bytes(words[2]),
    ))
}

/// The version of a transfer row: the insert of the transaction it names.
fn decode_row_version(value: &[u8]) -> Option<Version> {
    let writer = u64::from_le_bytes(transfer_words(value)?[3]);
    (writer != 0).then_some(Version::Written { writer, n: 0 })
}

fn transfer_words(value: &[u8]) -> Option<[[u8; 8]; 4]> {
    let value: &[u8; 32] = value.try_into().ok()?;
    Some(std::array::from_fn(|i| {
        value[i * 8..i * 8 + 8].try_into().expect("8 bytes")
    }))
}

/// The key of client `client`'s request `seq` in [`TRANSFERS`]: the client
/// in the high half, so that each client's rows are one range, in request
/// order, and every row key lies above every account number (the history
/// keeps both in one key space).
pub(super) fn transfer_key(client: u64, seq: u64) -> Key {
    Key::Int(((client << 32) | seq) as i64)
}

/// The keys of client `client`'s rows of its requests `first` to `first +
/// ROW_SCAN_WINDOW`: from the first, inclusive, to the second, exclusive.
/// Bounded, so that the gaps a scan of them records hold a few keys, not
/// every row the client inserts later (each an rw edge to check).
fn rows_of(client: u64, first: u64) -> (Key, Key) {
    (
        transfer_key(client, first),
        transfer_key(client, first + ROW_SCAN_WINDOW),
    )
}

/// The keys of every transfer row (clients count from 1).
pub(super) fn all_rows() -> (Key, Key) {
    (transfer_key(1, 0), Key::Int(i64::MAX))
}

/// A scan of the keys from `start` (inclusive) to `end` (exclusive).
pub(super) fn between((start, end): &(Key, Key)) -> ScanRange {
    ScanRange::Between {
        start: start.clone(),
        end: end.clone(),
    }
}

/// A transfer row's key in words: `c1-2` for client 1's request 2.
pub(super) fn row_name(key: &Key) -> String {
    match key {
        Key::Int(key) if *key >= 1 << 32 => format!("c{}-{}", key >> 32, key & 0xffff_ffff),
        key => key.to_string(),
    }
}

/// A key of the history in words: `k3` for account 3, `row c1-2` for a
/// transfer's row.
pub(super) fn history_key_name(key: u64) -> String {
    match i64::try_from(key) {
        Ok(row) if key >= 1 << 32 => format!("row {}", row_name(&Key::Int(row))),
        _ => format!("k{key}"),
    }
}

pub(super) async fn run(env: &NodeEnv, workload: &Arc<Workload>, rpc: Rpc, index: usize) {
    let db = DbClient::new(rpc, NodeName::new("db"), workload.client_timeout);
    let strategy = if env.bugs.has(Bug::DbLostUpdate) {
        Strategy::Unconditional
    } else if index.is_multiple_of(2) {
        Strategy::Serializable
    } else {
        Strategy::CompareAndSet
    };
    let client = index as u64 + 1;
    workload.expect_settle_write(client);
    let prober = (index == 0).then(|| workload.final_probe.expect());
    paced(workload, index, async |seq| {
        let (env, workload, db) = (env.clone(), workload.clone(), db.clone());
        madsim::task::spawn_local(async move {
            if seq % AUDIT_EVERY == 0 {
                audit(&workload, &db, strategy, client, seq).await;
            }
            if workload.reversals && seq % REVERSE_EVERY == REVERSE_EVERY / 2 {
                let lookup = if (seq / REVERSE_EVERY).is_multiple_of(2) {
                    Lookup::Scan
                } else {
                    Lookup::Get
                };
                let label = format!("client {client}'s reversal {seq}");
                reversal::reverse(&workload, &db, lookup, label).await;
            }
            transfer(&env, &workload, &db, strategy, client, seq).await;
        });
    })
    .await;
    settle::write(env, workload, &db, client).await;
    if let Some(prober) = prober {
        idle_probe::run(prober, workload, &db).await;
    }
}

/// One audit for this many scheduled transfers.
const AUDIT_EVERY: u64 = 3;
/// One reversal (`reversal`) for this many scheduled transfers.
const REVERSE_EVERY: u64 = 4;

/// Reads the newest transfer rows and the audited accounts in one
/// read-only transaction and commits it; what it saw goes to the history. Nothing is retried: an audit proves nothing by
/// succeeding, only by what a committed one saw.
async fn audit(workload: &Workload, db: &DbClient, strategy: Strategy, client: u64, seq: u64) {
    let isolation = isolation_of(strategy);
    let label = format!("client {client}'s audit {seq}");
    let Ok(txn) = Watched::begin(db, workload, &label, isolation).await else {
        return;
    };
    let mut record = Recorded::new(workload, isolation, label);
    let accounts = audited_accounts(workload.accounts, seq);
    let clients = workload.requests_per_client.len() as u64;
    let complete = if (seq / AUDIT_EVERY).is_multiple_of(2) {
        read_rows_by_key(&txn, clients, seq, &mut record).await
            && read_one_by_one(&txn, accounts, &mut record).await
    } else {
        read_rows_in_scans(&txn, clients, seq, &mut record).await
            && read_in_pages(&txn, accounts, &mut record).await
    };
    if !complete {
        txn.rollback().await;
        record.end(workload, Status::Aborted);
        return;
    }
    let committing = record.committing(workload);
    let status = status_of(&txn.commit().await);
    workload.txn_ended(committing, status);
}

/// Rows one scan of a client's newest transfers returns at most, and the
/// requests whose rows it looks among: the limit may cut the scan short.
const ROW_SCAN_LIMIT: u32 = 4;
const ROW_SCAN_WINDOW: u64 = 6;

/// Reads the rows of every client's requests `seq - 1` and `seq`, present
/// or not, with one get each; false unless every one was read.
async fn read_rows_by_key(
    txn: &Watched<'_>,
    clients: u64,
    seq: u64,
    record: &mut Recorded,
) -> bool {
    for client in 1..=clients {
        for request in seq.saturating_sub(1).max(1)..=seq {
            let key = transfer_key(client, request);
            let Ok(found) = txn.get(TRANSFERS, key.clone()).await else {
                return false;
            };
            if !record.read_row(&key, found.as_ref().map(|found| &found.value[..])) {
                return false;
            }
        }
    }
    true
}

/// Scans every client's rows of its requests from `seq - 1` on, at most
/// [`ROW_SCAN_LIMIT`] each; false unless every scan was answered.
async fn read_rows_in_scans(
    txn: &Watched<'_>,
    clients: u64,
    seq: u64,
    record: &mut Recorded,
) -> bool {
    for client in 1..=clients {
        let range = rows_of(client, seq.saturating_sub(1).max(1));
        let Ok(rows) = txn.scan(TRANSFERS, between(&range), ROW_SCAN_LIMIT).await else {
            return false;
        };
        let rows: Vec<(Key, Vec<u8>)> = rows
            .into_iter()
            .map(|(key, found)| (key, found.value))
            .collect();
        if !record.scanned_rows(&range, ROW_SCAN_LIMIT, &rows) {
            return false;
        }
    }
    true
}

/// Accounts one audit reads at most: every account of a bank this size or
/// smaller (every generated one), and of a larger bank a window of them
/// that moves from audit to audit. Reading every one of ten thousand
/// accounts in every audit made a run's work and its history grow with
/// accounts times requests.
const AUDITED_ACCOUNTS: u32 = 16;

/// The accounts the audit of request `seq` reads, of `accounts`.
fn audited_accounts(accounts: u32, seq: u64) -> Range<i64> {
    if accounts <= AUDITED_ACCOUNTS {
        return 0..i64::from(accounts);
    }
    // Each audit starts where the one before ended, wrapping round; a
    // window that would run past the last account ends at it.
    let start = (seq / AUDIT_EVERY * u64::from(AUDITED_ACCOUNTS)) % u64::from(accounts);
    let start = start.min(u64::from(accounts - AUDITED_ACCOUNTS));
    let start = i64::try_from(start).expect("below the account count");
    start..start + i64::from(AUDITED_ACCOUNTS)
}

/// Reads `accounts` with one get each; false unless every one was read.
async fn read_one_by_one(txn: &Watched<'_>, accounts: Range<i64>, record: &mut Recorded) -> bool {
    for account in accounts {
        let Ok(Some(found)) = txn.get(ACCOUNTS, Key::Int(account)).await else {
            return false;
        };
        let Some((_, version)) = decode_account(&found.value) else {
            return false;
        };
        record.read(account, version);
    }
    true
}

/// Reads `accounts` in scans of half of them at most, each starting after
/// the last account the one before returned; false unless every account
/// was read, in order.
async fn read_in_pages(txn: &Watched<'_>, accounts: Range<i64>, record: &mut Recorded) -> bool {
    let page = ((accounts.end - accounts.start + 1) / 2).max(1) as u32;
    let mut next = accounts.start;
    while next < accounts.end {
        let range = ScanRange::Between {
            start: Key::Int(next),
            end: Key::Int(accounts.end),
        };
        let Ok(rows) = txn.scan(ACCOUNTS, range, page).await else {
            return false;
        };
        if rows.is_empty() {
            return false;
        }
        for (key, found) in rows {
            let (Key::Int(account), Some((_, version))) = (key, decode_account(&found.value))
            else {
                return false;
            };
            if account != next {
                return false;
            }
            record.read(account, version);
            next += 1;
        }
    }
    true
}

/// A transaction's reads and writes as it goes, for the history.
pub(super) struct Recorded {
    txn: Txn,
    label: String,
}

impl Recorded {
    pub(super) fn new(workload: &Workload, isolation: Isolation, label: String) -> Recorded {
        let level = match isolation {
            Isolation::Serializable => Level::Serializable,
            Isolation::ReadCommitted => Level::ReadCommitted,
        };
        Recorded {
            txn: Txn {
                id: workload.next_txn_id(),
                level,
                status: Status::Unknown,
                ops: Vec::new(),
            },
            label,
        }
    }

    /// The transaction's id, which tags every value it writes.
    pub(super) fn id(&self) -> u64 {
        self.txn.id
    }

    pub(super) fn read(&mut self, account: i64, version: Version) {
        self.txn.ops.push(TxnOp::Read {
            key: account as u64,
            version,
        });
    }

    pub(super) fn write(&mut self, account: i64) {
        self.txn.ops.push(TxnOp::Write {
            key: account as u64,
            n: 0,
        });
    }

    /// A read of transfer row `key` that found `value`, or nothing; false
    /// when the key is no row's or the value names no version.
    pub(super) fn read_row(&mut self, key: &Key, value: Option<&[u8]>) -> bool {
        let version = match value.map(decode_row_version) {
            None => Version::Initial,
            Some(Some(version)) => version,
            Some(None) => return false,
        };
        let Some(key) = history_key(key) else {
            return false;
        };
        self.txn.ops.push(TxnOp::Read { key, version });
        true
    }

    /// A scan of transfer rows from `start` to `end` (exclusive) with
    /// `limit` that returned `rows`, in key order: a read of each, and the
    /// gaps between them absent, up to the range's end unless the limit
    /// may have cut it short. False when a row is malformed.
    pub(super) fn scanned_rows(
        &mut self,
        (start, end): &(Key, Key),
        limit: u32,
        rows: &[(Key, Vec<u8>)],
    ) -> bool {
        let (Some(mut from), Some(end)) = (history_key(start), history_key(end)) else {
            return false;
        };
        for (key, value) in rows {
            let Some(at) = history_key(key) else {
                return false;
            };
            self.txn.ops.push(TxnOp::Absent { from, to: at });
            if !self.read_row(key, Some(value)) {
                return false;
            }
            from = at + 1;
        }
        if rows.len() < limit as usize {
            self.txn.ops.push(TxnOp::Absent { from, to: end });
        }
        true
    }

    /// The rows of the next [`ROW_SCAN_WINDOW`] requests of row `key`'s
    /// client, found absent: a scan that ended at `key` saw none of them.
    pub(super) fn absent_after(&mut self, key: &Key) {
        if let Some(at) = history_key(key) {
            self.txn.ops.push(TxnOp::Absent {
                from: at + 1,
                to: at + 1 + ROW_SCAN_WINDOW,
            });
        }
    }

    pub(super) fn insert_row(&mut self, key: &Key) {
        if let Some(key) = history_key(key) {
            self.txn.ops.push(TxnOp::Write { key, n: 0 });
        }
    }

    pub(super) fn delete_row(&mut self, key: &Key) {
        if let Some(key) = history_key(key) {
            self.txn.ops.push(TxnOp::Delete { key, n: 0 });
        }
    }

    /// Ends a transaction that never sent its commit.
    pub(super) fn end(mut self, workload: &Workload, status: Status) {
        self.txn.status = status;
        workload.transacted(TxnRecord {
            txn: self.txn,
            label: self.label,
        });
    }

    /// Records the transaction as its commit goes out, unknown until the
    /// answer ([`Workload::txn_ended`]): one still waiting when the run ends
    /// may have committed. Returns its handle.
    pub(super) fn committing(self, workload: &Workload) -> usize {
        workload.transacted(TxnRecord {
            txn: self.txn,
            label: self.label,
        })
    }
}

/// A transfer row's key in the history: its own number, above every
/// account's; `None` for a key no row has.
fn history_key(key: &Key) -> Option<u64> {
    match key {
        Key::Int(key) if *key >= 1 << 32 => u64::try_from(*key).ok(),
        _ => None,
    }
}

/// How a commit's answer leaves the transaction: a refusal is final, a lost
/// or garbled answer leaves it unknown.
pub(super) fn status_of<T>(commit: &Result<T, DbError>) -> Status {
    match commit {
        Ok(_) => Status::Committed,
        Err(DbError::Failed(_) | DbError::Rejected(_)) => Status::Aborted,
        Err(DbError::Timeout | DbError::CommitUnknown | DbError::Protocol(_)) => Status::Unknown,
    }
}

fn isolation_of(strategy: Strategy) -> Isolation {
    match strategy {
        Strategy::Serializable => Isolation::Serializable,
        Strategy::CompareAndSet | Strategy::Unconditional => Isolation::ReadCommitted,
    }
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
        let amount = match rng.gen_range(0.0..1.0) {
            draw if draw < DRAIN_SHARE => None,
            draw if draw < DRAIN_SHARE + LARGEST_SHARE => Some(workload.max_amount),
            _ => Some(rng.gen_range(1..=workload.max_amount)),
        };
        (from, to, amount)
    };
    let op = workload.start(env, client, seq, Request::Transfer { from, to, amount });
    let marker = transfer_key(client, seq);
    let send = async |op| {
        let transfer = (from, to, amount);
        let label = format!("client {client}'s transfer {seq}");
        attempts(env, workload, db, strategy, transfer, (&marker, &label), op).await
    };
    let outcome = send(Some(op)).await;
    let acknowledged = matches!(outcome, Outcome::Acknowledged { .. });
    workload.finish(env, op, outcome);
    if acknowledged {
        workload
            .maybe_resend_later(env, op, async || send(None).await)
            .await;
    }
}

/// Tries the transfer until it is committed, found committed, refused for
/// want of funds, or given up; `op` counts the attempts of a first send.
async fn attempts(
    env: &NodeEnv,
    workload: &Workload,
    db: &DbClient,
    strategy: Strategy,
    (from, to, amount): (i64, i64, Option<u64>),
    (marker, label): (&Key, &str),
    op: Option<usize>,
) -> Outcome {
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        if let Some(op) = op {
            workload.attempted(op);
        }
        let record = Recorded::new(
            workload,
            isolation_of(strategy),
            format!("{label}, attempt {attempts}"),
        );
        match attempt(workload, db, strategy, (from, to, amount), marker, record).await {
            Attempt::Committed(commit) => {
                return Outcome::Acknowledged {
                    receipt: Receipt::Commit(commit),
                    at: crate::events::now(),
                };
            }
            Attempt::Refused(reason) => return Outcome::Rejected { reason, kind: None },
            Attempt::Retry => {}
        }
        if workload.give_up(attempts) {
            return Outcome::GaveUp;
        }
        workload.backoff(env, attempts).await;
    }
}

/// One transaction moving `amount` (or the whole balance) from `from` to
/// `to`, unless the transfer's row shows it committed already.
async fn attempt(
    workload: &Workload,
    db: &DbClient,
    strategy: Strategy,
    (from, to, amount): (i64, i64, Option<u64>),
    marker: &Key,
    mut record: Recorded,
) -> Attempt {
    let Ok(txn) = Watched::begin(db, workload, &record.label, isolation_of(strategy)).await else {
        return Attempt::Retry;
    };
    let writer = record.txn.id;
    let body = async {
        // The accounts first, then the row and the reversal's mark: a
        // compare-and-set commits only if neither account changed since,
        // so an earlier attempt's late commit and a reversal of it (each
        // writes both accounts) either landed before these reads, and the
        // look-ups below see them, or they fail this commit. Looked up
        // first, under READ COMMITTED, the row could be read before the
        // earlier attempt landed and the mark before its reversal did, and
        // the transfer would run again after its reversal.
        let (source, target) = read_accounts(&txn, from, to, &mut record).await?;
        // Only a committed row (one with a version) counts; a transfer
        // reversed since it committed is done too. (The history holds the
        // transfers table, not the reversals' marks.)
        let reversible = workload.reversals.then_some(REVERSED);
        for table in std::iter::once(TRANSFERS).chain(reversible) {
            let row = txn
                .get(table, marker.clone())
                .await?
                .filter(|row| row.version.is_some());
            if table == TRANSFERS
                && !record.read_row(marker, row.as_ref().map(|row| &row.value[..]))
            {
                return Err(DbError::Protocol(format!(
                    "transfer row {} names no version",
                    row_name(marker)
                )));
            }
            if row.is_some() {
                return Ok(Body::FoundCommitted);
            }
        }
        let (source_balance, target_balance) = (source.balance, target.balance);
        let amount = amount.unwrap_or(source_balance);
        let Some(debited) = source_balance.checked_sub(amount).filter(|_| amount > 0) else {
            return Ok(Body::Refused(format!(
                "account {from} holds {source_balance}, cannot cover {amount}"
            )));
        };
        // A balance never wraps: a transfer that would overflow its target
        // is refused, like one its source cannot cover.
        let Some(credited) = target_balance.checked_add(amount) else {
            return Ok(Body::Refused(format!(
                "account {to} holds {target_balance}, cannot take {amount} more"
            )));
        };
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
                encode_written(debited, writer),
            )
            .await?;
            txn.compare_and_set(
                ACCOUNTS,
                Key::Int(to),
                target_version,
                encode_written(credited, writer),
            )
            .await?;
        } else {
            txn.put(ACCOUNTS, Key::Int(from), encode_written(debited, writer))
                .await?;
            txn.put(ACCOUNTS, Key::Int(to), encode_written(credited, writer))
                .await?;
        }
        record.write(from);
        record.write(to);
        if workload.own_reads {
            let seen = read_back(&txn, from, writer.is_multiple_of(2)).await?;
            record.read(from, seen);
        }
        let row = encode_transfer(from, to, amount, writer);
        txn.insert_unique(TRANSFERS, marker.clone(), row).await?;
        record.insert_row(marker);
        Ok(Body::Written)
    };
    let body = body.await;
    let rolled_back = match body {
        Ok(Body::Written) => None,
        Ok(Body::FoundCommitted) => Some(Attempt::Committed(None)),
        Ok(Body::Refused(reason)) => Some(Attempt::Refused(reason)),
        Err(_) => Some(Attempt::Retry),
    };
    if let Some(attempt) = rolled_back {
        txn.rollback().await;
        record.end(workload, Status::Aborted);
        return attempt;
    }
    let committing = record.committing(workload);
    let commit = txn.commit().await;
    workload.txn_ended(committing, status_of(&commit));
    match commit {
        Ok(commit) => Attempt::Committed(commit),
        // This transfer's own row already exists: an earlier attempt, or a
        // late copy of its commit, committed. (Any other duplicate proves
        // nothing about this one.)
        Err(DbError::Failed(TxnError::Duplicate { table, key }))
            if table == TRANSFERS && key == *marker =>
        {
            Attempt::Committed(None)
        }
        Err(_) => Attempt::Retry,
    }
}

/// An account as a transaction read it.
pub(super) struct ReadAccount {
    pub(super) balance: u64,
    /// The row's version, which a compare-and-set of it names.
    pub(super) version: Option<u64>,
}

/// Reads accounts `first` and `second` in `txn`, in that order, and records
/// both reads.
pub(super) async fn read_accounts(
    txn: &Watched<'_>,
    first: i64,
    second: i64,
    record: &mut Recorded,
) -> Result<(ReadAccount, ReadAccount), DbError> {
    let (Some(first_row), Some(second_row)) = (
        txn.get(ACCOUNTS, Key::Int(first)).await?,
        txn.get(ACCOUNTS, Key::Int(second)).await?,
    ) else {
        return Err(DbError::Protocol("an account is missing".to_owned()));
    };
    let (Some((first_balance, first_seen)), Some((second_balance, second_seen))) = (
        decode_account(&first_row.value),
        decode_account(&second_row.value),
    ) else {
        return Err(DbError::Protocol("a balance is malformed".to_owned()));
    };
    record.read(first, first_seen);
    record.read(second, second_seen);
    let read = |balance, version| ReadAccount { balance, version };
    Ok((
        read(first_balance, first_row.version),
        read(second_balance, second_row.version),
    ))
}

/// Reads `account` again in `txn`, which wrote it, by key or (`by_scan`)
/// through a scan of it alone: both must show the transaction's own write.
async fn read_back(txn: &Watched<'_>, account: i64, by_scan: bool) -> Result<Version, DbError> {
    let value = if by_scan {
        let range = ScanRange::Between {
            start: Key::Int(account),
            end: Key::Int(account + 1),
        };
        txn.scan(ACCOUNTS, range, 1)
            .await?
            .into_iter()
            .find(|(key, _)| *key == Key::Int(account))
            .map(|(_, found)| found.value)
    } else {
        txn.get(ACCOUNTS, Key::Int(account))
            .await?
            .map(|found| found.value)
    };
    match value.as_deref().and_then(decode_account) {
        Some((_, version)) => Ok(version),
        None => Err(DbError::Protocol(
            "an account written in this transaction is gone".to_owned(),
        )),
    }
}

/// What a transaction's body found.
enum Body {
    Written,
    FoundCommitted,
    Refused(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small bank is audited whole; a large one a window at a time, each
    /// inside the accounts, the windows moving on from audit to audit.
    #[test]
    fn audits_read_every_account_of_a_small_bank_and_a_window_of_a_large_one() {
        assert_eq!(audited_accounts(2, 3), 0..2);
        assert_eq!(audited_accounts(AUDITED_ACCOUNTS, 300), 0..16);
        let windows: Vec<Range<i64>> = (1..=20)
            .map(|audit| audited_accounts(10_000, audit * AUDIT_EVERY))
            .collect();
        assert!(windows.iter().all(|window| window.end - window.start == 16
            && window.start >= 0
            && window.end <= 10_000));
        assert_eq!(windows[0], 16..32);
        assert_eq!(windows[1], 32..48);
        assert_eq!(audited_accounts(17, 1), 0..16);
        assert_eq!(audited_accounts(17, 3), 1..17);
    }
}
