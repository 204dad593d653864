//! Accounts, transactions and blocks.

use serde::{Deserialize, Serialize};
use std::{fmt, sync::OnceLock};

use crate::stable_hash::stable_hash;

/// An account's address, such as `user-3`, `hot-wallet` or `miner`.
pub type Address = String;

/// The account block fees are paid to.
pub const MINER: &str = "miner";

/// A transaction's hash: it covers every field, so the same transfer with
/// another nonce (or fee, or memo) is another transaction.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TxHash(pub u64);

/// Spelled as everywhere else, in logs and debug output too.
impl fmt::Debug for TxHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

crate::ids::id_serde!(TxHash, "0x");

impl fmt::Display for TxHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:016x}", self.0)
    }
}

/// A block's hash: it covers its height, its parent and its transactions.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockHash(pub u64);

/// Spelled as everywhere else, in logs and debug output too.
impl fmt::Debug for BlockHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

crate::ids::id_serde!(BlockHash, "0x");

impl fmt::Display for BlockHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:016x}", self.0)
    }
}

/// What an account holder signs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Transfer {
    pub from: Address,
    pub nonce: u64,
    pub to: Address,
    pub amount: u64,
    pub fee: u64,
    pub memo: String,
}

/// A signed transfer.
#[derive(Serialize, Deserialize)]
pub struct Transaction {
    pub transfer: Transfer,
    pub signature: u64,
    /// The hash, worked out on first use and kept: a payout's transaction
    /// is hashed by the fold, the outbox, the projection, every RPC node
    /// and the chain, several times a pass. Neither encoded nor compared;
    /// nothing changes a transaction once it is hashed (debug builds
    /// check).
    #[serde(skip)]
    hash: OnceLock<TxHash>,
}

impl Clone for Transaction {
    fn clone(&self) -> Transaction {
        Transaction {
            transfer: self.transfer.clone(),
            signature: self.signature,
            hash: self.hash.clone(),
        }
    }
}

/// Printed as before the hash was kept: whether it is worked out yet is
/// not part of what a transaction is.
impl fmt::Debug for Transaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transaction")
            .field("transfer", &self.transfer)
            .field("signature", &self.signature)
            .finish()
    }
}

impl PartialEq for Transaction {
    fn eq(&self, other: &Transaction) -> bool {
        (&self.transfer, self.signature) == (&other.transfer, other.signature)
    }
}

impl Eq for Transaction {}

impl std::hash::Hash for Transaction {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.transfer.hash(state);
        self.signature.hash(state);
    }
}

/// An account's signing key. A deterministic stand-in for a private key:
/// only its holder can produce a valid signature, and the chain checks it
/// against its registry of keys, as it would against public keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningKey(u64);

impl SigningKey {
    /// The key of `address` in a world whose keys were drawn from `secret`.
    pub fn derive(secret: u64, address: &str) -> SigningKey {
        SigningKey(stable_hash(&(secret, address)))
    }

    /// A key for unit tests that need one without a world.
    #[cfg(test)]
    pub const fn from_secret_for_tests(secret: u64) -> SigningKey {
        SigningKey(secret)
    }

    pub fn sign(&self, transfer: Transfer) -> Transaction {
        let signature = stable_hash(&(self.0, &transfer));
        Transaction::new(transfer, signature)
    }

    pub fn verifies(&self, transaction: &Transaction) -> bool {
        stable_hash(&(self.0, &transaction.transfer)) == transaction.signature
    }
}

impl Transaction {
    /// `transfer` with `signature`, whether or not it signs it: the chain
    /// decides (see [`SigningKey::sign`] for a signature that does).
    pub fn new(transfer: Transfer, signature: u64) -> Transaction {
        Transaction {
            transfer,
            signature,
            hash: OnceLock::new(),
        }
    }

    pub fn hash(&self) -> TxHash {
        let hash = *self.hash.get_or_init(|| TxHash(stable_hash(self)));
        debug_assert_eq!(
            hash,
            TxHash(stable_hash(self)),
            "a transaction changed after it was hashed"
        );
        hash
    }

    /// What the sender pays: amount plus fee, if it fits in a u64.
    pub fn cost(&self) -> Option<u64> {
        self.transfer.amount.checked_add(self.transfer.fee)
    }
}

/// A block of the canonical chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    /// Height 1 is the first block after genesis.
    pub height: u64,
    pub parent: BlockHash,
    pub hash: BlockHash,
    pub transactions: Vec<Transaction>,
}

impl Block {
    pub fn new(height: u64, parent: BlockHash, salt: u64, transactions: Vec<Transaction>) -> Block {
        let hashes: Vec<TxHash> = transactions.iter().map(Transaction::hash).collect();
        let hash = BlockHash(stable_hash(&(height, parent, salt, hashes)));
        Block {
            height,
            parent,
            hash,
            transactions,
        }
    }
}
