//! The clients' history: every request, its attempts and what came of it.

use serde::Serialize;
use std::time::Duration;

/// What a client was finally told about one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Still waiting for an answer.
    Pending,
    Acknowledged {
        index: u64,
        at: Duration,
    },
    Rejected {
        reason: String,
    },
    /// Out of retries: applied or not, nobody knows.
    GaveUp,
}

/// One request of one client.
#[derive(Debug, Clone)]
pub struct Op {
    pub client: u64,
    pub seq: u64,
    pub sent_at: Duration,
    pub attempts: u32,
    pub outcome: Outcome,
}

/// An acknowledged request, as the checkers read it.
#[derive(Debug, Clone, Copy)]
pub struct Acknowledged {
    pub client: u64,
    pub seq: u64,
    pub index: u64,
    pub at: Duration,
}

/// Requests by what their clients were told.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RequestCounts {
    pub sent: u64,
    pub acknowledged: u64,
    pub rejected: u64,
    /// Given up, or unanswered at the end: either outcome is allowed.
    pub unknown: u64,
}

#[derive(Debug, Default, Clone)]
pub struct History {
    ops: Vec<Op>,
}

impl History {
    /// Records a new request; returns its handle.
    pub(super) fn start(&mut self, client: u64, seq: u64, at: Duration) -> usize {
        self.ops.push(Op {
            client,
            seq,
            sent_at: at,
            attempts: 0,
            outcome: Outcome::Pending,
        });
        self.ops.len() - 1
    }

    pub(super) fn attempted(&mut self, op: usize) {
        self.ops[op].attempts += 1;
    }

    pub(super) fn finish(&mut self, op: usize, outcome: Outcome) {
        self.ops[op].outcome = outcome;
    }

    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    pub fn acknowledged(&self) -> impl Iterator<Item = Acknowledged> + '_ {
        self.ops.iter().filter_map(|op| match op.outcome {
            Outcome::Acknowledged { index, at } => Some(Acknowledged {
                client: op.client,
                seq: op.seq,
                index,
                at,
            }),
            _ => None,
        })
    }

    /// Requests still waiting for an answer.
    pub fn pending(&self) -> impl Iterator<Item = &Op> {
        self.ops.iter().filter(|op| op.outcome == Outcome::Pending)
    }

    pub fn counts(&self) -> RequestCounts {
        let mut counts = RequestCounts {
            sent: self.ops.len() as u64,
            ..RequestCounts::default()
        };
        for op in &self.ops {
            match op.outcome {
                Outcome::Acknowledged { .. } => counts.acknowledged += 1,
                Outcome::Rejected { .. } => counts.rejected += 1,
                Outcome::Pending | Outcome::GaveUp => counts.unknown += 1,
            }
        }
        counts
    }
}
