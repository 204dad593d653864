//! The applier: folds the committed log in index order and hands each
//! entry's effects to the projector ([`super::projection`]).
//!
//! The fold lives in memory and is rebuilt from index 1 at every start, so
//! every replica decides the same.

use futures::channel::oneshot;
use std::{cell::RefCell, collections::BTreeMap, rc::Rc};

use super::{
    LedgerConfig, LedgerEvent,
    fold::{AddressCheck, Effect, Fold, Idempotency, IntentFence, Rules},
    projection::{OpenPayouts, Projector},
    types::decode_batch,
};
use crate::{
    bugs::{Bug, Bugs},
    db::DbClient,
    log::{Entry, EntryKind, LogClient},
    node::NodeEnv,
    observe::Event,
};

/// Committed entries read from the log at once at most.
pub const READ_BATCH: u32 = 64;

/// The fold and whoever waits for it to reach an index.
pub struct Folded {
    pub fold: Fold,
    /// The database's projection position as the outbox worker last read
    /// it, for the projector to notice a database that lost entries.
    pub scanned_position: Option<u64>,
    waiters: BTreeMap<u64, Vec<oneshot::Sender<()>>>,
    /// Wakes the idle applier when someone starts waiting.
    nudge: Option<oneshot::Sender<()>>,
    /// Committed entries the appender's acknowledgements brought, by index,
    /// not folded yet: the applier folds them before it reads the log.
    offered: BTreeMap<u64, Entry>,
}

pub type SharedFold = Rc<RefCell<Folded>>;

impl Folded {
    pub fn new(config: &LedgerConfig, env: &NodeEnv) -> SharedFold {
        Rc::new(RefCell::new(Folded {
            fold: Fold::new(rules(config, env.bugs)),
            scanned_position: None,
            waiters: BTreeMap::new(),
            nudge: None,
            offered: BTreeMap::new(),
        }))
    }

    /// Takes committed `entries` from index `from` on, as an append's
    /// acknowledgement brought them, and wakes the idle applier to fold
    /// them.
    pub fn offer(shared: &SharedFold, from: u64, entries: Vec<Entry>) {
        let mut folded = shared.borrow_mut();
        let applied = folded.fold.applied();
        let before = folded.offered.len();
        folded
            .offered
            .extend((from..).zip(entries).filter(|(index, _)| *index > applied));
        if folded.offered.len() == before {
            return;
        }
        if let Some(nudge) = folded.nudge.take() {
            let _ = nudge.send(());
        }
    }

    /// The offered entries from the fold's next index on, in order, `limit`
    /// at most; those already folded are dropped.
    fn take_offered(&mut self, limit: u32) -> Vec<Entry> {
        let next = self.fold.applied() + 1;
        // Popped, not split off: the applier asks every round, mostly of
        // an empty or current map.
        while self
            .offered
            .first_key_value()
            .is_some_and(|(index, _)| *index < next)
        {
            self.offered.pop_first();
        }
        let mut entries = Vec::new();
        while entries.len() < limit as usize {
            match self.offered.remove(&(next + entries.len() as u64)) {
                Some(entry) => entries.push(entry),
                None => break,
            }
        }
        entries
    }

    /// Resolves once the fold has applied `index`.
    pub fn reached(shared: &SharedFold, index: u64) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let mut folded = shared.borrow_mut();
        if folded.fold.applied() >= index {
            let _ = tx.send(());
        } else {
            folded.waiters.entry(index).or_default().push(tx);
            if let Some(nudge) = folded.nudge.take() {
                let _ = nudge.send(());
            }
        }
        rx
    }

    fn wake(&mut self) {
        let applied = self.fold.applied();
        let later = self.waiters.split_off(&(applied + 1));
        for waiter in std::mem::replace(&mut self.waiters, later)
            .into_values()
            .flatten()
        {
            let _ = waiter.send(());
        }
    }
}

/// The rules every replica folds by; planted bugs open the fence.
pub fn rules(config: &LedgerConfig, bugs: Bugs) -> Rules {
    let idempotency = if bugs.has(Bug::NoIdempotencyKey) {
        Idempotency::None
    } else {
        Idempotency::ByRequestId
    };
    let trusts_nonces = bugs.has(Bug::NonceReadModifyWrite) || bugs.has(Bug::NonceFromDbAfterWipe);
    Rules {
        accounts: config.accounts.clone(),
        initial_balance: config.initial_balance,
        hot_wallet: config.hot_wallet_key,
        fee: config.fee,
        idempotency,
        fence: IntentFence {
            nonce_in_order: !trusts_nonces,
        },
        addresses: if bugs.has(Bug::LaxAddressCheck) {
            AddressCheck::PrefixOnly
        } else {
            AddressCheck::Full
        },
    }
}

/// Folds the entry at `index`; returns its effects (none for a no-op or a
/// foreign entry).
pub fn fold_entry(fold: &mut Fold, index: u64, entry: &Entry) -> Vec<Effect> {
    let commands = match &entry.kind {
        EntryKind::Command { data, .. } => decode_batch(data),
        EntryKind::Noop => None,
    };
    match commands {
        Some(commands) => fold.apply(index, &commands),
        None => {
            fold.skip(index);
            Vec::new()
        }
    }
}

/// The most idle polls an applier that keeps finding nothing new waits
/// between reads. A nudge (a request waiting on an entry) ends a wait early.
const IDLE_BACKOFF: u32 = 4;

/// Runs the applier of one incarnation.
pub async fn run(
    env: NodeEnv,
    config: LedgerConfig,
    mut log: LogClient,
    db: DbClient,
    shared: SharedFold,
    session: u64,
) {
    let mut projector = Projector::new(env.clone(), config.clone(), db);
    // How long to idle: the idle poll after news, doubling with each read
    // that finds none, up to four idle polls.
    let mut idle = config.idle_poll;
    // After a projection, the next round projects again without reading
    // the log, which was just read to its end (or folded from an
    // acknowledgement that brought what there was).
    let mut project_only = false;
    loop {
        let offered = shared.borrow_mut().take_offered(READ_BATCH);
        let read = !project_only && offered.is_empty();
        let entries = if read {
            let from = shared.borrow().fold.applied() + 1;
            log.read_committed(from, READ_BATCH, config.log_timeout)
                .await
                .unwrap_or_default()
        } else {
            offered
        };
        let got = entries.len();
        {
            let mut folded = shared.borrow_mut();
            for entry in entries {
                let index = folded.fold.applied() + 1;
                let effects = fold_entry(&mut folded.fold, index, &entry);
                for mark in folded.fold.take_marks() {
                    env.mark(mark);
                }
                let mine =
                    matches!(entry.kind, EntryKind::Command { client, .. } if client == session);
                projector.folded(index, effects, mine);
            }
            folded.wake();
            if got > 0 {
                idle = config.idle_poll;
            } else if read {
                idle = (idle * 2).min(config.idle_poll * IDLE_BACKOFF);
            }
            if got > 0 {
                env.record(Event::Ledger(LedgerEvent::Folded {
                    applied: folded.fold.applied(),
                    unconfirmed: folded.fold.open_count() as u64,
                }));
            }
        }
        let (folded_through, payouts, scanned) = {
            let mut folded = shared.borrow_mut();
            let scanned = folded.scanned_position.take();
            let fold = &folded.fold;
            let payouts = if fold.open_count() == 0 {
                OpenPayouts::None
            } else if fold.any_open_signed() {
                OpenPayouts::Signed
            } else {
                OpenPayouts::Unsigned
            };
            (fold.applied(), payouts, scanned)
        };
        let projected = projector
            .project(&mut log, folded_through, payouts, scanned)
            .await;
        project_only = projected && got < READ_BATCH as usize;
        if got < READ_BATCH as usize && !projected {
            // Someone waits for an entry this replica appended: it is
            // committed, so ask again soon. Otherwise idle until asked.
            let nudged = {
                let mut folded = shared.borrow_mut();
                if folded.waiters.is_empty() {
                    let (tx, rx) = oneshot::channel();
                    folded.nudge = Some(tx);
                    Some(rx)
                } else {
                    None
                }
            };
            match nudged {
                Some(nudged) => {
                    let _ = env.clock.timeout(idle, nudged).await;
                }
                None => env.sleep(config.apply_poll).await,
            }
        }
    }
}
