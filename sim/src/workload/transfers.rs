//! Ledger clients: each asks the ledger replicas for payouts from internal
//! accounts to chain addresses, on a fixed schedule with many requests in
//! flight, each with a request id as its idempotency key. A request that times out or is not decided in time
//! is retried with the same id, up to `client_retries` times, then given up
//! (its outcome is unknown). A share of `invalid_fraction` of the requests
//! carries a planted flaw and must be rejected for it.
//!
//! Beside the requests, each client polls the status of its accepted
//! payouts until one is reported confirmed, and records what it was told.

use ledger::{
    ledger::{
        LedgerRequest, LedgerResponse, MAX_AMOUNT, MAX_REQUEST_ID_BYTES, StatusReply,
        TransferReply, TransferRequest,
    },
    net::Rpc,
    node::NodeEnv,
};
use rand::{Rng, seq::SliceRandom};
use std::{cell::RefCell, rc::Rc, sync::Arc, time::Duration};

use super::{BadInput, Outcome, Receipt, Request, Workload, paced};

/// How often a client asks for the status of its unconfirmed payouts.
const STATUS_POLL: Duration = Duration::from_millis(500);

/// The internal account number `index` (from 0).
pub fn ledger_account(index: u32) -> String {
    format!("acct-{index}")
}

/// The request id of client `client`'s request `seq`.
pub fn request_id(client: u64, seq: u64) -> String {
    format!("c{client}-r{seq}")
}

/// Accepted payouts whose confirmation the client waits to be told of.
type Watched = Rc<RefCell<Vec<(usize, String)>>>;

pub(super) async fn run(env: &NodeEnv, workload: &Arc<Workload>, rpc: Rpc, index: usize) {
    let client = index as u64 + 1;
    let watched: Watched = Rc::default();
    madsim::task::spawn_local(poll_status(
        env.clone(),
        workload.clone(),
        rpc.clone(),
        client,
        watched.clone(),
    ));
    let accepted: Rc<RefCell<Vec<TransferRequest>>> = Rc::default();
    // Requests go out on schedule, each in its own task, however long
    // earlier ones take: a payout service has many requests in flight.
    paced(workload, index, async |seq| {
        let (request, bad) = draw(workload, client, seq, &accepted.borrow());
        let op = workload.start(
            env,
            client,
            seq,
            Request::Payout {
                request: request.clone(),
                bad,
            },
        );
        let (env, workload, rpc) = (env.clone(), workload.clone(), rpc.clone());
        let (accepted, watched) = (accepted.clone(), watched.clone());
        madsim::task::spawn_local(async move {
            let first = index + seq as usize;
            let outcome = send(&env, &workload, &rpc, first, client, op, &request).await;
            if let Outcome::Acknowledged { .. } = outcome {
                watched.borrow_mut().push((op, request.request_id.clone()));
                accepted.borrow_mut().push(request);
            }
            workload.finish(&env, op, outcome);
        });
    })
    .await;
}

/// Sends `request` until it is decided or given up.
async fn send(
    env: &NodeEnv,
    workload: &Workload,
    rpc: &Rpc,
    mut replica: usize,
    client: u64,
    op: usize,
    request: &TransferRequest,
) -> Outcome {
    let replicas = &workload.ledger.replicas;
    let message = LedgerRequest::Transfer {
        client,
        request: request.clone(),
    };
    let mut attempts = 0;
    loop {
        attempts += 1;
        workload.attempted(op);
        let target = &replicas[replica % replicas.len()];
        let answer = rpc
            .call::<_, LedgerResponse>(target, &message, workload.client_timeout)
            .await;
        match answer {
            Ok(LedgerResponse::Transfer(TransferReply::Accepted { transfer })) => {
                return Outcome::Acknowledged {
                    receipt: Receipt::Transfer(transfer),
                    at: crate::trace::now(),
                };
            }
            Ok(LedgerResponse::Transfer(TransferReply::Rejected { reason })) => {
                return Outcome::Rejected {
                    reason: reason.to_string(),
                    kind: Some(reason.kind().to_owned()),
                };
            }
            Ok(LedgerResponse::Malformed { reason }) => {
                return Outcome::Rejected { reason, kind: None };
            }
            // Undecided in time: the same request again, elsewhere.
            Ok(_) | Err(_) => replica += 1,
        }
        if workload.give_up(attempts) {
            return Outcome::GaveUp;
        }
        workload.backoff(env, attempts).await;
    }
}

/// Asks for the status of accepted payouts until each is confirmed.
async fn poll_status(
    env: NodeEnv,
    workload: Arc<Workload>,
    rpc: Rpc,
    client: u64,
    watched: Watched,
) {
    let replicas = &workload.ledger.replicas;
    let mut replica = client as usize;
    loop {
        env.sleep(STATUS_POLL).await;
        let waiting: Vec<(usize, String)> = watched.borrow().clone();
        for (op, request_id) in waiting {
            let target = &replicas[replica % replicas.len()];
            let message = LedgerRequest::Status {
                client,
                request_id: request_id.clone(),
            };
            match rpc
                .call::<_, LedgerResponse>(target, &message, workload.client_timeout)
                .await
            {
                Ok(LedgerResponse::Status(StatusReply::Confirmed { tx, height, .. })) => {
                    workload.told_confirmed(&env, op, tx, height);
                    watched.borrow_mut().retain(|(watched, _)| *watched != op);
                }
                Ok(_) => {}
                Err(_) => replica += 1,
            }
        }
    }
}

/// Client `client`'s request `seq`: a valid one, or one with a planted flaw.
fn draw(
    workload: &Workload,
    client: u64,
    seq: u64,
    accepted: &[TransferRequest],
) -> (TransferRequest, Option<BadInput>) {
    let mut rng = madsim::rand::thread_rng();
    let mut request = TransferRequest {
        request_id: request_id(client, seq),
        account: ledger_account(rng.gen_range(0..workload.accounts)),
        to_address: format!("user-{}", rng.gen_range(1..=999)),
        amount: rng.gen_range(1..=workload.max_amount),
    };
    if !rng.gen_bool(workload.ledger.invalid_fraction) {
        return (request, None);
    }
    let mut bad = *BadInput::ALL.choose(&mut rng).expect("flaws");
    match bad {
        BadInput::ReusedRequestId => match accepted.choose(&mut rng) {
            Some(earlier) => {
                request.request_id = earlier.request_id.clone();
                request.amount = earlier.amount % workload.max_amount + 1;
                if request.amount == earlier.amount {
                    request.to_address = format!("{}0", earlier.to_address);
                }
            }
            None => bad = BadInput::ZeroAmount,
        },
        BadInput::Overdraw => match workload.ledger.initial_balance.checked_add(1) {
            Some(amount) if amount <= MAX_AMOUNT => request.amount = amount,
            _ => bad = BadInput::ZeroAmount,
        },
        _ => {}
    }
    match bad {
        BadInput::ZeroAmount => request.amount = 0,
        BadInput::OverflowingAmount => {
            request.amount = *[u64::MAX, MAX_AMOUNT + 1]
                .choose(&mut rng)
                .expect("amounts")
        }
        BadInput::UnknownAccount => request.account = format!("acct-{}", workload.accounts),
        BadInput::MalformedAddress => {
            request.to_address = (*[
                "",
                "user-",
                "USER-1",
                "user-12ab",
                "0xdeadbeef",
                "user-1234567890",
            ]
            .choose(&mut rng)
            .expect("addresses"))
            .to_owned()
        }
        BadInput::EmptyRequestId => request.request_id.clear(),
        BadInput::OversizedRequestId => {
            request.request_id = "x".repeat(rng.gen_range(MAX_REQUEST_ID_BYTES + 1..=200))
        }
        BadInput::Overdraw | BadInput::ReusedRequestId => {}
    }
    (request, Some(bad))
}
