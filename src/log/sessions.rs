//! The replicated state machine: client sessions that apply each command once.
//!
//! Every replica applies the committed log in order. A command whose
//! `(client, seq)` the client's session has already passed is a duplicate (a
//! retry, or a network copy, appended twice): it is skipped, and whoever
//! waits for it is told the original outcome (Raft dissertation §6.3).
//! Clients have one command outstanding at a time, so a session only needs
//! its last command's sequence number and outcome: where it was applied
//! and, for a compare-and-set, whether it swapped, which a retry must be
//! told as the first try would have been.

use std::collections::BTreeMap;

use super::{
    kv::KvStore,
    types::{Entry, EntryKind},
};

/// What applying a command told its client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    pub index: u64,
    /// For a compare-and-set, whether it swapped.
    pub swapped: Option<bool>,
}

/// What applying one entry did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Noop,
    /// A new command, now applied.
    Command {
        client: u64,
        seq: u64,
        receipt: Receipt,
    },
    /// A command already applied: its first receipt when it is the
    /// session's latest, `None` when the session has moved past it.
    Duplicate {
        client: u64,
        seq: u64,
        original: Option<Receipt>,
    },
}

#[derive(Debug, Clone, Copy)]
struct Session {
    last_seq: u64,
    receipt: Receipt,
}

/// Sessions, the key-value state they guard, and the count of commands
/// applied.
#[derive(Debug, Default)]
pub struct StateMachine {
    sessions: BTreeMap<u64, Session>,
    kv: KvStore,
    applied_commands: u64,
}

impl StateMachine {
    /// Applies the entry at `index`.
    pub fn apply(&mut self, index: u64, entry: &Entry) -> Applied {
        let EntryKind::Command { client, seq, data } = &entry.kind else {
            return Applied::Noop;
        };
        let (client, seq) = (*client, *seq);
        debug_assert!(
            self.sessions
                .get(&client)
                .is_none_or(|session| session.receipt.index < index),
            "entries are applied in index order"
        );
        match self.sessions.get(&client) {
            Some(session) if session.last_seq >= seq => Applied::Duplicate {
                client,
                seq,
                original: (session.last_seq == seq).then_some(session.receipt),
            },
            _ => {
                let receipt = Receipt {
                    index,
                    swapped: self.kv.apply(data),
                };
                self.sessions.insert(
                    client,
                    Session {
                        last_seq: seq,
                        receipt,
                    },
                );
                self.applied_commands += 1;
                Applied::Command {
                    client,
                    seq,
                    receipt,
                }
            }
        }
    }

    /// Applies the entry without consulting or updating sessions: the
    /// recovery of the planted bug `raft-forget-sessions`.
    pub fn apply_forgetting_sessions(&mut self, index: u64, entry: &Entry) -> Applied {
        match &entry.kind {
            EntryKind::Noop => Applied::Noop,
            EntryKind::Command { client, seq, data } => {
                self.applied_commands += 1;
                Applied::Command {
                    client: *client,
                    seq: *seq,
                    receipt: Receipt {
                        index,
                        swapped: self.kv.apply(data),
                    },
                }
            }
        }
    }

    /// What `(client, seq)` was told, if it is the session's latest.
    /// `Some(None)` when the session has moved past `seq`.
    pub fn lookup(&self, client: u64, seq: u64) -> Option<Option<Receipt>> {
        let session = self.sessions.get(&client)?;
        (session.last_seq >= seq).then(|| (session.last_seq == seq).then_some(session.receipt))
    }

    pub fn kv(&self) -> &KvStore {
        &self.kv
    }

    pub fn applied_commands(&self) -> u64 {
        self.applied_commands
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::KvCommand;

    fn command(client: u64, seq: u64, data: Vec<u8>) -> Entry {
        Entry {
            term: 1,
            kind: EntryKind::Command { client, seq, data },
        }
    }

    fn receipt(index: u64, swapped: Option<bool>) -> Receipt {
        Receipt { index, swapped }
    }

    #[test]
    fn a_command_is_applied_once_and_retries_get_its_receipt() {
        let mut machine = StateMachine::default();
        assert_eq!(
            machine.apply(1, &command(7, 1, vec![])),
            Applied::Command {
                client: 7,
                seq: 1,
                receipt: receipt(1, None)
            }
        );
        assert_eq!(
            machine.apply(2, &command(7, 1, vec![])),
            Applied::Duplicate {
                client: 7,
                seq: 1,
                original: Some(receipt(1, None))
            }
        );
        assert_eq!(
            machine.apply(3, &command(7, 2, vec![])),
            Applied::Command {
                client: 7,
                seq: 2,
                receipt: receipt(3, None)
            }
        );
        assert_eq!(
            machine.apply(4, &command(7, 1, vec![])),
            Applied::Duplicate {
                client: 7,
                seq: 1,
                original: None
            }
        );
        assert_eq!(machine.lookup(7, 2), Some(Some(receipt(3, None))));
        assert_eq!(machine.lookup(7, 1), Some(None));
        assert_eq!(machine.lookup(7, 3), None);
        assert_eq!(machine.applied_commands(), 2);
    }

    /// Applied again, the compare-and-set would now fail: a retry must be
    /// told it swapped, as it did.
    #[test]
    fn a_retried_compare_and_set_is_told_its_first_outcome() {
        let mut machine = StateMachine::default();
        let cas = KvCommand::Cas {
            key: 1,
            from: None,
            to: 5,
        }
        .encode();
        machine.apply(1, &command(7, 1, cas.clone()));
        assert_eq!(
            machine.apply(2, &command(7, 1, cas)),
            Applied::Duplicate {
                client: 7,
                seq: 1,
                original: Some(receipt(1, Some(true)))
            }
        );
        assert_eq!(machine.lookup(7, 1), Some(Some(receipt(1, Some(true)))));
        assert_eq!(machine.kv().get(1), Some(5));
    }

    #[test]
    fn forgetting_sessions_applies_duplicates_again() {
        let mut machine = StateMachine::default();
        let put = KvCommand::Put { key: 1, value: 5 }.encode();
        machine.apply_forgetting_sessions(1, &command(7, 1, put.clone()));
        assert_eq!(
            machine.apply(2, &command(7, 1, put)),
            Applied::Command {
                client: 7,
                seq: 1,
                receipt: receipt(2, None)
            }
        );
        assert_eq!(machine.applied_commands(), 2);
    }
}
