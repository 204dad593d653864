//! Chain clients: each pays other clients from its own account with signed
//! transfers sent through the chain's RPC nodes, one at a time. A payment is
//! confirmed once `confirmations` deep; one that vanishes (dropped, reorged
//! away, forgotten by a crashed RPC node) is resubmitted unchanged, so it can
//! land only once. A client never skips a nonce, so it never gives up: the
//! next payment would wait behind the gap forever.

use ledger::{
    chain::{ChainClient, ChainError, SigningKey, SubmitError, Transfer},
    net::Rpc,
    node::NodeEnv,
};
use rand::Rng;
use std::time::Duration;

use super::{Outcome, Receipt, Request, Workload, paced};

/// Mixed into the seed for the keys of the chain's accounts.
const KEYS_STREAM: u64 = 0x6b65_7973_2121_2121;

/// The secret every account's key of a run is derived from.
pub fn key_secret(seed: u64) -> u64 {
    seed ^ KEYS_STREAM
}

/// The chain account of client number `client` (from 1).
pub fn user_address(client: u64) -> String {
    format!("user-{client}")
}

/// The memo naming client `client`'s payment `seq`.
pub fn payment_memo(client: u64, seq: u64) -> String {
    format!("c{client}-{seq}")
}

pub(super) async fn run(env: &NodeEnv, workload: &Workload, rpc: Rpc, index: usize) {
    let client = index as u64 + 1;
    let me = user_address(client);
    let key = SigningKey::derive(workload.chain.key_secret, &me);
    let mut chain = ChainClient::new(
        rpc,
        workload.chain.rpc_nodes.clone(),
        index,
        workload.client_timeout,
    );
    let mut nonce = 0u64;
    paced(workload, index, async |seq| {
        if pay(env, workload, &mut chain, &key, client, nonce, seq).await {
            nonce += 1;
        }
    })
    .await;
}

/// Makes payment `seq` with `nonce`; returns whether the nonce was spent.
async fn pay(
    env: &NodeEnv,
    workload: &Workload,
    chain: &mut ChainClient,
    key: &SigningKey,
    client: u64,
    nonce: u64,
    seq: u64,
) -> bool {
    let clients = workload.requests_per_client.len() as u64;
    let (to, amount, fee) = {
        let mut rng = madsim::rand::thread_rng();
        // Another client; a lone client pays itself.
        let mut to = rng.gen_range(1..=clients.saturating_sub(1).max(1));
        if clients > 1 && to >= client {
            to += 1;
        }
        (
            to,
            rng.gen_range(1..=workload.max_amount),
            rng.gen_range(1..=10),
        )
    };
    let tx = key.sign(Transfer {
        from: user_address(client),
        nonce,
        to: user_address(to),
        amount,
        fee,
        memo: payment_memo(client, seq),
    });
    let hash = tx.hash();
    let op = workload.start(env, client, seq, Request::Payment { to, amount });
    let settings = &workload.chain;
    let poll = settings.block_time / 2;
    // Long enough for an honest inclusion to show through a lagging view.
    let patience = settings.block_time * 3 + settings.lag + Duration::from_secs(1);
    loop {
        workload.attempted(op);
        match chain.submit(tx.clone()).await {
            Ok(_) | Err(ChainError::Timeout | ChainError::Refused(_)) => {}
            // Only this client signs for its account, so a used nonce means
            // this very transaction is on the chain: watch for it.
            Err(ChainError::Rejected(SubmitError::NonceTooLow { .. })) => {}
            Err(ChainError::Rejected(reason)) => {
                let reason = reason.to_string();
                workload.finish(env, op, Outcome::Rejected { reason, kind: None });
                return false;
            }
        }
        let mut give_up_at = env.clock.mono_now() + patience;
        while env.clock.mono_now() < give_up_at {
            env.sleep(poll).await;
            match chain.receipt(hash).await {
                Ok(Some(receipt)) if receipt.confirmations >= settings.confirmations => {
                    let receipt = Receipt::Tx {
                        hash,
                        height: receipt.height,
                    };
                    workload.finish(
                        env,
                        op,
                        Outcome::Acknowledged {
                            receipt,
                            at: crate::trace::now(),
                        },
                    );
                    return true;
                }
                // On the chain, not deep enough yet: keep waiting.
                Ok(Some(_)) => give_up_at = env.clock.mono_now() + patience,
                Ok(None) | Err(_) => {}
            }
        }
        // Vanished, or never arrived: resubmit the same transaction.
    }
}
