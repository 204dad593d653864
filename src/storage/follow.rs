//! Following a file's synced records as they grow: the harness reads a
//! node's synced state at each of its crashes, and replaying whole files
//! each time cost a run more than the look.

use super::{Disk, DurableCursor, decode_records, framed_len};

/// A state rebuilt from a file's records, one at a time, in order.
pub trait Replay: Default {
    /// Applies the next record; false when the record ends the replay (it
    /// does not decode, or does not follow): nothing from it on counts.
    fn replay(&mut self, record: &[u8]) -> bool;
}

/// A state kept up to date with a file's synced records: each read replays
/// only the records synced since the last, and gives what a replay of all
/// the synced bytes would.
#[derive(Debug, Default)]
pub struct Follower<S> {
    /// How far the synced bytes are replayed: whole records.
    read: DurableCursor,
    state: S,
    /// A record ended the replay.
    stopped: bool,
}

impl<S: Replay> Follower<S> {
    /// The state `file`'s synced records give now. Replays only what was
    /// synced since the last call, unless synced bytes were cut meanwhile
    /// (a recovery cut a torn tail, or the disk was lost): then it starts
    /// over.
    pub fn read(&mut self, disk: &Disk, file: &str) -> &mut S {
        let (bytes, whole, cursor) = disk.durable_after(file, self.read);
        if whole {
            *self = Follower {
                read: cursor,
                state: S::default(),
                stopped: false,
            };
        }
        if !self.stopped {
            for record in decode_records(&bytes).records {
                if !self.state.replay(&record) {
                    self.stopped = true;
                    break;
                }
                self.read = self.read.advanced(framed_len(record.len()));
            }
        }
        &mut self.state
    }

    /// The state `file`'s synced records give now, for good.
    pub fn finish(mut self, disk: &Disk, file: &str) -> S {
        self.read(disk, file);
        self.state
    }
}
