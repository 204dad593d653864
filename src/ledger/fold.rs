//! The ledger's state machine: the committed log folded in index order.
//! Every replica folds the same log the same way, so every replica decides
//! the same accepts and rejects; the database holds a projection of it.

use std::collections::BTreeMap;

use super::types::{
    Command, Confirmation, Rejection, TransferId, TransferRequest, check_parameters,
};

/// Commands one log entry holds at most: far more than fit in an entry.
pub const SLOTS_PER_ENTRY: u64 = 4096;

/// The outbox key of the command at `position` in the entry at `index`:
/// unique per command, and in log order.
pub fn slot(index: u64, position: usize) -> u64 {
    index * SLOTS_PER_ENTRY + position as u64
}

/// What the fold decided for a request id: the first answer, kept for
/// every retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    pub request: TransferRequest,
    pub answer: Answer,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Accepted(TransferId),
    Rejected(Rejection),
}

/// An accepted transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub client: u64,
    pub request: TransferRequest,
    /// The log index that accepted it.
    pub index: u64,
    /// The key of its outbox row: see [`slot`].
    pub slot: u64,
    pub confirmation: Option<Confirmation>,
}

/// What applying one command changes in the projection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Debit the account and create the payout's outbox row at `slot`.
    Accept {
        slot: u64,
        transfer: TransferId,
        request: TransferRequest,
    },
    /// The payout is done: its outbox row at `slot` goes.
    Confirm { slot: u64 },
}

/// How the fold treats request ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    /// A request id names one transfer, however often it is appended.
    ByRequestId,
    /// The planted bug `no-idempotency-key`: a request id is not looked
    /// up, so every append of it is decided, debited and paid again.
    None,
}

#[derive(Debug, Clone)]
pub struct Fold {
    accounts: Vec<String>,
    idempotency: Idempotency,
    applied: u64,
    balances: BTreeMap<String, u64>,
    requests: BTreeMap<(u64, String), RequestRecord>,
    transfers: BTreeMap<TransferId, Transfer>,
}

impl Fold {
    pub fn new(accounts: Vec<String>, initial_balance: u64, idempotency: Idempotency) -> Fold {
        Fold {
            balances: accounts
                .iter()
                .map(|account| (account.clone(), initial_balance))
                .collect(),
            accounts,
            idempotency,
            applied: 0,
            requests: BTreeMap::new(),
            transfers: BTreeMap::new(),
        }
    }

    /// The last log index folded.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// Folds the commands of the entry at `index` (the next one); returns
    /// what the projection must do.
    pub fn apply(&mut self, index: u64, commands: &[Command]) -> Vec<Effect> {
        assert_eq!(index, self.applied + 1, "the log is folded in order");
        self.applied = index;
        commands
            .iter()
            .enumerate()
            .filter_map(|(position, command)| match command {
                Command::Transfer { client, request } => {
                    self.apply_transfer(slot(index, position), *client, request)
                }
                Command::Confirmed {
                    transfer,
                    confirmation,
                } => self.confirm(*transfer, *confirmation),
            })
            .collect()
    }

    /// Skips an entry that carries no ledger commands (a no-op, or foreign).
    pub fn skip(&mut self, index: u64) {
        assert_eq!(index, self.applied + 1, "the log is folded in order");
        self.applied = index;
    }

    fn apply_transfer(
        &mut self,
        slot: u64,
        client: u64,
        request: &TransferRequest,
    ) -> Option<Effect> {
        let index = self.applied;
        let key = (client, request.request_id.clone());
        if self.idempotency == Idempotency::ByRequestId && self.requests.contains_key(&key) {
            // A retry, or a conflicting reuse: answered from the record.
            return None;
        }
        let transfer = TransferId::of(client, &request.request_id);
        let answer = match self.decide(request) {
            Ok(()) => Answer::Accepted(transfer),
            Err(rejection) => Answer::Rejected(rejection),
        };
        self.requests.insert(
            key,
            RequestRecord {
                request: request.clone(),
                answer: answer.clone(),
            },
        );
        let Answer::Accepted(transfer) = answer else {
            return None;
        };
        *self
            .balances
            .get_mut(&request.account)
            .expect("decide checked the account") -= request.amount;
        self.transfers.insert(
            transfer,
            Transfer {
                client,
                request: request.clone(),
                index,
                slot,
                confirmation: None,
            },
        );
        Some(Effect::Accept {
            slot,
            transfer,
            request: request.clone(),
        })
    }

    fn decide(&self, request: &TransferRequest) -> Result<(), Rejection> {
        check_parameters(request, &self.accounts)?;
        let balance = self.balances[&request.account];
        if request.amount > balance {
            return Err(Rejection::Overdraw {
                account: request.account.clone(),
                balance,
                amount: request.amount,
            });
        }
        Ok(())
    }

    fn confirm(&mut self, transfer: TransferId, confirmation: Confirmation) -> Option<Effect> {
        let record = self.transfers.get_mut(&transfer)?;
        if record.confirmation.is_some() {
            return None;
        }
        record.confirmation = Some(confirmation);
        Some(Effect::Confirm { slot: record.slot })
    }

    /// The answer for `request` from `client`: the first answer for its
    /// request id, a conflict if that id came with other parameters, or
    /// `None` if the id is unknown.
    pub fn answer(&self, client: u64, request: &TransferRequest) -> Option<Answer> {
        let record = self.requests.get(&(client, request.request_id.clone()))?;
        Some(if record.request == *request {
            record.answer.clone()
        } else {
            Answer::Rejected(Rejection::Conflict(request.request_id.clone()))
        })
    }

    /// What became of `request_id` of `client`.
    pub fn lookup(&self, client: u64, request_id: &str) -> Option<&RequestRecord> {
        self.requests.get(&(client, request_id.to_owned()))
    }

    pub fn transfer(&self, transfer: TransferId) -> Option<&Transfer> {
        self.transfers.get(&transfer)
    }

    /// Accepted transfers not yet confirmed.
    pub fn unconfirmed(&self) -> impl Iterator<Item = (&TransferId, &Transfer)> {
        self.transfers
            .iter()
            .filter(|(_, transfer)| transfer.confirmation.is_none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::TxHash;

    fn request(request_id: &str, amount: u64) -> TransferRequest {
        TransferRequest {
            request_id: request_id.to_owned(),
            account: "acct-0".to_owned(),
            to_address: "user-1".to_owned(),
            amount,
        }
    }

    fn transfer(client: u64, request: TransferRequest) -> Command {
        Command::Transfer { client, request }
    }

    fn fold(idempotency: Idempotency) -> Fold {
        Fold::new(vec!["acct-0".to_owned()], 100, idempotency)
    }

    #[test]
    fn a_request_id_is_one_transfer_however_often_it_is_appended() {
        let mut fold = fold(Idempotency::ByRequestId);
        let effects = fold.apply(1, &[transfer(1, request("a", 60))]);
        assert_eq!(effects.len(), 1);
        assert_eq!(fold.apply(2, &[transfer(1, request("a", 60))]), vec![]);
        let id = TransferId::of(1, "a");
        assert_eq!(
            fold.answer(1, &request("a", 60)),
            Some(Answer::Accepted(id))
        );
        assert_eq!(
            fold.answer(1, &request("a", 61)).unwrap(),
            Answer::Rejected(Rejection::Conflict("a".to_owned()))
        );
        // Another client's id "a" is another request.
        assert_eq!(fold.apply(3, &[transfer(2, request("a", 30))]).len(), 1);
    }

    #[test]
    fn overdraws_are_rejected_in_log_order_and_answers_stick() {
        let mut fold = fold(Idempotency::ByRequestId);
        fold.apply(
            1,
            &[transfer(1, request("a", 60)), transfer(1, request("b", 60))],
        );
        let Some(Answer::Rejected(rejection)) = fold.answer(1, &request("b", 60)) else {
            panic!("b overdraws");
        };
        assert_eq!(rejection.kind(), "overdraw");
        // The retry of a rejected request is rejected the same way, even
        // though the balance would not stop it any more.
        fold.apply(2, &[transfer(1, request("b", 60))]);
        assert_eq!(
            fold.answer(1, &request("b", 60)),
            Some(Answer::Rejected(rejection))
        );
    }

    #[test]
    fn the_first_confirmation_counts() {
        let mut fold = fold(Idempotency::ByRequestId);
        fold.apply(1, &[transfer(1, request("a", 10))]);
        let id = TransferId::of(1, "a");
        let confirmation = |tx| Confirmation {
            tx: TxHash(tx),
            nonce: 0,
            height: 4,
            depth: 3,
        };
        let confirmed = |tx| Command::Confirmed {
            transfer: id,
            confirmation: confirmation(tx),
        };
        assert_eq!(
            fold.apply(2, &[confirmed(7)]),
            vec![Effect::Confirm { slot: slot(1, 0) }]
        );
        assert_eq!(fold.apply(3, &[confirmed(8)]), vec![]);
        assert_eq!(
            fold.transfer(id).unwrap().confirmation,
            Some(confirmation(7))
        );
        assert_eq!(fold.unconfirmed().count(), 0);
    }

    #[test]
    fn without_deduplication_a_retry_is_paid_again_under_the_same_id() {
        let mut fold = fold(Idempotency::None);
        let first = fold.apply(1, &[transfer(1, request("a", 10))]);
        let retry = fold.apply(2, &[transfer(1, request("a", 10))]);
        let id = TransferId::of(1, "a");
        let accepted = |effects: &[Effect]| match effects {
            [Effect::Accept { transfer, slot, .. }] => (*transfer, *slot),
            other => panic!("expected one accept, got {other:?}"),
        };
        assert_eq!(accepted(&first), (id, slot(1, 0)));
        assert_eq!(accepted(&retry), (id, slot(2, 0)));
    }
}
