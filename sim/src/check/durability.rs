//! `durability`, online: every append acknowledged to a client is in the
//! synced logs of a majority of replicas, at the index it was told, at every
//! moment after (probed after each crash and at the end). The database's
//! durability is the bank kind's to check.

use ledger::log::{DurableLog, EntryId};
use std::{
    borrow::Borrow,
    collections::{BTreeMap, BTreeSet},
};

use super::{holders, majority};
use crate::events::HarnessEvent;

/// Appends acknowledged to clients, watched from the trace.
#[derive(Default)]
pub(super) struct Online {
    acks: Vec<(u64, u64, u64)>,
    /// Acknowledged appends already reported lost: each is reported once.
    lost: BTreeSet<(u64, u64)>,
}

impl Online {
    pub(super) fn observe_harness(&mut self, event: &HarnessEvent) {
        if let HarnessEvent::Acknowledged { client, seq, index } = event {
            self.acks.push((*client, *seq, *index));
        }
    }

    /// Every acknowledged append must be in the synced logs of a majority, at
    /// the index its client was told, at every moment after the
    /// acknowledgement: probed after each crash and at the end.
    pub(super) fn probe<L: Borrow<DurableLog>>(
        &mut self,
        replicas: &BTreeMap<String, L>,
    ) -> Vec<String> {
        let needed = majority(replicas.len());
        let mut found = Vec::new();
        for (client, seq, index) in &self.acks {
            if self.lost.contains(&(*client, *seq)) {
                continue;
            }
            let wanted = EntryId::Command {
                client: *client,
                seq: *seq,
            };
            let holding = holders(replicas, *index, |entry| entry.id() == wanted);
            if holding.len() < needed {
                self.lost.insert((*client, *seq));
                found.push(format!(
                    "client {client} seq {seq} was acknowledged at index {index}, but only {} of {} replicas hold it there in their synced logs{}",
                    holding.len(),
                    replicas.len(),
                    if holding.is_empty() { String::new() } else { format!(" ({})", holding.join(", ")) },
                ));
            }
        }
        found
    }
}
