//! `chain-safety`, at each reorg: the chain hands back what it replaced, as
//! a real node returns a dropped branch's transactions to its pool, and
//! keeps what its pool held. Each transaction of a replaced block, and each
//! pending when the reorg began, must once it is done be
//!
//! - on the new branch;
//! - pending, itself or another transaction at its nonce that pays at
//!   least as much (the replacement rule keeps the higher fee);
//! - spent for good: its nonce used on the new branch, or its sender short
//!   of its cost at some point of the new branch (the chain evicts what
//!   its sender can no longer pay for, and a new order can put a payment
//!   before the one that funds it; the chain also evicts a payment that
//!   would overflow a balance, which no scenario's money can);
//! - or, a replaced one, among those the reorg says vanished, which only a
//!   `drop` share above 0 allows. How many vanish is the share's random
//!   draw: the check holds which may, not how many.
//!
//! Judged by this check's own replay of the blocks (balances and nonces),
//! what the harness saw of the chain just before the reorg, and the
//! mempool after it, never by the chain's bookkeeping.

use ledger::chain::{Block, ChainState, MINER, Reorg, Transaction, TxHash};
use std::collections::{BTreeMap, BTreeSet};

use super::chain_safety::pay;

/// What a reorg is about to replace, the blocks above `height`, and the
/// mempool it starts from.
pub(crate) struct Fork {
    height: usize,
    replaced: Vec<Block>,
    pending: Vec<Transaction>,
}

impl Fork {
    /// The fork a reorg of `depth` blocks of `chain` makes.
    pub(crate) fn before(chain: &ChainState, depth: usize) -> Fork {
        let blocks = chain.blocks();
        let height = blocks.len().saturating_sub(depth);
        Fork {
            height,
            replaced: blocks[height..].to_vec(),
            pending: chain.pending().cloned().collect(),
        }
    }
}

/// What the chain's reorg did against what it had to: its problems.
pub(crate) fn check(fork: &Fork, reorg: &Reorg, drop: f64, chain: &ChainState) -> Vec<String> {
    let mut problems = Vec::new();
    let at = fork.height + 1;
    let replaced: Vec<&Transaction> = fork
        .replaced
        .iter()
        .flat_map(|block| &block.transactions)
        .collect();
    let hashes: BTreeSet<TxHash> = replaced.iter().map(|tx| tx.hash()).collect();
    let blocks: Vec<_> = fork.replaced.iter().map(|block| block.hash).collect();
    if reorg.replaced != blocks {
        problems.push(format!(
            "the reorg from height {at} says it replaced {} block(s), but the chain held {} above height {}",
            reorg.replaced.len(),
            blocks.len(),
            fork.height
        ));
    }
    for hash in &reorg.dropped {
        if !hashes.contains(hash) {
            problems.push(format!(
                "the reorg from height {at} says {hash} vanished, but no block it replaced held it"
            ));
        } else if drop <= 0.0 {
            problems.push(format!(
                "the reorg from height {at} let {hash} vanish, though its share of vanishing transactions is 0"
            ));
        }
    }
    let dropped: BTreeSet<TxHash> = reorg.dropped.iter().copied().collect();
    let branch = Branch::replay(chain, fork.height);
    let pending: BTreeMap<(&str, u64), u64> = chain
        .pending()
        .map(|tx| {
            let transfer = &tx.transfer;
            ((transfer.from.as_str(), transfer.nonce), transfer.fee)
        })
        .collect();
    let kept = |tx: &Transaction| {
        let transfer = &tx.transfer;
        branch.included.contains(&tx.hash())
            || pending
                .get(&(transfer.from.as_str(), transfer.nonce))
                .is_some_and(|fee| *fee >= transfer.fee)
            || transfer.nonce < branch.next_nonce(&transfer.from)
            || tx
                .cost()
                .is_none_or(|cost| branch.lowest(&transfer.from) < i128::from(cost))
    };
    let lost = replaced
        .into_iter()
        .filter(|tx| !dropped.contains(&tx.hash()))
        .map(|tx| (tx, "a block it replaced held"))
        .chain(
            fork.pending
                .iter()
                .map(|tx| (tx, "was pending when it began")),
        );
    for (tx, whence) in lost.filter(|(tx, _)| !kept(tx)) {
        let transfer = &tx.transfer;
        problems.push(format!(
            "the reorg from height {at} lost {} ({} nonce {}, {} to {}), which {whence}: it is neither on the new branch nor pending, its nonce is unspent, its sender could always pay for it, and the reorg does not say it vanished",
            tx.hash(),
            transfer.from,
            transfer.nonce,
            transfer.amount,
            transfer.to
        ));
    }
    problems
}

/// The new branch as this check replays it from genesis.
struct Branch {
    /// Transactions above the fork.
    included: BTreeSet<TxHash>,
    /// Each sender's next nonce at the tip.
    next_nonces: BTreeMap<String, u64>,
    /// Each account's lowest balance from the fork to the tip, before and
    /// after every transaction.
    lowest: BTreeMap<String, i128>,
}

impl Branch {
    fn replay(chain: &ChainState, fork: usize) -> Branch {
        let mut balances: BTreeMap<String, i128> = chain
            .genesis()
            .iter()
            .map(|(address, balance)| (address.clone(), i128::from(*balance)))
            .collect();
        let mut next_nonces: BTreeMap<String, u64> = BTreeMap::new();
        let mut included = BTreeSet::new();
        let mut lowest = BTreeMap::new();
        for (height, block) in chain.blocks().iter().enumerate() {
            if height == fork {
                lowest = balances.clone();
            }
            for tx in &block.transactions {
                let transfer = &tx.transfer;
                let next = next_nonces.entry(transfer.from.clone()).or_default();
                *next = transfer.nonce.max(*next).saturating_add(1);
                pay(&mut balances, transfer);
                if height < fork {
                    continue;
                }
                included.insert(tx.hash());
                for address in [transfer.from.as_str(), transfer.to.as_str(), MINER] {
                    let now = balances.get(address).copied().unwrap_or(0);
                    // An account the fork's balances lack held nothing.
                    let low = lowest.entry(address.to_owned()).or_insert(0);
                    *low = now.min(*low);
                }
            }
        }
        if chain.blocks().len() <= fork {
            lowest = balances;
        }
        Branch {
            included,
            next_nonces,
            lowest,
        }
    }

    fn next_nonce(&self, address: &str) -> u64 {
        self.next_nonces.get(address).copied().unwrap_or(0)
    }

    fn lowest(&self, address: &str) -> i128 {
        self.lowest.get(address).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests;
