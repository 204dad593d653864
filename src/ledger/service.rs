//! The client-facing service: a transfer request is appended to the log and
//! answered once this replica's fold has applied it, from what the fold
//! decided. Every retry of a request id gets the first answer.
//!
//! Status and balance reads are answered from the fold alone (the database is derived
//! state, and may be rebuilding), and are monotonic for a client that
//! passes back the highest `as_of` it was given: a replica whose fold is
//! behind that waits for it (or answers `Unavailable`). So a client never
//! sees a request forgotten, or a payout go from confirmed or submitted
//! back to pending.

use super::{
    LedgerConfig, LedgerEvent,
    appender::Appender,
    applier::{Folded, SharedFold},
    fold::Answer,
    protocol::{
        BalanceReply, LedgerRequest, LedgerResponse, MAX_STATUS_BATCH, StatusReply, TransferReply,
    },
    types::{Command, TransferRequest, check_shape},
};
use crate::{
    bugs::Bug,
    node::NodeEnv,
    observe::{Event, Mark},
};

/// What a request handler needs.
pub struct Service {
    pub env: NodeEnv,
    pub config: LedgerConfig,
    pub appender: Appender,
    pub fold: SharedFold,
}

impl Service {
    pub async fn handle(&self, request: LedgerRequest) -> LedgerResponse {
        match request {
            LedgerRequest::Transfer { client, request } => {
                let reply = self.transfer(client, request).await;
                LedgerResponse::Transfer {
                    reply,
                    as_of: self.applied(),
                }
            }
            LedgerRequest::Status {
                client,
                request_ids,
                seen,
            } => {
                if request_ids.len() > MAX_STATUS_BATCH {
                    return LedgerResponse::Malformed {
                        reason: format!(
                            "a status request names at most {MAX_STATUS_BATCH} request ids, not {}",
                            request_ids.len()
                        ),
                    };
                }
                let replies = self.statuses(client, &request_ids, seen).await;
                LedgerResponse::Status {
                    replies,
                    as_of: self.applied(),
                }
            }
            LedgerRequest::Balance {
                client: _,
                account,
                seen,
            } => self.balance(&account, seen).await,
        }
    }

    /// How far this replica's fold has reached.
    fn applied(&self) -> u64 {
        self.fold.borrow().fold.applied()
    }

    async fn transfer(&self, client: u64, request: TransferRequest) -> TransferReply {
        // Too malformed to be keyed or recorded: refused at the door.
        if let Err(reason) = check_shape(&request) {
            self.env.mark(Mark::TransferRefusedAtTheDoor);
            return TransferReply::Rejected { reason };
        }
        if let Some(answer) = self.answer(client, &request) {
            self.env.mark(Mark::TransferRetryAnsweredFromFold);
            return answer;
        }
        let command = Command::Transfer {
            client,
            request: request.clone(),
        };
        let decided = self
            .env
            .clock
            .timeout(self.config.request_timeout, async {
                let index = self.appender.append(command).await?;
                self.env.record(Event::Ledger(LedgerEvent::Appended {
                    client,
                    index,
                    transfer: super::TransferId::of(client, &request.request_id),
                }));
                Folded::reached(&self.fold, index).await.ok()
            })
            .await;
        // Only a request still undecided at the deadline; an append that
        // failed at once is another story.
        if decided.is_none() {
            self.env.mark(Mark::TransferUndecidedInTime);
        }
        match decided
            .flatten()
            .and_then(|()| self.answer(client, &request))
        {
            Some(answer) => answer,
            None => TransferReply::Unavailable {
                reason: "not decided in time; retry with the same request id".to_owned(),
            },
        }
    }

    /// The fold's answer for `request`, if it has seen its request id.
    fn answer(&self, client: u64, request: &TransferRequest) -> Option<TransferReply> {
        let answer = self.fold.borrow().fold.answer(client, request)?;
        Some(match answer {
            Answer::Accepted(transfer) => TransferReply::Accepted { transfer },
            Answer::Rejected(reason) => TransferReply::Rejected { reason },
        })
    }

    /// Waits, within the request timeout, for the fold to reach `index`.
    async fn caught_up(&self, index: u64) -> bool {
        if self.applied() >= index {
            return true;
        }
        self.env.mark(Mark::StatusWaitedForFold);
        self.env
            .clock
            .timeout(
                self.config.request_timeout,
                Folded::reached(&self.fold, index),
            )
            .await
            .is_some_and(|reached| reached.is_ok())
    }

    /// Statuses are session-consistent: never older than the log position
    /// the client says it has seen (`seen`, the highest `as_of` any replica
    /// answered it), so a client never reads its own accepted transfer as
    /// unknown, nor a payout's stage going back, whichever replica it asks.
    async fn statuses(&self, client: u64, request_ids: &[String], seen: u64) -> Vec<StatusReply> {
        let lagging_as_current = self.env.bugs.has(Bug::StaleStatusRead);
        if !lagging_as_current && !self.caught_up(seen).await {
            self.env.mark(Mark::StatusUnavailable);
            let reply = StatusReply::Unavailable {
                reason: format!("this replica has not caught up with log index {seen} yet"),
            };
            return vec![reply; request_ids.len()];
        }
        request_ids
            .iter()
            .map(|request_id| self.status(client, request_id))
            .collect()
    }

    /// A balance, session-consistent as statuses are: read from a fold at
    /// least at `seen`, and told with the position it was read at.
    async fn balance(&self, account: &str, seen: u64) -> LedgerResponse {
        let lagging_as_current = self.env.bugs.has(Bug::StaleStatusRead);
        if !lagging_as_current && !self.caught_up(seen).await {
            return LedgerResponse::Balance {
                reply: BalanceReply::Unavailable {
                    reason: format!("this replica has not caught up with log index {seen} yet"),
                },
                as_of: self.applied(),
            };
        }
        let folded = self.fold.borrow();
        let reply = match folded.fold.balance(account) {
            Some(amount) => BalanceReply::Balance { amount },
            None => BalanceReply::UnknownAccount,
        };
        LedgerResponse::Balance {
            reply,
            as_of: folded.fold.applied(),
        }
    }

    /// The fold's status of one request.
    fn status(&self, client: u64, request_id: &str) -> StatusReply {
        let folded = self.fold.borrow();
        let Some(record) = folded.fold.lookup(client, request_id) else {
            return StatusReply::NotFound;
        };
        let transfer = match &record.answer {
            Answer::Rejected(reason) => {
                return StatusReply::Rejected {
                    reason: reason.clone(),
                };
            }
            Answer::Accepted(transfer) => *transfer,
        };
        let accepted = folded
            .fold
            .transfer(transfer)
            .expect("an accepted request has its transfer");
        match (&accepted.confirmation, &accepted.intent) {
            (Some(confirmation), _) => StatusReply::Confirmed {
                transfer,
                tx: confirmation.tx,
                height: confirmation.height,
                depth: confirmation.depth,
            },
            (None, Some(tx)) => StatusReply::Submitted {
                transfer,
                tx: tx.hash(),
            },
            (None, None) => StatusReply::Pending { transfer },
        }
    }
}
