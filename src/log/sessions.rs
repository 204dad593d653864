//! The replicated state machine: client sessions that apply each command once.
//!
//! Every replica applies the committed log in order. A command whose
//! `(client, seq)` the client's session has already passed is a duplicate (a
//! retry, or a network copy, appended twice): it is skipped, and whoever
//! waits for it is told the original index (Raft dissertation §6.3). Clients
//! have one command outstanding at a time, so a session only needs the last
//! sequence number applied and where.

use std::collections::BTreeMap;

use super::types::{Entry, EntryKind};

/// What applying one entry did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Noop,
    /// A new command, now applied at its own index.
    Command {
        client: u64,
        seq: u64,
    },
    /// A command already applied: at `original` when it is the session's
    /// latest, `None` when the session has moved past it.
    Duplicate {
        client: u64,
        seq: u64,
        original: Option<u64>,
    },
}

#[derive(Debug, Clone, Copy)]
struct Session {
    last_seq: u64,
    last_index: u64,
}

/// Sessions plus the count of commands applied.
#[derive(Debug, Default)]
pub struct StateMachine {
    sessions: BTreeMap<u64, Session>,
    applied_commands: u64,
}

impl StateMachine {
    /// Applies the entry at `index`.
    pub fn apply(&mut self, index: u64, entry: &Entry) -> Applied {
        let EntryKind::Command { client, seq, .. } = entry.kind else {
            return Applied::Noop;
        };
        debug_assert!(
            self.sessions
                .get(&client)
                .is_none_or(|session| session.last_index < index),
            "entries are applied in index order"
        );
        match self.sessions.get(&client) {
            Some(session) if session.last_seq >= seq => Applied::Duplicate {
                client,
                seq,
                original: (session.last_seq == seq).then_some(session.last_index),
            },
            _ => {
                self.sessions.insert(
                    client,
                    Session {
                        last_seq: seq,
                        last_index: index,
                    },
                );
                self.applied_commands += 1;
                Applied::Command { client, seq }
            }
        }
    }

    /// Applies the entry without consulting or updating sessions: the
    /// recovery of the planted bug `raft-forget-sessions`.
    pub fn apply_forgetting_sessions(&mut self, entry: &Entry) -> Applied {
        match entry.kind {
            EntryKind::Noop => Applied::Noop,
            EntryKind::Command { client, seq, .. } => {
                self.applied_commands += 1;
                Applied::Command { client, seq }
            }
        }
    }

    /// Where `(client, seq)` was applied, if it is the session's latest.
    /// `Some(None)` when the session has moved past `seq`.
    pub fn lookup(&self, client: u64, seq: u64) -> Option<Option<u64>> {
        let session = self.sessions.get(&client)?;
        (session.last_seq >= seq).then(|| (session.last_seq == seq).then_some(session.last_index))
    }

    pub fn applied_commands(&self) -> u64 {
        self.applied_commands
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(client: u64, seq: u64) -> Entry {
        Entry {
            term: 1,
            kind: EntryKind::Command {
                client,
                seq,
                data: vec![],
            },
        }
    }

    #[test]
    fn a_command_is_applied_once_and_retries_get_its_index() {
        let mut machine = StateMachine::default();
        assert_eq!(
            machine.apply(1, &command(7, 1)),
            Applied::Command { client: 7, seq: 1 }
        );
        assert_eq!(
            machine.apply(2, &command(7, 1)),
            Applied::Duplicate {
                client: 7,
                seq: 1,
                original: Some(1)
            }
        );
        assert_eq!(
            machine.apply(3, &command(7, 2)),
            Applied::Command { client: 7, seq: 2 }
        );
        assert_eq!(
            machine.apply(4, &command(7, 1)),
            Applied::Duplicate {
                client: 7,
                seq: 1,
                original: None
            }
        );
        assert_eq!(machine.lookup(7, 2), Some(Some(3)));
        assert_eq!(machine.lookup(7, 1), Some(None));
        assert_eq!(machine.lookup(7, 3), None);
        assert_eq!(machine.applied_commands(), 2);
    }

    #[test]
    fn forgetting_sessions_applies_duplicates_again() {
        let mut machine = StateMachine::default();
        machine.apply_forgetting_sessions(&command(7, 1));
        assert_eq!(
            machine.apply(2, &command(7, 1)),
            Applied::Command { client: 7, seq: 1 }
        );
        assert_eq!(machine.applied_commands(), 2);
    }
}
