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
//! not land a second time. At most `window::MOST_IN_FLIGHT` payments of
//! a client are in flight; later ones are issued on schedule and wait
//! their turn. And
//! `invalid_fraction` of the payments are shadowed by a forgery sent just
//! before them, with the same nonce and a higher fee, so that a chain
//! taking it would let it win: the payment altered after it was signed,
//! or redirected and signed with a key that is not the sender's. The chain
//! must refuse both.

use ledger::{
    chain::{Accepted, ChainClient, ChainError, SigningKey, SubmitError, Transaction, Transfer},
    net::Rpc,
    node::NodeEnv,
};
use rand::Rng;
use std::{rc::Rc, sync::Arc, time::Duration};

use super::window::{Ticket, Window};
use crate::{
    events::HarnessEvent,
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
    let window = Rc::new(Window::default());
    paced(workload, index, async |seq| {
        // In line in nonce order: a payment let in ahead of its
        // predecessor would hold a place while it waits on the gap.
        let ticket = Window::ask(&window);
        let chain = ChainClient::new(
            rpc.clone(),
            workload.chain.rpc_nodes.clone(),
            index + seq as usize,
            workload.client_timeout,
        );
        let tx = sign(workload, &key, client, seq);
        let forged = madsim::rand::thread_rng()
            .gen_bool(workload.invalid_fraction)
            .then(|| forge(workload, &tx));
        let payment = Payment { client, seq, tx };
        madsim::task::spawn_local(pay(
            env.clone(),
            workload.clone(),
            chain,
            payment,
            forged,
            ticket,
        ));
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

/// A forgery of `tx`, and how it was made: with the same nonce and a fee
/// one higher, either the amount raised after signing (the signature no
/// longer covers it), or redirected to an account no client owns and
/// signed with a key the sender never had.
fn forge(workload: &Workload, tx: &Transaction) -> (Transaction, &'static str) {
    let mut transfer = tx.transfer.clone();
    transfer.fee += 1;
    if madsim::rand::thread_rng().gen_bool(0.5) {
        transfer.amount += 1;
        let forged = Transaction {
            transfer,
            signature: tx.signature,
        };
        return (forged, "altered after signing");
    }
    // A key of another world: never this account's.
    let guessed = SigningKey::derive(workload.chain.key_secret ^ 1, &transfer.from);
    transfer.to = user_address(0);
    (
        guessed.sign(transfer),
        "redirected and signed with a guessed key",
    )
}

/// Client `client`'s payment `seq`.
struct Payment {
    client: u64,
    seq: u64,
    tx: Transaction,
}

/// Makes a payment: sends its forgery first, if it has one, then submits
/// the payment until it is confirmed.
async fn pay(
    env: NodeEnv,
    workload: Arc<Workload>,
    mut chain: ChainClient,
    Payment { client, seq, tx }: Payment,
    forged: Option<(Transaction, &'static str)>,
    ticket: Ticket,
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
    // Issued on schedule, sent when the window lets it in: the wait is
    // part of the payment's latency.
    let slot = ticket.wait().await;
    if let Some((forged, how)) = forged {
        let verdict = chain.submit(forged.clone()).await;
        let answer = match &verdict {
            Ok(Accepted::New | Accepted::Known) => "accepted".to_owned(),
            Ok(Accepted::Replaced { previous }) => format!("accepted, replacing {previous}"),
            Err(error) => error.to_string(),
        };
        let event = HarnessEvent::Forged {
            client,
            seq,
            tx: forged.hash(),
            how: how.to_owned(),
            answer,
            accepted: verdict.is_ok(),
        };
        workload.forged(&env, event);
    }
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
                    drop(slot);
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
