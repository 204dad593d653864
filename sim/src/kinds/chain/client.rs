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
//! must refuse both. A wallet speeds up `fee_bumps` of the payments at its
//! first look for a receipt: it signs the same payment again at its nonce
//! with a higher fee, which the mempool must take in place of the pending
//! one (or refuse for a spent nonce, when the first already landed); from
//! then on either version may land, and the payment is resubmitted as the
//! faster one.

use ledger::{
    chain::{
        Accepted, ChainClient, ChainError, Receipt as ChainReceipt, SigningKey, SubmitError,
        Transaction, Transfer, TxHash,
    },
    net::Rpc,
    node::NodeEnv,
};
use rand::Rng;
use std::{rc::Rc, sync::Arc, time::Duration};

use super::window::{Ticket, Window};
use crate::{
    events::{HarnessEvent, Replacement},
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
        let faster = speed_up(workload, &key, &tx);
        let payment = Payment {
            client,
            seq,
            tx,
            faster,
        };
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
        let forged = Transaction::new(transfer, tx.signature);
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

/// For `fee_bumps` of the payments, `tx` signed again with a higher fee,
/// as a wallet's "speed up" does; none for a payment already paying the
/// most a client pays, so that every payment stays within what its
/// account was funded for.
fn speed_up(workload: &Workload, key: &SigningKey, tx: &Transaction) -> Option<Transaction> {
    let share = workload.chain.fee_bumps;
    // Drawn only when set: runs without speed-ups draw as before.
    if share == 0.0 || tx.transfer.fee >= MAX_FEE {
        return None;
    }
    let mut rng = madsim::rand::thread_rng();
    if !rng.gen_bool(share) {
        return None;
    }
    let fee = rng.gen_range(tx.transfer.fee + 1..=MAX_FEE);
    Some(key.sign(Transfer {
        fee,
        ..tx.transfer.clone()
    }))
}

/// Client `client`'s payment `seq`, and the faster version its wallet
/// will send, if any.
struct Payment {
    client: u64,
    seq: u64,
    tx: Transaction,
    faster: Option<Transaction>,
}

/// Makes a payment: sends its forgery first, if it has one, then submits
/// the payment until it is confirmed.
async fn pay(
    env: NodeEnv,
    workload: Arc<Workload>,
    mut chain: ChainClient,
    Payment {
        client,
        seq,
        tx,
        mut faster,
    }: Payment,
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
    // Every transaction sent at this payment's nonce, with its fee: what a
    // replacement may name as the one it pushed out.
    let mut fees = vec![(tx.hash(), tx.transfer.fee)];
    if let Some((forged, how)) = forged {
        fees.push((forged.hash(), forged.transfer.fee));
        let verdict = chain.submit(forged.clone()).await;
        let event = HarnessEvent::Forged {
            client,
            seq,
            tx: forged.hash(),
            how: how.to_owned(),
            answer: in_words(&verdict),
            accepted: verdict.is_ok(),
        };
        workload.forged(&env, event);
    }
    // The versions of the payment sent, oldest first: the last is the one
    // resubmitted; any of them may land.
    let mut sent = vec![tx];
    let settings = &workload.chain;
    let poll = settings.block_time / 2;
    // Long enough for an honest inclusion to show through a lagging view.
    let patience = settings.block_time * 3 + settings.lag + Duration::from_secs(1);
    loop {
        workload.attempted(op);
        let current = sent.last().expect("the payment itself").clone();
        match chain.submit(current).await {
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
            if let Some(faster) = faster.take() {
                let answer = chain.submit(faster.clone()).await;
                workload.sped_up(&env, sped_up(client, seq, &faster, &answer, &fees));
                fees.push((faster.hash(), faster.transfer.fee));
                sent.push(faster);
            }
            match find_receipt(&mut chain, &sent).await {
                Ok(Some((landed, receipt))) if receipt.confirmations >= settings.confirmations => {
                    let hash = landed.hash();
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
                        let _ = chain.submit(landed).await;
                    }
                    return;
                }
                // On the chain, not deep enough yet: keep waiting.
                Ok(Some(_)) => give_up_at = env.clock.mono_now() + patience,
                Ok(None) | Err(_) => {}
            }
        }
        // Vanished, or never arrived: resubmit the latest version.
    }
}

/// The first of the payment's `sent` versions the RPC node's view holds,
/// and where: one receipt asked for, or all of them in one round trip.
async fn find_receipt(
    chain: &mut ChainClient,
    sent: &[Transaction],
) -> Result<Option<(Transaction, ChainReceipt)>, ChainError> {
    let receipts = match sent {
        [only] => vec![chain.receipt(only.hash()).await?],
        _ => {
            chain
                .receipts(sent.iter().map(Transaction::hash).collect())
                .await?
        }
    };
    Ok(sent
        .iter()
        .zip(receipts)
        .find_map(|(tx, receipt)| Some((tx.clone(), receipt?))))
}

/// The speed-up `faster` of client `client`'s payment `seq` as an event:
/// the chain's answer in words, and what it says of the fee rule, with
/// the fee of the transaction it replaced looked up among those the client
/// sent at that nonce (`fees`).
fn sped_up(
    client: u64,
    seq: u64,
    faster: &Transaction,
    answer: &Result<Accepted, ChainError>,
    fees: &[(TxHash, u64)],
) -> HarnessEvent {
    let replacement = match answer {
        Ok(Accepted::Replaced { previous }) => Replacement::Replaced {
            previous: *previous,
            previous_fee: fees
                .iter()
                .find(|(hash, _)| hash == previous)
                .map(|(_, fee)| *fee),
        },
        Err(ChainError::Rejected(SubmitError::ReplacementUnderpriced { pending_fee })) => {
            Replacement::Underpriced {
                pending_fee: *pending_fee,
            }
        }
        _ => Replacement::Other,
    };
    HarnessEvent::SpedUp {
        client,
        seq,
        tx: faster.hash(),
        fee: faster.transfer.fee,
        answer: in_words(answer),
        replacement,
    }
}

/// The chain's answer to a submission, as the trace says it.
fn in_words(answer: &Result<Accepted, ChainError>) -> String {
    match answer {
        Ok(Accepted::New | Accepted::Known) => "accepted".to_owned(),
        Ok(Accepted::Replaced { previous }) => format!("accepted, replacing {previous}"),
        Err(error) => error.to_string(),
    }
}
