//! The database's write-ahead log: one record per commit, synced before the
//! commit is acknowledged, replayed on recovery.

use super::engine::{CommitRecord, Engine};
use crate::{
    codec,
    storage::{Disk, Follower, Replay, Storage, decode_records},
};

/// The file the commit log lives in.
pub(super) const WAL_FILE: &str = "db.wal";

/// The most commits one disk holds. A disk numbers its commits on from
/// `(n - 1) · DISK_COMMITS + 1`, n the incarnation that makes its first
/// one: the first disk from 1, and a disk that replaced a lost one past
/// every commit the lost one could hold. A commit's number is the version
/// of every row it writes, so a version read before a disk was lost never
/// matches one written after, and a stale compare-and-set fails.
const DISK_COMMITS: u64 = 1 << 32;

/// The number of a fresh disk's first commit, made in `incarnation`.
pub(super) fn first_commit(incarnation: u64) -> u64 {
    (incarnation - 1) * DISK_COMMITS + 1
}

/// Which disk numbered commit `seq` (0 the first, that of incarnation 1):
/// a row's version tells the disk that wrote it.
pub(super) fn disk_of(seq: u64) -> u64 {
    seq.saturating_sub(1) / DISK_COMMITS
}

/// Whether `seq` can number a disk's first commit.
fn starts_a_disk(seq: u64) -> bool {
    seq % DISK_COMMITS == 1
}

/// What recovery rebuilt.
#[derive(Debug, Default)]
pub struct Recovered {
    pub engine: Engine,
    /// The sequence numbers of the commits replayed, in order: one per
    /// record used.
    pub commits: Vec<u64>,
}

impl Recovered {
    /// The first and the last commit replayed, if any.
    pub fn commit_range(&self) -> Option<(u64, u64)> {
        self.commits
            .first()
            .copied()
            .zip(self.commits.last().copied())
    }

    /// A copy of the committed state, for judging it later: the rows and
    /// the commits replayed (a recovered engine holds nothing else).
    pub fn committed_copy(&self) -> Recovered {
        Recovered {
            engine: self.engine.copy_committed(),
            commits: self.commits.clone(),
        }
    }
}

impl Replay for Recovered {
    /// Replays the next commit record; false, changing nothing, when it
    /// ends the replay: it does not decode, does not follow its
    /// predecessor, or is first but cannot number a disk's first commit.
    fn replay(&mut self, record: &[u8]) -> bool {
        let Ok(record) = codec::decode::<CommitRecord>(record) else {
            return false;
        };
        if self.commits.is_empty() && starts_a_disk(record.seq) {
            self.engine = Engine::numbered_after(record.seq - 1);
        }
        if record.seq != self.engine.last_commit() + 1 {
            return false;
        }
        self.engine.apply(&record);
        self.commits.push(record.seq);
        true
    }
}

/// Replays commit records in order, up to the first that ends the replay
/// like a bad checksum.
fn replay(records: impl IntoIterator<Item = Vec<u8>>) -> Recovered {
    let mut recovered = Recovered::default();
    for record in records {
        if !recovered.replay(&record) {
            break;
        }
    }
    recovered
}

/// Recovers the server's state from its disk, and says whether it cut off a
/// torn or unusable tail. `skip_checksums` is the planted bug
/// `db-skip-checksum`: a torn record is replayed as if whole.
pub(super) fn recover(storage: &Storage, skip_checksums: bool) -> (Recovered, bool) {
    if skip_checksums {
        return (replay(storage.read_records_unchecked(WAL_FILE)), false);
    }
    let read = storage.read_records(WAL_FILE);
    let torn = read.stopped_at.is_some();
    let records = read.records;
    let total = records.len();
    let recovered = replay(records);
    let unusable = recovered.commits.len() < total;
    if unusable {
        storage.keep_records(WAL_FILE, recovered.commits.len());
    }
    (recovered, torn || unusable)
}

/// Reads the server's synced state without changing its disk, with the
/// recovery a correct server runs (checksums checked, replay stopped at the
/// first bad record): the ground truth the harness checks, read the same way
/// whatever bug is planted.
pub fn read_durable(disk: &Disk) -> Recovered {
    replay(decode_records(&disk.durable_bytes(WAL_FILE)).records)
}

/// Reads the server's synced state again and again as the run goes on,
/// replaying only the commits synced since the last read: the harness looks
/// at the database at each of its crashes. Reads exactly what
/// [`read_durable`] reads.
#[derive(Debug, Default)]
pub struct DurableReader(Follower<Recovered>);

impl DurableReader {
    /// The synced state of `disk` now.
    pub fn read(&mut self, disk: &Disk) -> &Recovered {
        self.0.read(disk, WAL_FILE)
    }

    /// The synced state of `disk` now, for good.
    pub fn finish(self, disk: &Disk) -> Recovered {
        self.0.finish(disk, WAL_FILE)
    }
}

/// Appends a commit record (unsynced).
pub(super) fn write(storage: &Storage, record: &CommitRecord) {
    let bytes = codec::encode(record);
    storage.append_record(WAL_FILE, &bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{Key, TxnId};

    fn record(seq: u64) -> Vec<u8> {
        codec::encode(&CommitRecord {
            txn: TxnId(seq),
            seq,
            writes: vec![(
                "t".to_owned(),
                Key::Int(0),
                Some(seq.to_le_bytes().to_vec()),
            )],
        })
    }

    #[test]
    fn a_disk_that_replaced_a_lost_one_recovers_from_its_own_first_commit() {
        let first = first_commit(3);
        assert_eq!(first, 2 * DISK_COMMITS + 1);
        let recovered = replay([record(first), record(first + 1)]);
        assert_eq!(recovered.commits, [first, first + 1]);
        assert_eq!(recovered.engine.last_commit(), first + 1);
        let row = recovered
            .engine
            .committed("t", &Key::Int(0))
            .expect("a row");
        assert_eq!(row.version, first + 1);
    }

    #[test]
    fn a_log_that_starts_where_no_disk_starts_is_not_replayed() {
        assert_eq!(first_commit(1), 1);
        assert!(replay([record(2), record(3)]).commits.is_empty());
        assert!(
            replay([record(DISK_COMMITS), record(DISK_COMMITS + 1)])
                .commits
                .is_empty()
        );
        assert_eq!(replay([record(1), record(3)]).commits, [1]);
    }

    /// What a test compares of two recoveries: the commits replayed and
    /// the rows they left.
    fn seen(recovered: &Recovered) -> (Vec<u64>, Vec<(Key, crate::db::Row)>) {
        let rows = recovered
            .engine
            .rows("t")
            .map(|(key, row)| (key.clone(), row.clone()))
            .collect();
        (recovered.commits.clone(), rows)
    }

    /// The incremental reader reads what a full replay of the synced bytes
    /// reads: as commits are synced, past an unsynced one, after a record
    /// that ends the replay, after recovery cuts the file back, and on a
    /// disk that replaced a lost one.
    #[test]
    fn the_incremental_reader_reads_what_a_full_replay_reads() {
        madsim::runtime::Runtime::new().block_on(async {
            let disk = Disk::new(crate::storage::DiskConfig {
                sync_latency: std::time::Duration::ZERO..std::time::Duration::from_millis(1),
            });
            let storage = Storage::new(disk.clone());
            let mut reader = DurableReader::default();
            let check = |reader: &mut DurableReader, step: &str| {
                assert_eq!(
                    seen(reader.read(&disk)),
                    seen(&read_durable(&disk)),
                    "after {step}"
                );
            };
            check(&mut reader, "nothing");
            storage.append_record(WAL_FILE, &record(1));
            check(&mut reader, "an unsynced commit");
            storage.sync(WAL_FILE).await;
            check(&mut reader, "the first sync");
            for seq in 2..=4 {
                storage.append_record(WAL_FILE, &record(seq));
                storage.sync(WAL_FILE).await;
                check(&mut reader, "a commit synced");
            }
            storage.append_record(WAL_FILE, &record(9));
            storage.append_record(WAL_FILE, &record(5));
            storage.sync(WAL_FILE).await;
            check(&mut reader, "a commit out of sequence");
            assert_eq!(reader.read(&disk).commits, [1, 2, 3, 4]);
            storage.keep_records(WAL_FILE, 2);
            for seq in 3..=9 {
                storage.append_record(WAL_FILE, &record(seq));
            }
            storage.sync(WAL_FILE).await;
            check(&mut reader, "a cut and a longer write after it");
            assert_eq!(reader.read(&disk).commits, (1..=9).collect::<Vec<_>>());
            disk.wipe();
            let first = first_commit(2);
            for seq in first..first + 12 {
                storage.append_record(WAL_FILE, &record(seq));
            }
            storage.sync(WAL_FILE).await;
            check(&mut reader, "a lost disk");
            storage.append_record(WAL_FILE, &record(first + 12));
            storage.sync(WAL_FILE).await;
            assert_eq!(
                seen(&reader.finish(&disk)),
                seen(&read_durable(&disk)),
                "at the finish"
            );
        });
    }
}
