//! Log clients: append commands to the Raft log, retrying the same
//! `(client, seq)` so the log's sessions can apply it once.

use ledger::{
    log::{AppendError, ClientAppend, LogClient},
    net::Rpc,
    node::NodeEnv,
};

use super::{Outcome, Receipt, Request, Workload, paced};

pub(super) async fn run(env: &NodeEnv, workload: &Workload, rpc: Rpc, index: usize) {
    let mut log = LogClient::new(rpc, workload.replicas.clone());
    let client = index as u64 + 1;
    paced(workload, index, async |seq| {
        append(env, workload, &mut log, client, seq).await
    })
    .await;
}

async fn append(env: &NodeEnv, workload: &Workload, log: &mut LogClient, client: u64, seq: u64) {
    let op = workload.start(env, client, seq, Request::Append);
    let command = ClientAppend {
        client,
        seq,
        data: format!("client {client} seq {seq}").into_bytes(),
    };
    let mut attempts = 0u32;
    let outcome = loop {
        attempts += 1;
        workload.attempted(op);
        match log.append(&command, workload.client_timeout).await {
            Ok(index) => {
                break Outcome::Acknowledged {
                    receipt: Receipt::LogIndex(index),
                    at: crate::trace::now(),
                };
            }
            Err(AppendError::Rejected(reason)) => {
                break Outcome::Rejected { reason, kind: None };
            }
            // A stale answer for the request in flight means the log already
            // moved past it: as unknown as a timeout.
            Err(AppendError::Stale) => break Outcome::GaveUp,
            Err(_) if workload.give_up(attempts) => break Outcome::GaveUp,
            Err(_) => workload.backoff(env, attempts).await,
        }
    };
    workload.finish(env, op, outcome);
}
