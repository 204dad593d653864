//! A per-node simulated disk that survives restarts, with the failure modes of
//! a real one.
//!
//! Writes are buffered until [`Storage::sync`], which takes simulated time so
//! other tasks run meanwhile. A crash ([`Disk::crash`], called by the harness
//! when it kills the node) loses every unsynced byte, except that the first
//! unsynced record may reach the platter torn: its length intact, a random
//! suffix overwritten. Records carry checksums; recovery
//! ([`Storage::read_records`]) stops at the first bad record, never applies it,
//! and cuts the file there so later appends stay readable. A lost disk
//! ([`Disk::wipe`]) erases every file, synced or not.
//!
//! madsim's own `fs` keeps unsynced writes across a kill, so the system uses
//! this instead.

mod follow;
mod record;

use rand::Rng;
use std::{
    collections::BTreeMap,
    ops::Range,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

pub use follow::{Follower, Replay};
use record::decode_records_unchecked;
pub use record::{RecordError, decode_records, encode_record, framed_len};

/// The disk settings of one node.
#[derive(Debug, Clone)]
pub struct DiskConfig {
    /// How long one `sync` takes, drawn per call. madsim sleeps at least 1ms,
    /// so shorter latencies take 1ms.
    pub sync_latency: Range<Duration>,
}

/// One node's disk. The harness holds it across the node's restarts.
#[derive(Debug)]
pub struct Disk {
    config: DiskConfig,
    files: Mutex<BTreeMap<String, FileState>>,
    /// How often synced bytes were cut (by a recovery that found a bad
    /// record) or erased (by a wipe): a reader that read up to some point
    /// knows its bytes are still there while this has not moved.
    cuts: AtomicU64,
}

/// How far a reader has read a file's synced bytes (see
/// [`Disk::durable_after`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct DurableCursor {
    cuts: u64,
    len: usize,
}

impl DurableCursor {
    /// The cursor `bytes` further on.
    fn advanced(self, bytes: usize) -> DurableCursor {
        DurableCursor {
            len: self.len + bytes,
            ..self
        }
    }
}

#[derive(Debug, Default)]
struct FileState {
    /// Everything written, synced or not.
    data: Vec<u8>,
    /// How much of `data` is on the platter.
    durable_len: usize,
    /// Where each unsynced record starts, so a crash can tear the first one.
    unsynced_record_starts: Vec<usize>,
}

/// What a crash did to one file's unsynced writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrashDamage {
    pub file: String,
    /// Unsynced bytes lost.
    pub lost_bytes: usize,
    /// Whether the first unsynced record reached the disk torn.
    pub torn: bool,
}

impl Disk {
    pub fn new(config: DiskConfig) -> Arc<Disk> {
        Arc::new(Disk {
            config,
            files: Mutex::new(BTreeMap::new()),
            cuts: AtomicU64::new(0),
        })
    }

    /// Applies a crash: unsynced writes are lost; with probability
    /// `torn_probability` the first unsynced record of a file lands torn.
    pub fn crash(&self, rng: &mut impl Rng, torn_probability: f64) -> Vec<CrashDamage> {
        let mut damage = Vec::new();
        for (name, file) in self.lock().iter_mut() {
            if file.data.len() == file.durable_len {
                continue;
            }
            let lost_bytes = file.data.len() - file.durable_len;
            let torn_record = file
                .unsynced_record_starts
                .iter()
                .copied()
                .find(|start| *start >= file.durable_len)
                .filter(|_| rng.gen_bool(torn_probability));
            match torn_record {
                Some(start) => {
                    let end = record::record_end(&file.data, start).unwrap_or(file.data.len());
                    let body_start = start + record::LENGTH_BYTES;
                    if end > body_start {
                        // Flip bits, so the torn suffix always differs.
                        let garbled_from = rng.gen_range(body_start..end);
                        for byte in &mut file.data[garbled_from..end] {
                            *byte ^= rng.gen_range(1..=u8::MAX);
                        }
                    }
                    file.data.truncate(end);
                    file.durable_len = end;
                }
                None => file.data.truncate(file.durable_len),
            }
            file.unsynced_record_starts.clear();
            damage.push(CrashDamage {
                file: name.clone(),
                lost_bytes,
                torn: torn_record.is_some(),
            });
        }
        damage
    }

    /// Loses the whole disk, as when it dies and a blank one replaces it:
    /// every file is erased, synced or not. Returns how many bytes were
    /// erased.
    pub fn wipe(&self) -> usize {
        let mut files = self.lock();
        let erased = files.values().map(|file| file.data.len()).sum();
        files.clear();
        self.cuts.fetch_add(1, Ordering::Relaxed);
        erased
    }

    /// The synced bytes of `file`: what a recovery would read. Used by the
    /// harness to read ground truth after a run.
    pub fn durable_bytes(&self, file: &str) -> Vec<u8> {
        self.lock()
            .get(file)
            .map(|state| state.data[..state.durable_len].to_vec())
            .unwrap_or_default()
    }

    /// The synced bytes of `file` after `cursor`, and whether they are
    /// all of them: so when synced bytes were cut since the cursor was
    /// taken, and what was read before may be gone. With the cursor at the
    /// start of those bytes. Lets the harness follow a growing log without
    /// copying it whole at every look.
    fn durable_after(&self, file: &str, cursor: DurableCursor) -> (Vec<u8>, bool, DurableCursor) {
        let files = self.lock();
        let cuts = self.cuts.load(Ordering::Relaxed);
        let durable = files
            .get(file)
            .map_or(&[][..], |state| &state.data[..state.durable_len]);
        if cursor.cuts == cuts && cursor.len <= durable.len() {
            (durable[cursor.len..].to_vec(), false, cursor)
        } else {
            (durable.to_vec(), true, DurableCursor { cuts, len: 0 })
        }
    }

    /// Notes that synced bytes were cut.
    fn cut(&self) {
        self.cuts.fetch_add(1, Ordering::Relaxed);
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, FileState>> {
        self.files.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A node's handle on its disk.
#[derive(Debug, Clone)]
pub struct Storage {
    disk: Arc<Disk>,
}

impl Storage {
    pub fn new(disk: Arc<Disk>) -> Storage {
        Storage { disk }
    }

    /// Appends one checksummed record to `file`. It is not durable until the
    /// next [`Storage::sync`] of that file returns.
    pub fn append_record(&self, file: &str, payload: &[u8]) {
        let mut files = self.disk.lock();
        // Looked up before inserting: appends are many, files few.
        if !files.contains_key(file) {
            files.insert(file.to_owned(), FileState::default());
        }
        let Some(state) = files.get_mut(file) else {
            return;
        };
        state.unsynced_record_starts.push(state.data.len());
        encode_record(payload, &mut state.data);
    }

    /// Makes everything appended to `file` so far durable. Takes simulated
    /// time; writes appended while it runs are not covered.
    pub async fn sync(&self, file: &str) {
        let target = self
            .disk
            .lock()
            .get(file)
            .map_or(0, |state| state.data.len());
        let latency = {
            let range = &self.disk.config.sync_latency;
            if range.start >= range.end {
                range.start
            } else {
                madsim::rand::thread_rng().gen_range(range.clone())
            }
        };
        madsim::time::sleep(latency).await;
        if let Some(state) = self.disk.lock().get_mut(file) {
            // A crash in between would have dropped this future with the
            // node, so `target` still describes the same bytes.
            state.durable_len = state.durable_len.max(target.min(state.data.len()));
            let durable_len = state.durable_len;
            state
                .unsynced_record_starts
                .retain(|start| *start >= durable_len);
        }
    }

    /// Reads every intact record of `file` in order, stopping at the first
    /// one that is torn or corrupt, and cuts the file there.
    pub fn read_records(&self, file: &str) -> Recovered {
        let mut files = self.disk.lock();
        let Some(state) = files.get_mut(file) else {
            return Recovered::default();
        };
        let decoded = decode_records(&state.data);
        if decoded.valid_len < state.data.len() {
            state.data.truncate(decoded.valid_len);
            if decoded.valid_len < state.durable_len {
                self.disk.cut();
            }
            state.durable_len = state.durable_len.min(decoded.valid_len);
            state
                .unsynced_record_starts
                .retain(|start| *start < decoded.valid_len);
        }
        Recovered {
            records: decoded.records,
            stopped_at: decoded.error,
        }
    }
}

impl Storage {
    /// Cuts `file` after its first `count` records: recovery found the next
    /// one unusable (it decodes to nothing the node knows), and appends must
    /// not land behind it where no recovery would read them.
    pub fn keep_records(&self, file: &str, count: usize) {
        let mut files = self.disk.lock();
        let Some(state) = files.get_mut(file) else {
            return;
        };
        let mut end = 0;
        for _ in 0..count {
            match record::record_end(&state.data, end) {
                Some(next) => end = next,
                None => return,
            }
        }
        state.data.truncate(end);
        if end < state.durable_len {
            self.disk.cut();
        }
        state.durable_len = state.durable_len.min(end);
        state.unsynced_record_starts.retain(|start| *start < end);
    }

    /// Reads every framed record of `file` without checking checksums or
    /// cutting the file: see [`decode_records_unchecked`].
    pub fn read_records_unchecked(&self, file: &str) -> Vec<Vec<u8>> {
        self.disk
            .lock()
            .get(file)
            .map(|state| decode_records_unchecked(&state.data))
            .unwrap_or_default()
    }
}

/// The records recovered from one file.
#[derive(Debug, Default)]
pub struct Recovered {
    pub records: Vec<Vec<u8>>,
    /// Why recovery stopped early, if it did.
    pub stopped_at: Option<RecordError>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn disk() -> Arc<Disk> {
        Disk::new(DiskConfig {
            sync_latency: Duration::from_millis(1)..Duration::from_millis(2),
        })
    }

    fn run(f: impl std::future::Future<Output = ()> + 'static) {
        madsim::runtime::Runtime::new().block_on(f);
    }

    #[test]
    fn synced_records_survive_a_crash_and_unsynced_ones_do_not() {
        run(async {
            let disk = disk();
            let storage = Storage::new(disk.clone());
            storage.append_record("wal", b"one");
            storage.sync("wal").await;
            storage.append_record("wal", b"two");
            let damage = disk.crash(&mut ChaCha8Rng::seed_from_u64(1), 0.0);
            assert_eq!(damage.len(), 1);
            assert!(!damage[0].torn);
            let recovered = Storage::new(disk).read_records("wal");
            assert_eq!(recovered.records, vec![b"one".to_vec()]);
            assert!(recovered.stopped_at.is_none());
        });
    }

    #[test]
    fn a_torn_record_is_never_returned_and_is_cut_off() {
        run(async {
            let disk = disk();
            let storage = Storage::new(disk.clone());
            storage.append_record("wal", b"kept");
            storage.sync("wal").await;
            storage.append_record("wal", &[7u8; 64]);
            storage.append_record("wal", b"never written");
            let damage = disk.crash(&mut ChaCha8Rng::seed_from_u64(3), 1.0);
            assert!(damage[0].torn);
            let storage = Storage::new(disk.clone());
            let recovered = storage.read_records("wal");
            assert_eq!(recovered.records, vec![b"kept".to_vec()]);
            assert!(recovered.stopped_at.is_some());
            // Appends after recovery land right after the last good record.
            storage.append_record("wal", b"after");
            storage.sync("wal").await;
            let again = Storage::new(disk).read_records("wal");
            assert_eq!(again.records, vec![b"kept".to_vec(), b"after".to_vec()]);
        });
    }

    #[test]
    fn a_wipe_erases_every_file_synced_or_not() {
        run(async {
            let disk = disk();
            let storage = Storage::new(disk.clone());
            storage.append_record("wal", b"synced");
            storage.sync("wal").await;
            storage.append_record("wal", b"unsynced");
            storage.append_record("other", b"never synced");
            let written: usize = disk.lock().values().map(|file| file.data.len()).sum();
            assert_eq!(disk.wipe(), written);
            for file in ["wal", "other"] {
                assert!(disk.durable_bytes(file).is_empty(), "{file}");
                assert!(storage.read_records(file).records.is_empty(), "{file}");
            }
            // The blank disk works like a new one.
            storage.append_record("wal", b"after");
            storage.sync("wal").await;
            let recovered = Storage::new(disk).read_records("wal");
            assert_eq!(recovered.records, vec![b"after".to_vec()]);
        });
    }

    #[test]
    fn a_sync_covers_only_what_was_written_before_it_began() {
        run(async {
            let disk = disk();
            let storage = Storage::new(disk.clone());
            storage.append_record("wal", b"before");
            let syncing = {
                let storage = storage.clone();
                madsim::task::spawn_local(async move { storage.sync("wal").await })
            };
            madsim::task::yield_now().await;
            storage.append_record("wal", b"during");
            syncing.await.expect("sync task");
            disk.crash(&mut ChaCha8Rng::seed_from_u64(5), 0.0);
            let recovered = Storage::new(disk).read_records("wal");
            assert_eq!(recovered.records, vec![b"before".to_vec()]);
        });
    }
}
