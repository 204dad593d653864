//! The ledger's rules restated, independently of the system's code: what
//! the committed log decides, replayed in index order. The checkers judge
//! the system against this, never against its own fold.

use ledger::{
    chain::{SigningKey, Transaction, TxHash},
    ledger::{Command, HOT_WALLET, MAX_AMOUNT, TransferId, TransferRequest, decode_batch, slot},
    log::{Entry, EntryKind},
};
use std::collections::BTreeMap;

use crate::{check::signed_by, history::StatusSeen};

/// What the log decided for a request id (its first occurrence).
#[derive(Debug, Clone)]
pub struct Decided {
    pub request: TransferRequest,
    pub index: u64,
    /// The transfer it became, or the kind of its rejection.
    pub verdict: Result<TransferId, &'static str>,
}

/// An accepted transfer.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub client: u64,
    pub request: TransferRequest,
    pub index: u64,
    /// Its outbox row's key: the entry's index and the command's position.
    pub slot: u64,
}

/// The payout rules the log holds intents to: the hot wallet's key and
/// the fee.
#[derive(Debug, Clone, Copy)]
pub struct PayoutRules {
    pub hot_wallet: SigningKey,
    pub fee: u64,
}

/// An intent the log took: the exact transaction that pays a transfer.
#[derive(Debug, Clone)]
pub struct Intent {
    pub index: u64,
    pub tx: Transaction,
}

/// A confirmation the log records.
#[derive(Debug, Clone, Copy)]
pub struct Confirmed {
    pub index: u64,
    pub tx: TxHash,
    pub nonce: u64,
    pub height: u64,
    pub depth: u64,
}

#[derive(Debug, Clone)]
pub struct Reference {
    rules: PayoutRules,
    pub decided: BTreeMap<(u64, String), Decided>,
    pub accepted: BTreeMap<TransferId, Accepted>,
    /// The intent the log took for each payout: the first valid one whose
    /// nonce was the log's next.
    pub intents: BTreeMap<TransferId, Intent>,
    /// Intents the log holds that pay an accepted payout rightly but carry
    /// a nonce out of turn, which the rules refuse: the index of the first
    /// for each payout and transaction.
    out_of_turn: BTreeMap<(TransferId, TxHash), u64>,
    /// Which payout each nonce is spent on, by the log's intents.
    pub nonces: BTreeMap<u64, (TransferId, TxHash)>,
    /// The nonce the log's next intent must carry.
    pub next_nonce: u64,
    /// The first confirmation of each accepted transfer.
    pub confirmed: BTreeMap<TransferId, Confirmed>,
    /// Internal balances after the entries replayed.
    pub balances: BTreeMap<String, u64>,
    /// Each account's balance after each entry that changed it, in index
    /// order.
    debits: BTreeMap<String, Vec<(u64, u64)>>,
    initial_balance: u64,
    /// Entries replayed.
    pub entries: u64,
}

impl Reference {
    /// The rules before any entry: every account at its initial balance.
    pub fn new(accounts: &[String], initial_balance: u64, rules: PayoutRules) -> Reference {
        Reference {
            rules,
            decided: BTreeMap::new(),
            accepted: BTreeMap::new(),
            intents: BTreeMap::new(),
            out_of_turn: BTreeMap::new(),
            nonces: BTreeMap::new(),
            next_nonce: 0,
            confirmed: BTreeMap::new(),
            balances: accounts
                .iter()
                .map(|account| (account.clone(), initial_balance))
                .collect(),
            debits: BTreeMap::new(),
            initial_balance,
            entries: 0,
        }
    }

    /// Replays the whole of `log`.
    pub fn replay(
        log: &[Entry],
        accounts: &[String],
        initial_balance: u64,
        rules: PayoutRules,
    ) -> Reference {
        let mut reference = Reference::new(accounts, initial_balance, rules);
        reference.replay_to(log, log.len() as u64);
        reference
    }

    /// Replays the entries of `log` after those replayed already, up to
    /// index `to` (or the log's end), so that the states at several
    /// positions take one pass.
    pub fn replay_to(&mut self, log: &[Entry], to: u64) {
        let end = to.min(log.len() as u64);
        for index in self.entries + 1..=end {
            if let EntryKind::Command { data, .. } = &log[index as usize - 1].kind {
                for (position, command) in decode_batch(data)
                    .unwrap_or_default()
                    .into_iter()
                    .enumerate()
                {
                    self.apply(index, slot(index, position), command);
                }
            }
        }
        self.entries = self.entries.max(end);
    }

    fn apply(&mut self, index: u64, slot: u64, command: Command) {
        match command {
            Command::Transfer { client, request } => {
                let key = (client, request.request_id.clone());
                if self.decided.contains_key(&key) {
                    return;
                }
                let verdict = self.judge(&request).map(|()| {
                    let transfer = TransferId::of(client, &request.request_id);
                    let balance = self.balances.get_mut(&request.account).expect("judged");
                    *balance -= request.amount;
                    self.debits
                        .entry(request.account.clone())
                        .or_default()
                        .push((index, *balance));
                    self.accepted.insert(
                        transfer,
                        Accepted {
                            client,
                            request: request.clone(),
                            index,
                            slot,
                        },
                    );
                    transfer
                });
                self.decided.insert(
                    key,
                    Decided {
                        request,
                        index,
                        verdict,
                    },
                );
            }
            Command::Intent { transfer, tx } => {
                let pays = self.accepted.get(&transfer).is_some_and(|accepted| {
                    !self.confirmed.contains_key(&transfer)
                        && !self.intents.contains_key(&transfer)
                        && self.pays(transfer, &accepted.request, &tx)
                });
                if pays && tx.transfer.nonce == self.next_nonce {
                    self.next_nonce += 1;
                    self.nonces.insert(tx.transfer.nonce, (transfer, tx.hash()));
                    self.intents.insert(transfer, Intent { index, tx });
                } else if pays {
                    self.out_of_turn
                        .entry((transfer, tx.hash()))
                        .or_insert(index);
                }
            }
            Command::Confirmed {
                transfer,
                confirmation,
            } => {
                if self.accepted.contains_key(&transfer) {
                    self.confirmed.entry(transfer).or_insert(Confirmed {
                        index,
                        tx: confirmation.tx,
                        nonce: confirmation.nonce,
                        height: confirmation.height,
                        depth: confirmation.depth,
                    });
                }
            }
        }
    }

    /// What `account` held after entry `index`; `None` for no such
    /// account.
    pub fn balance_after(&self, account: &str, index: u64) -> Option<u64> {
        if !self.balances.contains_key(account) {
            return None;
        }
        let debits = self.debits.get(account).map_or(&[][..], Vec::as_slice);
        let before = debits.partition_point(|(at, _)| *at <= index);
        Some(match before {
            0 => self.initial_balance,
            n => debits[n - 1].1,
        })
    }

    /// What a replica whose fold has applied the log up to entry `index`
    /// must answer when asked about `request_id` of `client`.
    pub fn status_after(&self, client: u64, request_id: &str, index: u64) -> StatusSeen {
        let decided = self
            .decided
            .get(&(client, request_id.to_owned()))
            .filter(|decided| decided.index <= index);
        let transfer = match decided.map(|decided| decided.verdict) {
            None => return StatusSeen::NotFound,
            Some(Err(kind)) => {
                return StatusSeen::Rejected {
                    kind: kind.to_owned(),
                };
            }
            Some(Ok(transfer)) => transfer,
        };
        let confirmed = self.confirmed.get(&transfer);
        if let Some(confirmed) = confirmed.filter(|confirmed| confirmed.index <= index) {
            return StatusSeen::Confirmed {
                tx: confirmed.tx,
                height: confirmed.height,
                depth: confirmed.depth,
            };
        }
        match self.intents.get(&transfer) {
            Some(intent) if intent.index <= index => StatusSeen::Submitted {
                tx: intent.tx.hash(),
            },
            _ => StatusSeen::Pending,
        }
    }

    /// Whether the log holds, by entry `index`, an intent paying `client`'s
    /// `request_id` with `tx` that the rules refused for its nonce alone.
    pub fn out_of_turn_by(&self, client: u64, request_id: &str, tx: TxHash, index: u64) -> bool {
        let transfer = TransferId::of(client, request_id);
        self.out_of_turn
            .get(&(transfer, tx))
            .is_some_and(|first| *first <= index)
    }

    /// Whether `tx` pays exactly `request` as `transfer`, from the hot
    /// wallet and signed by it.
    fn pays(&self, transfer: TransferId, request: &TransferRequest, tx: &Transaction) -> bool {
        let paid = &tx.transfer;
        paid.from == HOT_WALLET
            && paid.to == request.to_address
            && paid.amount == request.amount
            && paid.fee == self.rules.fee
            && paid.memo == transfer.to_string()
            && signed_by(self.rules.hot_wallet, tx)
    }

    /// The rules of a transfer, as the README states them.
    pub(super) fn judge(&self, request: &TransferRequest) -> Result<(), &'static str> {
        let id = request.request_id.len();
        if id == 0 {
            return Err("empty-request-id");
        }
        if id > 64 {
            return Err("request-id-too-long");
        }
        if request.account.len() > 64 || request.to_address.len() > 64 {
            return Err("field-too-long");
        }
        if request.amount == 0 {
            return Err("zero-amount");
        }
        if request.amount > MAX_AMOUNT {
            return Err("amount-too-large");
        }
        let Some(balance) = self.balances.get(&request.account) else {
            return Err("unknown-account");
        };
        let digits = request.to_address.strip_prefix("user-").unwrap_or("");
        if digits.is_empty() || digits.len() > 9 || !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err("malformed-address");
        }
        if request.amount > *balance {
            return Err("overdraw");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger::ledger::encode_batch;

    fn transfer(request_id: &str, account: &str, amount: u64) -> Entry {
        let request = TransferRequest {
            request_id: request_id.to_owned(),
            account: account.to_owned(),
            to_address: "user-1".to_owned(),
            amount,
        };
        Entry {
            term: 1,
            kind: EntryKind::Command {
                client: 1,
                seq: 1,
                data: encode_batch(&[Command::Transfer { client: 1, request }]),
            },
        }
    }

    /// A balance as of a log position counts the transfers accepted up to
    /// it, and only those: not a rejected overdraw, nor a later entry.
    #[test]
    fn a_balance_after_an_index_counts_the_transfers_accepted_up_to_it() {
        let log = [
            Entry {
                term: 1,
                kind: EntryKind::Noop,
            },
            transfer("a", "acct-0", 30),
            transfer("b", "acct-1", 5),
            transfer("c", "acct-0", 500),
            transfer("d", "acct-0", 20),
        ];
        let accounts = ["acct-0".to_owned(), "acct-1".to_owned()];
        let rules = PayoutRules {
            hot_wallet: SigningKey::derive(1, HOT_WALLET),
            fee: 1,
        };
        let reference = Reference::replay(&log, &accounts, 100, rules);
        let after = |index| reference.balance_after("acct-0", index);
        assert_eq!(
            [after(0), after(1), after(2), after(4), after(5), after(9)],
            [Some(100), Some(100), Some(70), Some(70), Some(50), Some(50)]
        );
        assert_eq!(reference.balance_after("acct-1", 3), Some(95));
        assert_eq!(reference.balance_after("acct-9", 3), None);
        assert_eq!(reference.entries, 5);
    }

    fn command(command: Command) -> Entry {
        Entry {
            term: 1,
            kind: EntryKind::Command {
                client: 1,
                seq: 1,
                data: encode_batch(&[command]),
            },
        }
    }

    /// A status as of a log position is the stage the log had reached by
    /// then: unknown before its decision, then pending, submitted as the
    /// intent the log took (not one it refused), and confirmed.
    #[test]
    fn a_status_after_an_index_is_the_stage_the_log_had_reached() {
        let key = SigningKey::derive(1, HOT_WALLET);
        let rules = PayoutRules {
            hot_wallet: key,
            fee: 1,
        };
        let paid = TransferId::of(1, "a");
        let signed = |nonce| {
            key.sign(ledger::chain::Transfer {
                from: HOT_WALLET.to_owned(),
                nonce,
                to: "user-1".to_owned(),
                amount: 30,
                fee: 1,
                memo: paid.memo(),
            })
        };
        let (out_of_order, taken) = (signed(5), signed(0));
        let log = [
            transfer("a", "acct-0", 30),
            transfer("b", "acct-0", 500),
            command(Command::Intent {
                transfer: paid,
                tx: out_of_order.clone(),
            }),
            command(Command::Intent {
                transfer: paid,
                tx: taken.clone(),
            }),
            command(Command::Confirmed {
                transfer: paid,
                confirmation: ledger::ledger::Confirmation {
                    tx: taken.hash(),
                    nonce: 0,
                    height: 7,
                    depth: 3,
                },
            }),
        ];
        let accounts = ["acct-0".to_owned()];
        let reference = Reference::replay(&log, &accounts, 100, rules);
        let status = |request_id, index| reference.status_after(1, request_id, index);
        assert_eq!(status("a", 0), StatusSeen::NotFound);
        assert_eq!(status("a", 1), StatusSeen::Pending);
        assert_eq!(status("a", 3), StatusSeen::Pending);
        let named = |index| reference.out_of_turn_by(1, "a", out_of_order.hash(), index);
        assert!(!named(2) && named(3));
        assert!(!reference.out_of_turn_by(1, "a", taken.hash(), 5));
        assert_eq!(status("a", 4), StatusSeen::Submitted { tx: taken.hash() });
        assert_eq!(
            status("a", 5),
            StatusSeen::Confirmed {
                tx: taken.hash(),
                height: 7,
                depth: 3
            }
        );
        assert_eq!(status("b", 1), StatusSeen::NotFound);
        assert_eq!(
            status("b", 2),
            StatusSeen::Rejected {
                kind: "overdraw".to_owned()
            }
        );
        assert_eq!(reference.status_after(2, "a", 5), StatusSeen::NotFound);
    }
}
