//! What a timeline shows, as plain data: lanes, spans and marks on them,
//! Raft terms, sampled messages, violations and the lives of transfers.
//! Built from the run's trace events (`record.rs`); drawn as HTML
//! (`html.rs`) and told as text (`explain.rs`). Times are simulated
//! microseconds since the run began.

use serde::Serialize;

/// The picture of one run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timeline {
    pub scenario: String,
    pub seed: u64,
    /// The verdict's name (`pass`, `safety-violation`, ...).
    pub verdict: String,
    /// When the fault phase ended and the settle phase began.
    pub settle_us: u64,
    /// When the run ended.
    pub end_us: u64,
    /// One lane per node, in display order (log, db, ledger, chain, RPC
    /// nodes, clients).
    pub lanes: Vec<Lane>,
    /// What lasted a while on one lane: down, paused, cut off, skewed.
    pub spans: Vec<Span>,
    /// What happened at one moment on one lane.
    pub marks: Vec<Mark>,
    /// Each Raft term with a leader, and how long it led.
    pub terms: Vec<Term>,
    /// Messages between lanes: every one that was not simply sent (dropped,
    /// cut, delayed, duplicated), and a sample of the rest.
    pub messages: Vec<Message>,
    /// How many messages the run sent in all.
    pub messages_total: u64,
    pub violations: Vec<Violation>,
    /// Every transfer's life, in the order their requests were first sent.
    pub transfers: Vec<TransferLife>,
}

impl Timeline {
    /// Whether every transfer's steps are in time order.
    pub fn steps_in_order(&self) -> bool {
        self.transfers.iter().all(|life| {
            life.steps
                .windows(2)
                .all(|pair| pair[0].at_us <= pair[1].at_us)
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Lane {
    pub node: String,
    /// `log`, `db`, `ledger`, `chain`, `rpc` or `client`.
    pub role: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Span {
    pub node: String,
    /// `down`, `paused`, `cut` or `skewed`.
    pub kind: String,
    pub from_us: u64,
    /// `None`: it lasted to the end of the run.
    pub to_us: Option<u64>,
    /// What it was, in words: `side 1 of 2: log-1, db`, `offset +250ms`.
    pub label: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Mark {
    pub node: String,
    /// `crash`, `restart`, `pause`, `resume`, `crash-point`, `reply-lost`,
    /// `boot`, `elected`, `stepped-down`, `block`, `reorg`, `mempool-drop`,
    /// `clock`, `torn-write`, `db-wipe`, `settle`, `rebuild`, `rebuilt`.
    pub kind: String,
    pub at_us: u64,
    pub label: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Term {
    pub term: u64,
    pub leader: String,
    pub from_us: u64,
    /// `None`: it led to the end of the run.
    pub to_us: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub from: String,
    pub to: String,
    /// Its top-level variant (`Append`, `Atomic`, `Status`).
    pub kind: &'static str,
    pub sent_us: u64,
    /// When it would arrive: sent time plus its latency, and its extra
    /// delay when delayed;
    /// `None` for one lost (dropped or cut).
    pub arrive_us: Option<u64>,
    /// `sent`, `delayed`, `dropped` or `cut`.
    pub fate: String,
    /// A second copy follows, this many microseconds after sending.
    pub duplicate_after_us: Option<u64>,
    pub bytes: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Violation {
    pub checker: String,
    pub at_us: u64,
    pub message: String,
    /// Whether the scenario's `[expect]` named this checker.
    pub expected: bool,
    /// The transfers the message names (`tr-...`), to start from.
    pub transfers: Vec<String>,
}

/// One transfer, from its client's first request to the last answer.
#[derive(Debug, Clone, Serialize)]
pub struct TransferLife {
    /// `tr-` and 16 hex digits: its memo on chain, its name everywhere.
    pub id: String,
    pub client: u64,
    pub request_id: String,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub at_us: u64,
    pub node: String,
    /// `request`, `appended`, `projected`, `wiped`, `claimed`, `signed`,
    /// `submitted`, `included`, `reorged`, `confirming`, `answer`,
    /// `status`, `late-answer`, `gave-up`.
    pub kind: String,
    /// The step in words, ids spelled as everywhere else.
    pub what: String,
}
