//! `conservation`: money is neither created nor destroyed. In the recovered
//! database the balances sum to what the accounts started with, and each
//! account's balance is exactly what its committed transfers (their rows)
//! imply: initial − sent + received.

use ledger::db::Key;
use std::{collections::BTreeMap, time::Duration};

use super::{BankTruth, Violation};
use crate::workload::bank::{self, decode_balance, decode_transfer};

/// Accounts named individually in one message at most.
const MAX_ACCOUNTS_NAMED: usize = 4;

pub(super) fn final_check(truth: &BankTruth<'_>, end: Duration) -> Vec<Violation> {
    let engine = &truth.recovered.engine;
    let violation = |message: String| Violation {
        checker: "conservation",
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
