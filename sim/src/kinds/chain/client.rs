//! Chain clients: each pays other clients from its own account with signed
//! transfers sent through the chain's RPC nodes, on schedule, several in
//! flight, with consecutive nonces (payment `n` of a client spends nonce
//! `n - 1`). A payment is confirmed once `confirmations` deep; one that
//! vanishes (dropped, reorged away, forgotten by a crashed RPC node) is
//! resubmitted unchanged, so it can land only once. A client never skips a
//! nonce, so it never gives up: a later payment would wait behind the gap
//! forever; so its account must cover every payment it may make (checked
//! when a scenario is loaded). Now and then a confirmed payment is
//! submitted again later, as a client that lost track of it would: it must
//! not land a second time.

use ledger::{
    chain::{ChainClient, ChainError, SigningKey, SubmitError, Transaction, Transfer},
    net::Rpc,
    node::NodeEnv,
};
use rand::Rng;
use std::{sync::Arc, time::Duration};

use crate::{
    history::{Outcome, Receipt, Request},
    workload::{Workload, paced},
};

/// The largest fee a chain client pays.
pub(super) const MAX_FEE: u64 = 10;

/// The chain account of client number `client` (from 1).
pub(crate) fn user_address(client: u64) -> String {
    format!("user-{client}")
}

/// The memo naming client `client`'s payment `seq`.
pub(super) fn payment_memo(client: u64, seq: u64) -> String {
    format!("c{client}-{seq}")
}

pub(super) async fn run(env: &NodeEnv, workload: &Arc<Workload>, rpc: Rpc, index: usize) {
    let client = index as u64 + 1;
    let key = SigningKey::derive(workload.chain.key_secret, &user_address(client));
    paced(workload, index, async |seq| {
        let chain = ChainClient::new(
            rpc.clone(),
            workload.chain.rpc_nodes.clone(),
            index + seq as usize,
            workload.client_timeout,
        );
        let tx = sign(workload, &key, client, seq);
        madsim::task::spawn_local(pay(env.clone(), workload.clone(), chain, client, seq, tx));
    })
    .await;
}

/// Client `client`'s payment `seq`, to another client, with nonce `seq - 1`.
fn sign(workload: &Workload, key: &SigningKey, client: u64, seq: u64) -> Transaction {
    let clients = workload.requests_per_client.len() as u64;
    let mut rng = madsim::rand::thread_rng();
    // Another client; a lone client pays itself.
    let mut to = rng.gen_range(1..=clients.saturating_sub(1).max(1));
    if clients > 1 && to >= client {
        to += 1;
    }
    key.sign(Transfer {
        from: user_address(client),
        nonce: seq - 1,
        to: user_address(to),
        amount: rng.gen_range(1..=workload.max_amount),
        fee: rng.gen_range(1..=MAX_FEE),
        memo: payment_memo(client, seq),
    })
}

/// Makes payment `seq`: submits `tx` until it is confirmed.
async fn pay(
    env: NodeEnv,
    workload: Arc<Workload>,
    mut chain: ChainClient,
    client: u64,
    seq: u64,
    tx: Transaction,
) {
    let to = tx
        .transfer
        .to
        .trim_start_matches("user-")
        .parse()
        .unwrap_or(0);
    let request = Request::Payment {
        to,
        amount: tx.transfer.amount,
    };
    let op = workload.start(&env, client, seq, request);
    let hash = tx.hash();
    let settings = &workload.chain;
    let poll = settings.block_time / 2;
    // Long enough for an honest inclusion to show through a lagging view.
    let patience = settings.block_time * 3 + settings.lag + Duration::from_secs(1);
    loop {
        workload.attempted(op);
        match chain.submit(tx.clone()).await {
            Ok(_)
            | Err(ChainError::Timeout | ChainError::Refused(_))
            | Err(ChainError::Rejected(SubmitError::MempoolFull)) => {}
            // Only this client signs for its account, so a used nonce means
            // this very transaction is on the chain (or an earlier payment
            // of this client is missing from it): watch for it.
            Err(ChainError::Rejected(SubmitError::NonceTooLow { .. })) => {}
            Err(ChainError::Rejected(reason)) => {
                let reason = reason.to_string();
                workload.finish(&env, op, Outcome::Rejected { reason, kind: None });
                return;
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
                        &env,
                        op,
                        Outcome::Acknowledged {
                            receipt,
                            at: crate::events::now(),
                        },
                    );
                    if let Some(after) = workload.late_resend() {
                        env.sleep(after).await;
                        let _ = chain.submit(tx).await;
                    }
                    return;
                }
                // On the chain, not deep enough yet: keep waiting.
                Ok(Some(_)) => give_up_at = env.clock.mono_now() + patience,
                Ok(None) | Err(_) => {}
            }
        }
        // Vanished, or never arrived: resubmit the same transaction.
    }
}
