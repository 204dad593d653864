//! The ledger's state machine: the committed log folded in index order.
//! Every replica folds the same log the same way, so every replica decides
//! the same accepts and rejects, and the same payout intents: which
//! transaction pays each transfer, and with which nonce. The database
//! holds a projection of it, and can be rebuilt from the log alone.
//!
//! Nonces are a property of the log's order: the fold counts the intents
//! it took, and takes an intent only when its nonce is that count (the
//! log's next nonce) and its payout has none yet. Two replicas racing for
//! one payout, or for one nonce, both propose; the log's order picks one,
//! and the other learns from its own fold that it lost, before it has sent
//! anything.

use std::collections::{BTreeMap, BTreeSet};

use super::{
    outbox::HOT_WALLET,
    types::{
        ADDRESS_PREFIX, Command, Confirmation, Rejection, TransferId, TransferRequest,
        check_parameters,
    },
};
use crate::{
    chain::{SigningKey, Transaction},
    observe::Mark,
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
    /// The transaction that pays it, once the log took an intent.
    pub intent: Option<Transaction>,
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
    /// The payout at `slot` is to be paid with `tx`, and no other: its
    /// nonce is spent on it, and the log's next nonce is `next_nonce`.
    Intent {
        slot: u64,
        transfer: TransferId,
        tx: Transaction,
        next_nonce: u64,
    },
    /// The payout is done: its outbox row at `slot` goes.
    Confirm { slot: u64 },
}

/// Which intents the fold takes. A payout that has an intent takes no
/// other, always; the nonce check is what makes every nonce single, and it
/// is off only under a planted bug.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntentFence {
    /// An intent's nonce must be the log's next one (off: the planted bugs
    /// that take the nonce from elsewhere and the log on trust).
    pub nonce_in_order: bool,
}

impl IntentFence {
    pub const FULL: IntentFence = IntentFence {
        nonce_in_order: true,
    };
}

/// What the fold judges requests and intents by: the same on every replica.
#[derive(Debug, Clone)]
pub struct Rules {
    pub accounts: Vec<String>,
    pub initial_balance: u64,
    /// An intent's transaction must verify under the hot wallet's key.
    pub hot_wallet: SigningKey,
    /// The fee every payout pays.
    pub fee: u64,
    pub idempotency: Idempotency,
    pub fence: IntentFence,
    pub addresses: AddressCheck,
}

/// How the fold judges a payout address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressCheck {
    /// The chain's address format: the prefix and 1 to 9 digits.
    Full,
    /// The planted bug `lax-address-check`: the prefix alone.
    PrefixOnly,
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
    rules: Rules,
    applied: u64,
    balances: BTreeMap<String, u64>,
    requests: BTreeMap<(u64, String), RequestRecord>,
    transfers: BTreeMap<TransferId, Transfer>,
    /// The accepted transfers not yet confirmed: the worker asks for them
    /// after every batch, and a long log holds far more closed ones.
    open: BTreeSet<TransferId>,
    /// Those of `open` with an intent.
    open_signed: BTreeSet<TransferId>,
    /// The nonce the next intent must carry: the intents taken so far.
    next_nonce: u64,
    /// The situations worth marking the fold met since they were last
    /// taken ([`Fold::take_marks`]); they decide nothing.
    marks: Vec<Mark>,
}

impl Fold {
    pub fn new(rules: Rules) -> Fold {
        Fold {
            balances: rules
                .accounts
                .iter()
                .map(|account| (account.clone(), rules.initial_balance))
                .collect(),
            rules,
            applied: 0,
            requests: BTreeMap::new(),
            transfers: BTreeMap::new(),
            open: BTreeSet::new(),
            open_signed: BTreeSet::new(),
            next_nonce: 0,
            marks: Vec::new(),
        }
    }

    /// The situations worth marking met since the last call, for a replica
    /// to mark; a fold whose marks are never taken only keeps them.
    pub fn take_marks(&mut self) -> Vec<Mark> {
        std::mem::take(&mut self.marks)
    }

    /// The last log index folded.
    pub fn applied(&self) -> u64 {
        self.applied
    }

    /// What internal account `account` holds after the transfers folded.
    pub fn balance(&self, account: &str) -> Option<u64> {
        self.balances.get(account).copied()
    }

    /// The nonce the log's next intent must carry.
    pub fn next_nonce(&self) -> u64 {
        self.next_nonce
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
                Command::Intent { transfer, tx } => self.take_intent(*transfer, tx),
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
        if let Some(record) = self.requests.get(&key) {
            self.marks.push(if record.request == *request {
                Mark::DuplicateTransferInLog
            } else {
                Mark::RequestIdReusedInLog
            });
            if self.rules.idempotency == Idempotency::ByRequestId {
                // A retry, or a conflicting reuse: answered from the record.
                return None;
            }
        }
        let transfer = TransferId::of(client, &request.request_id);
        let answer = match self.decide(request) {
            Ok(()) => Answer::Accepted(transfer),
            Err(rejection) => {
                if let Rejection::Overdraw { .. } = rejection {
                    self.marks.push(Mark::OverdrawRejected);
                }
                Answer::Rejected(rejection)
            }
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
        self.open.insert(transfer);
        self.open_signed.remove(&transfer);
        self.transfers.insert(
            transfer,
            Transfer {
                client,
                request: request.clone(),
                index,
                slot,
                intent: None,
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
        // The balances hold every account: a look-up, where the rules'
        // list would be a pass over thousands of names per request.
        match check_parameters(request, |account| self.balances.contains_key(account)) {
            Err(Rejection::MalformedAddress(address))
                if self.rules.addresses == AddressCheck::PrefixOnly
                    && address.starts_with(ADDRESS_PREFIX) => {}
            verdict => verdict?,
        }
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

    /// Takes `tx` as the payout of `transfer` if the fence allows: the
    /// payout is open and has no intent, the nonce is the next one, and the
    /// transaction pays exactly this transfer from the hot wallet.
    fn take_intent(&mut self, transfer: TransferId, tx: &Transaction) -> Option<Effect> {
        let (fence, next) = (self.rules.fence, self.next_nonce);
        let record = self.transfers.get(&transfer)?;
        let open = record.confirmation.is_none();
        let free = record.intent.is_none();
        let in_order = tx.transfer.nonce == next || !fence.nonce_in_order;
        if !(open && free && in_order && pays(&self.rules, transfer, &record.request, tx)) {
            match &record.intent {
                Some(taken) if open && taken == tx => self.marks.push(Mark::IntentRepeatedInLog),
                Some(_) if open => self.marks.push(Mark::IntentForPayoutWithIntent),
                None if open && !in_order => self.marks.push(Mark::IntentNonceOutOfOrder),
                _ => {}
            }
            return None;
        }
        let slot = record.slot;
        self.next_nonce = next.max(tx.transfer.nonce + 1);
        self.transfers.get_mut(&transfer)?.intent = Some(tx.clone());
        self.open_signed.insert(transfer);
        Some(Effect::Intent {
            slot,
            transfer,
            tx: tx.clone(),
            next_nonce: self.next_nonce,
        })
    }

    fn confirm(&mut self, transfer: TransferId, confirmation: Confirmation) -> Option<Effect> {
        let record = self.transfers.get_mut(&transfer)?;
        if record.confirmation.is_some() {
            self.marks.push(Mark::ConfirmedTwiceInLog);
            return None;
        }
        record.confirmation = Some(confirmation);
        self.open.remove(&transfer);
        self.open_signed.remove(&transfer);
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

    /// How many accepted transfers are not yet confirmed.
    pub fn open_count(&self) -> usize {
        self.open.len()
    }

    /// Whether an accepted transfer not yet confirmed has an intent.
    pub fn any_open_signed(&self) -> bool {
        !self.open_signed.is_empty()
    }

    /// Accepted transfers not yet confirmed.
    pub fn unconfirmed(&self) -> impl Iterator<Item = (&TransferId, &Transfer)> {
        self.open.iter().map(|id| (id, &self.transfers[id]))
    }
}

/// Whether `tx` is a payout of exactly `request` as `transfer`: from the
/// hot wallet, signed by it, to the address, for the amount and fee, with
/// the transfer's memo.
fn pays(rules: &Rules, transfer: TransferId, request: &TransferRequest, tx: &Transaction) -> bool {
    let paid = &tx.transfer;
    paid.from == HOT_WALLET
        && paid.to == request.to_address
        && paid.amount == request.amount
        && paid.fee == rules.fee
        && paid.memo == transfer.memo()
        && rules.hot_wallet.verifies(tx)
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

    const KEY: SigningKey = SigningKey::from_secret_for_tests(7);
    const FEE: u64 = 1;

    fn rules(idempotency: Idempotency, fence: IntentFence) -> Rules {
        Rules {
            accounts: vec!["acct-0".to_owned()],
            initial_balance: 100,
            hot_wallet: KEY,
            fee: FEE,
            idempotency,
            fence,
            addresses: AddressCheck::Full,
        }
    }

    fn fold(idempotency: Idempotency) -> Fold {
        Fold::new(rules(idempotency, IntentFence::FULL))
    }

    /// The payout of `request` from client 1, signed with `nonce` by `key`.
    fn payout(request: &TransferRequest, nonce: u64, key: SigningKey) -> Command {
        let transfer = TransferId::of(1, &request.request_id);
        let tx = key.sign(crate::chain::Transfer {
            from: HOT_WALLET.to_owned(),
            nonce,
            to: request.to_address.clone(),
            amount: request.amount,
            fee: FEE,
            memo: transfer.memo(),
        });
        Command::Intent { transfer, tx }
    }

    fn intent_of(fold: &Fold, request_id: &str) -> Option<u64> {
        let transfer = fold.transfer(TransferId::of(1, request_id))?;
        transfer.intent.as_ref().map(|tx| tx.transfer.nonce)
    }

    #[test]
    fn the_log_takes_one_intent_per_payout_and_nonces_in_order() {
        let mut fold = fold(Idempotency::ByRequestId);
        let (a, b) = (request("a", 10), request("b", 10));
        fold.apply(1, &[transfer(1, a.clone()), transfer(1, b.clone())]);
        // Two replicas race for nonce 0: the first in the log wins.
        let effects = fold.apply(2, &[payout(&a, 0, KEY), payout(&b, 0, KEY)]);
        assert!(matches!(
            effects.as_slice(),
            [Effect::Intent { next_nonce: 1, .. }]
        ));
        assert_eq!(
            (intent_of(&fold, "a"), intent_of(&fold, "b")),
            (Some(0), None)
        );
        // A second intent for a payout that has one, a nonce out of order,
        // and a transaction that does not pay the transfer are all refused.
        assert_eq!(fold.apply(3, &[payout(&a, 1, KEY)]), vec![]);
        assert_eq!(fold.apply(4, &[payout(&b, 2, KEY)]), vec![]);
        let forged = SigningKey::from_secret_for_tests(8);
        assert_eq!(fold.apply(5, &[payout(&b, 1, forged)]), vec![]);
        let mut other = b.clone();
        other.amount = 11;
        assert_eq!(fold.apply(6, &[payout(&other, 1, KEY)]), vec![]);
        assert_eq!(fold.next_nonce(), 1);
        assert_eq!(fold.apply(7, &[payout(&b, 1, KEY)]).len(), 1);
        assert_eq!((intent_of(&fold, "b"), fold.next_nonce()), (Some(1), 2));
    }

    #[test]
    fn an_open_fence_lets_the_race_through() {
        let open = IntentFence {
            nonce_in_order: false,
        };
        let mut fold = Fold::new(rules(Idempotency::ByRequestId, open));
        let (a, b) = (request("a", 10), request("b", 10));
        fold.apply(1, &[transfer(1, a.clone()), transfer(1, b.clone())]);
        let effects = fold.apply(
            2,
            &[payout(&a, 0, KEY), payout(&b, 0, KEY), payout(&a, 1, KEY)],
        );
        assert_eq!(
            effects.len(),
            2,
            "one nonce spent twice; a payout still takes one intent"
        );
        assert_eq!(
            (intent_of(&fold, "a"), intent_of(&fold, "b")),
            (Some(0), Some(0))
        );
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

    /// The open payouts the fold keeps track of are those a pass over
    /// every transfer finds: accepted, signed or not, not yet confirmed.
    #[test]
    fn open_payouts_follow_intents_and_confirmations() {
        let mut fold = fold(Idempotency::ByRequestId);
        let (a, b) = (request("a", 10), request("b", 10));
        let open = |fold: &Fold| {
            let listed: Vec<_> = fold.unconfirmed().map(|(id, _)| *id).collect();
            let signed = fold.unconfirmed().any(|(_, t)| t.intent.is_some());
            assert_eq!(listed.len(), fold.open_count());
            assert_eq!(signed, fold.any_open_signed());
            listed
        };
        assert_eq!(open(&fold), vec![]);
        fold.apply(1, &[transfer(1, a.clone()), transfer(1, b.clone())]);
        let mut both = vec![TransferId::of(1, "a"), TransferId::of(1, "b")];
        both.sort();
        assert_eq!(open(&fold), both);
        assert!(!fold.any_open_signed());
        fold.apply(2, &[payout(&a, 0, KEY)]);
        assert_eq!(open(&fold), both);
        assert!(fold.any_open_signed());
        let confirmed = Command::Confirmed {
            transfer: TransferId::of(1, "a"),
            confirmation: Confirmation {
                tx: TxHash(1),
                nonce: 0,
                height: 2,
                depth: 1,
            },
        };
        fold.apply(3, &[confirmed]);
        assert_eq!(open(&fold), vec![TransferId::of(1, "b")]);
        assert!(!fold.any_open_signed());
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
