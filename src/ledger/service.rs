//! The client-facing service: a transfer request is appended to the log and
//! answered once this replica's fold has applied it, from what the fold
//! decided. Every retry of a request id gets the first answer.

use super::{
    LedgerConfig, LedgerEvent,
    appender::Appender,
    applier::{Folded, SharedFold},
    fold::Answer,
    protocol::{LedgerRequest, LedgerResponse, StatusReply, TransferReply},
    schema::{OUTBOX, OutboxRow, Payout, int_key, read},
    types::{Command, TransferRequest, check_shape},
};
use crate::{
    db::{DbClient, DbError, Isolation},
    node::NodeEnv,
    observe::Event,
};

/// What a request handler needs.
#[derive(Clone)]
pub struct Service {
    pub env: NodeEnv,
    pub config: LedgerConfig,
    pub appender: Appender,
    pub fold: SharedFold,
    pub db: DbClient,
}

impl Service {
    pub async fn handle(&self, request: LedgerRequest) -> LedgerResponse {
        match request {
            LedgerRequest::Transfer { client, request } => {
                LedgerResponse::Transfer(self.transfer(client, request).await)
            }
            LedgerRequest::Status { client, request_id } => {
                LedgerResponse::Status(self.status(client, &request_id).await)
            }
        }
    }

    async fn transfer(&self, client: u64, request: TransferRequest) -> TransferReply {
        // Too malformed to be keyed or recorded: refused at the door.
        if let Err(reason) = check_shape(&request) {
            return TransferReply::Rejected { reason };
        }
        if let Some(answer) = self.answer(client, &request) {
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
                self.env
                    .record(Event::Ledger(LedgerEvent::Appended { client, index }));
                Folded::reached(&self.fold, index).await.ok()
            })
            .await
            .flatten();
        match decided.and_then(|()| self.answer(client, &request)) {
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

    async fn status(&self, client: u64, request_id: &str) -> StatusReply {
        let (transfer, slot, confirmation) = {
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
            (transfer, accepted.slot, accepted.confirmation)
        };
        if let Some(confirmation) = confirmation {
            return StatusReply::Confirmed {
                transfer,
                tx: confirmation.tx,
                height: confirmation.height,
                depth: confirmation.depth,
            };
        }
        match self.payout(slot).await {
            Ok(Some(Payout::Signed { tx })) => StatusReply::Submitted {
                transfer,
                tx: tx.hash(),
            },
            // No row yet (not projected), or no nonce yet.
            Ok(_) => StatusReply::Pending { transfer },
            Err(error) => StatusReply::Unavailable {
                reason: error.to_string(),
            },
        }
    }

    async fn payout(&self, slot: u64) -> Result<Option<Payout>, DbError> {
        let txn = self.db.begin(Isolation::ReadCommitted).await?;
        let row = read::<OutboxRow>(&txn, OUTBOX, int_key(slot)).await?;
        txn.commit().await?;
        Ok(row.value.map(|row| row.state))
    }
}
