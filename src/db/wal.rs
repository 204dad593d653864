//! The database's write-ahead log: one record per commit, synced before the
//! commit is acknowledged, replayed on recovery.

use super::engine::{CommitRecord, Engine};
use crate::{
    codec,
    storage::{Disk, Storage, decode_records},
};

/// The file the commit log lives in.
pub(super) const WAL_FILE: &str = "db.wal";

/// What recovery rebuilt.
#[derive(Debug, Default)]
pub struct Recovered {
    pub engine: Engine,
    /// The sequence numbers of the commits replayed, in order: one per
    /// record used.
    pub commits: Vec<u64>,
}

/// Replays commit records in order. A record that does not decode, or does
/// not follow its predecessor, ends the replay like a bad checksum.
fn replay(records: impl IntoIterator<Item = Vec<u8>>) -> Recovered {
    let mut recovered = Recovered::default();
    for record in records {
        let Ok(record) = codec::decode::<CommitRecord>(&record) else {
            break;
        };
        if record.seq != recovered.engine.last_commit() + 1 {
            break;
        }
        recovered.engine.apply(&record);
        recovered.commits.push(record.seq);
    }
    recovered
}

/// Recovers the server's state from its disk. `skip_checksums` is the
/// planted bug `db-skip-checksum`: a torn record is replayed as if whole.
pub(super) fn recover(storage: &Storage, skip_checksums: bool) -> Recovered {
    if skip_checksums {
        return replay(storage.read_records_unchecked(WAL_FILE));
    }
    let records = storage.read_records(WAL_FILE).records;
    let total = records.len();
    let recovered = replay(records);
    if recovered.commits.len() < total {
        storage.keep_records(WAL_FILE, recovered.commits.len());
    }
    recovered
}

/// Reads the server's synced state without changing its disk, with the
/// recovery a correct server runs (checksums checked, replay stopped at the
/// first bad record): the ground truth the harness checks, read the same way
/// whatever bug is planted.
pub fn read_durable(disk: &Disk) -> Recovered {
    replay(decode_records(&disk.durable_bytes(WAL_FILE)).records)
}

/// Appends a commit record (unsynced).
pub(super) fn write(storage: &Storage, record: &CommitRecord) {
    let bytes = codec::encode(record);
    storage.append_record(WAL_FILE, &bytes);
}
