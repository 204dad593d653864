//! The client library of the log: finds the leader and follows redirects.
//! Retrying a command (with the same session key) is the caller's choice.

use serde::de::DeserializeOwned;
use std::time::Duration;
use thiserror::Error;

use super::{
    protocol::{
        AppendReply, ClientAppend, CommittedEntries, KvRead, KvReadReply, LogRequest, ReadCommitted,
    },
    types::Entry,
};
use crate::{net::Rpc, observe::NodeName};

/// Why one append attempt did not return an index. Except for `Rejected`,
/// the command may or may not have been appended: the outcome is unknown.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AppendError {
    #[error("no reply in time")]
    Timeout,
    #[error("the leader is busy")]
    Busy,
    #[error("no leader found")]
    NoLeader,
    #[error("the session has moved past this command")]
    Stale,
    #[error("rejected: {0}")]
    Rejected(String),
}

/// What one reply says: the outcome, or where the leader is.
enum Hop<T> {
    Done(Result<T, AppendError>),
    Redirect(Option<String>),
}

/// A command committed and applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// Where it was applied (where it was first applied, for a retry).
    pub index: u64,
    /// For a compare-and-set, whether it swapped.
    pub swapped: Option<bool>,
    /// The committed entries from the command's `read_from` on.
    pub entries: Vec<Entry>,
}

/// A client's handle on the log cluster.
pub struct LogClient {
    rpc: Rpc,
    replicas: Vec<NodeName>,
    leader: Option<NodeName>,
    next_guess: usize,
}

impl LogClient {
    pub fn new(rpc: Rpc, replicas: Vec<NodeName>) -> LogClient {
        LogClient {
            rpc,
            replicas,
            leader: None,
            next_guess: 0,
        }
    }

    /// One attempt to append `command`: asks the replica believed to lead and
    /// follows redirects, at most one hop per replica, each bounded by
    /// `timeout`. Returns the index the command was applied at, the
    /// committed entries it asked for, and what the state machine said: for
    /// a compare-and-set (see `KvCommand`), whether it swapped. A retry is
    /// told what the first attempt would have been.
    pub async fn submit(
        &mut self,
        command: &ClientAppend,
        timeout: Duration,
    ) -> Result<Committed, AppendError> {
        let request = LogRequest::Client(command.clone());
        self.via_leader(&request, timeout, |reply: AppendReply| match reply {
            AppendReply::Appended { index, entries } => Hop::Done(Ok(Committed {
                index,
                swapped: None,
                entries,
            })),
            AppendReply::Swapped { index, swapped } => Hop::Done(Ok(Committed {
                index,
                swapped: Some(swapped),
                entries: Vec::new(),
            })),
            AppendReply::NotLeader { leader } => Hop::Redirect(leader),
            AppendReply::Busy => Hop::Done(Err(AppendError::Busy)),
            AppendReply::Stale => Hop::Done(Err(AppendError::Stale)),
            AppendReply::Rejected { reason } => Hop::Done(Err(AppendError::Rejected(reason))),
        })
        .await
    }

    /// One attempt to read `key` of the key-value state machine, from the
    /// replica believed to lead, as [`LogClient::submit`] goes. The value is
    /// linearizable: it reflects every write acknowledged before the call.
    pub async fn read_key(
        &mut self,
        key: u64,
        timeout: Duration,
    ) -> Result<Option<u64>, AppendError> {
        let request = LogRequest::KvRead(KvRead { key });
        self.via_leader(&request, timeout, |reply: KvReadReply| match reply {
            KvReadReply::Value { value } => Hop::Done(Ok(value)),
            KvReadReply::NotLeader { leader } => Hop::Redirect(leader),
            KvReadReply::Unavailable => Hop::Done(Err(AppendError::Busy)),
        })
        .await
    }

    /// Sends `request` to the replica believed to lead, following the
    /// redirects `answer` finds, at most one hop per replica. A replica
    /// that answers becomes the one believed to lead; one that does not,
    /// no longer is.
    async fn via_leader<R: DeserializeOwned, T>(
        &mut self,
        request: &LogRequest,
        timeout: Duration,
        answer: impl Fn(R) -> Hop<T>,
    ) -> Result<T, AppendError> {
        for _ in 0..self.replicas.len() {
            let target = match &self.leader {
                Some(leader) => leader.clone(),
                None => self.guess(),
            };
            match self.rpc.call::<_, R>(&target, request, timeout).await {
                Ok(reply) => match answer(reply) {
                    Hop::Done(result) => {
                        if result.is_ok() {
                            self.leader = Some(target);
                        }
                        return result;
                    }
                    Hop::Redirect(leader) => {
                        self.leader = leader
                            .and_then(|name| self.rpc.lookup(&name).cloned())
                            .filter(|name| *name != target);
                    }
                },
                Err(_) => {
                    self.leader = None;
                    return Err(AppendError::Timeout);
                }
            }
        }
        Err(AppendError::NoLeader)
    }

    /// Committed entries from index `from` on, at most `limit`, read from
    /// the replica believed to lead (it knows the most), or the next one in
    /// rotation. Empty when that replica has nothing new.
    pub async fn read_committed(
        &mut self,
        from: u64,
        limit: u32,
        timeout: Duration,
    ) -> Result<Vec<Entry>, AppendError> {
        let target = match &self.leader {
            Some(leader) => leader.clone(),
            None => self.guess(),
        };
        let request = LogRequest::Read(ReadCommitted { from, limit });
        match self
            .rpc
            .call::<_, CommittedEntries>(&target, &request, timeout)
            .await
        {
            Ok(read) => {
                self.leader = read
                    .leader
                    .and_then(|name| self.rpc.lookup(&name).cloned())
                    .or(Some(target));
                Ok(read.entries)
            }
            Err(_) => {
                self.leader = None;
                Err(AppendError::Timeout)
            }
        }
    }

    /// The next replica to try when no leader is known, in rotation.
    fn guess(&mut self) -> NodeName {
        let replica = self.replicas[self.next_guess % self.replicas.len()].clone();
        self.next_guess += 1;
        replica
    }
}
