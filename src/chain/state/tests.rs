//! Inclusion rules, one small story each.

use super::*;
use crate::chain::types::Transfer;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const SECRET: u64 = 7;

fn chain(double_include: bool) -> ChainState {
    ChainState::new(setup(double_include, false))
}

fn setup(double_include: bool, skip_signatures: bool) -> ChainSetup {
    let accounts = ["alice", "bob"];
    ChainSetup {
        genesis: accounts
            .iter()
            .map(|name| (name.to_string(), 100))
            .collect(),
        keys: accounts
            .iter()
            .map(|name| (name.to_string(), SigningKey::derive(SECRET, name)))
            .collect(),
        block_size: 10,
        double_include,
        skip_signatures,
        reorg_loses_transactions: false,
        replacement_fee_inverted: false,
    }
}

fn tx(from: &str, nonce: u64, amount: u64, fee: u64) -> Transaction {
    let to = if from == "alice" { "bob" } else { "alice" };
    SigningKey::derive(SECRET, from).sign(Transfer {
        from: from.to_owned(),
        nonce,
        to: to.to_owned(),
        amount,
        fee,
        memo: format!("{from}-{nonce}-{fee}"),
    })
}

fn included(chain: &ChainState) -> Vec<String> {
    chain
        .blocks()
        .iter()
        .flat_map(|block| &block.transactions)
        .map(|tx| tx.transfer.memo.clone())
        .collect()
}

fn total(chain: &ChainState) -> u64 {
    chain.balances().values().sum()
}

#[test]
fn a_nonce_gap_waits_until_it_is_filled() {
    let mut chain = chain(false);
    assert_eq!(chain.submit(tx("alice", 1, 10, 1)), Ok(Accepted::New));
    chain.produce_block();
    assert!(included(&chain).is_empty(), "nonce 1 waits for nonce 0");
    assert_eq!(chain.submit(tx("alice", 0, 10, 1)), Ok(Accepted::New));
    chain.produce_block();
    assert_eq!(included(&chain), ["alice-0-1", "alice-1-1"]);
    assert_eq!(chain.next_nonce("alice"), 2);
    assert_eq!(chain.balance("alice"), 78);
    assert_eq!(chain.balance(MINER), 2);
    assert_eq!(total(&chain), 200);
}

#[test]
fn a_used_nonce_is_too_low_and_a_pending_transaction_is_idempotent() {
    let mut chain = chain(false);
    let first = tx("alice", 0, 10, 1);
    chain.submit(first.clone()).unwrap();
    assert_eq!(chain.submit(first.clone()), Ok(Accepted::Known));
    chain.produce_block();
    // Once included, its nonce is spent, as geth answers.
    assert_eq!(
        chain.submit(first.clone()),
        Err(SubmitError::NonceTooLow {
            from: "alice".into(),
            next: 1
        })
    );
    assert_eq!(
        chain.submit(tx("alice", 0, 20, 1)),
        Err(SubmitError::NonceTooLow {
            from: "alice".into(),
            next: 1
        })
    );
    assert_eq!(
        chain.receipt(first.hash()),
        Some(Receipt {
            height: 1,
            confirmations: 1
        })
    );
    chain.produce_block();
    assert_eq!(
        chain.receipt(first.hash()).map(|r| r.confirmations),
        Some(2)
    );
}

#[test]
fn a_higher_fee_replaces_and_a_lower_one_does_not() {
    let mut chain = chain(false);
    let cheap = tx("alice", 0, 10, 1);
    chain.submit(cheap.clone()).unwrap();
    // Signing the same transfer again gives the same transaction.
    assert_eq!(chain.submit(tx("alice", 0, 10, 1)), Ok(Accepted::Known));
    assert_eq!(
        chain.submit(tx("alice", 0, 11, 1)),
        Err(SubmitError::ReplacementUnderpriced { pending_fee: 1 })
    );
    assert_eq!(
        chain.submit(tx("alice", 0, 10, 5)),
        Ok(Accepted::Replaced {
            previous: cheap.hash()
        })
    );
    chain.produce_block();
    assert_eq!(included(&chain), ["alice-0-5"]);
    assert_eq!(chain.receipt(cheap.hash()), None);
}

#[test]
fn insufficient_funds_are_rejected_with_the_reason() {
    let mut chain = chain(false);
    assert_eq!(
        chain.submit(tx("alice", 0, 100, 1)),
        Err(SubmitError::InsufficientFunds {
            from: "alice".into(),
            balance: 100,
            cost: 101
        })
    );
    // Affordable when submitted, not when its turn comes: evicted.
    chain.submit(tx("alice", 0, 60, 1)).unwrap();
    chain.submit(tx("alice", 1, 60, 1)).unwrap();
    chain.produce_block();
    assert_eq!(included(&chain), ["alice-0-1"]);
    assert_eq!(chain.pending().count(), 0);
    assert_eq!(total(&chain), 200);
}

#[test]
fn forged_and_unknown_senders_are_rejected() {
    let mut chain = chain(false);
    let mut forged = tx("alice", 0, 10, 1);
    forged.transfer.amount = 90;
    assert_eq!(chain.submit(forged), Err(SubmitError::BadSignature));
    let stranger = SigningKey::derive(SECRET, "mallory").sign(Transfer {
        from: "mallory".into(),
        nonce: 0,
        to: "bob".into(),
        amount: 1,
        fee: 1,
        memo: String::new(),
    });
    assert_eq!(
        chain.submit(stranger),
        Err(SubmitError::UnknownSender("mallory".into()))
    );
}

/// The planted bug: a payment altered after signing, and one signed with
/// bob's key, both spend alice's money.
#[test]
fn the_skip_signature_bug_lets_forgeries_spend() {
    let mut chain = ChainState::new(setup(false, true));
    let mut altered = tx("alice", 0, 10, 1);
    altered.transfer.amount = 90;
    assert_eq!(chain.submit(altered.clone()), Ok(Accepted::New));
    let stolen = SigningKey::derive(SECRET, "bob").sign(Transfer {
        from: "alice".into(),
        nonce: 1,
        to: "bob".into(),
        amount: 5,
        fee: 1,
        memo: "stolen".into(),
    });
    assert_eq!(chain.submit(stolen.clone()), Ok(Accepted::New));
    chain.produce_block();
    assert_eq!(
        included(&chain),
        [altered.transfer.memo, stolen.transfer.memo]
    );
    assert_eq!(chain.balance("alice"), 100 - 91 - 6);
}

#[test]
fn higher_fees_go_first_within_a_block() {
    let mut chain = chain(false);
    chain.submit(tx("alice", 0, 1, 1)).unwrap();
    chain.submit(tx("bob", 0, 1, 9)).unwrap();
    chain.produce_block();
    assert_eq!(included(&chain), ["bob-0-9", "alice-0-1"]);
}

#[test]
fn a_reorg_returns_transactions_in_another_order_and_can_drop_them() {
    let mut chain = chain(false);
    for nonce in 0..3 {
        chain.submit(tx("alice", nonce, 1, 1)).unwrap();
        chain.produce_block();
    }
    let old_tip = chain.tip();
    let reorg = chain.reorg(2, 0.0, &mut ChaCha8Rng::seed_from_u64(1));
    assert_eq!(reorg.replaced.len(), 2);
    assert!(reorg.replaced.contains(&old_tip));
    assert_eq!(chain.height(), 3);
    assert_ne!(chain.tip(), old_tip);
    assert_eq!(
        included(&chain),
        ["alice-0-1", "alice-1-1", "alice-2-1"],
        "same transactions, new blocks"
    );
    assert_eq!(total(&chain), 200);

    let dropped = chain.reorg(2, 1.0, &mut ChaCha8Rng::seed_from_u64(2));
    assert_eq!(dropped.dropped.len(), 2);
    assert_eq!(included(&chain), ["alice-0-1"]);
    assert_eq!(chain.next_nonce("alice"), 1);
    assert_eq!(chain.balance("alice"), 98);
    assert_eq!(total(&chain), 200);
}

#[test]
fn the_double_include_bug_includes_a_reorged_transaction_twice() {
    let mut chain = chain(true);
    chain.submit(tx("alice", 0, 1, 1)).unwrap();
    chain.produce_block();
    chain.reorg(1, 0.0, &mut ChaCha8Rng::seed_from_u64(3));
    chain.produce_block();
    assert_eq!(included(&chain), ["alice-0-1", "alice-0-1"]);
    assert_eq!(chain.next_nonce("alice"), 2, "one nonce spent twice");
}

/// A balance that would pass `u64::MAX` is never wrapped: the transfer is
/// not included, and nothing it touched changes.
#[test]
fn a_transfer_that_would_overflow_a_balance_is_refused() {
    let accounts = ["alice", "bob"];
    let mut chain = ChainState::new(ChainSetup {
        genesis: [("alice".to_owned(), 100), ("bob".to_owned(), u64::MAX - 50)]
            .into_iter()
            .collect(),
        keys: accounts
            .iter()
            .map(|name| (name.to_string(), SigningKey::derive(SECRET, name)))
            .collect(),
        block_size: 10,
        double_include: false,
        skip_signatures: false,
        reorg_loses_transactions: false,
        replacement_fee_inverted: false,
    });
    assert_eq!(chain.submit(tx("alice", 0, 99, 1)), Ok(Accepted::New));
    chain.produce_block();
    assert!(included(&chain).is_empty());
    assert_eq!(chain.balance("alice"), 100);
    assert_eq!(chain.balance("bob"), u64::MAX - 50);
    assert_eq!(chain.next_nonce("alice"), 0);
}
