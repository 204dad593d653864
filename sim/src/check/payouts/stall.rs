//! Why accepted transfers are not confirmed, from ground truth: the
//! database's outbox and nonces, and the canonical chain.

use ledger::{
    chain::ChainState,
    db::Recovered,
    ledger::{HOT_WALLET, schema},
};

use super::{PayoutTruth, db_u64, describe, reference::Reference};

/// Reasons shown per stalled run at most.
const MAX_REASONS: usize = 8;

/// One reason per accepted transfer the log has not confirmed.
pub fn unconfirmed(truth: &PayoutTruth<'_>) -> Vec<String> {
    let reference = Reference::replay(&truth.log, &truth.accounts, truth.initial_balance, 0);
    let mut reasons: Vec<String> = reference
        .accepted
        .iter()
        .filter(|(transfer, _)| !reference.confirmed.contains_key(transfer))
        .map(|(transfer, accepted)| {
            format!(
                "{} is unconfirmed: {}",
                describe(&reference, *transfer),
                whereabouts(truth.db, truth.chain, accepted.index, accepted.slot)
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

fn whereabouts(db: &Recovered, chain: &ChainState, index: u64, slot: u64) -> String {
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
    let schema::Payout::Signed { tx } = row.state else {
        return "no nonce was ever spent on it".to_owned();
    };
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
