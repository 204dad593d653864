//! `raft-safety`: at most one leader per term; no two replicas apply different
//! entries at one index; committed entries never disappear.

use ledger::{
    log::{EntryId, LogEvent},
    observe::{Event, NodeName},
};
use std::{
    borrow::Borrow,
    collections::{BTreeMap, BTreeSet},
};

use ledger::log::DurableLog;

use super::{holders, majority};

/// The entry first applied at an index, and by whom.
#[derive(Debug, Clone)]
pub struct AppliedEntry {
    pub term: u64,
    pub entry: EntryId,
    pub first_by: NodeName,
}

pub(super) struct Online {
    leaders: BTreeMap<u64, NodeName>,
    applied: BTreeMap<u64, AppliedEntry>,
    /// Terms and indexes already reported: each is reported once.
    split_terms: BTreeSet<u64>,
    divergent: BTreeSet<u64>,
    lost: BTreeSet<u64>,
    /// Replicas already reported for a synced entry above their synced term.
    ahead_of_term: BTreeSet<String>,
    replicas: usize,
}

impl Online {
    pub(super) fn new(replicas: usize) -> Online {
        Online {
            leaders: BTreeMap::new(),
            applied: BTreeMap::new(),
            split_terms: BTreeSet::new(),
            divergent: BTreeSet::new(),
            lost: BTreeSet::new(),
            ahead_of_term: BTreeSet::new(),
            replicas,
        }
    }

    pub(super) fn observe(&mut self, node: &NodeName, event: &Event) -> Option<String> {
        let Event::Log(event) = event else {
            return None;
        };
        match event {
            LogEvent::Elected { term } => {
                let first = self.leaders.entry(*term).or_insert_with(|| node.clone());
                (first != node && self.split_terms.insert(*term)).then(|| {
                    format!(
                        "two leaders in term {term}: {first} and {node} (of {} replicas)",
                        self.replicas
                    )
                })
            }
            LogEvent::Applied {
                index, term, entry, ..
            } => match self.applied.get(index) {
                Some(first)
                    if (first.term, first.entry) != (*term, *entry)
                        && self.divergent.insert(*index) =>
                {
                    Some(format!(
                        "replicas applied different entries at index {index}: {} applied {} (term {}), {node} applied {entry} (term {term})",
                        first.first_by, first.entry, first.term
                    ))
                }
                Some(_) => None,
                None => {
                    self.applied.insert(
                        *index,
                        AppliedEntry {
                            term: *term,
                            entry: *entry,
                            first_by: node.clone(),
                        },
                    );
                    None
                }
            },
            LogEvent::Recovered { .. }
            | LogEvent::SteppedDown { .. }
            | LogEvent::Refused { .. } => None,
        }
    }
}

impl Online {
    /// Every entry some replica applied was committed, so a majority of the
    /// replicas' synced logs must hold it at its index, at every moment: the
    /// harness probes after each crash and at the end. Each lost entry is
    /// reported once.
    pub(super) fn probe<L: Borrow<DurableLog>>(
        &mut self,
        replicas: &BTreeMap<String, L>,
    ) -> Vec<String> {
        let needed = majority(replicas.len());
        let mut found = Vec::new();
        for (index, applied) in &self.applied {
            if self.lost.contains(index) {
                continue;
            }
            let holding = holders(replicas, *index, |entry| {
                entry.term == applied.term && entry.id() == applied.entry
            });
            if holding.len() < needed {
                self.lost.insert(*index);
                found.push(format!(
                    "committed entry {} (term {}) at index {index}, applied by {}, survives in the synced logs of {} of {} replicas{}",
                    applied.entry,
                    applied.term,
                    applied.first_by,
                    holding.len(),
                    replicas.len(),
                    if holding.is_empty() { String::new() } else { format!(" ({})", holding.join(", ")) },
                ));
            }
        }
        found.extend(self.entries_ahead_of_term(replicas));
        found
    }

    /// A replica takes a newer term into its write-ahead log before any
    /// entry of that term, and its disk keeps a prefix of what was written,
    /// so no synced log holds an entry of a term above its synced term. One
    /// that does restarts in the older term: it answers an older leader, and
    /// votes in a term it had already left. Each replica is reported once.
    fn entries_ahead_of_term<L: Borrow<DurableLog>>(
        &mut self,
        replicas: &BTreeMap<String, L>,
    ) -> Vec<String> {
        let mut found = Vec::new();
        for (name, log) in replicas {
            let log: &DurableLog = log.borrow();
            let Some((index, entry)) = (1..)
                .zip(&log.entries)
                .filter(|(_, entry)| entry.term > log.term)
                .max_by_key(|(_, entry)| entry.term)
            else {
                continue;
            };
            if self.ahead_of_term.insert(name.clone()) {
                found.push(format!(
                    "{name}'s synced log holds an entry of term {} (index {index}) above its synced term {}: a term taken without being made durable first",
                    entry.term, log.term
                ));
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger::log::{Entry, EntryKind};

    fn synced(term: u64, entry_terms: &[u64]) -> DurableLog {
        DurableLog {
            term,
            entries: entry_terms
                .iter()
                .map(|term| Entry {
                    term: *term,
                    kind: EntryKind::Noop,
                })
                .collect(),
            ..DurableLog::default()
        }
    }

    /// A synced log whose entries run ahead of its synced term is reported,
    /// once; one whose term is at or above its entries' is not.
    #[test]
    fn an_entry_above_the_synced_term_is_reported_once() {
        let replicas = BTreeMap::from([
            ("log-1".to_owned(), synced(3, &[1, 2, 3])),
            ("log-2".to_owned(), synced(2, &[1, 3])),
            ("log-3".to_owned(), synced(5, &[1])),
        ]);
        let mut online = Online::new(3);
        let found = online.probe(&replicas);
        assert_eq!(
            found,
            vec![
                "log-2's synced log holds an entry of term 3 (index 2) above its synced term 2: a term taken without being made durable first"
            ]
        );
        assert!(online.probe(&replicas).is_empty(), "reported once");
    }
}
