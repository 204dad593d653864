//! `exactly-once`: each command `(client, seq)` is applied at most once by a
//! replica in one life (online, from what replicas report applying), and each
//! acknowledged command is applied exactly once by the committed log, at the
//! index its client was told (finally, from the synced logs).

use ledger::{
    log::{Entry, EntryId, LogEvent},
    observe::{Event, NodeName},
};
use std::collections::BTreeMap;

use ledger::chain::TxHash;

use super::{ChainTruth, LogTruth, Violation, majority};
use crate::workload::{History, Outcome, Receipt, Request, chain};

#[derive(Default)]
pub(super) struct Online {
    /// For each replica's current life: where each command was applied.
    applied: BTreeMap<NodeName, BTreeMap<(u64, u64), u64>>,
}

impl Online {
    pub(super) fn observe(&mut self, node: &NodeName, event: &Event) -> Option<String> {
        match event {
            // A restarted replica rebuilds its state machine from scratch.
            Event::Boot { .. } => {
                self.applied.remove(node);
                None
            }
            Event::Log(LogEvent::Applied {
                index,
                entry: EntryId::Command { client, seq },
                duplicate: false,
                ..
            }) => {
                let applied = self.applied.entry(node.clone()).or_default();
                applied.insert((*client, *seq), *index).map(|first| {
                    format!(
                        "{node} applied client {client} seq {seq} twice in one life: at index {first} and again at index {index}"
                    )
                })
            }
            _ => None,
        }
    }
}

/// The longest prefix on which a majority of synced logs agree.
pub(super) fn majority_log(truth: &LogTruth<'_>) -> Vec<Entry> {
    let needed = majority(truth.replicas.len());
    let mut log = Vec::new();
    loop {
        let index = log.len();
        let mut counts: Vec<(&Entry, usize)> = Vec::new();
        for replica in truth.replicas.values() {
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

/// Every acknowledged command is applied exactly once by the committed log,
/// at the index its client was told: the first index where the log holds its
/// `(client, seq)`. (Later copies are retries the log's sessions skip.) This
/// model is independent of the sessions code it checks.
pub(super) fn final_check(truth: &LogTruth<'_>, history: &History) -> Vec<Violation> {
    let log = majority_log(truth);
    let mut first_at: BTreeMap<(u64, u64), u64> = BTreeMap::new();
    for (offset, entry) in log.iter().enumerate() {
        if let EntryId::Command { client, seq } = entry.id() {
            first_at.entry((client, seq)).or_insert(offset as u64 + 1);
        }
    }
    let mut violations = Vec::new();
    for op in history.acknowledged() {
        let Receipt::LogIndex(index) = op.receipt else {
            continue;
        };
        // Beyond the agreed log the durability checker speaks.
        if index > log.len() as u64 {
            continue;
        }
        let actual = first_at.get(&(op.client, op.seq));
        if actual != Some(&index) {
            violations.push(Violation {
                checker: "exactly-once",
                at: op.at,
                message: format!(
                    "client {} seq {} was acknowledged at index {index}, but the committed log applies it {}",
                    op.client,
                    op.seq,
                    match actual {
                        Some(index) => format!("at index {index}"),
                        None => "nowhere".to_owned(),
                    }
                ),
            });
        }
    }
    violations
}

/// On the chain: each client's payment (named by its memo) is on the
/// canonical chain at most once, and each one its client saw confirmed is
/// there exactly once, as the transaction it was told, at least
/// `confirmations` deep.
pub(super) fn chain_check(truth: &ChainTruth<'_>, history: &History) -> Vec<Violation> {
    let mut on_chain: BTreeMap<&str, Vec<(u64, TxHash)>> = BTreeMap::new();
    for block in truth.state.blocks() {
        for tx in &block.transactions {
            on_chain
                .entry(tx.transfer.memo.as_str())
                .or_default()
                .push((block.height, tx.hash()));
        }
    }
    let height = truth.state.height();
    let mut violations = Vec::new();
    for op in history.ops() {
        let Request::Payment { .. } = op.request else {
            continue;
        };
        let memo = chain::payment_memo(op.client, op.seq);
        let found = on_chain
            .get(memo.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let at = match op.outcome {
            Outcome::Acknowledged { at, .. } => at,
            _ => op.sent_at,
        };
        let mut problem = |message: String| {
            violations.push(Violation {
                checker: "exactly-once",
                at,
                message: format!("client {} payment {} ({memo}) {message}", op.client, op.seq),
            });
        };
        if found.len() > 1 {
            let places: Vec<String> = found
                .iter()
                .map(|(height, hash)| format!("{hash} at height {height}"))
                .collect();
            problem(format!(
                "is on the chain {} times: {}",
                found.len(),
                places.join(", ")
            ));
            continue;
        }
        if let Outcome::Acknowledged {
            receipt: Receipt::Tx { hash, .. },
            ..
        } = op.outcome
        {
            match found.first() {
                None => problem(format!(
                    "was confirmed to its client as {hash}, but is not on the chain"
                )),
                Some((_, included)) if *included != hash => problem(format!(
                    "was confirmed as {hash}, but the chain holds {included}"
                )),
                Some((included_at, _)) if height + 1 - included_at < truth.confirmations => {
                    problem(format!(
                        "was confirmed at height {included_at}, only {} deep in a chain of {height}",
                        height + 1 - included_at
                    ))
                }
                Some(_) => {}
            }
        }
    }
    violations
}
