//! `durability`: every append acknowledged to a client is in the synced logs
//! of a majority of replicas, at the index the client was told.

use ledger::log::EntryId;

use super::{GroundTruth, Violation, holders, majority};

pub(super) fn final_check(truth: &GroundTruth<'_>) -> Vec<Violation> {
    let needed = majority(truth.replicas.len());
    truth
        .history
        .acknowledged()
        .filter_map(|op| {
            let wanted = EntryId::Command {
                client: op.client,
                seq: op.seq,
            };
            let holding = holders(truth.replicas, op.index, |entry| entry.id() == wanted);
            (holding.len() < needed).then(|| Violation {
                checker: "durability",
                at: op.at,
                message: format!(
                    "client {} seq {} was acknowledged at index {}, but only {} of {} replicas hold it there after recovery{}",
                    op.client,
                    op.seq,
                    op.index,
                    holding.len(),
                    truth.replicas.len(),
                    if holding.is_empty() { String::new() } else { format!(" ({})", holding.join(", ")) },
                ),
            })
        })
        .collect()
}
