use ledger::chain::{ChainSetup, SigningKey, Transfer};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::*;

const SECRET: u64 = 3;

/// A chain whose `alice` holds 100, `bob` holds `bob`, `carol` nothing.
fn chain(block_size: usize, bob: u64) -> ChainState {
    let accounts = ["alice", "bob", "carol"];
    ChainState::new(ChainSetup {
        genesis: [("alice".to_owned(), 100), ("bob".to_owned(), bob)].into(),
        keys: accounts
            .iter()
            .map(|name| (name.to_string(), SigningKey::derive(SECRET, name)))
            .collect(),
        block_size,
        double_include: false,
        skip_signatures: false,
        reorg_loses_transactions: false,
        replacement_fee_inverted: false,
    })
}

fn pay(chain: &mut ChainState, from: &str, nonce: u64, to: &str, amount: u64, fee: u64) -> TxHash {
    let tx = SigningKey::derive(SECRET, from).sign(Transfer {
        from: from.to_owned(),
        nonce,
        to: to.to_owned(),
        amount,
        fee,
        memo: format!("{from}-{nonce}"),
    });
    let hash = tx.hash();
    chain.submit(tx).expect("the chain takes the payment");
    hash
}

/// Reorgs the last `depth` blocks with no share vanishing; returns the
/// fork and what the reorg said.
fn reorg(chain: &mut ChainState, depth: usize) -> (Fork, Reorg) {
    let fork = Fork::before(chain, depth);
    let reorg = chain.reorg(depth, 0.0, &mut ChaCha8Rng::seed_from_u64(1));
    (fork, reorg)
}

#[test]
fn a_reorg_that_hands_everything_back_passes_even_when_a_new_order_evicts_a_payment() {
    let mut chain = chain(10, 0);
    pay(&mut chain, "alice", 0, "bob", 60, 1);
    chain.produce_block();
    let spent = pay(&mut chain, "bob", 0, "carol", 50, 5);
    chain.produce_block();
    // Both return; bob's pays more, goes first, and finds bob with nothing.
    let (fork, reorg) = reorg(&mut chain, 2);
    assert!(chain.receipt(spent).is_none() && !chain.is_pending(spent));
    assert_eq!(check(&fork, &reorg, 0.0, &chain), Vec::<String>::new());
}

/// A one-transaction block holding `alice`'s payment, replaced by one
/// holding `bob`'s, which pays more: `alice`'s goes back to the mempool.
fn outbid(chain: &mut ChainState) -> (Fork, Reorg, TxHash) {
    let returned = pay(chain, "alice", 0, "carol", 10, 1);
    chain.produce_block();
    pay(chain, "bob", 0, "carol", 10, 9);
    let (fork, reorg) = reorg(chain, 1);
    (fork, reorg, returned)
}

#[test]
fn a_replaced_payment_neither_on_the_branch_nor_pending_is_lost() {
    let mut chain = chain(1, 100);
    let (fork, reorg, returned) = outbid(&mut chain);
    assert!(chain.is_pending(returned));
    assert_eq!(check(&fork, &reorg, 0.0, &chain), Vec::<String>::new());
    let mut chain = self::chain(1, 100);
    let (fork, reorg, returned) = outbid(&mut chain);
    chain.drop_pending(1.0, &mut ChaCha8Rng::seed_from_u64(2));
    let problems = check(&fork, &reorg, 0.0, &chain);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains(&format!("lost {returned}")),
        "{problems:?}"
    );
}

#[test]
fn what_was_pending_when_the_reorg_began_must_not_vanish_either() {
    let setup = |chain: &mut ChainState| {
        pay(chain, "alice", 0, "carol", 10, 1);
        chain.produce_block();
        pay(chain, "bob", 0, "carol", 10, 9);
        pay(chain, "bob", 1, "carol", 10, 9)
    };
    let mut chain = chain(1, 100);
    let waiting = setup(&mut chain);
    let (fork, said) = reorg(&mut chain, 1);
    assert!(chain.is_pending(waiting));
    assert_eq!(check(&fork, &said, 0.0, &chain), Vec::<String>::new());
    let mut chain = self::chain(1, 100);
    let waiting = setup(&mut chain);
    let (fork, said) = reorg(&mut chain, 1);
    chain.drop_pending(1.0, &mut ChaCha8Rng::seed_from_u64(2));
    let problems = check(&fork, &said, 0.0, &chain);
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].contains("which a block it replaced held"),
        "{problems:?}"
    );
    assert!(
        problems[1].contains(&format!("lost {waiting}")),
        "{problems:?}"
    );
    assert!(
        problems[1].contains("which was pending when it began"),
        "{problems:?}"
    );
}

#[test]
fn vanishing_is_only_for_replaced_transactions_and_a_share_above_zero() {
    let mut chain = chain(10, 0);
    let included = pay(&mut chain, "alice", 0, "bob", 10, 1);
    chain.produce_block();
    let fork = Fork::before(&chain, 1);
    let said = |dropped: Vec<TxHash>| Reorg {
        replaced: fork.replaced.iter().map(|block| block.hash).collect(),
        dropped,
    };
    assert_eq!(
        check(&fork, &said(vec![included]), 0.5, &chain),
        Vec::<String>::new()
    );
    let problems = check(&fork, &said(vec![included]), 0.0, &chain);
    assert!(
        problems[0].contains("share of vanishing transactions is 0"),
        "{problems:?}"
    );
    let problems = check(&fork, &said(vec![TxHash(9)]), 0.5, &chain);
    assert!(
        problems[0].contains("no block it replaced held it"),
        "{problems:?}"
    );
    let problems = check(
        &fork,
        &Reorg {
            replaced: Vec::new(),
            dropped: Vec::new(),
        },
        0.0,
        &chain,
    );
    assert!(problems[0].contains("replaced 0 block(s)"), "{problems:?}");
}
