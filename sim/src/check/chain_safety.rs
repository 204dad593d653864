//! `chain-safety`: the canonical chain is a chain, and money on it is
//! conserved. Checked against the chain itself (the harness-held state), by
//! replaying it with this checker's own bookkeeping after every block and
//! every reorg (from where the last replay stopped, or from genesis when a
//! reorg replaced blocks it had replayed):
//!
//! - heights run 1, 2, 3 … and each block names its predecessor as parent
//!   (a reorg never keeps both versions of a block);
//! - each sender's included nonces are exactly 0, 1, 2 …, and no
//!   transaction is included twice;
//! - every included transaction is signed by its sender's registered key
//!   (signed again here, not verified by the chain's code);
//! - no balance ever goes negative, and Σ balances (miner included) equals
//!   the genesis supply, in the replay and in the chain's own state.

use ledger::chain::{Block, BlockHash, ChainState, MINER, Transfer, TxHash};
use std::collections::{BTreeMap, BTreeSet};

use super::signed_by;

/// The chain-safety checker's memory: its replay of the canonical chain so
/// far, and what it has already reported.
#[derive(Default)]
pub(super) struct Online {
    replay: Option<Replay>,
    reported: BTreeSet<String>,
}

impl Online {
    /// Checks the chain as it stands; returns problems not reported before.
    /// Blocks already replayed are not replayed again unless a reorg
    /// replaced them, so a run's checking stays linear in its blocks.
    pub(super) fn probe(&mut self, chain: &ChainState) -> Vec<String> {
        let mut problems = Vec::new();
        let replay = match self.replay.take() {
            Some(replay) if replay.extends_to(chain) => replay,
            _ => Replay::genesis(chain),
        };
        let mut replay = replay;
        for block in &chain.blocks()[replay.height as usize..] {
            replay.block(chain, block, &mut problems);
        }
        problems.extend(replay.totals(chain));
        self.replay = Some(replay);
        problems
            .into_iter()
            .filter(|problem| self.reported.insert(problem.clone()))
            .collect()
    }
}

/// This checker's own bookkeeping of the chain up to `height`.
struct Replay {
    supply: i128,
    balances: BTreeMap<String, i128>,
    next_nonce: BTreeMap<String, u64>,
    seen: BTreeMap<TxHash, u64>,
    height: u64,
    /// The hash of the block at `height`: it covers its parent's, so a
    /// chain still holding it holds every block replayed.
    tip: BlockHash,
}

impl Replay {
    fn genesis(chain: &ChainState) -> Replay {
        let balances: BTreeMap<String, i128> = chain
            .genesis()
            .iter()
            .map(|(address, balance)| (address.clone(), i128::from(*balance)))
            .collect();
        Replay {
            supply: balances.values().sum(),
            balances,
            next_nonce: BTreeMap::new(),
            seen: BTreeMap::new(),
            height: 0,
            tip: BlockHash(0),
        }
    }

    /// Whether `chain` still holds every block replayed.
    fn extends_to(&self, chain: &ChainState) -> bool {
        self.height == 0
            || chain
                .blocks()
                .get(self.height as usize - 1)
                .is_some_and(|block| block.hash == self.tip)
    }

    fn block(&mut self, chain: &ChainState, block: &Block, problems: &mut Vec<String>) {
        let expected_height = self.height + 1;
        if block.height != expected_height {
            problems.push(format!(
                "block {} sits at height {expected_height}",
                block.hash
            ));
        }
        if block.parent != self.tip {
            problems.push(format!(
                "block {} at height {} names parent {}, but the block below it is {}",
                block.hash, block.height, block.parent, self.tip
            ));
        }
        self.height = expected_height;
        self.tip = block.hash;
        for tx in &block.transactions {
            let transfer = &tx.transfer;
            let hash = tx.hash();
            if let Some(first) = self.seen.insert(hash, block.height) {
                problems.push(format!(
                    "transaction {hash} ({} nonce {}) is included twice: at heights {first} and {}",
                    transfer.from, transfer.nonce, block.height
                ));
            }
            match chain.key(&transfer.from) {
                Some(key) if signed_by(key, tx) => {}
                Some(_) => problems.push(format!(
                    "{hash} ({} nonce {}, {} to {}) at height {} is not signed by {}'s key",
                    transfer.from,
                    transfer.nonce,
                    transfer.amount,
                    transfer.to,
                    block.height,
                    transfer.from
                )),
                None => problems.push(format!(
                    "{hash} at height {} spends from {}, an account with no key",
                    block.height, transfer.from
                )),
            }
            let expected = self.next_nonce.entry(transfer.from.clone()).or_default();
            if transfer.nonce != *expected {
                problems.push(format!(
                    "{} spends nonce {} at height {} where nonce {expected} was next",
                    transfer.from, transfer.nonce, block.height
                ));
            }
            *expected = transfer.nonce.max(*expected).saturating_add(1);
            let left = pay(&mut self.balances, transfer);
            if left < 0 {
                problems.push(format!(
                    "{} goes negative ({left}) at height {} paying {hash}",
                    transfer.from, block.height
                ));
            }
        }
    }

    /// Supply and balances, the replay's against the chain's own.
    fn totals(&self, chain: &ChainState) -> Vec<String> {
        let mut problems = Vec::new();
        let supply = self.supply;
        let replayed: i128 = self.balances.values().sum();
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
            let replayed = self.balances.get(address).copied().unwrap_or(0);
            if i128::from(*balance) != replayed {
                problems.push(format!(
                    "the chain says {address} holds {balance}, but its blocks leave it {replayed}"
                ));
            }
        }
        problems
    }
}

/// Moves `transfer`'s amount and fee in `balances`, unchecked; returns
/// what its sender is left with.
pub(super) fn pay(balances: &mut BTreeMap<String, i128>, transfer: &Transfer) -> i128 {
    let from = balances.entry(transfer.from.clone()).or_default();
    *from -= i128::from(transfer.amount) + i128::from(transfer.fee);
    let left = *from;
    *balances.entry(transfer.to.clone()).or_default() += i128::from(transfer.amount);
    *balances.entry(MINER.to_owned()).or_default() += i128::from(transfer.fee);
    left
}
