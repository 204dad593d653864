//! The bank kind's final checks, on the database's synced state read with a
//! correct recovery:
//!
//! - `conservation`: money is neither created nor destroyed. The balances
//!   sum to what the accounts started with, and each account's balance is
//!   exactly what its standing transfers (their rows; a reversal deletes
//!   the row it undoes) imply: initial − sent + received.
//! - `durability`: every commit acknowledged to a client, and the row of
//!   every transfer a client was told committed (or the row of its
//!   reversal), is in the database; a transfer sent again after it was
//!   acknowledged is found committed.
//! - `isolation`: the transactions the clients ran (transfers and audits,
//!   each write tagged with its transaction) show no anomaly their own
//!   isolation levels rule out (see `consistency::isolation`).

use ledger::{
    bugs::Checker,
    db::{Key, Recovered},
};
use std::{collections::BTreeMap, time::Duration};

use super::{
    client::{self as bank, decode_balance, decode_transfer},
    reversal::REVERSED,
};
use crate::{
    check::Violation,
    consistency::isolation,
    history::{History, Outcome, Receipt},
};

/// The database's ground truth for the bank.
pub(super) struct BankTruth<'a> {
    /// The database's synced state, read with a correct recovery.
    pub(super) recovered: &'a Recovered,
    pub(super) accounts: u32,
    pub(super) initial_balance: u64,
}

/// Accounts named individually in one message at most.
const MAX_ACCOUNTS_NAMED: usize = 4;

pub(super) fn conservation(truth: &BankTruth<'_>, end: Duration) -> Vec<Violation> {
    let engine = &truth.recovered.engine;
    let violation = |message: String| Violation {
        checker: Checker::Conservation,
        at: end,
        message,
    };
    let mut violations = Vec::new();

    // What the committed transfers imply for each account.
    let mut implied: BTreeMap<i64, i128> = (0..i64::from(truth.accounts))
        .map(|account| (account, i128::from(truth.initial_balance)))
        .collect();
    for (key, row) in engine.rows(bank::TRANSFERS) {
        match decode_transfer(&row.value) {
            Some((from, to, amount))
                if implied.contains_key(&from) && implied.contains_key(&to) =>
            {
                *implied.get_mut(&from).expect("known account") -= i128::from(amount);
                *implied.get_mut(&to).expect("known account") += i128::from(amount);
            }
            _ => violations.push(violation(format!(
                "transfer row {key} is malformed: {:?}",
                row.value
            ))),
        }
    }

    let mut total: i128 = 0;
    let mut wrong = Vec::new();
    for (account, expected) in &implied {
        match engine
            .committed(bank::ACCOUNTS, &Key::Int(*account))
            .map(|row| decode_balance(&row.value))
        {
            None => violations.push(violation(format!("account {account} is missing"))),
            Some(None) => violations.push(violation(format!(
                "account {account} holds a malformed balance"
            ))),
            Some(Some(balance)) => {
                total += i128::from(balance);
                if i128::from(balance) != *expected {
                    wrong.push(format!("account {account} holds {balance} but its committed transfers imply {expected}"));
                }
            }
        }
    }
    let start = i128::from(truth.initial_balance) * i128::from(truth.accounts);
    if total != start && violations.is_empty() {
        violations.push(violation(format!(
            "balances sum to {total}, but the {} accounts started with {start} ({:+})",
            truth.accounts,
            total - start
        )));
    }
    if !wrong.is_empty() {
        let more = wrong.len().saturating_sub(MAX_ACCOUNTS_NAMED);
        let mut message = wrong
            .into_iter()
            .take(MAX_ACCOUNTS_NAMED)
            .collect::<Vec<_>>()
            .join("; ");
        if more > 0 {
            message.push_str(&format!("; and {more} more"));
        }
        violations.push(violation(message));
    }
    violations
}

pub(super) fn durability(truth: &BankTruth<'_>, history: &History) -> Vec<Violation> {
    let engine = &truth.recovered.engine;
    let last = engine.last_commit();
    let mut violations = Vec::new();
    for op in history.ops() {
        let Outcome::Acknowledged {
            receipt: Receipt::Commit(commit),
            at,
        } = op.outcome
        else {
            continue;
        };
        let key = bank::transfer_key(op.client, op.seq);
        let lost = match commit {
            Some(seq) if seq > last => Some(format!(
                "commit {seq}, but the recovered database ends at commit {last}"
            )),
            _ if engine.committed(bank::TRANSFERS, &key).is_none()
                && engine.committed(REVERSED, &key).is_none() =>
            {
                let told =
                    commit.map_or_else(|| "committed".to_owned(), |seq| format!("commit {seq}"));
                Some(format!(
                    "{told}, but its row {key} is missing from the recovered database, and it was not reversed"
                ))
            }
            _ => None,
        };
        if let Some(lost) = lost {
            violations.push(Violation {
                checker: Checker::Durability,
                at,
                message: format!(
                    "client {} transfer {} was acknowledged as {lost}",
                    op.client, op.seq
                ),
            });
        }
        // Sent again after it was acknowledged, a transfer must be found
        // committed: committing it afresh (or finding it refused) means its
        // first commit was gone.
        for later in &op.later {
            if later.outcome_receipt() != Some(Receipt::Commit(None)) {
                violations.push(Violation {
                    checker: Checker::Durability,
                    at: later.at,
                    message: format!(
                        "client {} transfer {} was acknowledged, but sent again later it was {} instead of found committed",
                        op.client, op.seq, later.outcome
                    ),
                });
            }
        }
    }
    violations
}

/// Anomalies among the clients' transactions, each named with the
/// transactions in it.
pub(super) fn isolation(history: &History, end: Duration) -> Vec<Violation> {
    let records = history.txns();
    let txns: Vec<isolation::Txn> = records.iter().map(|record| record.txn.clone()).collect();
    let label = |id: u64| {
        records
            .iter()
            .find(|record| record.txn.id == id)
            .map_or_else(
                || format!("T{id}"),
                |record| format!("T{id} ({})", record.label),
            )
    };
    isolation::check(&txns)
        .into_iter()
        .map(|anomaly| {
            let named: Vec<String> = anomaly.txns.iter().map(|id| label(*id)).collect();
            Violation {
                checker: Checker::Isolation,
                at: end,
                message: format!("{anomaly}; where {}", named.join(", ")),
            }
        })
        .collect()
}
