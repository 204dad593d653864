//! The transaction engine: committed tables, open transactions and the
//! rules that decide whether a commit may happen. No I/O: the server
//! persists a commit's record before it applies it.
//!
//! Writes are buffered in their transaction until commit. At commit, in both
//! isolation levels, unique inserts and compare-and-sets are checked
//! atomically against the committed state; a SERIALIZABLE transaction also
//! fails if any row or range it read has changed (optimistic concurrency
//! control, first committer wins).

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt,
    time::Duration,
};
use thiserror::Error;

use super::{
    types::{Isolation, Key, Row, ScanRange, TxnId},
    wal::disk_of,
};
use crate::{
    bugs::{Bug, Bugs},
    node::NodeEnv,
    observe::Mark,
};
use serde::{Deserialize, Serialize};

/// Open transactions at most; `begin` fails past it.
pub const MAX_OPEN_TXNS: usize = 256;
/// Rows one scan returns at most.
pub const MAX_SCAN_ROWS: usize = 1000;
/// Writes one transaction buffers at most.
pub const MAX_TXN_WRITES: usize = 1000;

/// Why an operation or a commit failed. A failed commit aborts its
/// transaction.
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize, Deserialize)]
pub enum TxnError {
    #[error("{0} is not open (never begun, finished, or lost in a restart)")]
    Unknown(TxnId),
    #[error("too many open transactions ({MAX_OPEN_TXNS})")]
    TooManyOpen,
    #[error("too many writes in one transaction ({MAX_TXN_WRITES})")]
    TooManyWrites,
    #[error("key {table}/{key} already exists")]
    Duplicate { table: String, key: Key },
    #[error("key {table}/{key} is at version {actual:?}, expected {expected}")]
    VersionMismatch {
        table: String,
        key: Key,
        expected: u64,
        actual: Option<u64>,
    },
    #[error("serialization failure: {table}/{key} changed since it was read")]
    Serialization { table: String, key: Key },
}

/// A row as a transaction reads it: committed (with its version) or its own
/// uncommitted write (no version yet).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Found {
    #[serde(with = "crate::codec::bytes")]
    pub value: Vec<u8>,
    pub version: Option<u64>,
}

/// What a commit writes, in the order the server persists and applies it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitRecord {
    pub txn: TxnId,
    /// The commit's sequence number; every row it writes gets it as version.
    pub seq: u64,
    /// `(table, key, value)`; `None` deletes.
    #[serde(with = "crate::codec::bytes::triples")]
    pub writes: Vec<(String, Key, Option<Vec<u8>>)>,
}

#[derive(Debug)]
struct Txn {
    isolation: Isolation,
    /// Every committed version read (None: the row was absent). Not just
    /// the first of each row: a row read twice may have changed between the
    /// reads and changed back by commit (absent, inserted, deleted again),
    /// and then the first version alone would validate.
    reads: BTreeSet<(String, Key, Option<u64>)>,
    /// Scans made: the range, how many committed rows it read at most, and
    /// the committed rows seen.
    scans: Vec<ScanRead>,
    writes: BTreeMap<(String, Key), Option<Vec<u8>>>,
    conditions: Vec<Condition>,
    last_active: Duration,
}

#[derive(Debug)]
struct ScanRead {
    table: String,
    range: ScanRange,
    limit: usize,
    seen: Vec<(Key, u64)>,
}

#[derive(Debug)]
enum Condition {
    Absent {
        table: String,
        key: Key,
    },
    Version {
        table: String,
        key: Key,
        expected: u64,
    },
}

/// Tables of committed rows plus the open transactions.
#[derive(Debug, Default)]
pub struct Engine {
    tables: BTreeMap<String, BTreeMap<Key, Row>>,
    last_commit: u64,
    txns: BTreeMap<TxnId, Txn>,
    marker: Marker,
}

/// Where the engine notes the situations it meets: the server's node, or
/// nowhere (an engine rebuilt by recovery or read by the harness, or under
/// test, until a server takes it).
#[derive(Default)]
struct Marker(Option<NodeEnv>);

impl Marker {
    fn mark(&self, mark: Mark) {
        if let Some(env) = &self.0 {
            env.mark(mark);
        }
    }

    fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// The planted bugs of the server's node; none off a server.
    fn bugs(&self) -> Bugs {
        self.0.as_ref().map_or(Bugs::NONE, |env| env.bugs)
    }
}

impl fmt::Debug for Marker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(env) => write!(f, "Marker({})", env.name),
            None => f.write_str("Marker(none)"),
        }
    }
}

impl Engine {
    /// An empty engine whose first commit is `last_commit + 1`.
    pub fn numbered_after(last_commit: u64) -> Engine {
        Engine {
            last_commit,
            ..Engine::default()
        }
    }

    /// A copy of the committed rows, with no open transaction and marking
    /// nowhere: what the harness keeps of a database it looked at.
    pub fn copy_committed(&self) -> Engine {
        Engine {
            tables: self.tables.clone(),
            last_commit: self.last_commit,
            ..Engine::default()
        }
    }

    /// Notes the situations this engine meets as `env`'s.
    pub(super) fn mark_with(&mut self, env: NodeEnv) {
        self.marker = Marker(Some(env));
    }

    pub fn begin(
        &mut self,
        id: TxnId,
        isolation: Isolation,
        now: Duration,
    ) -> Result<(), TxnError> {
        if self.txns.len() >= MAX_OPEN_TXNS {
            self.marker.mark(Mark::TooManyOpenTransactions);
            return Err(TxnError::TooManyOpen);
        }
        self.txns.insert(
            id,
            Txn {
                isolation,
                reads: BTreeSet::new(),
                scans: Vec::new(),
                writes: BTreeMap::new(),
                conditions: Vec::new(),
                last_active: now,
            },
        );
        Ok(())
    }

    pub fn get(
        &mut self,
        id: TxnId,
        table: &str,
        key: &Key,
        now: Duration,
    ) -> Result<Option<Found>, TxnError> {
        let committed = self.committed(table, key).cloned();
        if self.marker.is_on() && self.reads_around_uncommitted_write(id, table, key) {
            self.marker.mark(Mark::ReadAroundUncommittedWrite);
        }
        let txn = self.txn(id, now)?;
        if let Some(own) = txn.writes.get(&(table.to_owned(), key.clone())) {
            return Ok(own.clone().map(|value| Found {
                value,
                version: None,
            }));
        }
        txn.reads.insert((
            table.to_owned(),
            key.clone(),
            committed.as_ref().map(|row| row.version),
        ));
        Ok(committed.map(|row| Found {
            value: row.value,
            version: Some(row.version),
        }))
    }

    pub fn scan(
        &mut self,
        id: TxnId,
        table: &str,
        range: &ScanRange,
        limit: usize,
        now: Duration,
    ) -> Result<Vec<(Key, Found)>, TxnError> {
        let limit = limit.min(MAX_SCAN_ROWS);
        // The limit counts the rows the transaction sees. Its own deletes
        // hide committed rows, so read past as many as it deleted in the
        // range: else a delete would use up the limit, and the scan would
        // return fewer rows than the range holds.
        let hidden = self.txns.get(&id).map_or(0, |txn| {
            txn.writes
                .iter()
                .filter(|((written_table, key), value)| {
                    written_table == table && value.is_none() && range.contains(key)
                })
                .count()
        });
        // One row past those read tells whether the range holds more.
        let mut committed: Vec<(Key, Row)> = self.scan_committed(table, range, limit + hidden + 1);
        let more_committed = committed.len() > limit + hidden;
        committed.truncate(limit + hidden);
        let txn = self.txn(id, now)?;
        txn.scans.push(ScanRead {
            table: table.to_owned(),
            range: range.clone(),
            limit: limit + hidden,
            seen: committed
                .iter()
                .map(|(key, row)| (key.clone(), row.version))
                .collect(),
        });
        let mut merged: BTreeMap<Key, Found> = committed
            .into_iter()
            .map(|(key, row)| {
                (
                    key,
                    Found {
                        value: row.value,
                        version: Some(row.version),
                    },
                )
            })
            .collect();
        for ((written_table, key), value) in &txn.writes {
            if written_table == table && range.contains(key) {
                match value {
                    Some(value) => merged.insert(
                        key.clone(),
                        Found {
                            value: value.clone(),
                            version: None,
                        },
                    ),
                    None => merged.remove(key),
                };
            }
        }
        // Past the rows read, the range's committed rows outnumber the
        // deletes that could hide them; else all of it was read.
        if more_committed || merged.len() > limit {
            self.marker.mark(Mark::ScanHitLimit);
        }
        Ok(merged.into_iter().take(limit).collect())
    }

    /// Writes `value` at commit, whatever is there then.
    pub fn put(
        &mut self,
        id: TxnId,
        table: &str,
        key: Key,
        value: Vec<u8>,
        now: Duration,
    ) -> Result<(), TxnError> {
        self.write(id, table, key, Some(value), now)
    }

    /// Inserts a row that must not exist at commit.
    pub fn insert_unique(
        &mut self,
        id: TxnId,
        table: &str,
        key: Key,
        value: Vec<u8>,
        now: Duration,
    ) -> Result<(), TxnError> {
        let condition = Condition::Absent {
            table: table.to_owned(),
            key: key.clone(),
        };
        self.write_if(id, condition, table, key, value, now)
    }

    /// Writes `value` if the row is still at `expected` version at commit.
    pub fn compare_and_set(
        &mut self,
        id: TxnId,
        table: &str,
        key: Key,
        expected: u64,
        value: Vec<u8>,
        now: Duration,
    ) -> Result<(), TxnError> {
        let condition = Condition::Version {
            table: table.to_owned(),
            key: key.clone(),
            expected,
        };
        self.write_if(id, condition, table, key, value, now)
    }

    pub fn delete(
        &mut self,
        id: TxnId,
        table: &str,
        key: Key,
        now: Duration,
    ) -> Result<(), TxnError> {
        self.write(id, table, key, None, now)
    }

    pub fn rollback(&mut self, id: TxnId) -> Result<(), TxnError> {
        self.txns
            .remove(&id)
            .map(|_| ())
            .ok_or(TxnError::Unknown(id))
    }

    /// Ends transaction `id`: checks its conditions (and, if SERIALIZABLE,
    /// its reads) against the committed state and returns the record to
    /// persist, or `None` when it wrote nothing. The caller persists the
    /// record, then calls [`Engine::apply`].
    pub fn prepare_commit(&mut self, id: TxnId) -> Result<Option<CommitRecord>, TxnError> {
        let txn = self.txns.remove(&id).ok_or(TxnError::Unknown(id))?;
        for condition in &txn.conditions {
            match condition {
                Condition::Absent { table, key } => {
                    if self.committed(table, key).is_some() {
                        self.marker.mark(Mark::UniqueInsertConflict);
                        return Err(TxnError::Duplicate {
                            table: table.clone(),
                            key: key.clone(),
                        });
                    }
                }
                Condition::Version {
                    table,
                    key,
                    expected,
                } => {
                    let actual = self.committed(table, key).map(|row| row.version);
                    if actual != Some(*expected) {
                        self.marker.mark(Mark::CompareAndSetVersionMismatch);
                        if disk_of(*expected) != disk_of(self.last_commit + 1) {
                            self.marker.mark(Mark::CompareAndSetVersionFromLostDisk);
                        }
                        return Err(TxnError::VersionMismatch {
                            table: table.clone(),
                            key: key.clone(),
                            expected: *expected,
                            actual,
                        });
                    }
                }
            }
        }
        if txn.isolation == Isolation::Serializable {
            let only_written = self.marker.bugs().has(Bug::DbSerializableSkipsReads);
            for (table, key, seen) in &txn.reads {
                if only_written && !txn.writes.contains_key(&(table.clone(), key.clone())) {
                    continue;
                }
                let now = self.committed(table, key).map(|row| row.version);
                if now != *seen {
                    self.marker.mark(Mark::SerializableReadChanged);
                    if now.is_none() {
                        self.marker.mark(Mark::SerializableReadDeleted);
                    }
                    return Err(TxnError::Serialization {
                        table: table.clone(),
                        key: key.clone(),
                    });
                }
            }
            // The same scan now must see the same rows at the same versions:
            // no row changed, none appeared (a phantom), none vanished.
            for scan in &txn.scans {
                let now: Vec<(Key, u64)> = self
                    .scan_committed(&scan.table, &scan.range, scan.limit)
                    .into_iter()
                    .map(|(key, row)| (key, row.version))
                    .collect();
                if let Some(key) = first_difference(&now, &scan.seen) {
                    self.marker.mark(Mark::SerializableScanChanged);
                    if scan
                        .seen
                        .iter()
                        .any(|(seen, _)| self.committed(&scan.table, seen).is_none())
                    {
                        self.marker.mark(Mark::SerializableScanRowDeleted);
                    }
                    return Err(TxnError::Serialization {
                        table: scan.table.clone(),
                        key,
                    });
                }
            }
        }
        if txn.isolation == Isolation::ReadCommitted && self.overwrites_changed_read(&txn) {
            self.marker.mark(Mark::ReadCommittedLostUpdate);
        }
        if txn.writes.is_empty() {
            return Ok(None);
        }
        Ok(Some(CommitRecord {
            txn: id,
            seq: self.last_commit + 1,
            writes: txn
                .writes
                .into_iter()
                .map(|((table, key), value)| (table, key, value))
                .collect(),
        }))
    }

    /// Whether open transaction `id`, reading the committed row, passes over
    /// another open transaction's uncommitted write of it.
    fn reads_around_uncommitted_write(&self, id: TxnId, table: &str, key: &Key) -> bool {
        let row = (table.to_owned(), key.clone());
        self.txns
            .get(&id)
            .is_some_and(|txn| !txn.writes.contains_key(&row))
            && self
                .txns
                .iter()
                .any(|(other, txn)| *other != id && txn.writes.contains_key(&row))
    }

    /// Whether `txn` writes, with no condition on it, a row it read that
    /// has changed since: committed, the write loses that change.
    fn overwrites_changed_read(&self, txn: &Txn) -> bool {
        let conditioned = |table: &str, key: &Key| {
            txn.conditions.iter().any(|condition| match condition {
                Condition::Absent {
                    table: cond_table,
                    key: cond_key,
                }
                | Condition::Version {
                    table: cond_table,
                    key: cond_key,
                    ..
                } => cond_table == table && cond_key == key,
            })
        };
        txn.reads.iter().any(|(table, key, seen)| {
            txn.writes.contains_key(&(table.clone(), key.clone()))
                && !conditioned(table, key)
                && self.committed(table, key).map(|row| row.version) != *seen
        })
    }

    /// Applies a prepared (or recovered) commit.
    pub fn apply(&mut self, record: &CommitRecord) {
        debug_assert!(
            record.seq > self.last_commit,
            "commits apply in sequence order"
        );
        for (table, key, value) in &record.writes {
            let rows = self.tables.entry(table.clone()).or_default();
            match value {
                Some(value) => {
                    rows.insert(
                        key.clone(),
                        Row {
                            value: value.clone(),
                            version: record.seq,
                        },
                    );
                }
                None => {
                    rows.remove(key);
                }
            }
        }
        self.last_commit = record.seq;
    }

    /// Aborts transactions idle for `idle` or longer; returns them.
    pub fn expire(&mut self, now: Duration, idle: Duration) -> Vec<TxnId> {
        let expired: Vec<TxnId> = self
            .txns
            .iter()
            .filter(|(_, txn)| now.saturating_sub(txn.last_active) >= idle)
            .map(|(id, _)| *id)
            .collect();
        for id in &expired {
            self.txns.remove(id);
        }
        expired
    }

    pub fn last_commit(&self) -> u64 {
        self.last_commit
    }

    /// Whether transaction `id` is open.
    pub fn is_open(&self, id: TxnId) -> bool {
        self.txns.contains_key(&id)
    }

    pub fn open_txns(&self) -> usize {
        self.txns.len()
    }

    /// The committed rows of `table`, in key order.
    pub fn rows(&self, table: &str) -> impl Iterator<Item = (&Key, &Row)> {
        self.tables.get(table).into_iter().flatten()
    }

    pub fn committed(&self, table: &str, key: &Key) -> Option<&Row> {
        self.tables.get(table)?.get(key)
    }

    fn scan_committed(&self, table: &str, range: &ScanRange, limit: usize) -> Vec<(Key, Row)> {
        let Some(rows) = self.tables.get(table) else {
            return Vec::new();
        };
        let selected: Box<dyn Iterator<Item = (&Key, &Row)>> = match range {
            ScanRange::Prefix(prefix) => Box::new(
                rows.range(Key::Str(prefix.clone())..)
                    .take_while(|(key, _)| range.contains(key)),
            ),
            ScanRange::Between { start, end } if start < end => {
                Box::new(rows.range(start.clone()..end.clone()))
            }
            ScanRange::Between { .. } => Box::new(std::iter::empty()),
        };
        selected
            .take(limit)
            .map(|(key, row)| (key.clone(), row.clone()))
            .collect()
    }

    fn txn(&mut self, id: TxnId, now: Duration) -> Result<&mut Txn, TxnError> {
        let txn = self.txns.get_mut(&id).ok_or(TxnError::Unknown(id))?;
        txn.last_active = now;
        Ok(txn)
    }

    /// A write that commits only if `condition` holds then.
    fn write_if(
        &mut self,
        id: TxnId,
        condition: Condition,
        table: &str,
        key: Key,
        value: Vec<u8>,
        now: Duration,
    ) -> Result<(), TxnError> {
        self.write(id, table, key, Some(value), now)?;
        self.txn(id, now)?.conditions.push(condition);
        Ok(())
    }

    fn write(
        &mut self,
        id: TxnId,
        table: &str,
        key: Key,
        value: Option<Vec<u8>>,
        now: Duration,
    ) -> Result<(), TxnError> {
        let txn = self.txn(id, now)?;
        if txn.writes.len() >= MAX_TXN_WRITES
            && !txn.writes.contains_key(&(table.to_owned(), key.clone()))
        {
            return Err(TxnError::TooManyWrites);
        }
        txn.writes.insert((table.to_owned(), key), value);
        Ok(())
    }
}

/// The first key at which two scans of one range differ, if they do.
fn first_difference(now: &[(Key, u64)], seen: &[(Key, u64)]) -> Option<Key> {
    let mut now = now.iter();
    let mut seen = seen.iter();
    loop {
        match (now.next(), seen.next()) {
            (None, None) => return None,
            (Some(a), Some(b)) if a == b => continue,
            (Some((a, _)), Some((b, _))) => return Some(a.min(b).clone()),
            (Some((key, _)), None) | (None, Some((key, _))) => return Some(key.clone()),
        }
    }
}

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
