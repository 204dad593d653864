//! The system's fold against the checkers' reference, on random committed
//! logs. The checkers judge every run against [`Reference`], never against
//! the fold; where the two disagree, a correct run fails or a broken one
//! passes. The log is built as the ledger writes it (a batch of commands
//! per entry, leaders' no-ops, other writers' payloads, entries committed
//! twice by a retried append), folded as the applier folds it, and replayed
//! by the reference; both must decide the same.
//!
//! The pools are tiny (three clients sharing three request ids, balances
//! and amounts of a few dozen, nonces below four) so that retries,
//! conflicting reuses of an id, overdraws, confirmations before, after and
//! without an accept, and payout intents racing for a payout or a nonce
//! are common, and every rule has a bad value to meet, at and past its
//! limit.

use ledger::{
    chain::{SigningKey, Transfer, TxHash},
    ledger::{
        AddressCheck, Answer, Command, Confirmation, Effect, Fold, HOT_WALLET, Idempotency,
        IntentFence, MAX_AMOUNT, MAX_NAME_BYTES, MAX_REQUEST_ID_BYTES, Rules, TransferId,
        TransferRequest, decode_batch, encode_batch,
    },
    log::{Entry, EntryKind},
};
use proptest::{prelude::*, sample::Index};
use std::collections::{BTreeMap, BTreeSet};

use super::reference::{PayoutRules, Reference};

/// The fee payouts pay, and the hot wallet's key, in these logs.
const FEE: u64 = 1;
fn hot_wallet() -> SigningKey {
    SigningKey::derive(1, HOT_WALLET)
}

const CLIENTS: u64 = 3;
/// Account names requests use: one more than the largest ledger has, so
/// that some are unknown.
const ACCOUNT_NAMES: usize = 4;
/// The log client of writers other than the ledger's appenders.
const FOREIGN: u64 = 99;

/// A command of the log, before it is resolved against the commands that
/// came before it.
#[derive(Debug, Clone)]
enum Step {
    /// A request, whose id may well be taken already.
    Request {
        client: u64,
        request: TransferRequest,
    },
    /// An earlier command again, as a retry appends it.
    Again(Index),
    /// A confirmation of the transfer an earlier request names, whatever
    /// became of that request.
    ConfirmEarlier(Index, Confirmation),
    /// A confirmation of the transfer a client's request id names, whether
    /// or not that request has come yet.
    Confirm {
        client: u64,
        request_id: String,
        confirmation: Confirmation,
    },
    /// A confirmation of a transfer no request names.
    ConfirmUnknown(u64, Confirmation),
    /// An intent to pay the transfer an earlier request names, with this
    /// request's parameters (which a conflicting reuse of the id changes),
    /// a nonce that may or may not be the log's next, and maybe a flaw.
    Intent(Index, u64, Flaw),
}

/// What may be wrong with an intent's transaction besides its nonce.
#[derive(Debug, Clone, Copy)]
enum Flaw {
    None,
    ForeignKey,
    Amount,
    Address,
    Fee,
    Memo,
}

/// An entry of the log, before it is resolved.
#[derive(Debug, Clone)]
enum Slot {
    /// A batch appended by the appender of ledger replica `appender`.
    Batch { appender: u64, steps: Vec<Step> },
    /// A new leader's entry.
    Noop,
    /// Another writer's payload, too short to be a batch.
    Foreign(Vec<u8>),
    /// An earlier entry again, as a retried append commits it twice.
    Again(Index),
}

#[derive(Debug, Clone)]
struct Case {
    accounts: usize,
    initial_balance: u64,
    slots: Vec<Slot>,
    /// Which entry the reference keeps the balances after.
    snapshot_at: Index,
}

fn account_name(number: usize) -> String {
    format!("acct-{number}")
}

// Each field is good most of the time and bad now and then, so that most
// requests get as far as the balance while every rule still meets bad
// values in most cases.

fn request_id() -> impl Strategy<Value = String> {
    prop_oneof![
        30 => prop::sample::select(vec!["a", "b", "c"]).prop_map(str::to_owned),
        1 => Just("i".repeat(MAX_REQUEST_ID_BYTES)),
        1 => Just(String::new()),
        1 => Just("i".repeat(MAX_REQUEST_ID_BYTES + 1)),
    ]
}

/// The first accounts most often, as every ledger has those.
fn account() -> impl Strategy<Value = String> {
    prop_oneof![
        12 => Just(account_name(0)),
        8 => Just(account_name(1)),
        6 => Just(account_name(2)),
        2 => Just(account_name(3)),
        1 => Just(String::new()),
        1 => Just("a".repeat(MAX_NAME_BYTES + 1)),
    ]
}

fn address() -> impl Strategy<Value = String> {
    prop_oneof![
        30 => prop::sample::select(vec!["user-1", "user-42", "user-123456789"])
            .prop_map(str::to_owned),
        3 => prop::sample::select(vec![
            "",
            "user-",
            "user-1234567890",
            "user-1x",
            "user-\u{663}",
            "USER-1",
            "hot-wallet",
        ])
        .prop_map(str::to_owned),
        1 => Just(format!("user-{}", "1".repeat(MAX_NAME_BYTES))),
    ]
}

/// Small against the balances, so a few accepts lead to an overdraw.
fn amount() -> impl Strategy<Value = u64> {
    prop_oneof![
        30 => 1..=20u64,
        1 => Just(0),
        1 => Just(MAX_AMOUNT),
        1 => Just(MAX_AMOUNT + 1),
        1 => Just(u64::MAX),
    ]
}

fn initial_balance() -> impl Strategy<Value = u64> {
    prop_oneof![
        8 => 0..=40u64,
        1 => Just(MAX_AMOUNT),
        1 => Just(u64::MAX),
    ]
}

fn request() -> impl Strategy<Value = TransferRequest> {
    (request_id(), account(), address(), amount()).prop_map(
        |(request_id, account, to_address, amount)| TransferRequest {
            request_id,
            account,
            to_address,
            amount,
        },
    )
}

/// Few distinct values, so that a second confirmation is sometimes the
/// same as the first and sometimes not.
fn confirmation() -> impl Strategy<Value = Confirmation> {
    (0..3u64, 0..3u64, 1..5u64, 1..5u64).prop_map(|(tx, nonce, height, depth)| Confirmation {
        tx: TxHash(tx),
        nonce,
        height,
        depth,
    })
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => (1..=CLIENTS, request())
            .prop_map(|(client, request)| Step::Request { client, request }),
        4 => any::<Index>().prop_map(Step::Again),
        3 => (any::<Index>(), confirmation())
            .prop_map(|(earlier, confirmation)| Step::ConfirmEarlier(earlier, confirmation)),
        2 => (1..=CLIENTS, request_id(), confirmation()).prop_map(
            |(client, request_id, confirmation)| Step::Confirm {
                client,
                request_id,
                confirmation,
            }
        ),
        1 => (any::<u64>(), confirmation())
            .prop_map(|(transfer, confirmation)| Step::ConfirmUnknown(transfer, confirmation)),
        6 => (any::<Index>(), 0..4u64, flaw())
            .prop_map(|(earlier, nonce, flaw)| Step::Intent(earlier, nonce, flaw)),
    ]
}

fn flaw() -> impl Strategy<Value = Flaw> {
    prop_oneof![
        20 => Just(Flaw::None),
        1 => Just(Flaw::ForeignKey),
        1 => Just(Flaw::Amount),
        1 => Just(Flaw::Address),
        1 => Just(Flaw::Fee),
        1 => Just(Flaw::Memo),
    ]
}

/// The intent to pay `request` of `client` with `nonce`, flawed as asked.
fn intent(client: u64, request: &TransferRequest, nonce: u64, flaw: Flaw) -> Command {
    let transfer = TransferId::of(client, &request.request_id);
    let mut paid = Transfer {
        from: HOT_WALLET.to_owned(),
        nonce,
        to: request.to_address.clone(),
        amount: request.amount,
        fee: FEE,
        memo: transfer.memo(),
    };
    let mut key = hot_wallet();
    match flaw {
        Flaw::None => {}
        Flaw::ForeignKey => key = SigningKey::derive(2, HOT_WALLET),
        Flaw::Amount => paid.amount = paid.amount.wrapping_add(1),
        Flaw::Address => paid.to = "user-7".to_owned(),
        Flaw::Fee => paid.fee = FEE + 1,
        Flaw::Memo => paid.memo = TransferId(transfer.0 ^ 1).memo(),
    }
    Command::Intent {
        transfer,
        tx: key.sign(paid),
    }
}

fn slot() -> impl Strategy<Value = Slot> {
    prop_oneof![
        10 => (0..3u64, prop::collection::vec(step(), 0..=4))
            .prop_map(|(appender, steps)| Slot::Batch { appender, steps }),
        1 => Just(Slot::Noop),
        1 => prop::collection::vec(any::<u8>(), 0..8).prop_map(Slot::Foreign),
        2 => any::<Index>().prop_map(Slot::Again),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (
        1..=ACCOUNT_NAMES - 1,
        initial_balance(),
        prop::collection::vec(slot(), 0..24),
        any::<Index>(),
    )
        .prop_map(|(accounts, initial_balance, slots, snapshot_at)| Case {
            accounts,
            initial_balance,
            slots,
            snapshot_at,
        })
}

/// The committed log `slots` stand for, and the commands of its batches
/// in the order they were resolved.
fn resolve(slots: &[Slot]) -> (Vec<Entry>, Vec<Command>) {
    let mut log: Vec<Entry> = Vec::new();
    let mut commands: Vec<Command> = Vec::new();
    let mut seqs: BTreeMap<u64, u64> = BTreeMap::new();
    let mut next_seq = |client: u64| {
        let seq = seqs.entry(client).or_default();
        *seq += 1;
        *seq
    };
    for slot in slots {
        let kind = match slot {
            Slot::Batch { appender, steps } => {
                let start = commands.len();
                for step in steps {
                    if let Some(command) = resolve_step(step, &commands) {
                        commands.push(command);
                    }
                }
                EntryKind::Command {
                    client: *appender,
                    seq: next_seq(*appender),
                    data: encode_batch(&commands[start..]),
                }
            }
            Slot::Noop => EntryKind::Noop,
            Slot::Foreign(bytes) => EntryKind::Command {
                client: FOREIGN,
                seq: next_seq(FOREIGN),
                data: bytes.clone(),
            },
            Slot::Again(earlier) => match log.len() {
                0 => continue,
                len => log[earlier.index(len)].kind.clone(),
            },
        };
        log.push(Entry { term: 1, kind });
    }
    (log, commands)
}

/// `step` as a command, given the commands before it; `None` when it
/// refers back to a command there is none of.
fn resolve_step(step: &Step, earlier: &[Command]) -> Option<Command> {
    let confirmed = |transfer, confirmation: &Confirmation| Command::Confirmed {
        transfer,
        confirmation: *confirmation,
    };
    match step {
        Step::Request { client, request } => Some(Command::Transfer {
            client: *client,
            request: request.clone(),
        }),
        Step::Again(index) => {
            (!earlier.is_empty()).then(|| earlier[index.index(earlier.len())].clone())
        }
        Step::ConfirmEarlier(index, confirmation) => {
            let named: Vec<TransferId> = earlier
                .iter()
                .filter_map(|command| match command {
                    Command::Transfer { client, request } => {
                        Some(TransferId::of(*client, &request.request_id))
                    }
                    Command::Confirmed { .. } | Command::Intent { .. } => None,
                })
                .collect();
            (!named.is_empty()).then(|| confirmed(named[index.index(named.len())], confirmation))
        }
        Step::Intent(index, nonce, flaw) => {
            let requested = requests(earlier);
            (!requested.is_empty()).then(|| {
                let (client, request) = requested[index.index(requested.len())];
                intent(client, request, *nonce, *flaw)
            })
        }
        Step::Confirm {
            client,
            request_id,
            confirmation,
        } => Some(confirmed(TransferId::of(*client, request_id), confirmation)),
        Step::ConfirmUnknown(transfer, confirmation) => {
            Some(confirmed(TransferId(*transfer), confirmation))
        }
    }
}

/// The system's fold of `log`, driven as the applier drives it, with every
/// effect it returned and the index it returned it for.
fn fold(log: &[Entry], accounts: &[String], initial_balance: u64) -> (Fold, Vec<(u64, Effect)>) {
    let mut fold = Fold::new(Rules {
        accounts: accounts.to_vec(),
        initial_balance,
        hot_wallet: hot_wallet(),
        fee: FEE,
        idempotency: Idempotency::ByRequestId,
        fence: IntentFence::FULL,
        addresses: AddressCheck::Full,
    });
    let mut effects = Vec::new();
    for (offset, entry) in log.iter().enumerate() {
        let index = offset as u64 + 1;
        let commands = match &entry.kind {
            EntryKind::Command { data, .. } => decode_batch(data),
            EntryKind::Noop => None,
        };
        match commands {
            Some(commands) => effects.extend(
                fold.apply(index, &commands)
                    .into_iter()
                    .map(|effect| (index, effect)),
            ),
            None => fold.skip(index),
        }
    }
    (fold, effects)
}

/// A request's fate: its transfer, or the kind of its rejection.
type Verdict = Result<TransferId, &'static str>;

fn verdict(answer: &Answer) -> Verdict {
    match answer {
        Answer::Accepted(transfer) => Ok(*transfer),
        Answer::Rejected(rejection) => Err(rejection.kind()),
    }
}

/// What a replay of the log decided, in terms both sides can state: what
/// the fold's lookups say, and what its effects make the projection do.
#[derive(Debug)]
struct Decisions {
    /// Per client and request id: the request first recorded, its verdict.
    decided: BTreeMap<(u64, String), (TransferRequest, Verdict)>,
    /// Per accepted transfer: its client, request, log index and slot.
    accepted: BTreeMap<TransferId, (u64, TransferRequest, u64, u64)>,
    /// Per confirmed transfer: its first confirmation's tx, nonce, height.
    confirmed: BTreeMap<TransferId, (TxHash, u64, u64)>,
    unconfirmed: BTreeSet<TransferId>,
    /// The answer to each request of the log sent again: the first answer
    /// for its id if the parameters match, a conflict if not.
    answers: Vec<Option<Verdict>>,
    /// The outbox rows the projection opens, in log order: slot, transfer,
    /// request and index.
    opened: Vec<(u64, TransferId, TransferRequest, u64)>,
    /// The outbox rows the projection closes: confirming index and slot.
    closed: Vec<(u64, u64)>,
    /// Per payout, the transaction the log took as its intent.
    intents: BTreeMap<TransferId, TxHash>,
    /// The intents the projection records, in log order: index, slot,
    /// transfer, nonce and transaction.
    signed: Vec<(u64, u64, TransferId, u64, TxHash)>,
    /// The nonce the next intent must carry.
    next_nonce: u64,
    /// Internal balances after the whole log and after the snapshot's
    /// entry; signed, so that an overdraft shows as one.
    balances: BTreeMap<String, i128>,
    snapshot: BTreeMap<String, i128>,
}

/// Every request in `commands`, in order.
fn requests(commands: &[Command]) -> Vec<(u64, &TransferRequest)> {
    commands
        .iter()
        .filter_map(|command| match command {
            Command::Transfer { client, request } => Some((*client, request)),
            Command::Confirmed { .. } | Command::Intent { .. } => None,
        })
        .collect()
}

fn signed_balances(balances: &BTreeMap<String, u64>) -> BTreeMap<String, i128> {
    balances
        .iter()
        .map(|(account, balance)| (account.clone(), i128::from(*balance)))
        .collect()
}

impl Decisions {
    /// What the reference decides; `snapshot`, its balances at the case's
    /// snapshot index.
    fn of_reference(
        reference: &Reference,
        snapshot: &BTreeMap<String, u64>,
        commands: &[Command],
    ) -> Decisions {
        let mut opened: Vec<_> = reference
            .accepted
            .iter()
            .map(|(transfer, accepted)| {
                let (slot, request) = (accepted.slot, accepted.request.clone());
                (slot, *transfer, request, accepted.index)
            })
            .collect();
        opened.sort_by_key(|(slot, ..)| *slot);
        let mut closed: Vec<_> = reference
            .confirmed
            .iter()
            // A confirmation of a transfer never accepted shows in
            // `confirmed`; it closes no row.
            .filter_map(|(transfer, confirmed)| {
                Some((confirmed.index, reference.accepted.get(transfer)?.slot))
            })
            .collect();
        closed.sort();
        let mut signed: Vec<_> = reference
            .intents
            .iter()
            .map(|(transfer, intent)| {
                let slot = reference.accepted[transfer].slot;
                let nonce = intent.tx.transfer.nonce;
                (intent.index, slot, *transfer, nonce, intent.tx.hash())
            })
            .collect();
        signed.sort();
        Decisions {
            decided: reference
                .decided
                .iter()
                .map(|(key, decided)| (key.clone(), (decided.request.clone(), decided.verdict)))
                .collect(),
            accepted: reference
                .accepted
                .iter()
                .map(|(transfer, accepted)| {
                    let request = accepted.request.clone();
                    let place = (accepted.client, request, accepted.index, accepted.slot);
                    (*transfer, place)
                })
                .collect(),
            confirmed: reference
                .confirmed
                .iter()
                .map(|(transfer, confirmed)| {
                    let first = (confirmed.tx, confirmed.nonce, confirmed.height);
                    (*transfer, first)
                })
                .collect(),
            unconfirmed: reference
                .accepted
                .keys()
                .filter(|transfer| !reference.confirmed.contains_key(transfer))
                .copied()
                .collect(),
            answers: requests(commands)
                .into_iter()
                .map(|(client, request)| {
                    let decided = reference
                        .decided
                        .get(&(client, request.request_id.clone()))?;
                    Some(if decided.request == *request {
                        decided.verdict
                    } else {
                        Err("conflict")
                    })
                })
                .collect(),
            opened,
            closed,
            intents: reference
                .intents
                .iter()
                .map(|(transfer, intent)| (*transfer, intent.tx.hash()))
                .collect(),
            signed,
            next_nonce: reference.next_nonce,
            balances: signed_balances(&reference.balances),
            snapshot: signed_balances(snapshot),
        }
    }

    fn of_fold(
        fold: &Fold,
        effects: &[(u64, Effect)],
        commands: &[Command],
        accounts: &[String],
        initial_balance: u64,
        snapshot_at: u64,
    ) -> Decisions {
        // Only ids the log holds can be known to the fold.
        let keys: BTreeSet<(u64, String)> = requests(commands)
            .into_iter()
            .map(|(client, request)| (client, request.request_id.clone()))
            .collect();
        let decided: BTreeMap<_, _> = keys
            .iter()
            .filter_map(|(client, request_id)| {
                let record = fold.lookup(*client, request_id)?;
                let key = (*client, request_id.clone());
                Some((key, (record.request.clone(), verdict(&record.answer))))
            })
            .collect();
        let transfers: BTreeMap<TransferId, _> = keys
            .iter()
            .filter_map(|(client, request_id)| {
                let transfer = TransferId::of(*client, request_id);
                Some((transfer, fold.transfer(transfer)?))
            })
            .collect();
        let initial: BTreeMap<String, i128> = accounts
            .iter()
            .map(|account| (account.clone(), i128::from(initial_balance)))
            .collect();
        let (mut balances, mut snapshot) = (initial.clone(), initial);
        let mut opened = Vec::new();
        let mut closed = Vec::new();
        let mut signed = Vec::new();
        let mut next_nonce = 0;
        for (index, effect) in effects {
            match effect {
                Effect::Accept {
                    slot,
                    transfer,
                    request,
                } => {
                    opened.push((*slot, *transfer, request.clone(), *index));
                    let debit = i128::from(request.amount);
                    *balances.entry(request.account.clone()).or_default() -= debit;
                    if *index <= snapshot_at {
                        *snapshot.entry(request.account.clone()).or_default() -= debit;
                    }
                }
                Effect::Intent {
                    slot,
                    transfer,
                    tx,
                    next_nonce: next,
                } => {
                    signed.push((*index, *slot, *transfer, tx.transfer.nonce, tx.hash()));
                    next_nonce = *next;
                }
                Effect::Confirm { slot } => closed.push((*index, *slot)),
            }
        }
        closed.sort();
        signed.sort();
        assert_eq!(
            next_nonce,
            fold.next_nonce(),
            "the last intent's effect is current"
        );
        Decisions {
            decided,
            accepted: transfers
                .iter()
                .map(|(id, transfer)| {
                    let request = transfer.request.clone();
                    (
                        *id,
                        (transfer.client, request, transfer.index, transfer.slot),
                    )
                })
                .collect(),
            confirmed: transfers
                .iter()
                .filter_map(|(id, transfer)| {
                    let first = transfer.confirmation?;
                    Some((*id, (first.tx, first.nonce, first.height)))
                })
                .collect(),
            unconfirmed: fold.unconfirmed().map(|(id, _)| *id).collect(),
            answers: requests(commands)
                .into_iter()
                .map(|(client, request)| Some(verdict(&fold.answer(client, request)?)))
                .collect(),
            opened,
            closed,
            intents: transfers
                .iter()
                .filter_map(|(id, transfer)| Some((*id, transfer.intent.as_ref()?.hash())))
                .collect(),
            signed,
            next_nonce,
            balances,
            snapshot,
        }
    }
}

proptest! {
    #![proptest_config(crate::testing::cases(1024))]

    #[test]
    fn the_fold_decides_what_the_reference_decides(case in case()) {
        let accounts: Vec<String> = (0..case.accounts).map(account_name).collect();
        let (log, commands) = resolve(&case.slots);
        let snapshot_at = case.snapshot_at.index(log.len() + 1) as u64;
        let rules = PayoutRules { hot_wallet: hot_wallet(), fee: FEE };
        let mut reference = Reference::new(&accounts, case.initial_balance, rules);
        reference.replay_to(&log, snapshot_at);
        let balances_at_snapshot = reference.balances.clone();
        reference.replay_to(&log, log.len() as u64);
        let (fold, effects) = fold(&log, &accounts, case.initial_balance);
        let batches: Vec<Option<Vec<Command>>> = log
            .iter()
            .map(|entry| match &entry.kind {
                EntryKind::Command { data, .. } => decode_batch(data),
                EntryKind::Noop => None,
            })
            .collect();
        let system = Decisions::of_fold(
            &fold,
            &effects,
            &commands,
            &accounts,
            case.initial_balance,
            snapshot_at,
        );
        let initial = case.initial_balance;
        let context = format!(
            "accounts {accounts:?} at {initial} each, snapshot after entry {snapshot_at}, \
             log {batches:#?}"
        );
        // Field by field, so that a failure names what differs; destructured,
        // so that a field added to `Decisions` cannot go unchecked.
        let Decisions {
            decided,
            accepted,
            confirmed,
            unconfirmed,
            answers,
            opened,
            closed,
            intents,
            signed,
            next_nonce,
            balances,
            snapshot,
        } = Decisions::of_reference(&reference, &balances_at_snapshot, &commands);
        macro_rules! agree {
            ($($field:ident),*) => {$(
                prop_assert_eq!(
                    &system.$field,
                    &$field,
                    "{} differ (left: the fold, right: the reference); {}",
                    stringify!($field),
                    context
                );
            )*};
        }
        agree!(
            decided,
            accepted,
            confirmed,
            unconfirmed,
            answers,
            opened,
            closed,
            intents,
            signed,
            next_nonce,
            balances,
            snapshot
        );
    }
}
