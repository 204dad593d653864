//! A small key-value state machine over the log: a command whose payload is
//! a [`KvCommand`] sets a key when it is applied. Reads of it are served by
//! the leader through a read index (Raft dissertation §6.4): the commit
//! index when the read arrives, served once a majority has answered an
//! append sent after that, and the leader has applied that far. So a read
//! sees every write acknowledged before it was sent.

use std::collections::BTreeMap;

use super::types::{Entry, EntryKind};

/// What marks a command payload as a key-value command.
const TAG: &[u8; 3] = b"kv:";

/// A write to the key-value state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvCommand {
    Put { key: u64, value: u64 },
}

impl KvCommand {
    /// The command as a log command's payload.
    pub fn encode(self) -> Vec<u8> {
        let KvCommand::Put { key, value } = self;
        [&TAG[..], &key.to_le_bytes(), &value.to_le_bytes()].concat()
    }

    /// The command a payload holds, if it holds one.
    pub fn decode(data: &[u8]) -> Option<KvCommand> {
        let rest = data.strip_prefix(&TAG[..])?;
        let rest: &[u8; 16] = rest.try_into().ok()?;
        let word = |i: usize| u64::from_le_bytes(rest[i * 8..i * 8 + 8].try_into().expect("8"));
        Some(KvCommand::Put {
            key: word(0),
            value: word(1),
        })
    }
}

/// The state machine: each key's last value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KvStore {
    values: BTreeMap<u64, u64>,
}

impl KvStore {
    /// Applies a committed entry, once: the caller skips duplicates.
    pub fn apply(&mut self, entry: &Entry) {
        if let EntryKind::Command { data, .. } = &entry.kind
            && let Some(KvCommand::Put { key, value }) = KvCommand::decode(data)
        {
            self.values.insert(key, value);
        }
    }

    pub fn get(&self, key: u64) -> Option<u64> {
        self.values.get(&key).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_put_round_trips_and_other_payloads_are_not_commands() {
        let put = KvCommand::Put { key: 3, value: 77 };
        assert_eq!(KvCommand::decode(&put.encode()), Some(put));
        assert_eq!(KvCommand::decode(b"session 1 seq 2"), None);
        assert_eq!(KvCommand::decode(b"kv:short"), None);
        let mut store = KvStore::default();
        store.apply(&Entry {
            term: 1,
            kind: EntryKind::Command {
                client: 1,
                seq: 1,
                data: put.encode(),
            },
        });
        assert_eq!((store.get(3), store.get(4)), (Some(77), None));
    }
}
