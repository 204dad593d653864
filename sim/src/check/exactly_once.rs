//! `exactly-once`: each command `(client, seq)` is applied once by a
//! replica in one life, and each acknowledged command is applied exactly
//! once by the committed log, at the index its client was told.
//!
//! Both are judged by an independent model of client sessions (Raft
//! dissertation §6.3), never by the replica's own sessions code: a session
//! applies a command whose sequence number is above every one it applied
//! before; a command it applied already is a duplicate, and one below a
//! later command it applied is stale (its client gave it up and moved on),
//! both skipped. Online, each replica's applied entries are replayed by the
//! model and its report judged against it: the `duplicate` flag, and the
//! count of commands its state machine holds, so that a replica that
//! re-applies a command is caught however it labels it. Finally, the synced
//! logs' committed prefix is replayed the same way against what clients
//! were told, early and late.

use ledger::{
    log::{DurableLog, Entry, EntryId, LogEvent},
    observe::{Event, NodeName},
};
use std::collections::BTreeMap;

use super::majority;

/// What the model says of one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Applied here.
    New,
    /// Applied before, at this index.
    Duplicate(u64),
    /// Never applied: its session had moved past it.
    Stale,
}

/// Client sessions, replayed from index 1.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    /// The highest sequence number each session applied.
    latest: BTreeMap<u64, u64>,
    /// Where each command was applied.
    applied: BTreeMap<(u64, u64), u64>,
}

impl Sessions {
    /// Where `(client, seq)` was applied, if it was.
    pub(crate) fn applied_at(&self, client: u64, seq: u64) -> Option<u64> {
        self.applied.get(&(client, seq)).copied()
    }

    pub(crate) fn apply(&mut self, index: u64, client: u64, seq: u64) -> Verdict {
        if let Some(first) = self.applied.get(&(client, seq)) {
            return Verdict::Duplicate(*first);
        }
        let latest = self.latest.entry(client).or_default();
        if seq <= *latest {
            return Verdict::Stale;
        }
        *latest = seq;
        self.applied.insert((client, seq), index);
        Verdict::New
    }
}

#[derive(Default)]
pub(super) struct Online {
    /// Each replica's current life, replayed by the model.
    lives: BTreeMap<NodeName, Replay>,
}

/// The model's replay of one replica's life: its sessions, the last index
/// applied, and how far the replica's count of commands is off the
/// model's (reported when it changes, not at every entry after).
#[derive(Default)]
struct Replay {
    applied: u64,
    sessions: Sessions,
    drift: i64,
}

impl Online {
    pub(super) fn observe(&mut self, node: &NodeName, event: &Event) -> Option<String> {
        match event {
            // A restarted replica rebuilds its state machine from scratch.
            Event::Boot { .. } => {
                self.lives.remove(node);
                None
            }
            Event::Log(LogEvent::Applied {
                index,
                entry,
                duplicate,
                commands,
                ..
            }) => self
                .lives
                .entry(node.clone())
                .or_default()
                .apply(node, *index, *entry, *duplicate, *commands),
            _ => None,
        }
    }
}

impl Replay {
    fn apply(
        &mut self,
        node: &NodeName,
        index: u64,
        entry: EntryId,
        duplicate: bool,
        commands: u64,
    ) -> Option<String> {
        if index != self.applied + 1 {
            let previous = std::mem::replace(&mut self.applied, index);
            return Some(format!(
                "{node} applied index {index} right after index {previous}: a state machine applies the log in order"
            ));
        }
        self.applied = index;
        let mut problem = match entry {
            EntryId::Noop => duplicate.then(|| {
                format!("{node} reported the no-op at index {index} as a duplicate command")
            }),
            EntryId::Command { client, seq } => {
                match (self.sessions.apply(index, client, seq), duplicate) {
                    (Verdict::New, false)
                    | (Verdict::Duplicate(_), true)
                    | (Verdict::Stale, true) => None,
                    (Verdict::Duplicate(first), false) => Some(format!(
                        "{node} applied client {client} seq {seq} twice in one life: at index {first} and again at index {index}"
                    )),
                    (Verdict::Stale, false) => Some(format!(
                        "{node} applied client {client} seq {seq} at index {index}, after its session had applied a later command"
                    )),
                    (Verdict::New, true) => Some(format!(
                        "{node} skipped client {client} seq {seq} at index {index} as a duplicate, but its session never applied it or anything later"
                    )),
                }
            }
        };
        let expected = self.sessions.applied.len() as u64;
        let drift = commands as i64 - expected as i64;
        if drift != std::mem::replace(&mut self.drift, drift) && problem.is_none() {
            problem = Some(format!(
                "{node}'s state machine holds {commands} commands applied after index {index}, but its sessions apply {expected} of the log up to there"
            ));
        }
        problem
    }
}

/// The longest prefix on which a majority of synced logs agree.
pub(super) fn majority_log(replicas: &BTreeMap<String, DurableLog>) -> Vec<Entry> {
    let needed = majority(replicas.len());
    let mut log = Vec::new();
    loop {
        let index = log.len();
        let mut counts: Vec<(&Entry, usize)> = Vec::new();
        for replica in replicas.values() {
            if let Some(entry) = replica.entries.get(index) {
                match counts.iter_mut().find(|(seen, _)| *seen == entry) {
                    Some((_, count)) => *count += 1,
                    None => counts.push((entry, 1)),
                }
            }
        }
        match counts.into_iter().find(|(_, count)| *count >= needed) {
            Some((entry, _)) => log.push(entry.clone()),
            None => return log,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(index: u64, entry: EntryId, duplicate: bool, commands: u64) -> Event {
        Event::Log(LogEvent::Applied {
            index,
            term: 1,
            entry,
            duplicate,
            commands,
        })
    }

    fn check(events: &[Event]) -> Vec<String> {
        let mut online = Online::default();
        let node = NodeName::new("log-1");
        events
            .iter()
            .filter_map(|event| online.observe(&node, event))
            .collect()
    }

    const A: EntryId = EntryId::Command { client: 7, seq: 1 };

    #[test]
    fn an_honest_replica_passes() {
        let found = check(&[
            applied(1, EntryId::Noop, false, 0),
            applied(2, A, false, 1),
            applied(3, A, true, 1),
        ]);
        assert_eq!(found, Vec::<String>::new());
    }

    /// The flag is not taken on trust: a command applied again but labelled
    /// a duplicate shows in the state machine's count.
    #[test]
    fn a_reapplication_labelled_duplicate_is_caught() {
        let found = check(&[applied(1, A, false, 1), applied(2, A, true, 2)]);
        assert_eq!(
            found,
            [
                "log-1's state machine holds 2 commands applied after index 2, but its sessions apply 1 of the log up to there"
            ]
        );
    }

    #[test]
    fn a_reapplication_labelled_new_is_caught_once() {
        let found = check(&[
            applied(1, A, false, 1),
            applied(2, A, false, 2),
            applied(3, EntryId::Noop, false, 2),
        ]);
        assert_eq!(
            found,
            ["log-1 applied client 7 seq 1 twice in one life: at index 1 and again at index 2"]
        );
    }

    #[test]
    fn a_command_skipped_as_a_duplicate_before_it_was_applied_is_caught() {
        let found = check(&[applied(1, A, true, 0)]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("never applied it"), "{found:?}");
    }

    /// A client that gave a command up and moved on never sees it applied
    /// after its next one: the session skips it as stale.
    #[test]
    fn a_command_given_up_and_overtaken_is_skipped_as_stale() {
        let b = EntryId::Command { client: 7, seq: 2 };
        assert_eq!(
            check(&[applied(1, b, false, 1), applied(2, A, true, 1)]),
            Vec::<String>::new()
        );
        assert_eq!(
            check(&[applied(1, b, false, 1), applied(2, A, false, 2)]).len(),
            1
        );
    }

    #[test]
    fn a_restart_begins_a_new_life() {
        let found = check(&[
            applied(1, A, false, 1),
            Event::Boot { incarnation: 2 },
            applied(1, A, false, 1),
        ]);
        assert_eq!(found, Vec::<String>::new());
    }
}
