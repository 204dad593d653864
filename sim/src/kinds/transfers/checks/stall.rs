//! Why accepted transfers are not confirmed, from ground truth: the
//! database's outbox and nonces, and the canonical chain.

use ledger::{
    chain::{ChainState, Transaction},
    ledger::{HOT_WALLET, schema},
};
use std::collections::{BTreeMap, BTreeSet};

use super::{PayoutTruth, db_u64, describe, reference::Reference};

/// Reasons shown per stalled run at most.
const MAX_REASONS: usize = 8;

/// One reason per accepted transfer the log has not confirmed.
pub fn unconfirmed(truth: &PayoutTruth<'_>) -> Vec<String> {
    let reference = Reference::replay(
        &truth.log,
        &truth.accounts,
        truth.initial_balance,
        truth.rules,
    );
    let mut reasons: Vec<String> = reference
        .accepted
        .iter()
        .filter(|(transfer, _)| !reference.confirmed.contains_key(transfer))
        .map(|(transfer, accepted)| {
            format!(
                "{} is unconfirmed: {}",
                describe(&reference, *transfer),
                whereabouts(
                    truth,
                    accepted.index,
                    accepted.slot,
                    reference.intents.get(transfer).map(|intent| &intent.tx),
                )
            )
        })
        .collect();
    let more = reasons.len().saturating_sub(MAX_REASONS);
    reasons.truncate(MAX_REASONS);
    if more > 0 {
        reasons.push(format!("and {more} more unconfirmed transfers"));
    }
    reasons
}

/// Where the payout at `slot`, accepted at `index`, stands; `intent` is the
/// transaction the log took for it, if any.
fn whereabouts(
    truth: &PayoutTruth<'_>,
    index: u64,
    slot: u64,
    intent: Option<&Transaction>,
) -> String {
    let (db, chain) = (truth.db, truth.chain);
    let applied = db_u64(db, schema::META, ledger::db::Key::from(schema::APPLIED)).unwrap_or(0);
    let Some(row) = db.engine.committed(schema::OUTBOX, &schema::int_key(slot)) else {
        return if applied < index {
            format!("the database has projected the log only up to index {applied}")
        } else {
            "its outbox row is missing from the database".to_owned()
        };
    };
    let Ok(row) = schema::decode::<schema::OutboxRow>(&row.value) else {
        return "its outbox row is malformed".to_owned();
    };
    let held = row
        .claim
        .as_ref()
        .map(|claim| claimed_by(claim, truth.lives, truth.retired))
        .unwrap_or_default();
    let tx = match (intent, row.state) {
        (Some(tx), _) => tx.clone(),
        (None, schema::Payout::Signed { tx }) => tx,
        (None, schema::Payout::Pending) => {
            return format!("{held}no nonce was ever spent on it");
        }
    };
    format!("{held}{}", signed(chain, &tx))
}

/// Who holds a payout's lease, when that is worth saying: a holder that
/// no longer runs, for now (down) or for good (retired).
fn claimed_by(
    claim: &schema::Claim,
    lives: &BTreeMap<String, u64>,
    retired: &BTreeSet<String>,
) -> String {
    let holder = format!("{}#{}", claim.holder, claim.incarnation);
    if retired.contains(&claim.holder) {
        return format!("its lease is held by {holder}, which was retired for good; ");
    }
    match lives.get(&claim.holder) {
        Some(life) if *life == claim.incarnation => String::new(),
        Some(life) => format!(
            "its lease is held by {holder}, a life that is over ({} runs #{life}); ",
            claim.holder
        ),
        None => format!("its lease is held by {holder}, which is down; "),
    }
}

/// Where a signed payout's transaction is.
fn signed(chain: &ChainState, tx: &Transaction) -> String {
    let (nonce, hash) = (tx.transfer.nonce, tx.hash());
    let next = chain.next_nonce(HOT_WALLET);
    if let Some(receipt) = chain.receipt(hash) {
        return format!(
            "{hash} (nonce {nonce}) is {} deep on chain, never confirmed in the log",
            receipt.confirmations
        );
    }
    if chain.is_pending(hash) {
        return format!(
            "{hash} (nonce {nonce}) waits in the chain's mempool; the chain's next nonce is {next}"
        );
    }
    if nonce < next {
        return format!("nonce {nonce} of {hash} is spent on chain by another transaction");
    }
    format!(
        "{hash} (nonce {nonce}) is pending in no mempool of the chain; the chain's next nonce is {next}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(holder: &str, incarnation: u64) -> schema::Claim {
        schema::Claim {
            holder: holder.to_owned(),
            incarnation,
            until: 0,
        }
    }

    #[test]
    fn a_lease_is_worth_naming_only_when_its_holder_is_gone() {
        let lives = BTreeMap::from([("ledger-1".to_owned(), 3)]);
        let retired = BTreeSet::from(["ledger-3".to_owned()]);
        assert_eq!(claimed_by(&claim("ledger-1", 3), &lives, &retired), "");
        assert_eq!(
            claimed_by(&claim("ledger-1", 2), &lives, &retired),
            "its lease is held by ledger-1#2, a life that is over (ledger-1 runs #3); "
        );
        assert_eq!(
            claimed_by(&claim("ledger-2", 1), &lives, &retired),
            "its lease is held by ledger-2#1, which is down; "
        );
        assert_eq!(
            claimed_by(&claim("ledger-3", 1), &lives, &retired),
            "its lease is held by ledger-3#1, which was retired for good; "
        );
    }
}
