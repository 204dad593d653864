//! Log entries.

use serde::{Deserialize, Serialize};

/// One entry of the replicated log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub term: u64,
    pub kind: EntryKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryKind {
    /// Appended by each new leader, so that its term has an entry to commit.
    Noop,
    /// A client's command, identified by the client's session.
    Command {
        client: u64,
        seq: u64,
        #[serde(with = "crate::codec::bytes")]
        data: Vec<u8>,
    },
}

/// What identifies an entry, without its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntryId {
    Noop,
    Command { client: u64, seq: u64 },
}

impl Entry {
    pub fn id(&self) -> EntryId {
        match &self.kind {
            EntryKind::Noop => EntryId::Noop,
            EntryKind::Command { client, seq, .. } => EntryId::Command {
                client: *client,
                seq: *seq,
            },
        }
    }
}

impl std::fmt::Display for EntryId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EntryId::Noop => f.write_str("no-op"),
            EntryId::Command { client, seq } => write!(f, "client {client} seq {seq}"),
        }
    }
}
