//! Builds a run's [`Timeline`] from its trace events, as a trace
//! [`Subscriber`]: it sees exactly what the trace hash folds in, so what is
//! drawn is what happened.

use ledger::{
    chain::{ChainEvent, TxHash},
    ledger::{LedgerEvent, TransferId},
    log::LogEvent,
    observe::{Event, Fate, NodeName},
};
use std::{collections::BTreeMap, time::Duration};

use super::model::{Lane, Mark, Message, Span, Step, Term, Timeline, TransferLife, Violation};
use crate::{
    check::CheckResult,
    coverage::HarnessMark,
    events::HarnessEvent,
    scenario::{Scenario, Topology},
    trace::Subscriber,
};

/// Messages kept at most: every one that was not simply sent, first.
const MAX_MESSAGES: usize = 6000;
/// Of the messages simply sent, one in this many is kept.
const SENT_SAMPLE: u64 = 8;

/// The timeline of a run as it is recorded.
pub(crate) struct Recorder {
    timeline: Timeline,
    /// Spans still open, by node and kind, with their index in `spans`.
    open: BTreeMap<(String, &'static str), Vec<usize>>,
    /// Partition spans still open, by partition number.
    partitions: BTreeMap<u64, Vec<usize>>,
    /// The term being led, and its index in `terms`.
    leading: Option<usize>,
    transfers: BTreeMap<TransferId, usize>,
    /// Each client request's transfer, by client and sequence number.
    requests: BTreeMap<(u64, u64), TransferId>,
    /// Transfers appended at each log index, not yet projected.
    unprojected: BTreeMap<u64, Vec<TransferId>>,
    /// Transfers projected into the database, by log index: unprojected
    /// again when the database loses its disk.
    projected: BTreeMap<u64, Vec<TransferId>>,
    /// When, where and in which batch each log index was projected since
    /// the database last lost its disk: another replica may project an
    /// entry before the one that appended it hears it was committed.
    projections: BTreeMap<u64, (Duration, String, u64, u64)>,
    /// Each transaction's transfer.
    payouts: BTreeMap<TxHash, TransferId>,
    /// The transactions each block of the chain holds now, by height.
    blocks: BTreeMap<u64, Vec<TxHash>>,
    sent: u64,
}

impl Recorder {
    pub(crate) fn new(scenario: &Scenario, topology: &Topology) -> Recorder {
        let lanes = [
            ("log", &topology.log),
            ("db", &topology.db),
            ("ledger", &topology.ledger),
            ("chain", &topology.chain),
            ("rpc", &topology.chain_rpc),
            ("client", &topology.clients),
        ]
        .into_iter()
        .flat_map(|(role, nodes)| {
            nodes.iter().map(move |node| Lane {
                node: node.clone(),
                role: role.to_owned(),
            })
        })
        .collect();
        Recorder {
            timeline: Timeline {
                scenario: scenario.name.clone(),
                seed: scenario.seed,
                lanes,
                ..Timeline::default()
            },
            open: BTreeMap::new(),
            partitions: BTreeMap::new(),
            leading: None,
            transfers: BTreeMap::new(),
            requests: BTreeMap::new(),
            unprojected: BTreeMap::new(),
            projections: BTreeMap::new(),
            projected: BTreeMap::new(),
            payouts: BTreeMap::new(),
            blocks: BTreeMap::new(),
            sent: 0,
        }
    }

    /// The finished timeline, with the run's verdict (by name), its end and
    /// its checkers' violations.
    pub(crate) fn finish(
        mut self,
        scenario: &Scenario,
        verdict: &str,
        end: Duration,
        checks: &[CheckResult],
    ) -> Timeline {
        let expected = scenario.expect.as_ref().map(|expect| expect.violation);
        self.timeline.verdict = verdict.to_owned();
        self.timeline.end_us = micros(end);
        for check in checks {
            for violation in &check.violations {
                self.timeline.violations.push(Violation {
                    checker: check.checker.name().to_owned(),
                    at_us: micros(violation.at),
                    message: violation.message.clone(),
                    expected: expected == Some(check.checker),
                    transfers: transfer_ids(&violation.message),
                });
            }
        }
        self.timeline.messages_total = self.sent;
        // A step learnt late (a projection heard of before its append) is
        // told in its place; steps at one time keep their order.
        for life in &mut self.timeline.transfers {
            life.steps.sort_by_key(|step| step.at_us);
        }
        self.timeline
    }

    fn mark(&mut self, at: Duration, node: &str, kind: &str, label: String) {
        self.timeline.marks.push(Mark {
            node: node.to_owned(),
            kind: kind.to_owned(),
            at_us: micros(at),
            label,
        });
    }

    fn open(&mut self, at: Duration, node: &str, kind: &'static str, label: String) -> usize {
        self.timeline.spans.push(Span {
            node: node.to_owned(),
            kind: kind.to_owned(),
            from_us: micros(at),
            to_us: None,
            label,
        });
        let index = self.timeline.spans.len() - 1;
        self.open
            .entry((node.to_owned(), kind))
            .or_default()
            .push(index);
        index
    }

    fn close(&mut self, at: Duration, node: &str, kind: &'static str) {
        for index in self
            .open
            .remove(&(node.to_owned(), kind))
            .unwrap_or_default()
        {
            self.end(at, index);
        }
    }

    fn end(&mut self, at: Duration, index: usize) {
        let span = &mut self.timeline.spans[index];
        if span.to_us.is_none() {
            span.to_us = Some(micros(at));
        }
    }

    fn step(&mut self, transfer: TransferId, at: Duration, node: &str, kind: &str, what: String) {
        let Some(&life) = self.transfers.get(&transfer) else {
            return;
        };
        self.timeline.transfers[life].steps.push(Step {
            at_us: micros(at),
            node: node.to_owned(),
            kind: kind.to_owned(),
            what,
        });
    }

    fn end_term(&mut self, at: Duration) {
        if let Some(index) = self.leading.take() {
            self.timeline.terms[index].to_us = Some(micros(at));
        }
    }

    fn message(&mut self, at: Duration, from: &str, event: &Event) {
        let Event::Message {
            to,
            kind,
            bytes,
            fate,
            latency_us,
            delay_us,
            duplicate_after_us,
        } = event
        else {
            return;
        };
        self.sent += 1;
        let plain = *fate == Fate::Sent && duplicate_after_us.is_none();
        if self.timeline.messages.len() >= MAX_MESSAGES
            || (plain && !self.sent.is_multiple_of(SENT_SAMPLE))
        {
            return;
        }
        let sent_us = micros(at);
        let arrive_us = match fate {
            Fate::Dropped | Fate::Cut => None,
            Fate::Sent | Fate::Delayed => Some(sent_us + latency_us + delay_us),
        };
        self.timeline.messages.push(Message {
            from: from.to_owned(),
            to: to.to_string(),
            kind,
            sent_us,
            arrive_us,
            fate: fate_name(*fate).to_owned(),
            duplicate_after_us: *duplicate_after_us,
            bytes: *bytes,
        });
    }

    fn log(&mut self, at: Duration, node: &str, event: &LogEvent) {
        match event {
            LogEvent::Elected { term } => {
                self.end_term(at);
                self.timeline.terms.push(Term {
                    term: *term,
                    leader: node.to_owned(),
                    from_us: micros(at),
                    to_us: None,
                });
                self.leading = Some(self.timeline.terms.len() - 1);
                self.mark(at, node, "elected", format!("leads term {term}"));
            }
            LogEvent::SteppedDown { term } => {
                self.end_term(at);
                self.mark(
                    at,
                    node,
                    "stepped-down",
                    format!("stepped down in term {term}"),
                );
            }
            LogEvent::Recovered { .. }
            | LogEvent::Applied { .. }
            | LogEvent::Refused { .. }
            | LogEvent::Voted { .. } => {}
        }
    }

    fn chain(&mut self, at: Duration, node: &str, event: &ChainEvent) {
        match event {
            ChainEvent::Block {
                height,
                hash,
                included,
            } => {
                self.blocks.insert(*height, included.clone());
                self.mark(
                    at,
                    node,
                    "block",
                    format!("block {height} ({hash}), {} transactions", included.len()),
                );
                for tx in included {
                    if let Some(&transfer) = self.payouts.get(tx) {
                        self.step(
                            transfer,
                            at,
                            node,
                            "included",
                            format!("{tx} included in block {height}"),
                        );
                    }
                }
            }
            ChainEvent::Forgotten { transactions } => {
                self.mark(
                    at,
                    node,
                    "mempool-drop",
                    format!("the mempool forgot {transactions} transactions"),
                );
            }
        }
    }

    fn ledger(&mut self, at: Duration, node: &str, event: &LedgerEvent) {
        match event {
            LedgerEvent::Appended {
                index, transfer, ..
            } => {
                self.step(
                    *transfer,
                    at,
                    node,
                    "appended",
                    format!("committed to the log at index {index}"),
                );
                match self.projections.get(index).cloned() {
                    Some((projected_at, by, from, to)) => {
                        self.step(
                            *transfer,
                            projected_at,
                            &by,
                            "projected",
                            projected_what(from, to),
                        );
                        self.projected.entry(*index).or_default().push(*transfer);
                    }
                    None => self.unprojected.entry(*index).or_default().push(*transfer),
                }
            }
            LedgerEvent::Projected { from, to } => {
                for index in *from..=*to {
                    self.projections
                        .insert(index, (at, node.to_owned(), *from, *to));
                }
                // Entries before `from` are in the database too: written by
                // a batch whose writer never heard it committed (its reply
                // lost, or it crashed), so only this batch tells.
                let projected: Vec<(u64, Vec<TransferId>)> = self
                    .unprojected
                    .range(..=*to)
                    .map(|(index, transfers)| (*index, transfers.clone()))
                    .collect();
                for (index, transfers) in projected {
                    self.unprojected.remove(&index);
                    let what = if index < *from {
                        format!(
                            "debit and payout row found in the database (by then at log index {to}), written by a batch nobody heard had committed"
                        )
                    } else {
                        projected_what(*from, *to)
                    };
                    for &transfer in &transfers {
                        self.step(transfer, at, node, "projected", what.clone());
                    }
                    self.projected.entry(index).or_default().extend(transfers);
                }
            }
            LedgerEvent::Claimed { transfer, from } => self.step(
                *transfer,
                at,
                node,
                "claimed",
                format!("payout claimed, taking over from {from}"),
            ),
            LedgerEvent::Signed {
                transfer,
                nonce,
                tx,
            } => {
                self.payouts.insert(*tx, *transfer);
                self.step(
                    *transfer,
                    at,
                    node,
                    "signed",
                    format!("signed with nonce {nonce} as {tx}"),
                );
            }
            LedgerEvent::IntentRefused { transfer, nonce } => self.step(
                *transfer,
                at,
                node,
                "intent-refused",
                format!("intent with nonce {nonce} refused by the log: another was ordered first"),
            ),
            LedgerEvent::Rebuilding { from, through } => self.mark(
                at,
                node,
                "rebuild",
                format!("database lacks log entries {from}..={through}: projecting them again"),
            ),
            LedgerEvent::Rebuilt { through } => self.mark(
                at,
                node,
                "rebuilt",
                format!("database rebuilt from the log through index {through}"),
            ),
            LedgerEvent::Submitted { transfer, tx } => {
                self.step(*transfer, at, node, "submitted", format!("{tx} submitted"));
            }
            LedgerEvent::Confirming {
                transfer,
                tx,
                height,
                depth,
            } => self.step(
                *transfer,
                at,
                node,
                "confirming",
                format!("appending the confirmation of {tx} (block {height}, {depth} deep)"),
            ),
            LedgerEvent::Folded { .. } | LedgerEvent::Database { .. } => {}
        }
    }

    fn client(&mut self, at: Duration, node: &str, event: &HarnessEvent) {
        let (client, seq, kind, what) = match event {
            HarnessEvent::Payout {
                client,
                seq,
                request_id,
                amount,
                bad,
            } => {
                let transfer = TransferId::of(*client, request_id);
                self.requests.insert((*client, *seq), transfer);
                if !self.transfers.contains_key(&transfer) {
                    self.transfers
                        .insert(transfer, self.timeline.transfers.len());
                    self.timeline.transfers.push(TransferLife {
                        id: transfer.to_string(),
                        client: *client,
                        request_id: request_id.clone(),
                        steps: Vec::new(),
                    });
                }
                let flaw = bad
                    .as_ref()
                    .map_or(String::new(), |bad| format!(", malformed: {bad:?}"));
                (
                    *client,
                    *seq,
                    "request",
                    format!("asks to pay {amount} (request {request_id:?}, seq {seq}{flaw})"),
                )
            }
            HarnessEvent::Accepted {
                client,
                seq,
                transfer,
            } => (
                *client,
                *seq,
                "answer",
                format!("told: accepted as {transfer}"),
            ),
            HarnessEvent::Rejected {
                client,
                seq,
                reason,
            } => (
                *client,
                *seq,
                "answer",
                format!("told: rejected ({reason})"),
            ),
            HarnessEvent::GaveUp {
                client,
                seq,
                attempts,
            } => (
                *client,
                *seq,
                "gave-up",
                format!("gave up after {attempts} attempts"),
            ),
            HarnessEvent::LateAnswer {
                client,
                seq,
                answer,
            } => (
                *client,
                *seq,
                "late-answer",
                format!("sent again, told: {answer}"),
            ),
            HarnessEvent::Status {
                client,
                seq,
                status,
            } => (*client, *seq, "status", format!("status: {status}")),
            _ => return,
        };
        if let Some(&transfer) = self.requests.get(&(client, seq)) {
            self.step(transfer, at, node, kind, what);
        }
    }

    fn fault(&mut self, at: Duration, event: &HarnessEvent) {
        match event {
            HarnessEvent::Crash { node } => {
                self.mark(at, node, "crash", "crashed".to_owned());
                self.open(at, node, "down", "down".to_owned());
                if self
                    .leading
                    .is_some_and(|index| self.timeline.terms[index].leader == *node)
                {
                    self.end_term(at);
                }
            }
            HarnessEvent::DbWipe { node, lost_bytes } => {
                self.mark(
                    at,
                    node,
                    "db-wipe",
                    format!("disk lost: {lost_bytes} bytes erased, synced or not"),
                );
                self.open(at, node, "down", "down, its disk wiped".to_owned());
                self.unproject(at, node);
            }
            // Its crash just before opened the span it stays down in.
            HarnessEvent::Retire { node } => {
                self.mark(at, node, "retire", "retired for good".to_owned());
            }
            HarnessEvent::Restart { node } => {
                self.close(at, node, "down");
                self.mark(at, node, "restart", "restarted".to_owned());
            }
            HarnessEvent::Pause { node } => {
                self.open(at, node, "paused", "paused".to_owned());
            }
            HarnessEvent::Resume { node } => self.close(at, node, "paused"),
            HarnessEvent::Partition {
                id,
                groups,
                one_way,
            } => {
                let direction = if *one_way { ", one way" } else { "" };
                let mut spans = Vec::new();
                for (side, group) in groups.iter().enumerate() {
                    let label = format!(
                        "partition {id}: side {} of {}{direction} ({})",
                        side + 1,
                        groups.len(),
                        group.join(", ")
                    );
                    for node in group {
                        spans.push(self.open(at, node, "cut", label.clone()));
                    }
                }
                self.partitions.insert(*id, spans);
            }
            HarnessEvent::Heal { partition } => {
                let healed: Vec<usize> = match partition {
                    Some(id) => self.partitions.remove(id).unwrap_or_default(),
                    None => std::mem::take(&mut self.partitions)
                        .into_values()
                        .flatten()
                        .collect(),
                };
                for index in healed {
                    self.end(at, index);
                }
            }
            HarnessEvent::Clock {
                node,
                offset_nanos,
                drift_ppm,
            } => {
                self.close(at, node, "skewed");
                let label = format!(
                    "clock offset {:+.1}ms, drift {drift_ppm:+}ppm",
                    *offset_nanos as f64 / 1e6
                );
                if *offset_nanos != 0 || *drift_ppm != 0 {
                    self.open(at, node, "skewed", label.clone());
                }
                self.mark(at, node, "clock", label);
            }
            HarnessEvent::DiskDamage {
                node,
                file,
                lost_bytes,
                torn,
            } if *torn => self.mark(
                at,
                node,
                "torn-write",
                format!("{file}: {lost_bytes} unsynced bytes lost, a record torn"),
            ),
            HarnessEvent::ChainReorg { depth, dropped } => self.reorg(at, *depth, *dropped),
            HarnessEvent::ChainDrop { forgotten } => {
                let chain = self.chain_lane();
                self.mark(
                    at,
                    &chain,
                    "mempool-drop",
                    format!("the mempool forgot {forgotten} transactions"),
                );
            }
            HarnessEvent::Settle => self.timeline.settle_us = micros(at),
            _ => {}
        }
    }

    /// The database lost its disk: every projected transfer's debit and
    /// payout row went with it, until the ledger projects it again.
    fn unproject(&mut self, at: Duration, db: &str) {
        self.projections.clear();
        for (index, transfers) in std::mem::take(&mut self.projected) {
            for &transfer in &transfers {
                self.step(
                    transfer,
                    at,
                    db,
                    "wiped",
                    "the database lost its disk: debit and payout row gone".to_owned(),
                );
            }
            self.unprojected.entry(index).or_default().extend(transfers);
        }
    }

    /// The chain's last `depth` blocks were replaced: their payouts left
    /// the chain.
    fn reorg(&mut self, at: Duration, depth: u64, dropped: u64) {
        let chain = self.chain_lane();
        let height = self.blocks.keys().next_back().copied().unwrap_or(0);
        let first = height.saturating_sub(depth) + 1;
        let replaced: Vec<(u64, Vec<TxHash>)> = self.blocks.split_off(&first).into_iter().collect();
        self.mark(
            at,
            &chain,
            "reorg",
            format!("reorg: blocks {first}..{height} replaced, {dropped} transactions dropped"),
        );
        for (block, txs) in replaced {
            for tx in txs {
                if let Some(&transfer) = self.payouts.get(&tx) {
                    self.step(
                        transfer,
                        at,
                        &chain,
                        "reorged",
                        format!("{tx} left the chain: block {block} was reorged away"),
                    );
                }
            }
        }
    }

    fn chain_lane(&self) -> String {
        self.timeline
            .lanes
            .iter()
            .find(|lane| lane.role == "chain")
            .map_or_else(|| "chain".to_owned(), |lane| lane.node.clone())
    }
}

impl Subscriber for Recorder {
    fn sees_messages(&self) -> bool {
        true
    }

    fn system(&mut self, at: Duration, node: &NodeName, event: &Event, _: &mut Vec<HarnessMark>) {
        let node = node.as_str();
        match event {
            Event::Boot { incarnation } if *incarnation > 1 => {
                self.mark(
                    at,
                    node,
                    "boot",
                    format!("booted, incarnation {incarnation}"),
                );
            }
            Event::CrashPoint { point } => {
                self.mark(
                    at,
                    node,
                    "crash-point",
                    format!("crashed at {}", point.name()),
                );
            }
            Event::ReplyLost { point } => {
                self.mark(
                    at,
                    node,
                    "reply-lost",
                    format!("reply lost at {}", point.name()),
                );
            }
            Event::Message { .. } => self.message(at, node, event),
            Event::Log(event) => self.log(at, node, event),
            Event::Chain(event) => self.chain(at, node, event),
            Event::Ledger(event) => self.ledger(at, node, event),
            Event::Boot { .. } | Event::Db(_) => {}
        }
    }

    fn harness(&mut self, at: Duration, node: &str, event: &HarnessEvent) {
        self.fault(at, event);
        self.client(at, node, event);
    }
}

fn fate_name(fate: Fate) -> &'static str {
    match fate {
        Fate::Sent => "sent",
        Fate::Delayed => "delayed",
        Fate::Dropped => "dropped",
        Fate::Cut => "cut",
    }
}

fn micros(at: Duration) -> u64 {
    at.as_micros() as u64
}

/// The transfer ids a message names, in order, each once.
pub(crate) fn transfer_ids(text: &str) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for (start, _) in text.match_indices("tr-") {
        let id = &text[start..];
        if id.len() >= 19 && ledger::ids::parse(&id[..19], "tr-").is_some() {
            let id = id[..19].to_owned();
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    ids
}

/// The projected step of a transfer whose entry was in batch `from..=to`.
fn projected_what(from: u64, to: u64) -> String {
    format!("debit and payout row written to the database (log {from}..{to})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfer_ids_are_found_in_messages() {
        let text = "transfer tr-9173aee43e87c6f9 (client 1) is paid twice; tr-0000000000000001 and tr-9173aee43e87c6f9 and tr-short";
        assert_eq!(
            transfer_ids(text),
            ["tr-9173aee43e87c6f9", "tr-0000000000000001"]
        );
    }
}
