//! The online part of `ledger-chain`: every confirmation a ledger replica
//! is about to record is checked against the canonical chain at that
//! moment. A payout `confirmations` deep can never be taken back by a reorg
//! (reorgs stay shallower), so anything less is a promise the chain may
//! break.

use ledger::{
    chain::{BlockHash, ChainState, TxHash},
    ledger::LedgerEvent,
    observe::NodeName,
};

/// Checks confirmations `confirmations` deep.
#[derive(Debug)]
pub(super) struct Online {
    confirmations: u64,
    /// The hashes of each canonical block's transactions, by height from
    /// 1, kept with the block's hash: a reorg replaces the block, and its
    /// hashes are worked out again. Hashing every block's transactions on
    /// every confirmation made this checker a tenth of a run's time.
    included: Vec<(BlockHash, Vec<TxHash>)>,
}

impl Online {
    pub(super) fn new(confirmations: u64) -> Online {
        Online {
            confirmations,
            included: Vec::new(),
        }
    }

    pub(super) fn observe(
        &mut self,
        node: &NodeName,
        event: &LedgerEvent,
        chain: &ChainState,
    ) -> Option<String> {
        let LedgerEvent::Confirming {
            transfer,
            tx,
            height,
            depth,
        } = event
        else {
            return None;
        };
        let blocks = chain.blocks();
        self.included.truncate(blocks.len());
        for (at, block) in blocks.iter().enumerate() {
            if self
                .included
                .get(at)
                .is_some_and(|(hash, _)| *hash == block.hash)
            {
                continue;
            }
            let hashes = block.transactions.iter().map(|tx| tx.hash()).collect();
            if at < self.included.len() {
                self.included[at] = (block.hash, hashes);
            } else {
                self.included.push((block.hash, hashes));
            }
        }
        let found = blocks
            .iter()
            .zip(&self.included)
            .find_map(|(block, (_, hashes))| hashes.contains(tx).then_some(block.height));
        let problem = match found {
            None => "is not on the canonical chain".to_owned(),
            Some(included) if chain.height() + 1 - included < self.confirmations => format!(
                "is only {} deep on the canonical chain (block {included}), below {}",
                chain.height() + 1 - included,
                self.confirmations
            ),
            Some(_) => return None,
        };
        Some(format!(
            "{node} confirms transfer {transfer} as tx {tx} (block {height}, {depth} deep as it saw it), but it {problem}"
        ))
    }
}
