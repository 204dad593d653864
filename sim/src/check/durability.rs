//! `durability`: everything acknowledged to a client survives any crash.
//! For the log: every acknowledged append is in the synced logs of a
//! majority of replicas, at the index the client was told. For the database:
//! every acknowledged commit is in the recovered database, and so is the row
//! of every transfer a client was told committed.

use ledger::log::{DurableLog, EntryId};
use std::collections::{BTreeMap, BTreeSet};

use super::{BankTruth, Violation, holders, majority};
use crate::{
    trace::HarnessEvent,
    workload::{History, Outcome, Receipt, bank},
};

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
    pub(super) fn probe(&mut self, replicas: &BTreeMap<String, DurableLog>) -> Vec<String> {
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

pub(super) fn bank_check(truth: &BankTruth<'_>, history: &History) -> Vec<Violation> {
    let engine = &truth.recovered.engine;
    let last = engine.last_commit();
    let mut violations = Vec::new();
    for op in history.ops() {
        let Outcome::Acknowledged {
            receipt: Receipt::Commit(commit),
            at,
        } = op.outcome
        else {
            continue;
        };
        let key = bank::transfer_key(op.client, op.seq);
        let lost = match commit {
            Some(seq) if seq > last => Some(format!(
                "commit {seq}, but the recovered database ends at commit {last}"
            )),
            _ if engine.committed(bank::TRANSFERS, &key).is_none() => {
                let told =
                    commit.map_or_else(|| "committed".to_owned(), |seq| format!("commit {seq}"));
                Some(format!(
                    "{told}, but its row {key} is missing from the recovered database"
                ))
            }
            _ => None,
        };
        if let Some(lost) = lost {
            violations.push(Violation {
                checker: "durability",
                at,
                message: format!(
                    "client {} transfer {} was acknowledged as {lost}",
                    op.client, op.seq
                ),
            });
        }
        // Sent again after it was acknowledged, a transfer must be found
        // committed: committing it afresh (or finding it refused) means its
        // first commit was gone.
        for later in &op.later {
            if later.outcome_receipt() != Some(Receipt::Commit(None)) {
                violations.push(Violation {
                    checker: "durability",
                    at: later.at,
                    message: format!(
                        "client {} transfer {} was acknowledged, but sent again later it was {} instead of found committed",
                        op.client, op.seq, later.outcome
                    ),
                });
            }
        }
    }
    violations
}
