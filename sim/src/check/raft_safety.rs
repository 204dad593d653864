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
            LogEvent::Recovered { .. } | LogEvent::SteppedDown { .. } => None,
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
        found
    }
}
