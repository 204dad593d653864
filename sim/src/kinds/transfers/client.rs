//! Ledger clients: each asks the ledger replicas for payouts from internal
//! accounts to chain addresses, on a fixed schedule with many requests in
//! flight, each with a request id as its idempotency key. A request that
//! times out or is not decided in time is retried with the same id, up to
//! `client_retries` times, then given up (its outcome is unknown). A share
//! of `invalid_fraction` of the requests carries a planted flaw and must be
//! rejected for it; some valid ones aim at the boundaries of the rules (an
//! account's whole remaining balance, the largest amount). A share of
//! `late_resends` of the answered requests is sent again later, and must
//! get the first answer again.
//!
//! Beside the requests, each client polls the status of its accepted
//! payouts until one is reported confirmed (and, now and then, once more
//! after that), less and less often once a payout has waited long, records every status it is told, and passes the highest
//! log position any answer showed it back as `seen`, so its reads must
//! never go back in time. With `balance_reads`, each poll also reads one
//! account's balance the same way, and records what it was told and as of which log
//! position, for `conservation` to hold against the committed log.

use ledger::{
    ledger::{
        BalanceReply, LedgerRequest, LedgerResponse, MAX_AMOUNT, MAX_NAME_BYTES,
        MAX_REQUEST_ID_BYTES, MAX_STATUS_BATCH, StatusReply, TransferReply, TransferRequest,
    },
    net::Rpc,
    node::NodeEnv,
};
use rand::{Rng, seq::SliceRandom};
use std::{
    cell::{Cell, RefCell},
    collections::BTreeMap,
    rc::Rc,
    sync::Arc,
    time::Duration,
};

use crate::{
    history::{BadInput, BalanceSeen, Outcome, Receipt, Request, StatusSeen},
    workload::{Workload, paced},
};

/// How often a client asks for the status of its unconfirmed payouts.
const STATUS_POLL: Duration = Duration::from_millis(500);
/// How long a payout is polled every `STATUS_POLL` before its polls space
/// out: one unconfirmed this long waits behind a backlog or an outage, and
/// polling each of a backlog of thousands twice a second would record the
/// square of the backlog in statuses.
const STEADY_POLLING: Duration = Duration::from_secs(30);
/// The longest a payout's polls space out to.
const SLOWEST_POLL: Duration = Duration::from_secs(30);
/// Shares of valid requests whose amount aims at a boundary: the smallest
/// amount, the largest a client draws, an account's whole remaining
/// balance (rare: a drained account refuses every later request), and the
/// largest amount the rules allow.
const SMALLEST_SHARE: f64 = 0.05;
const LARGEST_SHARE: f64 = 0.05;
const DRAIN_SHARE: f64 = 0.01;
const LIMIT_SHARE: f64 = 0.02;
/// The share of valid requests, drawn from the same boundary draw after
/// the amounts' shares, whose request id is as long as the rules allow:
/// a service that refuses the longest id is refusing a valid request.
/// Read off the draw already made, so every other draw of a seed stays
/// what it was.
const LONGEST_ID_SHARE: f64 = 0.03;

/// The internal account number `index` (from 0).
pub(crate) fn ledger_account(index: u32) -> String {
    format!("acct-{index}")
}

/// The request id of client `client`'s request `seq`.
fn request_id(client: u64, seq: u64) -> String {
    format!("c{client}-r{seq}")
}

/// What one client shares between its tasks.
struct Client {
    env: NodeEnv,
    workload: Arc<Workload>,
    rpc: Rpc,
    client: u64,
    /// The highest log position any answer has shown this client.
    seen: Cell<u64>,
    /// Accepted payouts whose status the client follows, in the order it
    /// began following them (by `Watched::key`).
    watched: RefCell<BTreeMap<u64, Watched>>,
    /// The key the next payout followed takes.
    next_watch: Cell<u64>,
    /// Requests the ledger accepted, for reusing their ids as bad input.
    accepted: RefCell<Vec<TransferRequest>>,
}

#[derive(Clone)]
struct Watched {
    key: u64,
    op: usize,
    request_id: String,
    /// Poll once more after the payout was reported confirmed.
    once_more: bool,
    /// When the client began following it.
    since: Duration,
    /// When its status is next asked for, at the first poll from then.
    due: Duration,
}

/// How long after a status reply a payout followed for `followed` is
/// polled again.
fn poll_interval(followed: Duration) -> Duration {
    if followed < STEADY_POLLING {
        STATUS_POLL
    } else {
        (followed / 8).min(SLOWEST_POLL)
    }
}

pub(super) async fn run(env: &NodeEnv, workload: &Arc<Workload>, rpc: Rpc, index: usize) {
    let client = Rc::new(Client {
        env: env.clone(),
        workload: workload.clone(),
        rpc,
        client: index as u64 + 1,
        seen: Cell::new(0),
        watched: RefCell::default(),
        next_watch: Cell::new(0),
        accepted: RefCell::default(),
    });
    madsim::task::spawn_local(client.clone().poll_status());
    // Requests go out on schedule, each in its own task, however long
    // earlier ones take: a payout service has many requests in flight.
    paced(workload, index, async |seq| {
        let (request, bad) = draw(&client, seq);
        let op = workload.start(
            env,
            client.client,
            seq,
            Request::Payout {
                request: request.clone(),
                bad,
            },
        );
        let client = client.clone();
        madsim::task::spawn_local(async move {
            let first = index + seq as usize;
            let outcome = client.send(first, Some(op), &request).await;
            if let Outcome::Acknowledged { .. } = outcome {
                let now = crate::events::now();
                client.watch(Watched {
                    key: 0,
                    op,
                    request_id: request.request_id.clone(),
                    once_more: client.workload.late_resend().is_some(),
                    since: now,
                    due: now,
                });
                client.accepted.borrow_mut().push(request.clone());
            }
            let answered = !matches!(outcome, Outcome::GaveUp);
            client.workload.finish(&client.env, op, outcome);
            if answered {
                let resend = async || client.send(first + 1, None, &request).await;
                client
                    .workload
                    .maybe_resend_later(&client.env, op, resend)
                    .await;
            }
        });
    })
    .await;
}

impl Client {
    /// Sends `request` until it is decided or given up; `op` counts the
    /// attempts of a first send.
    async fn send(
        &self,
        mut replica: usize,
        op: Option<usize>,
        request: &TransferRequest,
    ) -> Outcome {
        let workload = &self.workload;
        let replicas = &workload.ledger.replicas;
        let message = LedgerRequest::Transfer {
            client: self.client,
            request: request.clone(),
        };
        let mut attempts = 0;
        loop {
            attempts += 1;
            if let Some(op) = op {
                workload.attempted(op);
            }
            let target = &replicas[replica % replicas.len()];
            let answer = self
                .rpc
                .call::<_, LedgerResponse>(target, &message, workload.client_timeout)
                .await;
            if let Ok(
                LedgerResponse::Transfer { as_of, .. } | LedgerResponse::Status { as_of, .. },
            ) = &answer
            {
                self.saw(*as_of);
            }
            match answer {
                Ok(LedgerResponse::Transfer {
                    reply: TransferReply::Accepted { transfer },
                    ..
                }) => {
                    return Outcome::Acknowledged {
                        receipt: Receipt::Transfer(transfer),
                        at: crate::events::now(),
                    };
                }
                Ok(LedgerResponse::Transfer {
                    reply: TransferReply::Rejected { reason },
                    ..
                }) => {
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
            workload.backoff(&self.env, attempts).await;
        }
    }

    /// Follows `watched`'s payout, after every one followed so far.
    fn watch(&self, mut watched: Watched) {
        watched.key = self.next_watch.get();
        self.next_watch.set(watched.key + 1);
        self.watched.borrow_mut().insert(watched.key, watched);
    }

    fn saw(&self, as_of: u64) {
        self.seen.set(self.seen.get().max(as_of));
    }

    /// Asks for the status of accepted payouts until each is confirmed: all
    /// those due in one request per poll (in batches of the most a request
    /// may name). A payout is due every poll for its first
    /// `STEADY_POLLING`, then less and less often.
    async fn poll_status(self: Rc<Self>) {
        let replicas = &self.workload.ledger.replicas;
        let mut replica = self.client as usize;
        loop {
            self.env.sleep(STATUS_POLL).await;
            let now = crate::events::now();
            let waiting: Vec<Watched> = self
                .watched
                .borrow()
                .values()
                .filter(|watched| watched.due <= now)
                .cloned()
                .collect();
            for batch in waiting.chunks(MAX_STATUS_BATCH) {
                let target = &replicas[replica % replicas.len()];
                let message_seen = self.seen.get();
                let message = LedgerRequest::Status {
                    client: self.client,
                    request_ids: batch
                        .iter()
                        .map(|watched| watched.request_id.clone())
                        .collect(),
                    seen: message_seen,
                };
                let answer = self
                    .rpc
                    .call::<_, LedgerResponse>(target, &message, self.workload.client_timeout)
                    .await;
                let Ok(LedgerResponse::Status { replies, as_of }) = answer else {
                    replica += 1;
                    continue;
                };
                self.saw(as_of);
                if replies.len() != batch.len() {
                    replica += 1;
                    continue;
                }
                let answered = crate::events::now();
                for (watched, reply) in batch.iter().zip(replies) {
                    if let Some(next) = self.watched.borrow_mut().get_mut(&watched.key) {
                        next.due = answered + poll_interval(answered - watched.since);
                    }
                    if let Some(status) = seen(reply) {
                        self.told(watched, status, (as_of, message_seen));
                    }
                }
            }
            if self.workload.balance_reads
                && !self.read_balance(&replicas[replica % replicas.len()]).await
            {
                replica += 1;
            }
        }
    }

    /// Reads one account's balance from `target` and records the answer (a
    /// balance, or that the account is unknown); false when neither came
    /// back.
    async fn read_balance(&self, target: &ledger::observe::NodeName) -> bool {
        let account =
            ledger_account(madsim::rand::thread_rng().gen_range(0..self.workload.accounts));
        let seen = self.seen.get();
        let message = LedgerRequest::Balance {
            client: self.client,
            account: account.clone(),
            seen,
        };
        let answer = self
            .rpc
            .call::<_, LedgerResponse>(target, &message, self.workload.client_timeout)
            .await;
        let Ok(LedgerResponse::Balance { reply, as_of }) = answer else {
            return false;
        };
        self.saw(as_of);
        let amount = match reply {
            BalanceReply::Balance { amount } => Some(amount),
            BalanceReply::UnknownAccount => None,
            BalanceReply::Unavailable { .. } => return false,
        };
        self.workload.told_balance(BalanceSeen {
            client: self.client,
            account,
            amount,
            as_of,
            seen,
            at: crate::events::now(),
        });
        true
    }

    /// Records a status reply (read at `as_of`, asked at `seen`), and stops
    /// following a confirmed payout (after one more poll, when asked to).
    fn told(&self, watched: &Watched, status: StatusSeen, positions: (u64, u64)) {
        let confirmed = matches!(status, StatusSeen::Confirmed { .. });
        self.workload
            .told_status(&self.env, watched.op, status, positions);
        if confirmed {
            self.watched.borrow_mut().remove(&watched.key);
            if watched.once_more {
                self.watch(Watched {
                    once_more: false,
                    due: crate::events::now(),
                    ..watched.clone()
                });
            }
        }
    }
}

/// What a status reply says, when it says something (`Unavailable` is no
/// answer).
fn seen(reply: StatusReply) -> Option<StatusSeen> {
    Some(match reply {
        StatusReply::NotFound => StatusSeen::NotFound,
        StatusReply::Rejected { reason } => StatusSeen::Rejected {
            kind: reason.kind().to_owned(),
        },
        StatusReply::Pending { .. } => StatusSeen::Pending,
        StatusReply::Submitted { tx, .. } => StatusSeen::Submitted { tx },
        StatusReply::Confirmed {
            tx, height, depth, ..
        } => StatusSeen::Confirmed { tx, height, depth },
        StatusReply::Unavailable { .. } => return None,
    })
}

/// `prefix` followed by `fill` up to `length` bytes.
fn padded(prefix: &str, fill: char, length: usize) -> String {
    let fills = std::iter::repeat_n(fill, length.saturating_sub(prefix.len()));
    prefix.chars().chain(fills).collect()
}

/// `id` padded with dots to the longest request id the rules allow. A dot
/// sorts before every character that follows a request id's number, so
/// the padded id sorts among the others where `id` would.
fn longest_request_id(id: &str) -> String {
    format!("{id:.<MAX_REQUEST_ID_BYTES$}")
}

/// Client `client`'s request `seq`: a valid one, or one with a planted flaw.
fn draw(client: &Client, seq: u64) -> (TransferRequest, Option<BadInput>) {
    let workload = &client.workload;
    let mut rng = madsim::rand::thread_rng();
    let account = ledger_account(rng.gen_range(0..workload.accounts));
    let mut request = TransferRequest {
        request_id: request_id(client.client, seq),
        to_address: format!("user-{}", rng.gen_range(1..=999)),
        amount: rng.gen_range(1..=workload.max_amount),
        account,
    };
    // At most what the account still holds: the clients' history knows
    // every transfer accepted so far, and others may have been accepted
    // unbeknownst to it, so the true balance is this or less.
    let taken = workload.history(|history| history.accepted_total(&request.account));
    let at_most = u64::try_from(u128::from(workload.ledger.initial_balance).saturating_sub(taken))
        .expect("no more than the initial balance");
    if !rng.gen_bool(workload.invalid_fraction) {
        let boundary = rng.gen_range(0.0..1.0);
        let shares = [
            (SMALLEST_SHARE, 1),
            (LARGEST_SHARE, workload.max_amount),
            (DRAIN_SHARE, at_most.max(1)),
            (LIMIT_SHARE, MAX_AMOUNT),
        ];
        let mut below = 0.0;
        for (share, amount) in shares {
            below += share;
            if boundary < below {
                request.amount = amount;
                return (request, None);
            }
        }
        if boundary < below + LONGEST_ID_SHARE {
            request.request_id = longest_request_id(&request.request_id);
        }
        return (request, None);
    }
    let mut bad = *BadInput::DRAWN.choose(&mut rng).expect("flaws");
    // The boundary cases are told apart by `seq`, never by another draw,
    // so that every other draw of a seed stays what it was.
    let boundary = seq.is_multiple_of(2);
    if bad == BadInput::OversizedRequestId && seq.is_multiple_of(3) {
        bad = BadInput::OversizedField;
    }
    match bad {
        BadInput::ReusedRequestId => match client.accepted.borrow().choose(&mut rng) {
            Some(earlier) => {
                request.request_id = earlier.request_id.clone();
                request.amount = earlier.amount % workload.max_amount + 1;
                if request.amount == earlier.amount {
                    request.to_address = format!("{}0", earlier.to_address);
                }
            }
            None => bad = BadInput::ZeroAmount,
        },
        // One more than the account can hold now: an overdraw by the
        // smallest amount there is.
        BadInput::Overdraw => match at_most.checked_add(1) {
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
        // Half the unknown accounts and malformed addresses are exactly as
        // long as a field may be: the door must judge them by what they
        // say, not refuse them as too long.
        BadInput::UnknownAccount if boundary => {
            request.account = padded("acct-", 'x', MAX_NAME_BYTES);
        }
        BadInput::UnknownAccount => request.account = format!("acct-{}", workload.accounts),
        BadInput::MalformedAddress => {
            let drawn = *[
                "",
                "user-",
                "USER-1",
                "user-12ab",
                "0xdeadbeef",
                "user-1234567890",
            ]
            .choose(&mut rng)
            .expect("addresses");
            request.to_address = if boundary {
                padded("user-", '1', MAX_NAME_BYTES)
            } else {
                drawn.to_owned()
            };
        }
        BadInput::EmptyRequestId => request.request_id.clear(),
        BadInput::OversizedRequestId => {
            request.request_id = "x".repeat(rng.gen_range(MAX_REQUEST_ID_BYTES + 1..=200))
        }
        // Drawn as an oversized request id is, from the same range.
        BadInput::OversizedField => {
            let length = rng.gen_range(MAX_NAME_BYTES + 1..=200);
            if boundary {
                request.account = padded("acct-", 'x', length);
            } else {
                request.to_address = padded("user-", '1', length);
            }
        }
        BadInput::Overdraw | BadInput::ReusedRequestId => {}
    }
    (request, Some(bad))
}
