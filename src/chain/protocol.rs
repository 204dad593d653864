//! Messages to the chain and its RPC nodes.

use serde::{Deserialize, Serialize};

use super::{
    state::{Accepted, Receipt, SubmitError},
    types::{Address, Block, BlockHash, Transaction, TxHash},
};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ChainRequest {
    /// Into the mempool, or rejected with the reason.
    Submit(Transaction),
    /// The blocks after the asker's tip (node to node). With nothing new,
    /// the chain holds the request until its next block or for `wait_us`,
    /// whichever comes first: a follower learns of a block as it is made,
    /// without polling an idle chain.
    Blocks {
        after_height: u64,
        after_hash: BlockHash,
        wait_us: u64,
    },
    Account {
        address: Address,
    },
    Receipt {
        hash: TxHash,
    },
    /// The receipts of many transactions in one round trip, in the order
    /// asked, [`MAX_RECEIPTS`] at most.
    Receipts {
        hashes: Vec<TxHash>,
    },
    Height,
}

/// The most receipts one [`ChainRequest::Receipts`] may ask for.
pub const MAX_RECEIPTS: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChainResponse {
    Submitted(Result<Accepted, SubmitError>),
    /// Blocks starting at `from_height`; the chain is `height` long.
    Blocks {
        from_height: u64,
        blocks: Vec<Block>,
        height: u64,
    },
    Account {
        balance: u64,
        next_nonce: u64,
    },
    Receipt(Option<Receipt>),
    Receipts(Vec<Option<Receipt>>),
    Height(u64),
    /// The request is malformed, or not one this node serves.
    Rejected {
        reason: String,
    },
}
