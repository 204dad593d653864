//! The fake blockchain: accounts with balances and nonces, signed transfers
//! whose hash covers every field, mempools, blocks, reorgs and RPC nodes with
//! stale views.
//!
//! - `chain` ([`run_chain`]): the canonical chain, the world's truth; it
//!   never crashes and the harness holds its state.
//! - `chain-rpc-N` ([`run_chain_rpc`]): what clients talk to; each with its
//!   own mempool and a view trailing the chain.

mod client;
mod node;
mod protocol;
mod rpc_node;
mod state;
mod types;

pub use client::{ChainClient, ChainError};
pub use node::{ChainConfig, ChainFaults, FORK_WINDOW, run_chain};
pub use protocol::{ChainRequest, ChainResponse, MAX_RECEIPTS};
pub use rpc_node::{Mempool, RpcNodeConfig, run_chain_rpc};
pub use state::{
    Accepted, ChainSetup, ChainState, ChainView, MAX_MEMO_BYTES, Receipt, Reorg, SubmitError,
    check_alone,
};
pub use types::{Address, Block, BlockHash, MINER, SigningKey, Transaction, Transfer, TxHash};

use serde::Serialize;

/// Trace events of the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "chain", rename_all = "kebab-case")]
pub enum ChainEvent {
    /// A block was made.
    Block {
        height: u64,
        hash: BlockHash,
        /// Its transactions, in order.
        included: Vec<TxHash>,
    },
    /// The mempool forgot pending transactions (the `chain_drop` fault).
    Forgotten { transactions: u32 },
}
