//! The client library of the chain's RPC nodes. It sticks to one node and
//! moves to the next when one does not answer.

use std::time::Duration;
use thiserror::Error;

use super::{
    protocol::{ChainRequest, ChainResponse},
    state::{Accepted, Receipt, SubmitError},
    types::{Transaction, TxHash},
};
use crate::{net::Rpc, observe::NodeName};

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ChainError {
    #[error("no reply in time")]
    Timeout,
    #[error("rejected: {0}")]
    Rejected(SubmitError),
    #[error("refused: {0}")]
    Refused(String),
}

/// A handle on the chain through its RPC nodes.
pub struct ChainClient {
    rpc: Rpc,
    nodes: Vec<NodeName>,
    current: usize,
    timeout: Duration,
}

impl ChainClient {
    /// Uses `nodes`, starting with number `first`.
    pub fn new(rpc: Rpc, nodes: Vec<NodeName>, first: usize, timeout: Duration) -> ChainClient {
        ChainClient {
            rpc,
            current: first % nodes.len().max(1),
            nodes,
            timeout,
        }
    }

    pub async fn submit(&mut self, tx: Transaction) -> Result<Accepted, ChainError> {
        match self.call(ChainRequest::Submit(tx)).await? {
            ChainResponse::Submitted(verdict) => verdict.map_err(ChainError::Rejected),
            other => Err(unexpected(other)),
        }
    }

    /// Where `hash` sits in the node's view, if anywhere.
    pub async fn receipt(&mut self, hash: TxHash) -> Result<Option<Receipt>, ChainError> {
        match self.call(ChainRequest::Receipt { hash }).await? {
            ChainResponse::Receipt(receipt) => Ok(receipt),
            other => Err(unexpected(other)),
        }
    }

    /// Where each of `hashes` sits in the node's view, in order, in one
    /// round trip.
    pub async fn receipts(
        &mut self,
        hashes: Vec<TxHash>,
    ) -> Result<Vec<Option<Receipt>>, ChainError> {
        let asked = hashes.len();
        match self.call(ChainRequest::Receipts { hashes }).await? {
            ChainResponse::Receipts(receipts) if receipts.len() == asked => Ok(receipts),
            other => Err(unexpected(other)),
        }
    }

    /// `(balance, next nonce)` of `address` in the node's view.
    pub async fn account(&mut self, address: &str) -> Result<(u64, u64), ChainError> {
        let request = ChainRequest::Account {
            address: address.to_owned(),
        };
        match self.call(request).await? {
            ChainResponse::Account {
                balance,
                next_nonce,
            } => Ok((balance, next_nonce)),
            other => Err(unexpected(other)),
        }
    }

    async fn call(&mut self, request: ChainRequest) -> Result<ChainResponse, ChainError> {
        let node = self.nodes[self.current].clone();
        match self.rpc.call(&node, &request, self.timeout).await {
            Ok(ChainResponse::Rejected { reason }) => Err(ChainError::Refused(reason)),
            Ok(response) => Ok(response),
            Err(_) => {
                self.current = (self.current + 1) % self.nodes.len();
                Err(ChainError::Timeout)
            }
        }
    }
}

fn unexpected(response: ChainResponse) -> ChainError {
    ChainError::Refused(format!("unexpected reply {response:?}"))
}
