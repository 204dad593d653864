//! A Raft replicated write-ahead log with client sessions.
//!
//! Nodes `log-N` run [`run_replica`]. Clients append through [`LogClient`].
//! What it implements (Raft paper and Ongaro's dissertation):
//!
//! - election with randomized timeouts and a no-op entry at the start of each
//!   term, so entries of earlier terms commit only under a current-term entry;
//! - replication with one append in flight per follower and bounded batches;
//! - commit by the current-term rule;
//! - term, vote and entries synced before any reply that depends on them;
//! - recovery from the synced write-ahead log, replaying committed entries;
//! - redirects to the known leader;
//! - client sessions (dissertation §6.3): a retried or duplicated append is
//!   applied once and acknowledged with its original index;
//! - a key-value state machine over the log with writes and
//!   compare-and-sets, read linearizably through a read index (dissertation
//!   §6.4) confirmed by a majority, or by a leader lease bounded by the
//!   clock drift the cluster is configured to tolerate (§6.4.1).

mod client;
mod kv;
mod protocol;
mod replica;
mod sessions;
mod types;
mod wal;

pub use client::{AppendError, Committed, LogClient};
pub use kv::{KvCommand, KvStore};
pub use protocol::{AppendReply, ClientAppend, KvReadReply};
pub use replica::{LogConfig, MAX_COMMAND_BYTES, run_replica};
pub use sessions::{Applied, Receipt, StateMachine};
pub use types::{Entry, EntryId, EntryKind};
pub use wal::{DurableLog, DurableReader, read_durable};

use serde::Serialize;

/// Trace events of a log replica.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "log", rename_all = "kebab-case")]
pub enum LogEvent {
    /// Recovery finished: what the synced write-ahead log held.
    Recovered {
        term: u64,
        last_index: u64,
        commit: u64,
    },
    /// The replica won an election.
    Elected { term: u64 },
    /// The replica cast its vote in `term` for `candidate` (itself, as it
    /// stood), and told it so: a promise it must remember across crashes.
    Voted { term: u64, candidate: String },
    /// The replica stopped leading `term` (it saw a newer term).
    SteppedDown { term: u64 },
    /// The replica refused a command of `bytes` from session `client` as
    /// larger than [`MAX_COMMAND_BYTES`]: it is never appended.
    Refused { client: u64, bytes: u64 },
    /// The replica applied the entry at `index` to its state machine;
    /// `duplicate` when its session showed the command was applied before.
    /// `commands` is how many commands the state machine holds applied
    /// after it: what a checker compares with its own replay, so that the
    /// flag is never taken on trust.
    Applied {
        index: u64,
        term: u64,
        entry: EntryId,
        duplicate: bool,
        commands: u64,
    },
}
