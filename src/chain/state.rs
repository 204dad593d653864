//! The canonical chain's state: accounts, the mempool, block production and
//! reorgs. Pure and synchronous; the `chain` node drives it, and the harness
//! holds it as the world's truth.
//!
//! Inclusion rules: a block takes pending transactions whose nonce is the
//! sender's next, highest fee first, up to the block size; future nonces
//! wait; a used nonce or an unaffordable transfer is rejected with its
//! reason; a known transaction is accepted again idempotently; the same
//! `(sender, nonce)` with a higher fee replaces the pending one.

use rand::{Rng, seq::SliceRandom};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use thiserror::Error;

use super::types::{Address, Block, BlockHash, MINER, SigningKey, Transaction, TxHash};

/// Pending transactions a mempool holds at most.
pub const MAX_PENDING: usize = 10_000;
/// Memos are at most this long.
pub const MAX_MEMO_BYTES: usize = 256;

/// How the chain is set up.
#[derive(Debug, Clone)]
pub struct ChainSetup {
    /// Every account's starting balance.
    pub genesis: BTreeMap<Address, u64>,
    /// Every account's key, to check signatures against.
    pub keys: BTreeMap<Address, SigningKey>,
    /// Transactions per block at most.
    pub block_size: usize,
    /// The planted bug `chain-double-include`.
    pub double_include: bool,
    /// The planted bug `chain-skips-signature`.
    pub skip_signatures: bool,
    /// The planted bug `reorg-loses-transactions`.
    pub reorg_loses_transactions: bool,
    /// The planted bug `replacement-fee-inverted`.
    pub replacement_fee_inverted: bool,
}

/// The checks a transaction passes on its own, whatever the chain holds:
/// a known sender, a signature by the sender's key (unless `skip_signatures`,
/// the planted bug `chain-skips-signature`), a memo within bounds. RPC nodes
/// run them too before taking a transaction into their pool, as a real
/// node checks a signature before it gossips a transaction.
pub fn check_alone(
    keys: &BTreeMap<Address, SigningKey>,
    skip_signatures: bool,
    tx: &Transaction,
) -> Result<(), SubmitError> {
    let transfer = &tx.transfer;
    let key = keys
        .get(&transfer.from)
        .ok_or_else(|| SubmitError::UnknownSender(transfer.from.clone()))?;
    if !skip_signatures && !key.verifies(tx) {
        return Err(SubmitError::BadSignature);
    }
    if transfer.memo.len() > MAX_MEMO_BYTES {
        return Err(SubmitError::MemoTooLong);
    }
    Ok(())
}

/// A submission the mempool took.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Accepted {
    New,
    /// Already pending: accepted again, changing nothing.
    Known,
    /// Replaced the pending transaction of the same sender and nonce.
    Replaced {
        previous: TxHash,
    },
}

/// Why a submission was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize, Deserialize)]
pub enum SubmitError {
    #[error("unknown sender {0}")]
    UnknownSender(Address),
    #[error("invalid signature")]
    BadSignature,
    #[error("nonce too low: the next nonce of {from} is {next}")]
    NonceTooLow { from: Address, next: u64 },
    #[error("insufficient funds: {from} holds {balance}, needs {cost}")]
    InsufficientFunds {
        from: Address,
        balance: u64,
        cost: u64,
    },
    #[error("replacement underpriced: the pending transaction pays {pending_fee}")]
    ReplacementUnderpriced { pending_fee: u64 },
    #[error("amount plus fee overflows")]
    Overflow,
    #[error("memo longer than {MAX_MEMO_BYTES} bytes")]
    MemoTooLong,
    #[error("the mempool is full")]
    MempoolFull,
}

/// Where a transaction sits on the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub height: u64,
    /// 1 in the newest block.
    pub confirmations: u64,
}

/// What a reorg did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reorg {
    /// The blocks replaced, oldest first.
    pub replaced: Vec<BlockHash>,
    /// Transactions of those blocks that vanished instead of returning to the
    /// mempool.
    pub dropped: Vec<TxHash>,
}

/// Balances, nonces and receipts: what replaying blocks from genesis gives.
#[derive(Debug, Clone, Default)]
struct Accounts {
    balances: BTreeMap<Address, u64>,
    nonces: BTreeMap<Address, u64>,
    included: BTreeMap<TxHash, u64>,
}

impl Accounts {
    fn genesis(setup: &ChainSetup) -> Accounts {
        Accounts {
            balances: setup.genesis.clone(),
            ..Accounts::default()
        }
    }

    fn next_nonce(&self, address: &str) -> u64 {
        self.nonces.get(address).copied().unwrap_or(0)
    }

    fn balance(&self, address: &str) -> u64 {
        self.balances.get(address).copied().unwrap_or(0)
    }

    /// Applies `tx` at `height` if its sender can pay and no balance would
    /// overflow; returns whether it did. Nothing is changed otherwise.
    fn apply(&mut self, tx: &Transaction, height: u64) -> bool {
        let transfer = &tx.transfer;
        let Some(cost) = tx.cost() else { return false };
        let Some(left) = self.balance(&transfer.from).checked_sub(cost) else {
            return false;
        };
        // Each balance as the ones before it leave it (sender, recipient and
        // miner may be the same account).
        let to_before = if transfer.to == transfer.from {
            left
        } else {
            self.balance(&transfer.to)
        };
        let Some(to_after) = to_before.checked_add(transfer.amount) else {
            return false;
        };
        let miner_before = if transfer.to == MINER {
            to_after
        } else if transfer.from == MINER {
            left
        } else {
            self.balance(MINER)
        };
        let Some(miner_after) = miner_before.checked_add(transfer.fee) else {
            return false;
        };
        self.balances.insert(transfer.from.clone(), left);
        self.balances.insert(transfer.to.clone(), to_after);
        self.balances.insert(MINER.to_owned(), miner_after);
        *self.nonces.entry(transfer.from.clone()).or_default() += 1;
        self.included.insert(tx.hash(), height);
        true
    }
}

/// The canonical chain and its mempool.
#[derive(Debug)]
pub struct ChainState {
    setup: ChainSetup,
    blocks: Vec<Block>,
    accounts: Accounts,
    /// Pending transactions by `(sender, nonce)`.
    pending: BTreeMap<(Address, u64), Transaction>,
    /// With `chain-double-include`: reorged transactions, re-included
    /// without their nonces being checked.
    reorged: Vec<Transaction>,
    /// Blocks ever made, so a replacement block differs from the one it
    /// replaces even with the same transactions.
    blocks_made: u64,
}

impl ChainState {
    pub fn new(setup: ChainSetup) -> ChainState {
        ChainState {
            accounts: Accounts::genesis(&setup),
            setup,
            blocks: Vec::new(),
            pending: BTreeMap::new(),
            reorged: Vec::new(),
            blocks_made: 0,
        }
    }

    /// Takes a transaction into the mempool, or says why not.
    pub fn submit(&mut self, tx: Transaction) -> Result<Accepted, SubmitError> {
        check_alone(&self.setup.keys, self.setup.skip_signatures, &tx)?;
        let transfer = &tx.transfer;
        let slot = (transfer.from.clone(), transfer.nonce);
        // Like geth: a pending copy is "already known"; an included one is
        // refused for its spent nonce, and only a receipt tells the two
        // cases of "nonce too low" apart.
        if self.pending.get(&slot) == Some(&tx) {
            return Ok(Accepted::Known);
        }
        let next = self.accounts.next_nonce(&transfer.from);
        if transfer.nonce < next {
            return Err(SubmitError::NonceTooLow {
                from: transfer.from.clone(),
                next,
            });
        }
        let cost = tx.cost().ok_or(SubmitError::Overflow)?;
        let balance = self.accounts.balance(&transfer.from);
        if balance < cost {
            return Err(SubmitError::InsufficientFunds {
                from: transfer.from.clone(),
                balance,
                cost,
            });
        }
        // Like geth, a replacement must pay more than what it replaces, or
        // anyone could push a pending payment out at no cost.
        let underpriced = |pending: u64| {
            if self.setup.replacement_fee_inverted {
                transfer.fee > pending
            } else {
                transfer.fee <= pending
            }
        };
        match self.pending.get(&slot) {
            Some(existing) if underpriced(existing.transfer.fee) => {
                Err(SubmitError::ReplacementUnderpriced {
                    pending_fee: existing.transfer.fee,
                })
            }
            Some(existing) => {
                let previous = existing.hash();
                self.pending.insert(slot, tx);
                Ok(Accepted::Replaced { previous })
            }
            None if self.pending.len() >= MAX_PENDING => Err(SubmitError::MempoolFull),
            None => {
                self.pending.insert(slot, tx);
                Ok(Accepted::New)
            }
        }
    }

    /// Makes the next block from the mempool and appends it.
    pub fn produce_block(&mut self) -> &Block {
        self.make_block(true)
    }

    fn make_block(&mut self, drain_reorged: bool) -> &Block {
        let height = self.height() + 1;
        let mut transactions = Vec::new();
        if drain_reorged && self.setup.double_include {
            // The bug: reorged transactions go straight back in, trusted to
            // be valid, though the replacing fork may already hold them.
            for tx in std::mem::take(&mut self.reorged) {
                if self.accounts.apply(&tx, height) {
                    transactions.push(tx);
                }
            }
        }
        while transactions.len() < self.setup.block_size {
            // Among senders whose next nonce is pending, the highest fee
            // goes first; ties go to the lower hash.
            let best = self
                .pending
                .iter()
                .filter(|((from, nonce), _)| *nonce == self.accounts.next_nonce(from))
                .max_by_key(|(_, tx)| (tx.transfer.fee, std::cmp::Reverse(tx.hash())))
                .map(|(slot, _)| slot.clone());
            let Some(slot) = best else { break };
            let tx = self.pending.remove(&slot).expect("chosen from the mempool");
            if self.accounts.apply(&tx, height) {
                transactions.push(tx);
            }
            // A transaction its sender can no longer pay for is evicted.
        }
        self.evict_stale();
        self.blocks_made += 1;
        let parent = self.tip();
        self.blocks
            .push(Block::new(height, parent, self.blocks_made, transactions));
        self.blocks.last().expect("just pushed")
    }

    /// Replaces the last `depth` blocks: their transactions return to the
    /// mempool in another order, each vanishing with probability `drop`,
    /// and `depth` new blocks are made.
    pub fn reorg(&mut self, depth: usize, drop: f64, rng: &mut impl Rng) -> Reorg {
        let depth = depth.min(self.blocks.len());
        let popped = self.blocks.split_off(self.blocks.len() - depth);
        self.accounts = Accounts::genesis(&self.setup);
        for block in &self.blocks {
            for tx in &block.transactions {
                self.accounts.apply(tx, block.height);
            }
        }
        let mut returning: Vec<Transaction> = popped
            .iter()
            .flat_map(|block| block.transactions.clone())
            .collect();
        returning.shuffle(rng);
        let mut dropped = Vec::new();
        for tx in returning {
            if rng.gen_bool(drop.clamp(0.0, 1.0)) {
                dropped.push(tx.hash());
                continue;
            }
            if self.setup.reorg_loses_transactions {
                continue;
            }
            if self.setup.double_include {
                self.reorged.push(tx.clone());
            }
            let slot = (tx.transfer.from.clone(), tx.transfer.nonce);
            let keep_pending = self
                .pending
                .get(&slot)
                .is_some_and(|pending| pending.transfer.fee >= tx.transfer.fee);
            if !keep_pending {
                self.pending.insert(slot, tx);
            }
        }
        self.evict_stale();
        for _ in 0..depth {
            self.make_block(false);
        }
        Reorg {
            replaced: popped.iter().map(|block| block.hash).collect(),
            dropped,
        }
    }

    /// Forgets each pending transaction with probability `probability`;
    /// returns the forgotten.
    pub fn drop_pending(&mut self, probability: f64, rng: &mut impl Rng) -> Vec<TxHash> {
        let mut dropped = Vec::new();
        self.pending.retain(|_, tx| {
            let keep = !rng.gen_bool(probability.clamp(0.0, 1.0));
            if !keep {
                dropped.push(tx.hash());
            }
            keep
        });
        dropped
    }

    /// Removes pending transactions whose nonce is already used.
    fn evict_stale(&mut self) {
        let accounts = &self.accounts;
        self.pending
            .retain(|(from, nonce), _| *nonce >= accounts.next_nonce(from));
    }

    pub fn height(&self) -> u64 {
        self.blocks.len() as u64
    }

    pub fn tip(&self) -> BlockHash {
        self.blocks.last().map_or(BlockHash(0), |block| block.hash)
    }

    /// The canonical blocks, height 1 first.
    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    /// The canonical blocks from `height` on, at most `limit`.
    pub fn blocks_from(&self, height: u64, limit: usize) -> Vec<Block> {
        let start = height.saturating_sub(1) as usize;
        self.blocks
            .iter()
            .skip(start)
            .take(limit)
            .cloned()
            .collect()
    }

    pub fn balance(&self, address: &str) -> u64 {
        self.accounts.balance(address)
    }

    pub fn next_nonce(&self, address: &str) -> u64 {
        self.accounts.next_nonce(address)
    }

    pub fn receipt(&self, hash: TxHash) -> Option<Receipt> {
        let height = *self.accounts.included.get(&hash)?;
        Some(Receipt {
            height,
            confirmations: self.height() + 1 - height,
        })
    }

    pub fn pending(&self) -> impl Iterator<Item = &Transaction> {
        self.pending.values()
    }

    pub fn is_pending(&self, hash: TxHash) -> bool {
        self.pending.values().any(|tx| tx.hash() == hash)
    }

    /// Whether the mempool holds a transaction of `from` with `nonce`.
    pub fn is_pending_nonce(&self, from: &str, nonce: u64) -> bool {
        self.pending.contains_key(&(from.to_owned(), nonce))
    }

    /// Whether the canonical chain holds the block `hash` at `height`
    /// (height 0 stands for genesis, which every chain holds).
    pub fn holds(&self, height: u64, hash: BlockHash) -> bool {
        height == 0
            || self
                .blocks
                .get(height as usize - 1)
                .is_some_and(|block| block.hash == hash)
    }

    pub fn genesis(&self) -> &BTreeMap<Address, u64> {
        &self.setup.genesis
    }

    /// The key registered for `address`: only its holder signs for it.
    pub fn key(&self, address: &str) -> Option<SigningKey> {
        self.setup.keys.get(address).copied()
    }

    /// Every account's key.
    pub fn keys(&self) -> &BTreeMap<Address, SigningKey> {
        &self.setup.keys
    }

    /// Every balance the state holds now.
    pub fn balances(&self) -> &BTreeMap<Address, u64> {
        &self.accounts.balances
    }
}

/// A node's copy of the canonical chain, possibly behind or on a fork it
/// has not yet learned was replaced: what an RPC node answers from.
#[derive(Debug, Clone)]
pub struct ChainView {
    genesis: BTreeMap<Address, u64>,
    blocks: Vec<Block>,
    accounts: Accounts,
}

impl ChainView {
    pub fn new(genesis: BTreeMap<Address, u64>) -> ChainView {
        ChainView {
            accounts: Accounts {
                balances: genesis.clone(),
                ..Accounts::default()
            },
            genesis,
            blocks: Vec::new(),
        }
    }

    /// Replaces everything from `from_height` on with `blocks`.
    pub fn replace_from(&mut self, from_height: u64, blocks: Vec<Block>) {
        let keep = from_height.saturating_sub(1) as usize;
        let forked = keep < self.blocks.len();
        self.blocks.truncate(keep.min(self.blocks.len()));
        if forked {
            self.accounts = Accounts {
                balances: self.genesis.clone(),
                ..Accounts::default()
            };
            for block in &self.blocks {
                for tx in &block.transactions {
                    self.accounts.apply(tx, block.height);
                }
            }
        }
        for block in blocks {
            if block.height != self.height() + 1 {
                break;
            }
            for tx in &block.transactions {
                self.accounts.apply(tx, block.height);
            }
            self.blocks.push(block);
        }
    }

    pub fn height(&self) -> u64 {
        self.blocks.len() as u64
    }

    pub fn tip(&self) -> BlockHash {
        self.blocks.last().map_or(BlockHash(0), |block| block.hash)
    }

    /// The view's blocks, height 1 first.
    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    pub fn balance(&self, address: &str) -> u64 {
        self.accounts.balance(address)
    }

    pub fn next_nonce(&self, address: &str) -> u64 {
        self.accounts.next_nonce(address)
    }

    pub fn receipt(&self, hash: TxHash) -> Option<Receipt> {
        let height = *self.accounts.included.get(&hash)?;
        Some(Receipt {
            height,
            confirmations: self.height() + 1 - height,
        })
    }
}

impl ChainState {
    /// The blocks a node holding `after_height` (with block `after_hash`
    /// there) lacks: from `after_height + 1` if it is on the canonical chain,
    /// or from `fork_window` blocks earlier if a reorg replaced its tip.
    /// Returns the height the blocks start at.
    pub fn catch_up(
        &self,
        after_height: u64,
        after_hash: BlockHash,
        fork_window: u64,
        limit: usize,
    ) -> (u64, Vec<Block>) {
        let from = if self.holds(after_height, after_hash) {
            after_height + 1
        } else {
            after_height.saturating_sub(fork_window).max(1)
        };
        (from, self.blocks_from(from, limit))
    }
}

#[cfg(test)]
mod tests;
