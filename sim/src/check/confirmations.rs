//! The online part of `ledger-chain`: every confirmation a ledger replica
//! is about to record is checked against the canonical chain at that
//! moment. A payout `confirmations` deep can never be taken back by a reorg
//! (reorgs stay shallower), so anything less is a promise the chain may
//! break.

use ledger::{chain::ChainState, ledger::LedgerEvent, observe::NodeName};

/// Checks confirmations `confirmations` deep.
#[derive(Debug)]
pub(super) struct Online {
    pub(super) confirmations: u64,
}

impl Online {
    pub(super) fn observe(
        &self,
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
        let found = chain.blocks().iter().find_map(|block| {
            block
                .transactions
                .iter()
                .any(|included| included.hash() == *tx)
                .then_some(block.height)
        });
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
