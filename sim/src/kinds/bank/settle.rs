//! Each bank client's write once the faults have stopped: one transaction
//! that puts the client's own row in its own table, retried until its
//! commit is acknowledged; the run settles only once every client's is.
//!
//! A transfer whose commit goes unanswered is resolved by reading its row
//! on the next attempt, and audits and reversals commit nothing a client
//! must be told about, so without this write a database that acknowledged
//! no commit at all would still finish every transfer and pass. Once the
//! faults have stopped, a correct database answers a commit within the
//! client's timeout (the scenario's rules make that timeout long enough),
//! so retries end. The row's own table keeps the write apart from the
//! money: no balance, transfer or reversal depends on it.

use ledger::{
    db::{DbClient, Isolation, Key},
    node::NodeEnv,
};

use super::watched::Watched;
use crate::workload::Workload;

/// One row per client, keyed by the client's number.
pub(super) const SETTLED: &str = "settled";

/// Writes `client`'s row once the settle phase begins, until a commit of it
/// is acknowledged.
pub(super) async fn write(env: &NodeEnv, workload: &Workload, db: &DbClient, client: u64) {
    workload.until_settling().await;
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let outcome = attempt(workload, db, client, attempts).await;
        let acknowledged = outcome.is_ok();
        workload.settle_write_attempted(client, outcome);
        if acknowledged {
            return;
        }
        workload.backoff(env, attempts).await;
    }
}

/// One attempt: the sequence number of its acknowledged commit, or why
/// there is none.
async fn attempt(
    workload: &Workload,
    db: &DbClient,
    client: u64,
    attempt: u32,
) -> Result<u64, String> {
    let label = format!("client {client}'s write once the faults stopped, attempt {attempt}");
    let txn = Watched::begin(db, workload, &label, Isolation::Serializable)
        .await
        .map_err(|error| format!("its begin failed: {error}"))?;
    let value = encode(client, attempt);
    if let Err(error) = txn.put(SETTLED, key(client), value).await {
        txn.rollback().await;
        return Err(format!("its write failed: {error}"));
    }
    match txn.commit().await {
        Ok(Some(seq)) => Ok(seq),
        Ok(None) => Err("its commit was acknowledged as writing nothing".to_owned()),
        Err(error) => Err(format!("its commit failed: {error}")),
    }
}

pub(super) fn key(client: u64) -> Key {
    Key::Int(client as i64)
}

/// The row's value: its client and the attempt that wrote it.
fn encode(client: u64, attempt: u32) -> Vec<u8> {
    let mut value = client.to_be_bytes().to_vec();
    value.extend_from_slice(&attempt.to_be_bytes());
    value
}

/// The client and attempt a row's value names, if it is well formed.
pub(super) fn decode(value: &[u8]) -> Option<(u64, u32)> {
    let (client, attempt) = value.split_first_chunk::<8>()?;
    let attempt: [u8; 4] = attempt.try_into().ok()?;
    Some((u64::from_be_bytes(*client), u32::from_be_bytes(attempt)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_names_its_client_and_attempt_and_nothing_else_decodes() {
        assert_eq!(decode(&encode(7, 3)), Some((7, 3)));
        assert_eq!(decode(&encode(7, 3)[..11]), None);
        assert_eq!(decode(&[0; 13]), None);
    }
}
