//! `chain-safety`: the canonical chain is a chain, and money on it is
//! conserved. Checked against the chain itself (the harness-held state), by
//! replaying it from genesis with this checker's own bookkeeping, after
//! every block and every reorg:
//!
//! - heights run 1, 2, 3 … and each block names its predecessor as parent
//!   (a reorg never keeps both versions of a block);
//! - each sender's included nonces are exactly 0, 1, 2 …, and no
//!   transaction is included twice;
//! - no balance ever goes negative, and Σ balances (miner included) equals
//!   the genesis supply, in the replay and in the chain's own state.

use ledger::chain::{BlockHash, ChainState, MINER, TxHash};
use std::collections::{BTreeMap, BTreeSet};

/// The chain-safety checker's memory: what it has already reported.
#[derive(Default)]
pub(super) struct Online {
    reported: BTreeSet<String>,
}

impl Online {
    /// Checks the chain as it stands; returns problems not reported before.
    pub(super) fn probe(&mut self, chain: &ChainState) -> Vec<String> {
        check(chain)
            .into_iter()
            .filter(|problem| self.reported.insert(problem.clone()))
            .collect()
    }
}

/// Every problem with `chain`, in plain words.
fn check(chain: &ChainState) -> Vec<String> {
    let mut problems = Vec::new();
    let supply: i128 = chain
        .genesis()
        .values()
        .map(|balance| i128::from(*balance))
        .sum();
    let mut balances: BTreeMap<&str, i128> = chain
        .genesis()
        .iter()
        .map(|(address, balance)| (address.as_str(), i128::from(*balance)))
        .collect();
    let mut next_nonce: BTreeMap<&str, u64> = BTreeMap::new();
    let mut seen: BTreeMap<TxHash, u64> = BTreeMap::new();
    let mut parent = BlockHash(0);
    for (position, block) in chain.blocks().iter().enumerate() {
        let expected_height = position as u64 + 1;
        if block.height != expected_height {
            problems.push(format!(
                "block {} sits at height {expected_height}",
                block.hash
            ));
        }
        if block.parent != parent {
            problems.push(format!(
                "block {} at height {} names parent {}, but the block below it is {parent}",
                block.hash, block.height, block.parent
            ));
        }
        parent = block.hash;
        for tx in &block.transactions {
            let transfer = &tx.transfer;
            let hash = tx.hash();
            if let Some(first) = seen.insert(hash, block.height) {
                problems.push(format!(
                    "transaction {hash} ({} nonce {}) is included twice: at heights {first} and {}",
                    transfer.from, transfer.nonce, block.height
                ));
            }
            let expected = next_nonce.entry(&transfer.from).or_default();
            if transfer.nonce != *expected {
                problems.push(format!(
                    "{} spends nonce {} at height {} where nonce {expected} was next",
                    transfer.from, transfer.nonce, block.height
                ));
            }
            *expected = transfer.nonce.max(*expected) + 1;
            let cost = i128::from(transfer.amount) + i128::from(transfer.fee);
            let from = balances.entry(&transfer.from).or_default();
            *from -= cost;
            if *from < 0 {
                problems.push(format!(
                    "{} goes negative ({from}) at height {} paying {hash}",
                    transfer.from, block.height
                ));
            }
            *balances.entry(&transfer.to).or_default() += i128::from(transfer.amount);
            *balances.entry(MINER).or_default() += i128::from(transfer.fee);
        }
    }
    let replayed: i128 = balances.values().sum();
    if replayed != supply {
        problems.push(format!(
            "the chain's transfers change the supply from {supply} to {replayed}"
        ));
    }
    let held: i128 = chain
        .balances()
        .values()
        .map(|balance| i128::from(*balance))
        .sum();
    if held != supply {
        problems.push(format!(
            "the chain's balances sum to {held}, not the genesis supply {supply}"
        ));
    }
    for (address, balance) in chain.balances() {
        let replayed = balances.get(address.as_str()).copied().unwrap_or(0);
        if i128::from(*balance) != replayed {
            problems.push(format!(
                "the chain says {address} holds {balance}, but its blocks leave it {replayed}"
            ));
        }
    }
    problems
}
