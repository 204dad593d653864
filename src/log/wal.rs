//! The replica's write-ahead log on its disk: term, vote, entries and a lazily
//! written commit index, and the recovery that rebuilds them.

use serde::{Deserialize, Serialize};

use super::types::Entry;
use crate::{
    codec,
    storage::{Disk, Follower, Replay, Storage, decode_records},
};

/// The file the write-ahead log lives in.
pub(super) const WAL_FILE: &str = "raft.wal";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) enum WalRecord {
    HardState {
        term: u64,
        voted_for: Option<String>,
    },
    /// Entries starting at `first_index`; anything at or after it is replaced.
    Entries {
        first_index: u64,
        entries: Vec<Entry>,
    },
    /// Entries up to here are known committed. Written without its own sync:
    /// it becomes durable with the next one, after the entries it covers.
    Commit { index: u64 },
}

/// A replica's state as its synced write-ahead log describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DurableLog {
    pub term: u64,
    pub voted_for: Option<String>,
    /// Entry `i` (1-based) is `entries[i - 1]`.
    pub entries: Vec<Entry>,
    /// The highest index known committed when last written, capped at the
    /// entries present.
    pub commit: u64,
}

impl DurableLog {
    fn apply(&mut self, record: WalRecord) {
        match record {
            WalRecord::HardState { term, voted_for } => {
                self.term = term;
                self.voted_for = voted_for;
            }
            WalRecord::Entries {
                first_index,
                entries,
            } => {
                let keep = first_index.saturating_sub(1) as usize;
                self.entries.truncate(keep.min(self.entries.len()));
                if keep == self.entries.len() {
                    self.entries.extend(entries);
                }
            }
            WalRecord::Commit { index } => self.commit = self.commit.max(index),
        }
    }

    /// Replays records in order; returns the state and how many records it
    /// used. A record that passed its checksum but does not decode was
    /// written by other code: replay stops there, as at a bad checksum.
    fn from_records(records: impl IntoIterator<Item = Vec<u8>>) -> (DurableLog, usize) {
        let mut log = DurableLog::default();
        let mut used = 0;
        for record in records {
            let Ok(record) = codec::decode::<WalRecord>(&record) else {
                break;
            };
            log.apply(record);
            used += 1;
        }
        log.commit = log.commit.min(log.entries.len() as u64);
        (log, used)
    }
}

/// Recovers a replica's state from its disk, cutting off a torn or
/// unusable tail; says whether there was one to cut.
pub(super) fn recover(storage: &Storage) -> (DurableLog, bool) {
    let read = storage.read_records(WAL_FILE);
    let torn = read.stopped_at.is_some();
    let records = read.records;
    let total = records.len();
    let (log, used) = DurableLog::from_records(records);
    if used < total {
        storage.keep_records(WAL_FILE, used);
    }
    (log, torn || used < total)
}

/// Reads a replica's synced state without changing its disk: the ground truth
/// the harness checks after a run.
pub fn read_durable(disk: &Disk) -> DurableLog {
    DurableLog::from_records(decode_records(&disk.durable_bytes(WAL_FILE)).records).0
}

/// Reads a replica's synced state again and again as the run goes on,
/// decoding only the records synced since the last read: the harness
/// probes every replica's disk at each crash, and decoding whole logs each
/// time made those probes a tenth of a run. Reads exactly what
/// [`read_durable`] reads.
#[derive(Debug, Default)]
pub struct DurableReader(Follower<Replayed>);

/// A replica's synced state as replayed so far.
#[derive(Debug, Default)]
struct Replayed {
    log: DurableLog,
    /// The commit index as recorded, before it is capped at the entries.
    commit: u64,
}

impl Replay for Replayed {
    /// A record that does not decode ends the replay, as in
    /// [`DurableLog::from_records`].
    fn replay(&mut self, record: &[u8]) -> bool {
        let Ok(record) = codec::decode::<WalRecord>(record) else {
            return false;
        };
        if let WalRecord::Commit { index } = record {
            self.commit = self.commit.max(index);
        } else {
            self.log.apply(record);
        }
        true
    }
}

impl DurableReader {
    /// The synced state of `disk` now.
    pub fn read(&mut self, disk: &Disk) -> &DurableLog {
        let replayed = self.0.read(disk, WAL_FILE);
        replayed.log.commit = replayed.commit.min(replayed.log.entries.len() as u64);
        &replayed.log
    }

    /// The synced state of `disk` now, for good.
    pub fn finish(self, disk: &Disk) -> DurableLog {
        let Replayed { mut log, commit } = self.0.finish(disk, WAL_FILE);
        log.commit = commit.min(log.entries.len() as u64);
        log
    }
}

/// Appends `record` to the write-ahead log (unsynced).
pub(super) fn write(storage: &Storage, record: &WalRecord) {
    let bytes = codec::encode(record);
    storage.append_record(WAL_FILE, &bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::types::EntryKind;

    fn entry(term: u64, seq: u64) -> Entry {
        Entry {
            term,
            kind: EntryKind::Command {
                client: 1,
                seq,
                data: vec![],
            },
        }
    }

    fn encode(records: &[WalRecord]) -> Vec<Vec<u8>> {
        records.iter().map(codec::encode).collect()
    }

    #[test]
    fn replay_truncates_conflicting_suffixes_and_caps_commit() {
        let (log, _) = DurableLog::from_records(encode(&[
            WalRecord::HardState {
                term: 1,
                voted_for: Some("log-1".into()),
            },
            WalRecord::Entries {
                first_index: 1,
                entries: vec![entry(1, 1), entry(1, 2), entry(1, 3)],
            },
            WalRecord::Commit { index: 1 },
            WalRecord::HardState {
                term: 2,
                voted_for: None,
            },
            WalRecord::Entries {
                first_index: 2,
                entries: vec![entry(2, 9)],
            },
            WalRecord::Commit { index: 5 },
        ]));
        assert_eq!(log.term, 2);
        assert_eq!(log.voted_for, None);
        assert_eq!(log.entries, vec![entry(1, 1), entry(2, 9)]);
        assert_eq!(log.commit, 2);
    }

    #[test]
    fn entries_past_a_gap_are_not_applied() {
        let (log, _) = DurableLog::from_records(encode(&[
            WalRecord::Entries {
                first_index: 1,
                entries: vec![entry(1, 1)],
            },
            WalRecord::Entries {
                first_index: 3,
                entries: vec![entry(1, 3)],
            },
        ]));
        assert_eq!(log.entries, vec![entry(1, 1)]);
    }

    /// Records are written and replayed (torn or damaged ones included)
    /// as bincode 1.3 wrote and replayed them: recovery, and so every
    /// simulation's trace, depends on it.
    #[test]
    fn records_are_encoded_as_bincode_did() {
        codec::compat::exercise(&[
            WalRecord::HardState {
                term: 3,
                voted_for: Some("log-2".into()),
            },
            WalRecord::HardState {
                term: 0,
                voted_for: None,
            },
            WalRecord::Entries {
                first_index: 7,
                entries: codec::compat::entries(),
            },
            WalRecord::Entries {
                first_index: 1,
                entries: vec![],
            },
            WalRecord::Commit { index: u64::MAX },
        ]);
    }

    /// The incremental reader reads what a full replay of the synced bytes
    /// reads, as records are synced, after a record that does not decode,
    /// after recovery cuts the file back, and on a disk that replaced a
    /// lost one and grew past where the reader had read the old one.
    #[test]
    fn the_incremental_reader_reads_what_a_full_replay_reads() {
        madsim::runtime::Runtime::new().block_on(async {
            let disk = Disk::new(crate::storage::DiskConfig {
                sync_latency: std::time::Duration::ZERO..std::time::Duration::from_millis(1),
            });
            let storage = Storage::new(disk.clone());
            let mut reader = DurableReader::default();
            let mut check = |step: &str| {
                assert_eq!(reader.read(&disk), &read_durable(&disk), "after {step}");
            };
            check("nothing");
            write(
                &storage,
                &WalRecord::HardState {
                    term: 1,
                    voted_for: None,
                },
            );
            check("an unsynced write");
            storage.sync(WAL_FILE).await;
            check("the first sync");
            for seq in 1..=3 {
                write(
                    &storage,
                    &WalRecord::Entries {
                        first_index: seq,
                        entries: vec![entry(1, seq)],
                    },
                );
                write(&storage, &WalRecord::Commit { index: seq + 1 });
                storage.sync(WAL_FILE).await;
                check("entries and a commit past them");
            }
            storage.append_record(WAL_FILE, b"not a record");
            write(&storage, &WalRecord::Commit { index: 3 });
            storage.sync(WAL_FILE).await;
            check("a record that does not decode");
            // Recovery cuts back below what the reader read, and the log
            // grows past that point again before the reader looks.
            let read_before = disk.durable_bytes(WAL_FILE).len();
            storage.keep_records(WAL_FILE, 3);
            write(
                &storage,
                &WalRecord::Entries {
                    first_index: 2,
                    entries: (7..107).map(|seq| entry(2, seq)).collect(),
                },
            );
            storage.sync(WAL_FILE).await;
            assert!(disk.durable_bytes(WAL_FILE).len() > read_before);
            check("a cut and a longer write after it");
            assert_eq!(reader.read(&disk).entries.len(), 101);
            assert_eq!(reader.read(&disk).entries[..2], [entry(1, 1), entry(2, 7)]);
            let read_before = disk.durable_bytes(WAL_FILE).len();
            disk.wipe();
            write(
                &storage,
                &WalRecord::Entries {
                    first_index: 1,
                    entries: (1..=200).map(|seq| entry(3, seq)).collect(),
                },
            );
            storage.sync(WAL_FILE).await;
            assert!(disk.durable_bytes(WAL_FILE).len() > read_before);
            assert_eq!(
                reader.read(&disk),
                &read_durable(&disk),
                "after a lost disk"
            );
            assert_eq!(reader.read(&disk).entries.len(), 200);
            write(&storage, &WalRecord::Commit { index: 150 });
            storage.sync(WAL_FILE).await;
            let finished = reader.finish(&disk);
            assert_eq!(finished, read_durable(&disk), "finished");
            assert_eq!(finished.commit, 150);
        });
    }

    /// Recovery cuts the log back to the last record it could use, so that
    /// what the replica writes after it is read by the next recovery rather
    /// than hidden behind a record that does not decode.
    #[test]
    fn recovery_cuts_a_record_that_does_not_decode_so_later_writes_survive() {
        madsim::runtime::Runtime::new().block_on(async {
            let disk = Disk::new(crate::storage::DiskConfig {
                sync_latency: std::time::Duration::ZERO..std::time::Duration::from_millis(1),
            });
            let storage = Storage::new(disk.clone());
            let first = WalRecord::Entries {
                first_index: 1,
                entries: vec![entry(1, 1)],
            };
            write(&storage, &first);
            storage.append_record(WAL_FILE, b"not a record");
            write(&storage, &WalRecord::Commit { index: 1 });
            storage.sync(WAL_FILE).await;

            let (log, cut) = recover(&storage);
            assert!(cut, "an unusable tail is reported cut");
            assert_eq!(log.entries, [entry(1, 1)]);
            assert_eq!(log.commit, 0, "nothing past the bad record is used");

            write(
                &storage,
                &WalRecord::Entries {
                    first_index: 2,
                    entries: vec![entry(2, 2)],
                },
            );
            storage.sync(WAL_FILE).await;
            let (log, cut) = recover(&storage);
            assert!(!cut, "the tail was cut already");
            assert_eq!(log.entries, [entry(1, 1), entry(2, 2)]);
            assert_eq!(read_durable(&disk), log);
        });
    }
}
