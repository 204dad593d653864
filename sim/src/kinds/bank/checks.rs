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
//!   acknowledged is found committed, and none stands again after its
//!   reversal (its row beside its reversal's mark).
//!   The database also commits only what it is asked to: each commit it
//!   applied (its trace, with the transaction's id) belongs to the
//!   transaction that held the id then (the last a client was given it
//!   before), and that client must have sent its commit. A commit nobody
//!   asked for makes a transaction's unfinished writes permanent behind
//!   its client's back (a late copy of an old commit meeting a reused id).
//!   A write a client made once the faults stopped (see `settle`) and was
//!   told committed is there too, in its client's row.
//! - `isolation`: the transactions the clients ran (transfers and audits,
//!   each write tagged with its transaction) show no anomaly their own
//!   isolation levels rule out (see `consistency::isolation`). And the
//!   database refuses a commit for a row changed since it was read (not
//!   serializable, or a compare-and-set's version mismatch) only when it
//!   was: the row its refusal names was written by a transaction that
//!   committed while the refused one ran.
//! - `liveness`, of the database's idle timeout: the database keeps an open
//!   transaction until it has been idle for the timeout. A request inside
//!   one answered as for a transaction it does not know, with no crash of
//!   the database since the client last made the transaction active and
//!   too soon for the timeout to run out even on a clock running fast by
//!   the most drift a scenario sets, shows a transaction aborted early:
//!   the client must abort and retry work the database had promised to
//!   keep. And it does not keep one longer: a transaction a client left
//!   with no answer to its commit or rollback is unknown to the database
//!   once the run has been quiet for longer than the timeout and one
//!   sweep for idle transactions, even on a clock running slow by that
//!   drift (see `idle_probe`). One it kept would hold its place among the
//!   open transactions the database allows for good.

use ledger::{
    bugs::Checker,
    db::{Key, Recovered, TxnId, idle_abort_within},
};
use std::{collections::BTreeMap, time::Duration};

use super::{
    client::{self as bank, decode_balance, decode_transfer},
    reversal::REVERSED,
    settle,
};
use crate::{
    check::Violation,
    consistency::isolation,
    history::{History, Outcome, ProbeAnswer, Receipt, Refusal, TxnBegun},
    scenario::MAX_DRIFT_PPM,
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
/// Commits nobody asked for named individually at most.
const MAX_COMMITS_NAMED: usize = 4;

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
                "transfer row {} is malformed: {:?}",
                bank::row_name(key),
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

pub(super) fn durability(
    truth: &BankTruth<'_>,
    history: &History,
    end: Duration,
) -> Vec<Violation> {
    let engine = &truth.recovered.engine;
    let last = engine.last_commit();
    let mut violations = Vec::new();
    // A reversal deletes a transfer's row and marks it reversed in one
    // transaction: a row standing beside its mark was inserted again after
    // the reversal, by an attempt that should have found it done.
    for (key, _) in engine.rows(REVERSED) {
        if engine.committed(bank::TRANSFERS, key).is_some() {
            violations.push(Violation {
                checker: Checker::Durability,
                at: end,
                message: format!(
                    "transfer {} was reversed, then committed again: its row stands beside its reversal's mark",
                    bank::row_name(key)
                ),
            });
        }
    }
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
                    "{told}, but its row {} is missing from the recovered database, and it was not reversed",
                    bank::row_name(&key)
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

/// Every write since the faults stopped that was acknowledged must be in
/// the database: its commit, and its client's row, written by that attempt
/// or (a late copy of an earlier attempt's commit) another of the same
/// client's.
pub(super) fn settle_writes_durable(truth: &BankTruth<'_>, history: &History) -> Vec<Violation> {
    let engine = &truth.recovered.engine;
    let last = engine.last_commit();
    history
        .settle_writes()
        .iter()
        .filter_map(|write| {
            let commit = write.acknowledged?;
            let row = engine
                .committed(settle::SETTLED, &settle::key(write.client))
                .map(|row| settle::decode(&row.value));
            let lost = if commit.seq > last {
                format!("the recovered database ends at commit {last}")
            } else {
                match row {
                    None => "its row is missing from the recovered database".to_owned(),
                    Some(Some((client, _))) if client == write.client => return None,
                    Some(_) => format!(
                        "its row holds a value client {} never wrote",
                        write.client
                    ),
                }
            };
            Some(Violation {
                checker: Checker::Durability,
                at: commit.at,
                message: format!(
                    "client {}'s write once the faults stopped (attempt {}) was acknowledged as commit {}, but {lost}",
                    write.client, commit.attempt, commit.seq
                ),
            })
        })
        .collect()
}

/// Commits the database applied (`commits`: when, and the transaction's
/// id) of a transaction whose client never asked to commit it: the
/// transaction holding the id then is the last one a client was given it
/// before. A commit of an id no client was given is an atomic request's,
/// begun and committed at once. Only a database that gave one id to two
/// transactions, or committed one on its own, fails this.
/// The transactions clients began, by the id the database gave them (an
/// id may come back after a restart), to find which one a commit was of.
struct Holders<'h>(BTreeMap<u64, Vec<&'h TxnBegun>>);

impl<'h> Holders<'h> {
    fn of(history: &'h History) -> Holders<'h> {
        let mut holders: BTreeMap<u64, Vec<&TxnBegun>> = BTreeMap::new();
        for begun in history.begun() {
            holders.entry(begun.txn).or_default().push(begun);
        }
        Holders(holders)
    }

    /// The transaction that held `txn` at `at`: the last a client was
    /// given it before. `None` for an atomic request's id.
    fn at(&self, txn: u64, at: Duration) -> Option<&'h TxnBegun> {
        self.0
            .get(&txn)?
            .iter()
            .rev()
            .find(|begun| begun.begun_at <= at)
            .copied()
    }
}

pub(super) fn commits_asked_for(history: &History, commits: &[(Duration, u64)]) -> Vec<Violation> {
    let holders = Holders::of(history);
    let unasked: Vec<(Duration, u64, &TxnBegun)> = commits
        .iter()
        .filter_map(|&(at, txn)| {
            let holder = holders.at(txn, at)?;
            let asked = holder.commit_asked_at.is_some_and(|asked| asked <= at);
            (!asked).then_some((at, txn, holder))
        })
        .collect();
    let more = unasked.len().saturating_sub(MAX_COMMITS_NAMED);
    unasked
        .into_iter()
        .take(MAX_COMMITS_NAMED)
        .enumerate()
        .map(|(named, (at, txn, holder))| {
            let mut message = format!(
                "the database committed {} at {:.3}s, which nobody asked it to: {} had that id from {:.3}s and never sent its commit, so its unfinished writes are now permanent",
                TxnId(txn),
                at.as_secs_f64(),
                holder.label,
                holder.begun_at.as_secs_f64()
            );
            if named == 0 && more > 0 {
                message.push_str(&format!(" (and {more} more such commits)"));
            }
            Violation {
                checker: Checker::Durability,
                at,
                message,
            }
        })
        .collect()
}

/// Commits the database refused for a change with no cause: each refusal
/// names a row (one the transaction read, where a scan of its would now
/// come out differently, or one it compared-and-set against the version it
/// read), and a commit may be refused so only once another transaction
/// wrote that row after the read.
/// So some commit the database applied (`commits`: when, and the
/// transaction's id) between the refused transaction's begin and the
/// refusal must be of a transaction that asked to write the row, or of an
/// atomic request (an id no client was given, whose writes the history
/// does not hold). A database that refuses commits nothing conflicted
/// with passes every safety check but starves whatever it refuses: a
/// client that retries in another shape gets through, and an audit, never
/// retried, is lost.
pub(super) fn refusals_founded(history: &History, commits: &[(Duration, u64)]) -> Vec<Violation> {
    let holders = Holders::of(history);
    let wrote_row = |at: Duration, txn: u64, table: &str, key: &Key| {
        holders.at(txn, at).is_none_or(|holder| {
            holder
                .wrote
                .iter()
                .any(|(wrote, row)| wrote == table && row == key)
        })
    };
    let unfounded: Vec<(&TxnBegun, &Refusal)> = history
        .begun()
        .iter()
        .filter_map(|begun| Some((begun, begun.refused.as_ref()?)))
        .filter(|(begun, refusal)| {
            // Commits are in the order the database applied them, so the
            // refused transaction's lifetime is one short slice.
            let from = commits.partition_point(|&(at, _)| at < begun.begun_at);
            let to = commits.partition_point(|&(at, _)| at <= refusal.at);
            !commits[from..to.max(from)].iter().any(|&(at, txn)| {
                txn != begun.txn && wrote_row(at, txn, &refusal.table, &refusal.key)
            })
        })
        .collect();
    let more = unfounded.len().saturating_sub(MAX_COMMITS_NAMED);
    unfounded
        .into_iter()
        .take(MAX_COMMITS_NAMED)
        .enumerate()
        .map(|(named, (begun, refusal))| {
            let mut message = format!(
                "the database refused {}'s commit at {:.3}s {}, naming row {} of {} as changed, but no other transaction committed a write of that row while {} ran (from {:.3}s)",
                begun.label,
                refusal.at.as_secs_f64(),
                refusal.why,
                bank::row_name(&refusal.key),
                refusal.table,
                TxnId(begun.txn),
                begun.begun_at.as_secs_f64()
            );
            if named == 0 && more > 0 {
                message.push_str(&format!(" (and {more} more such refusals)"));
            }
            Violation {
                checker: Checker::Isolation,
                at: refusal.at,
                message,
            }
        })
        .collect()
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
    isolation::check(&txns, &bank::history_key_name)
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

/// Requests of open transactions the database forgot before their idle
/// timeout, given when the database crashed (`crashes`, in order).
pub(super) fn idle_timeout(
    history: &History,
    crashes: &[Duration],
    timeout: Duration,
) -> Vec<Violation> {
    // The idle time the database's clock measures over a true `span`, at
    // most: its clock runs fast by the most drift a scenario sets.
    let measured_at_most =
        |span: Duration| span.as_nanos() * u128::from(1_000_000 + MAX_DRIFT_PPM) / 1_000_000;
    history
        .forgotten()
        .iter()
        .filter(|forgotten| {
            let span = forgotten.answered_at - forgotten.active_since;
            let crashed = crashes
                .iter()
                .any(|&crash| (forgotten.active_since..=forgotten.answered_at).contains(&crash));
            !crashed && measured_at_most(span) < timeout.as_nanos()
        })
        .map(|forgotten| Violation {
            checker: Checker::Liveness,
            at: forgotten.answered_at,
            message: format!(
                "the database answered the {} of {} as for an unknown transaction ({}), {:.3}s after the transaction was last active, with no crash of the database between: it ended an open transaction (forgot, aborted or committed it) before its idle timeout of {:.3}s ran out",
                forgotten.request,
                forgotten.label,
                forgotten.txn,
                (forgotten.answered_at - forgotten.active_since).as_secs_f64(),
                timeout.as_secs_f64()
            ),
        })
        .collect()
}

/// Transactions clients left open that the database still held once it
/// had been quiet for longer than it keeps an idle transaction
/// ([`super::idle_probe`]): it never aborted them. One violation names the
/// first and counts the rest.
pub(super) fn idle_aborted(history: &History, timeout: Duration) -> Vec<Violation> {
    let mut held = history
        .idle_probes()
        .iter()
        .filter(|probe| probe.answer == ProbeAnswer::Held);
    let Some(first) = held.next() else {
        return Vec::new();
    };
    let others = held.count();
    let more = if others == 0 {
        String::new()
    } else {
        format!(", nor {others} more left open")
    };
    vec![Violation {
        checker: Checker::Liveness,
        at: first.sent_at,
        message: format!(
            "the database still held {}'s transaction ({}), which its client had left open, at least {:.3}s after it last saw it active, though it aborts a transaction idle for its timeout of {:.3}s within {:.3}s by its own clock: it never aborted it{more}",
            first.label,
            TxnId(first.txn),
            (first.sent_at - first.quiet_since).as_secs_f64(),
            timeout.as_secs_f64(),
            idle_abort_within(timeout).as_secs_f64(),
        ),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{IdleProbe, TxnForgotten};

    const MS: fn(u64) -> Duration = Duration::from_millis;

    /// A history of transactions `(label, id, begun at, commit sent at)`.
    fn begun(txns: &[(&str, u64, u64, Option<u64>)]) -> History {
        let mut history = History::default();
        for &(label, txn, begun_at, asked) in txns {
            let handle = history.txn_begun(TxnBegun {
                label: label.to_owned(),
                txn,
                begun_at: MS(begun_at),
                commit_asked_at: None,
                wrote: Vec::new(),
                refused: None,
                left_open: false,
            });
            if let Some(asked) = asked {
                history.txn_commit_asked(handle, MS(asked));
            }
        }
        history
    }

    #[test]
    fn commits_of_transactions_their_clients_committed_pass() {
        let history = begun(&[("T1", 7, 100, Some(300)), ("T2", 8, 150, None)]);
        // T1 committed after its client asked; 9 was an atomic request's.
        let commits = [(MS(310), 7), (MS(400), 9)];
        assert!(commits_asked_for(&history, &commits).is_empty());
    }

    #[test]
    fn a_commit_nobody_asked_for_is_named_with_the_holder_of_its_id() {
        // Id 7 given twice: to T1, whose client committed it, and after a
        // restart to T2, committed by a late copy of T1's commit.
        let history = begun(&[("T1", 7, 100, Some(300)), ("T2", 7, 2_000, None)]);
        let commits = [(MS(310), 7), (MS(2_400), 7)];
        let found = commits_asked_for(&history, &commits);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].checker, Checker::Durability);
        assert_eq!(found[0].at, MS(2_400));
        assert_eq!(
            found[0].message,
            "the database committed txn 0.7 at 2.400s, which nobody asked it to: T2 had that id from 2.000s and never sent its commit, so its unfinished writes are now permanent"
        );
    }

    #[test]
    fn a_commit_before_its_client_asked_fails_and_one_before_the_begin_is_left_alone() {
        // Committed before T1 sent its commit: not on T1's word.
        let early = begun(&[("T1", 7, 100, Some(500))]);
        assert_eq!(commits_asked_for(&early, &[(MS(400), 7)]).len(), 1);
        // Committed before any client had the id: nobody's transaction yet.
        let unheld = begun(&[("T1", 7, 100, None)]);
        assert!(commits_asked_for(&unheld, &[(MS(50), 7)]).is_empty());
    }

    #[test]
    fn many_commits_nobody_asked_for_are_counted_past_the_named() {
        let txns: Vec<(String, u64)> = (0..6).map(|at| (format!("T{at}"), at)).collect();
        let history = begun(
            &txns
                .iter()
                .map(|(label, txn)| (label.as_str(), *txn, 10 * txn, None))
                .collect::<Vec<_>>(),
        );
        let commits: Vec<(Duration, u64)> = (0..6).map(|txn| (MS(10 * txn + 5), txn)).collect();
        let found = commits_asked_for(&history, &commits);
        assert_eq!(found.len(), MAX_COMMITS_NAMED);
        assert!(
            found[0].message.ends_with("(and 2 more such commits)"),
            "{}",
            found[0].message
        );
    }

    /// A history of an audit (id 7, from 100 ms) refused at 500 ms for
    /// account 3, and a transfer (id 8, begun at `writer_begun`) that
    /// wrote account `written`.
    fn refused_audit(writer_begun: u64, written: i64) -> History {
        let mut history = begun(&[
            ("the audit", 7, 100, Some(480)),
            ("the transfer", 8, writer_begun, Some(300)),
        ]);
        history.txn_wrote(1, bank::ACCOUNTS, &Key::Int(written));
        history.txn_refused(
            0,
            Refusal {
                why: "as not serializable",
                table: bank::ACCOUNTS.to_owned(),
                key: Key::Int(3),
                at: MS(500),
            },
        );
        history
    }

    #[test]
    fn a_refusal_for_a_row_written_while_the_transaction_ran_is_founded() {
        let history = refused_audit(50, 3);
        assert!(refusals_founded(&history, &[(MS(310), 8)]).is_empty());
        // So is one whose cause is an atomic request's, whose writes no
        // client records.
        assert!(refusals_founded(&history, &[(MS(310), 9)]).is_empty());
    }

    #[test]
    fn a_refusal_nothing_wrote_towards_is_named() {
        // The transfer wrote another account.
        let other_row = refusals_founded(&refused_audit(50, 4), &[(MS(310), 8)]);
        assert_eq!(other_row.len(), 1, "{other_row:?}");
        assert_eq!(other_row[0].checker, Checker::Isolation);
        assert_eq!(other_row[0].at, MS(500));
        assert_eq!(
            other_row[0].message,
            "the database refused the audit's commit at 0.500s as not serializable, naming row 3 of accounts as changed, but no other transaction committed a write of that row while txn 0.7 ran (from 0.100s)"
        );
        // It wrote the row, but committed before the audit began.
        let before = refusals_founded(&refused_audit(20, 3), &[(MS(90), 8)]);
        assert_eq!(before.len(), 1, "{before:?}");
        // Or after the refusal.
        assert_eq!(
            refusals_founded(&refused_audit(50, 3), &[(MS(510), 8)]).len(),
            1
        );
    }

    fn forgotten(active_since: u64, answered_at: u64) -> History {
        let mut history = History::default();
        history.txn_forgotten(TxnForgotten {
            label: "client 1's transfer 2, attempt 1".to_owned(),
            request: "get",
            txn: "txn 1.7".to_owned(),
            active_since: Duration::from_millis(active_since),
            answered_at: Duration::from_millis(answered_at),
        });
        history
    }

    #[test]
    fn a_transaction_forgotten_early_without_a_crash_is_named() {
        let timeout = Duration::from_secs(1);
        let found = idle_timeout(&forgotten(2_000, 2_500), &[], timeout);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].at, Duration::from_millis(2_500));
        assert!(
            found[0].message.starts_with("the database answered the get of client 1's transfer 2, attempt 1 as for an unknown transaction (txn 1.7), 0.500s after the transaction was last active"),
            "{}",
            found[0].message
        );
    }

    #[test]
    fn a_crash_between_or_a_fast_clock_excuses_it() {
        let timeout = Duration::from_secs(1);
        let crash = [Duration::from_millis(2_200)];
        assert!(idle_timeout(&forgotten(2_000, 2_500), &crash, timeout).is_empty());
        // A crash before the transaction was last active lost nothing of it.
        let earlier = [Duration::from_millis(1_000)];
        assert_eq!(
            idle_timeout(&forgotten(2_000, 2_500), &earlier, timeout).len(),
            1
        );
        // 0.91s measured by a clock 10% fast is a full second.
        assert!(idle_timeout(&forgotten(2_000, 2_910), &[], timeout).is_empty());
        assert_eq!(
            idle_timeout(&forgotten(2_000, 2_900), &[], timeout).len(),
            1
        );
    }

    /// A history whose probes of transactions left open got `answers`.
    fn probed(answers: &[ProbeAnswer]) -> History {
        let mut history = History::default();
        for (txn, answer) in answers.iter().enumerate() {
            history.idle_probed(IdleProbe {
                label: format!("client 1's transfer {txn}, attempt 1"),
                txn: (1 << 32) | txn as u64,
                quiet_since: Duration::from_millis(30_000),
                sent_at: Duration::from_millis(42_223),
                answer: *answer,
            });
        }
        history
    }

    #[test]
    fn a_transaction_left_open_and_still_held_is_named_with_the_count_of_the_rest() {
        use ProbeAnswer::{Gone, Held, Unanswered};
        let timeout = Duration::from_secs(10);
        let found = idle_aborted(&probed(&[Gone, Held, Unanswered, Held, Held]), timeout);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].checker, Checker::Liveness);
        assert_eq!(found[0].at, Duration::from_millis(42_223));
        assert_eq!(
            found[0].message,
            "the database still held client 1's transfer 1, attempt 1's transaction (txn 1.1), which its client had left open, at least 12.223s after it last saw it active, though it aborts a transaction idle for its timeout of 10.000s within 11.000s by its own clock: it never aborted it, nor 2 more left open"
        );
    }

    #[test]
    fn transactions_the_database_no_longer_knows_or_never_answered_for_pass() {
        use ProbeAnswer::{Gone, Unanswered};
        let timeout = Duration::from_secs(10);
        assert!(idle_aborted(&probed(&[Gone, Unanswered, Gone]), timeout).is_empty());
        assert!(idle_aborted(&History::default(), timeout).is_empty());
    }
}
