//! The online part of `ledger-chain`: every confirmation a ledger replica
//! is about to record is checked against the canonical chain at that
//! moment. A payout `confirmations` deep can never be taken back by a reorg
//! (reorgs stay shallower), so anything less is a promise the chain may
//! break.

use std::collections::BTreeSet;

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
    /// Every transaction of `included` with its block's place there: a
    /// pass over every block's transactions per confirmation cost the
    /// square of the payouts.
    places: BTreeSet<(TxHash, usize)>,
}

impl Online {
    pub(super) fn new(confirmations: u64) -> Online {
        Online {
            confirmations,
            included: Vec::new(),
            places: BTreeSet::new(),
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
        for (at, block) in blocks.iter().enumerate() {
            match self.included.get(at) {
                Some((hash, _)) if *hash == block.hash => continue,
                Some(_) => self.forget(at),
                None => {}
            }
            let hashes: Vec<TxHash> = block.transactions.iter().map(|tx| tx.hash()).collect();
            self.places.extend(hashes.iter().map(|hash| (*hash, at)));
            if at < self.included.len() {
                self.included[at] = (block.hash, hashes);
            } else {
                self.included.push((block.hash, hashes));
            }
        }
        for at in blocks.len()..self.included.len() {
            self.forget(at);
        }
        self.included.truncate(blocks.len());
        let found = self
            .places
            .range((*tx, 0)..)
            .next()
            .filter(|(hash, _)| hash == tx)
            .map(|(_, at)| blocks[*at].height);
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

    /// Drops the places of the transactions of the block kept at `at`.
    fn forget(&mut self, at: usize) {
        for hash in &self.included[at].1 {
            self.places.remove(&(*hash, at));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger::{
        chain::{ChainSetup, SigningKey, Transaction, Transfer},
        ledger::TransferId,
    };
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    const SECRET: u64 = 3;

    fn chain() -> ChainState {
        ChainState::new(ChainSetup {
            genesis: [("alice".to_owned(), 1000)].into(),
            keys: [("alice".to_owned(), SigningKey::derive(SECRET, "alice"))].into(),
            block_size: 2,
            double_include: false,
            skip_signatures: false,
            reorg_loses_transactions: false,
            replacement_fee_inverted: false,
        })
    }

    fn payout(nonce: u64) -> Transaction {
        SigningKey::derive(SECRET, "alice").sign(Transfer {
            from: "alice".to_owned(),
            nonce,
            to: "bob".to_owned(),
            amount: 1,
            fee: 1,
            memo: format!("payout-{nonce}"),
        })
    }

    fn confirming(tx: &Transaction) -> LedgerEvent {
        LedgerEvent::Confirming {
            transfer: TransferId::of(1, &tx.transfer.memo),
            tx: tx.hash(),
            height: 1,
            depth: 3,
        }
    }

    /// Confirmations are judged against the canonical chain as it stands at
    /// each one: deep enough, too shallow, or gone after a reorg that
    /// dropped the transaction (the blocks it replaced are forgotten).
    #[test]
    fn each_confirmation_is_judged_on_the_chain_of_its_moment() {
        let (mut chain, node) = (chain(), NodeName::new("ledger-1"));
        let mut online = Online::new(3);
        let (first, second) = (payout(0), payout(1));
        for tx in [&first, &second] {
            chain.submit(tx.clone()).unwrap();
            chain.produce_block();
        }
        let verdict = |online: &mut Online, chain: &ChainState, tx| {
            online.observe(&node, &confirming(tx), chain)
        };
        // Blocks 1 and 2: the first payout is 2 deep, below 3.
        let shallow = verdict(&mut online, &chain, &first).unwrap();
        assert!(shallow.contains("is only 2 deep"), "{shallow}");
        chain.produce_block();
        assert_eq!(verdict(&mut online, &chain, &first), None);
        // A reorg of the two newest blocks drops the second payout.
        chain.reorg(2, 1.0, &mut ChaCha8Rng::seed_from_u64(1));
        chain.produce_block();
        let gone = verdict(&mut online, &chain, &second).unwrap();
        assert!(gone.contains("is not on the canonical chain"), "{gone}");
        assert_eq!(verdict(&mut online, &chain, &first), None);
        assert!(online.places.iter().all(|(hash, _)| *hash != second.hash()));
    }
}
