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
    /// A linearizable read of the key-value state machine (see `kv`).
    KvRead(KvRead),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KvRead {
    pub key: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvReadReply {
    /// The key's value as of a point between the read's call and return.
    Value { value: Option<u64> },
    /// This replica is not the leader; try the one named, if any.
    NotLeader { leader: Option<String> },
    /// The leader cannot serve reads yet (nothing of its term committed).
    Unavailable,
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
    #[serde(with = "crate::codec::bytes")]
    pub data: Vec<u8>,
    /// The first committed entry to send back with the acknowledgement, 0
    /// for none: a client that folds the whole log learns the entries up
    /// to its own without a read of its own.
    pub read_from: u64,
}

/// The answer to a [`ClientAppend`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AppendReply {
    /// Committed and applied at `index` (the original index for a retry),
    /// with the committed entries from the command's `read_from` on, as a
    /// read would return them.
    Appended { index: u64, entries: Vec<Entry> },
    /// The session has moved past `seq`; the client gave this command up.
    Stale,
    /// This replica is not the leader; try the one named, if any.
    NotLeader { leader: Option<String> },
    /// Too many uncommitted entries; try again later.
    Busy,
    /// The request itself is unacceptable.
    Rejected { reason: String },
    /// A compare-and-set committed and applied at `index` (the original
    /// index and outcome for a retry); whether it swapped.
    Swapped { index: u64, swapped: bool },
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::compat::{entries, exercise, same_decoding};

    /// The replicas' messages, which the codec's own compatibility tests
    /// cannot name from outside this module.
    #[test]
    fn messages_are_encoded_as_bincode_did() {
        exercise(&[
            LogRequest::Vote(VoteRequest {
                term: 4,
                candidate: "log-0".to_owned(),
                last_index: 10,
                last_term: 3,
            }),
            LogRequest::Append(AppendRequest {
                term: 4,
                leader: "log-1".to_owned(),
                prev_index: 2,
                prev_term: 1,
                entries: entries(),
                leader_commit: 2,
            }),
            LogRequest::Append(AppendRequest {
                term: 4,
                leader: "log-1".to_owned(),
                prev_index: 0,
                prev_term: 0,
                entries: vec![],
                leader_commit: 0,
            }),
            LogRequest::Client(ClientAppend {
                client: 9,
                seq: 1,
                data: vec![7; 30],
                read_from: 3,
            }),
            LogRequest::Read(ReadCommitted { from: 1, limit: 64 }),
        ]);
        exercise(&[
            VoteResponse {
                term: 5,
                granted: true,
            },
            VoteResponse {
                term: 5,
                granted: false,
            },
        ]);
        exercise(&[AppendResponse {
            term: 5,
            success: false,
            retry_from: 3,
        }]);
        exercise(&[
            CommittedEntries {
                entries: entries(),
                leader: Some("log-2".to_owned()),
            },
            CommittedEntries {
                entries: vec![],
                leader: None,
            },
        ]);
    }

    proptest::proptest! {
        #[test]
        fn random_bytes_decode_as_bincode_did(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            same_decoding::<LogRequest>(&bytes);
            same_decoding::<CommittedEntries>(&bytes);
        }
    }
}
