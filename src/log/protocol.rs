//! Messages between log replicas and from clients.

use serde::{Deserialize, Serialize};

use super::types::Entry;

/// Everything a log replica serves.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum LogRequest {
    Vote(VoteRequest),
    Append(AppendRequest),
    Client(ClientAppend),
    Read(ReadCommitted),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VoteRequest {
    pub term: u64,
    pub candidate: String,
    pub last_index: u64,
    pub last_term: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VoteResponse {
    pub term: u64,
    pub granted: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppendRequest {
    pub term: u64,
    pub leader: String,
    pub prev_index: u64,
    pub prev_term: u64,
    pub entries: Vec<Entry>,
    pub leader_commit: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppendResponse {
    pub term: u64,
    pub success: bool,
    /// On failure, where the leader should retry from (0 for a stale term).
    pub retry_from: u64,
}

/// A client's command for the log. `(client, seq)` is its session key:
/// retries of one command reuse it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientAppend {
    pub client: u64,
    pub seq: u64,
    pub data: Vec<u8>,
}

/// The answer to a [`ClientAppend`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AppendReply {
    /// Committed and applied at `index` (the original index for a retry).
    Appended { index: u64 },
    /// The session has moved past `seq`; the client gave this command up.
    Stale,
    /// This replica is not the leader; try the one named, if any.
    NotLeader { leader: Option<String> },
    /// Too many uncommitted entries; try again later.
    Busy,
    /// The request itself is unacceptable.
    Rejected { reason: String },
}

/// Asks any replica for committed entries from `from` on. Committed entries
/// never change, so a follower's answer is as good as the leader's, only
/// possibly shorter.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReadCommitted {
    pub from: u64,
    pub limit: u32,
}

/// Committed entries starting at the asked index (none if the replica has
/// not applied that far).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommittedEntries {
    pub entries: Vec<Entry>,
    /// The replica's own leader hint, to read from it next time.
    pub leader: Option<String>,
}
