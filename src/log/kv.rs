//! A small key-value state machine over the log: a command whose payload is
//! a [`KvCommand`] sets a key, or compares and sets it, when it is applied.
//! Reads of it are served by the leader through a read index (Raft
//! dissertation §6.4): the commit index when the read arrives, served once
//! the leader knows it still leads (a majority answered an append sent
//! after the read arrived, or its lease holds) and has applied that far. So
//! a read sees every write acknowledged before it was sent.

use std::collections::BTreeMap;

/// What marks a command payload as a key-value command.
const TAG: &[u8; 3] = b"kv:";
const PUT: u8 = b'p';
const CAS: u8 = b'c';

/// A write to the key-value state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvCommand {
    Put {
        key: u64,
        value: u64,
    },
    /// Sets `key` to `to` if it holds `from` (`None`: was never set).
    Cas {
        key: u64,
        from: Option<u64>,
        to: u64,
    },
}

impl KvCommand {
    /// The command as a log command's payload.
    pub fn encode(self) -> Vec<u8> {
        let mut bytes = TAG.to_vec();
        match self {
            KvCommand::Put { key, value } => {
                bytes.push(PUT);
                bytes.extend(key.to_le_bytes());
                bytes.extend(value.to_le_bytes());
            }
            KvCommand::Cas { key, from, to } => {
                bytes.push(CAS);
                bytes.extend(key.to_le_bytes());
                bytes.extend(to.to_le_bytes());
                bytes.push(u8::from(from.is_some()));
                bytes.extend(from.unwrap_or(0).to_le_bytes());
            }
        }
        bytes
    }

    /// The command a payload holds, if it holds one.
    pub fn decode(data: &[u8]) -> Option<KvCommand> {
        let (&op, rest) = data.strip_prefix(&TAG[..])?.split_first()?;
        let word = |i: usize| -> Option<u64> {
            Some(u64::from_le_bytes(rest.get(i..i + 8)?.try_into().ok()?))
        };
        match (op, rest.len()) {
            (PUT, 16) => Some(KvCommand::Put {
                key: word(0)?,
                value: word(8)?,
            }),
            (CAS, 25) => {
                let from = match rest[16] {
                    0 => None,
                    1 => Some(word(17)?),
                    _ => return None,
                };
                Some(KvCommand::Cas {
                    key: word(0)?,
                    from,
                    to: word(8)?,
                })
            }
            _ => None,
        }
    }
}

/// The state machine: each key's last value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KvStore {
    values: BTreeMap<u64, u64>,
}

impl KvStore {
    /// Applies a committed command's payload, once: the caller skips
    /// duplicates. For a compare-and-set, whether it swapped.
    pub fn apply(&mut self, data: &[u8]) -> Option<bool> {
        match KvCommand::decode(data)? {
            KvCommand::Put { key, value } => {
                self.values.insert(key, value);
                None
            }
            KvCommand::Cas { key, from, to } => {
                let swapped = self.get(key) == from;
                if swapped {
                    self.values.insert(key, to);
                }
                Some(swapped)
            }
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
    fn commands_round_trip_and_other_payloads_are_not_commands() {
        let commands = [
            KvCommand::Put { key: 3, value: 77 },
            KvCommand::Cas {
                key: 3,
                from: None,
                to: 8,
            },
            KvCommand::Cas {
                key: u64::MAX,
                from: Some(0),
                to: 1,
            },
        ];
        for command in commands {
            assert_eq!(KvCommand::decode(&command.encode()), Some(command));
            let encoded = command.encode();
            assert_eq!(KvCommand::decode(&encoded[..encoded.len() - 1]), None);
        }
        assert_eq!(KvCommand::decode(b"session 1 seq 2"), None);
        assert_eq!(KvCommand::decode(b"kv:short"), None);
        let mut bad_flag = commands[1].encode();
        bad_flag[3 + 1 + 16] = 2;
        assert_eq!(KvCommand::decode(&bad_flag), None);
    }

    #[test]
    fn a_compare_and_set_swaps_only_from_the_value_held() {
        let mut store = KvStore::default();
        let cas = |from, to| KvCommand::Cas { key: 1, from, to }.encode();
        assert_eq!(store.apply(&cas(Some(5), 6)), Some(false));
        assert_eq!(store.apply(&cas(None, 5)), Some(true));
        assert_eq!(store.apply(&cas(None, 9)), Some(false));
        assert_eq!(store.apply(&cas(Some(5), 6)), Some(true));
        assert_eq!(
            store.apply(&KvCommand::Put { key: 2, value: 4 }.encode()),
            None
        );
        assert_eq!(store.apply(b"not a command"), None);
        assert_eq!(
            (store.get(1), store.get(2), store.get(3)),
            (Some(6), Some(4), None)
        );
    }
}
