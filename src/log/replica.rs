//! One Raft replica: an actor that owns all of its state and handles one input
//! at a time (a request, a peer's reply, or a timer), so that a handler that
//! waits for its disk sync never interleaves with another.

use futures::{
    FutureExt, StreamExt, future::LocalBoxFuture, pin_mut, select_biased, stream::FuturesUnordered,
};
use rand::Rng;
use std::{
    collections::{BTreeMap, BTreeSet},
    ops::Range,
    time::Duration,
};

use super::{
    LogEvent,
    protocol::{
        AppendReply, AppendRequest, AppendResponse, ClientAppend, CommittedEntries, KvRead,
        KvReadReply, LogRequest, ReadCommitted, VoteRequest, VoteResponse,
    },
    sessions::{Applied, Receipt, StateMachine},
    types::{Entry, EntryKind},
    wal::{self, DurableLog, WalRecord},
};
use crate::{
    bugs::Bug,
    clock::Alarm,
    fault_points::CrashPoint,
    net::{CallError, Incoming, ReplyTo, Request, Rpc},
    node::NodeEnv,
    observe::{Event, Mark, NodeName},
    storage::Storage,
};

/// Entries sent in one append.
const MAX_BATCH_ENTRIES: u64 = 64;
/// Appends outstanding to one follower at most. Normally one; a heartbeat
/// goes out even while an earlier append waits for its reply, so that one
/// lost message does not starve the follower into an election.
const MAX_OUTSTANDING_APPENDS: u32 = 4;
/// Entries a leader holds uncommitted before it answers `Busy`.
const MAX_UNCOMMITTED: u64 = 256;
/// Client calls waiting for their command to commit before new ones are
/// answered `Busy`.
const MAX_WAITERS: usize = 1024;
/// Committed entries served by one read at most.
const MAX_READ_ENTRIES: u32 = 64;
/// The largest command payload accepted.
pub const MAX_COMMAND_BYTES: usize = 4096;

/// The settings of the log cluster.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// Every replica of the cluster, this one included.
    pub replicas: Vec<NodeName>,
    /// A follower that hears from no leader for a time drawn from this range
    /// starts an election.
    pub election_timeout: Range<Duration>,
    /// How often a leader contacts each follower.
    pub heartbeat: Duration,
    /// How long a replica waits for a peer's reply.
    pub rpc_timeout: Duration,
    /// Whether the leader serves key-value reads on a lease instead of
    /// confirming its leadership with a majority for each (dissertation
    /// §6.4.1). Replicas then refuse votes for the shortest election
    /// timeout after hearing from a leader, which is what the lease counts on.
    pub read_lease: bool,
    /// The largest rate error of any replica's monotonic clock, in parts per
    /// million, that the lease must survive.
    pub max_clock_drift_ppm: u32,
}

impl LogConfig {
    /// How long after an append went out a leader may count on no other
    /// leader being elected, if a majority answered it, on its own clock.
    ///
    /// A follower that received the append refuses votes until its clock
    /// has counted the shortest election timeout `E`: at least `E / (1 + d)`
    /// of true time for a clock running up to `d` fast. The leader's clock,
    /// up to `d` slow, counts `L` in at most `L / (1 - d)`. So
    /// `L = E (1 - d) / (1 + d)` expires before any follower votes again.
    fn lease(&self, ignore_drift: bool) -> Duration {
        let shortest = self.election_timeout.start;
        if ignore_drift {
            return shortest;
        }
        let drift = u128::from(self.max_clock_drift_ppm.min(999_999));
        let nanos = shortest.as_nanos() * (1_000_000 - drift) / (1_000_000 + drift);
        Duration::from_nanos(nanos as u64)
    }
}

/// Runs one incarnation of a log replica until the node is killed.
pub async fn run_replica(env: NodeEnv, config: LogConfig) {
    let incarnation = env.boot().await;
    let storage = env.storage();
    let (durable, cut) = wal::recover(&storage);
    if cut {
        env.mark(Mark::LogTornTailCut);
    }
    if durable.voted_for.is_some() {
        env.mark(Mark::RecoveredWithVote);
    }
    let (rpc, incoming) = Rpc::bind(&env, incarnation).await;
    let replica = Replica::recover(env, config, rpc, storage, durable);
    replica.run(incoming).await;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Follower,
    Candidate,
    Leader,
}

/// What the leader knows of one follower.
#[derive(Debug, Clone, Copy)]
struct Peer {
    next: u64,
    matched: u64,
    /// Appends sent and not yet answered (or timed out).
    outstanding: u32,
    /// When the last append went out, on the monotonic clock.
    last_sent: Duration,
    /// When the latest append the peer answered in this term went out: the
    /// peer took this replica for its leader after that.
    acked_sent_at: Duration,
}

/// A key-value read waiting to be served (see `kv`).
struct PendingRead {
    key: u64,
    /// The commit index when it arrived: it is served once applied.
    read_index: u64,
    /// When it arrived, on the monotonic clock: a majority must answer an
    /// append sent after that, unless the leader's lease held then.
    arrived: Duration,
    leased: bool,
    reply: ReplyTo,
}

/// A peer's answer to one of our calls, fed back into the actor. The calls
/// in flight are bounded by construction: a few appends per follower and
/// one vote request per peer per election are outstanding at a time.
enum PeerReply {
    Vote {
        peer: NodeName,
        term: u64,
        result: Result<VoteResponse, CallError>,
    },
    Append {
        peer: NodeName,
        term: u64,
        prev_index: u64,
        count: u64,
        sent_at: Duration,
        result: Result<AppendResponse, CallError>,
    },
}

enum Step {
    Request(Option<Result<Request<LogRequest>, (ReplyTo, String)>>),
    Reply(PeerReply),
    Timer,
}

struct Replica {
    env: NodeEnv,
    config: LogConfig,
    rpc: Rpc,
    storage: Storage,
    /// Calls to peers in flight, polled by the actor's own loop: a task per
    /// call, feeding its reply back through a channel, would cost a task
    /// and two wake-ups per message.
    calls: FuturesUnordered<LocalBoxFuture<'static, PeerReply>>,

    // Persistent state, mirrored in the write-ahead log.
    term: u64,
    voted_for: Option<String>,
    /// Entry `i` (1-based) is `log[i - 1]`.
    log: Vec<Entry>,
    /// Whether the write-ahead log has writes a reply may depend on that are
    /// not synced yet.
    unsynced: bool,

    // Volatile state.
    role: Role,
    leader: Option<NodeName>,
    commit: u64,
    applied: u64,
    machine: StateMachine,
    election_deadline: Duration,
    next_heartbeat: Duration,
    /// When this replica last heard from a leader of its term (or booted,
    /// not knowing whom it heard from before), on its monotonic clock.
    heard_from_leader: Duration,
    votes: BTreeSet<NodeName>,
    peers: BTreeMap<NodeName, Peer>,
    /// Client calls waiting for their command to be applied, with the
    /// first committed entry each asked to be sent back.
    waiters: BTreeMap<(u64, u64), Vec<(ReplyTo, u64)>>,
    /// Client replies to send once the current step is done.
    client_replies: Vec<(ReplyTo, AppendReply)>,
    reads: Vec<PendingRead>,
    read_replies: Vec<(ReplyTo, KvReadReply)>,
}

impl Replica {
    fn recover(
        env: NodeEnv,
        config: LogConfig,
        rpc: Rpc,
        storage: Storage,
        durable: DurableLog,
    ) -> Replica {
        env.record(Event::Log(LogEvent::Recovered {
            term: durable.term,
            last_index: durable.entries.len() as u64,
            commit: durable.commit,
        }));
        let mut replica = Replica {
            env,
            config,
            rpc,
            storage,
            calls: FuturesUnordered::new(),
            term: durable.term,
            voted_for: durable.voted_for,
            log: durable.entries,
            unsynced: false,
            role: Role::Follower,
            leader: None,
            commit: durable.commit,
            applied: 0,
            machine: StateMachine::default(),
            election_deadline: Duration::ZERO,
            next_heartbeat: Duration::ZERO,
            heard_from_leader: Duration::ZERO,
            votes: BTreeSet::new(),
            peers: BTreeMap::new(),
            waiters: BTreeMap::new(),
            client_replies: Vec::new(),
            reads: Vec::new(),
            read_replies: Vec::new(),
        };
        replica.replay_committed();
        replica.heard_from_leader = replica.env.clock.mono_now();
        replica.reset_election_deadline();
        replica
    }

    /// Re-applies the entries known committed at the last crash, rebuilding
    /// the state machine and its sessions.
    fn replay_committed(&mut self) {
        let forget_sessions = self.env.bugs.has(Bug::RaftForgetSessions);
        while self.applied < self.commit {
            let index = self.applied + 1;
            let entry = &self.log[index as usize - 1];
            let outcome = if forget_sessions {
                self.machine.apply_forgetting_sessions(index, entry)
            } else {
                self.machine.apply(index, entry)
            };
            self.record_applied(index, outcome);
            self.applied = index;
        }
    }

    async fn run(mut self, mut incoming: Incoming) {
        let mut alarm = Alarm::new(self.env.clock.clone());
        loop {
            let wake = match self.role {
                Role::Leader => self.next_heartbeat,
                Role::Follower | Role::Candidate => self.election_deadline,
            };
            let now = self.env.clock.mono_now();
            // A due timer goes first, so a steady stream of messages can
            // never hold off heartbeats or elections.
            if now >= wake {
                self.on_timer().await;
                self.send_client_replies().await;
                continue;
            }
            alarm.set(wake);
            let step = {
                let timer = alarm.ring().fuse();
                let request = incoming.next::<LogRequest>().fuse();
                let calls = &mut self.calls;
                // With no call in flight the set is done, not waiting: wait
                // for the other inputs alone (a call is only ever added
                // between two turns of this loop).
                let reply = futures::future::poll_fn(|cx| match calls.poll_next_unpin(cx) {
                    std::task::Poll::Ready(Some(reply)) => std::task::Poll::Ready(reply),
                    _ => std::task::Poll::Pending,
                })
                .fuse();
                pin_mut!(timer, request, reply);
                select_biased! {
                    reply = reply => Step::Reply(reply),
                    request = request => Step::Request(request),
                    () = timer => Step::Timer,
                }
            };
            match step {
                Step::Reply(reply) => self.on_peer_reply(reply).await,
                Step::Request(Some(Ok(request))) => self.on_request(request).await,
                Step::Request(Some(Err((reply, error)))) => {
                    let reason = format!("malformed request: {error}");
                    self.rpc
                        .reply(reply, &AppendReply::Rejected { reason })
                        .await;
                }
                Step::Timer => self.on_timer().await,
                // The endpoint is gone: the node is being killed.
                Step::Request(None) => return,
            }
            self.serve_reads();
            self.send_client_replies().await;
        }
    }

    // ----- inputs -------------------------------------------------------

    async fn on_request(&mut self, request: Request<LogRequest>) {
        match request.body {
            LogRequest::Vote(vote) => self.on_vote(vote, request.reply).await,
            LogRequest::Append(append) => self.on_append(append, request.reply).await,
            LogRequest::Client(command) => self.on_client(command, request.reply).await,
            LogRequest::Read(read) => self.on_read(read, request.reply).await,
            LogRequest::KvRead(read) => self.on_kv_read(read, request.reply),
        }
    }

    /// A key-value read: the leader takes its read index; another replica
    /// redirects (or, with the planted bug `read-from-follower`, answers
    /// from what it has applied).
    fn on_kv_read(&mut self, read: KvRead, reply: ReplyTo) {
        if self.role != Role::Leader {
            let answer = if self.env.bugs.has(Bug::ReadFromFollower) {
                KvReadReply::Value {
                    value: self.machine.kv().get(read.key),
                }
            } else {
                KvReadReply::NotLeader {
                    leader: self.leader.as_ref().map(|name| name.to_string()),
                }
            };
            self.read_replies.push((reply, answer));
            return;
        }
        // Until an entry of its term commits, a new leader may not know
        // the latest commit index (dissertation §6.4 step 1).
        if self.term_at(self.commit) != self.term {
            self.read_replies.push((reply, KvReadReply::Unavailable));
            return;
        }
        let now = self.env.clock.mono_now();
        let ignore_drift = self.env.bugs.has(Bug::LeaseReadIgnoresDrift);
        let within = |ignore_drift| {
            self.lease_until(ignore_drift)
                .is_some_and(|until| now < until)
        };
        let leased = self.config.read_lease && within(ignore_drift);
        if leased {
            self.env.mark(Mark::ReadServedOnLease);
        } else if self.config.read_lease {
            self.env.mark(Mark::ReadLeaseLapsed);
            if within(true) {
                self.env.mark(Mark::LeaseReadInDriftMargin);
            }
        }
        self.reads.push(PendingRead {
            key: read.key,
            read_index: self.commit,
            arrived: now,
            leased,
            reply,
        });
    }

    /// Answers the reads whose leadership a majority confirmed after they
    /// arrived and whose read index is applied.
    fn serve_reads(&mut self) {
        if self.reads.is_empty() || self.role != Role::Leader {
            return;
        }
        let majority = self.majority();
        let (applied, peers) = (self.applied, &self.peers);
        let confirmed = |read: &PendingRead| {
            read.leased
                || 1 + peers
                    .values()
                    .filter(|peer| {
                        peer.acked_sent_at >= read.arrived && peer.acked_sent_at > Duration::ZERO
                    })
                    .count()
                    >= majority
        };
        let (ready, waiting): (Vec<PendingRead>, Vec<PendingRead>) =
            std::mem::take(&mut self.reads)
                .into_iter()
                .partition(|read| confirmed(read) && applied >= read.read_index);
        self.reads = waiting;
        for read in ready {
            let value = self.machine.kv().get(read.key);
            self.read_replies
                .push((read.reply, KvReadReply::Value { value }));
        }
    }

    async fn on_timer(&mut self) {
        let now = self.env.clock.mono_now();
        match self.role {
            Role::Leader if now >= self.next_heartbeat => {
                self.next_heartbeat = now + self.config.heartbeat;
                for peer in self.other_replicas() {
                    self.replicate(&peer, true);
                }
            }
            Role::Follower | Role::Candidate if now >= self.election_deadline => {
                self.start_election().await;
            }
            _ => {}
        }
    }

    async fn on_vote(&mut self, request: VoteRequest, reply: ReplyTo) {
        // A leader's lease counts on this (dissertation §4.2.3): within the
        // shortest election timeout of hearing from a leader, a replica
        // neither grants a vote nor takes the candidate's term.
        if self.config.read_lease
            && self.role != Role::Leader
            && self.env.clock.mono_now()
                < self.heard_from_leader + self.config.election_timeout.start
        {
            self.env.mark(Mark::VoteRefusedLeaderRecent);
            let response = VoteResponse {
                term: self.term,
                granted: false,
            };
            self.rpc.reply(reply, &response).await;
            return;
        }
        if request.term > self.term {
            if self.role == Role::Leader {
                self.env.mark(Mark::LeaderDeposedByCandidate);
            }
            self.adopt_term(request.term);
        }
        let up_to_date = self.env.bugs.has(Bug::RaftVoteIgnoresLog)
            || (request.last_term, request.last_index) >= (self.last_term(), self.last_index());
        let free = self
            .voted_for
            .as_ref()
            .is_none_or(|voted| *voted == request.candidate);
        let granted = request.term == self.term && up_to_date && free;
        if request.term == self.term {
            if !up_to_date {
                self.env.mark(Mark::VoteRefusedStaleLog);
            } else if !free {
                self.env.mark(Mark::VoteRefusedAlreadyVoted);
            } else if request.last_index < self.last_index() {
                self.env.mark(Mark::VoteGrantedToShorterLog);
            }
        }
        if granted && self.voted_for.is_none() {
            self.voted_for = Some(request.candidate.clone());
            self.write_hard_state();
        }
        if granted {
            self.reset_election_deadline();
        }
        let response = VoteResponse {
            term: self.term,
            granted,
        };
        let vote = granted.then(|| LogEvent::Voted {
            term: self.term,
            candidate: request.candidate.clone(),
        });
        self.persist_then_reply(reply, &response, CrashPoint::LogVoteBeforeSync, vote)
            .await;
    }

    async fn on_append(&mut self, request: AppendRequest, reply: ReplyTo) {
        if request.term < self.term {
            self.env.mark(Mark::StaleLeaderAppendRefused);
            let response = AppendResponse {
                term: self.term,
                success: false,
                retry_from: 0,
            };
            self.persist_then_reply(reply, &response, CrashPoint::LogAppendBeforeSync, None)
                .await;
            return;
        }
        if request.term > self.term {
            if self.role == Role::Leader {
                self.env.mark(Mark::LeaderDeposedByNewerLeader);
            }
            self.adopt_term(request.term);
        }
        if self.role == Role::Candidate {
            // Of this term: its election was won by the append's sender.
            self.env.mark(Mark::CandidateLostToLeader);
        }
        if self.role != Role::Follower {
            self.step_down();
        }
        self.leader = self.rpc.lookup(&request.leader).cloned();
        self.heard_from_leader = self.env.clock.mono_now();
        self.reset_election_deadline();

        let prev = request.prev_index;
        let retry_from = if prev > self.last_index() {
            self.env.mark(Mark::AppendRefusedMissingEntries);
            Some(self.last_index() + 1)
        } else if self.term_at(prev) != request.prev_term {
            self.env.mark(Mark::AppendRefusedTermMismatch);
            // Skip back over the whole conflicting term at once.
            let conflicting = self.term_at(prev);
            let mut first = prev;
            while first > self.commit + 1 && self.term_at(first - 1) == conflicting {
                first -= 1;
            }
            Some(first.max(1))
        } else {
            None
        };
        if let Some(retry_from) = retry_from {
            let response = AppendResponse {
                term: self.term,
                success: false,
                retry_from,
            };
            self.persist_then_reply(reply, &response, CrashPoint::LogAppendBeforeSync, None)
                .await;
            return;
        }

        // Keep entries we already hold; replace from the first conflict on.
        let first_new = request
            .entries
            .iter()
            .enumerate()
            .find(|(offset, entry)| {
                let index = prev + 1 + *offset as u64;
                index > self.last_index() || self.term_at(index) != entry.term
            })
            .map(|(offset, _)| offset);
        if let Some(offset) = first_new {
            let first_index = prev + 1 + offset as u64;
            if first_index <= self.commit {
                // Only a broken leader asks this: committed entries are never
                // replaced. The follower trusts its leader, as Raft does, and
                // the checkers see the divergence; the log says why.
                self.env.mark(Mark::CommittedEntryOverwritten);
                tracing::error!(
                    node = %self.env.name,
                    leader = %request.leader,
                    index = first_index,
                    commit = self.commit,
                    "overwriting a committed entry"
                );
            }
            let entries = request.entries[offset..].to_vec();
            if first_index <= self.last_index() {
                self.env.mark(Mark::ConflictingEntriesTruncated);
                if entries[0].term < self.term_at(first_index) {
                    self.env.mark(Mark::LaterTermEntryReplacedByEarlier);
                }
            }
            self.log.truncate(first_index as usize - 1);
            self.log.extend(entries.iter().cloned());
            self.write_wal(WalRecord::Entries {
                first_index,
                entries,
            });
        } else if !request.entries.is_empty() {
            self.env.mark(Mark::AppendEntriesAlreadyHeld);
        }
        let last_new = prev + request.entries.len() as u64;
        let response = AppendResponse {
            term: self.term,
            success: true,
            retry_from: 0,
        };
        self.persist_then_reply(reply, &response, CrashPoint::LogAppendBeforeSync, None)
            .await;
        let commit = request.leader_commit.min(last_new);
        if request.leader_commit.min(self.last_index()) > commit.max(self.commit) {
            self.env.mark(Mark::FollowerCommitCappedAtAppend);
        }
        if commit > self.commit {
            if request.entries.is_empty() {
                self.env.mark(Mark::CommitLearnedFromHeartbeat);
            }
            self.set_commit(commit);
            self.apply_committed();
        }
    }

    async fn on_client(&mut self, command: ClientAppend, reply: ReplyTo) {
        if command.data.len() > MAX_COMMAND_BYTES {
            self.env.record(Event::Log(LogEvent::Refused {
                client: command.client,
                bytes: command.data.len() as u64,
            }));
            let reason = format!(
                "command of {} bytes exceeds the limit of {MAX_COMMAND_BYTES}",
                command.data.len()
            );
            self.client_replies
                .push((reply, AppendReply::Rejected { reason }));
            return;
        }
        if self.role != Role::Leader {
            self.env.mark(Mark::ClientAppendToNonLeader);
            let leader = self.leader.as_ref().map(|name| name.to_string());
            self.client_replies
                .push((reply, AppendReply::NotLeader { leader }));
            return;
        }
        match self.machine.lookup(command.client, command.seq) {
            Some(Some(receipt)) => {
                self.env.mark(Mark::RetryAnsweredFromSession);
                let answer = self.with_entries(acknowledgement(receipt), command.read_from);
                self.client_replies.push((reply, answer));
                return;
            }
            Some(None) => {
                self.env.mark(Mark::StaleClientAppend);
                self.client_replies.push((reply, AppendReply::Stale));
                return;
            }
            None => {}
        }
        let waiting: usize = self.waiters.values().map(Vec::len).sum();
        if waiting >= MAX_WAITERS {
            self.client_replies.push((reply, AppendReply::Busy));
            return;
        }
        let key = (command.client, command.seq);
        let read_from = command.read_from;
        let in_log = self
            .log
            .get(self.applied as usize..)
            .unwrap_or_default()
            .iter()
            .any(|entry| matches!(&entry.kind, EntryKind::Command { client, seq, .. } if (*client, *seq) == key));
        if in_log {
            self.env.mark(Mark::RetryJoinedPendingEntry);
        } else {
            if self.last_index() - self.commit >= MAX_UNCOMMITTED {
                self.env.mark(Mark::LeaderBusyUncommitted);
                self.client_replies.push((reply, AppendReply::Busy));
                return;
            }
            let entry = Entry {
                term: self.term,
                kind: EntryKind::Command {
                    client: command.client,
                    seq: command.seq,
                    data: command.data,
                },
            };
            self.append_as_leader(entry).await;
            // Persisted here, sent nowhere yet: a crash now strands the
            // entry on this replica alone.
            self.env
                .crash_point(CrashPoint::LogLeaderBeforeReplicate)
                .await;
        }
        self.waiters
            .entry(key)
            .or_default()
            .push((reply, read_from));
        if self.role == Role::Leader {
            self.replicate_to_all();
            self.advance_commit().await;
        }
    }

    /// Serves what this replica has applied: only committed entries are.
    async fn on_read(&mut self, read: ReadCommitted, reply: ReplyTo) {
        let entries = self.applied_entries(read.from, read.limit);
        let leader = self.leader.as_ref().map(|name| name.to_string());
        self.rpc
            .reply(reply, &CommittedEntries { entries, leader })
            .await;
    }

    async fn on_peer_reply(&mut self, reply: PeerReply) {
        match reply {
            PeerReply::Vote { term, result, peer } => {
                let Ok(response) = result else { return };
                if response.term > self.term {
                    self.adopt_term(response.term);
                    self.step_down();
                    return;
                }
                if self.role != Role::Candidate || term != self.term || !response.granted {
                    return;
                }
                self.votes.insert(peer);
                if self.votes.len() >= self.majority() {
                    self.become_leader().await;
                }
            }
            PeerReply::Append {
                peer,
                term,
                prev_index,
                count,
                sent_at,
                result,
            } => {
                if term != self.term || self.role != Role::Leader {
                    return;
                }
                let last_index = self.last_index();
                let Some(state) = self.peers.get_mut(&peer) else {
                    return;
                };
                state.outstanding = state.outstanding.saturating_sub(1);
                let Ok(response) = result else { return };
                if response.term > self.term {
                    self.env.mark(Mark::LeaderDeposedByAppendReply);
                    self.adopt_term(response.term);
                    self.step_down();
                    return;
                }
                state.acked_sent_at = state.acked_sent_at.max(sent_at);
                if response.success {
                    state.matched = state.matched.max(prev_index + count);
                    state.next = state.next.max(state.matched + 1);
                } else {
                    let next = response
                        .retry_from
                        .min(prev_index)
                        .max(state.matched + 1)
                        .max(1);
                    if next < state.next {
                        self.env.mark(Mark::NextIndexBackedOff);
                    }
                    state.next = next;
                }
                let behind = state.next <= last_index || !response.success;
                if response.success {
                    self.advance_commit().await;
                }
                if behind && self.role == Role::Leader {
                    self.replicate(&peer, false);
                }
            }
        }
    }

    // ----- roles --------------------------------------------------------

    async fn start_election(&mut self) {
        debug_assert_ne!(self.role, Role::Leader, "a leader stands for no election");
        if self.role == Role::Candidate {
            self.env.mark(Mark::ElectionRetried);
        }
        self.term += 1;
        tracing::debug!(term = self.term, "election timeout: standing as candidate");
        self.voted_for = Some(self.env.name.to_string());
        self.role = Role::Candidate;
        self.leader = None;
        self.votes = BTreeSet::from([self.env.name.clone()]);
        self.write_hard_state();
        self.reset_election_deadline();
        self.sync().await;
        self.env.record(Event::Log(LogEvent::Voted {
            term: self.term,
            candidate: self.env.name.to_string(),
        }));
        if self.votes.len() >= self.majority() {
            self.become_leader().await;
            return;
        }
        let request = LogRequest::Vote(VoteRequest {
            term: self.term,
            candidate: self.env.name.to_string(),
            last_index: self.last_index(),
            last_term: self.last_term(),
        });
        for peer in self.other_replicas() {
            let call = self.rpc.send_call(&peer, &request, self.config.rpc_timeout);
            let term = self.term;
            self.calls.push(Box::pin(async move {
                let result = call.await;
                PeerReply::Vote { peer, term, result }
            }));
        }
    }

    async fn become_leader(&mut self) {
        self.role = Role::Leader;
        self.leader = Some(self.env.name.clone());
        let next = self.last_index() + 1;
        self.peers = self
            .other_replicas()
            .into_iter()
            .map(|peer| {
                (
                    peer,
                    Peer {
                        next,
                        matched: 0,
                        outstanding: 0,
                        last_sent: Duration::ZERO,
                        acked_sent_at: Duration::ZERO,
                    },
                )
            })
            .collect();
        self.env
            .record(Event::Log(LogEvent::Elected { term: self.term }));
        // The no-op gives the new term an entry of its own, so that earlier
        // terms' entries commit only beneath it (Raft paper §5.4.2).
        if !self.env.bugs.has(Bug::RaftCommitOldTerm) {
            self.append_as_leader(Entry {
                term: self.term,
                kind: EntryKind::Noop,
            })
            .await;
        }
        self.next_heartbeat = self.env.clock.mono_now() + self.config.heartbeat;
        self.replicate_to_all();
        self.advance_commit().await;
    }

    /// Moves to a newer term, forgetting the vote of the old one.
    fn adopt_term(&mut self, term: u64) {
        debug_assert!(term > self.term);
        if self.role == Role::Candidate {
            self.env.mark(Mark::CandidateSawNewerTerm);
        }
        if self.role != Role::Follower {
            self.step_down();
        }
        self.term = term;
        self.voted_for = None;
        self.write_hard_state();
    }

    fn step_down(&mut self) {
        if self.role == Role::Leader {
            tracing::debug!(term = self.term, "stepping down");
            if !self.waiters.is_empty() {
                self.env.mark(Mark::LeaderChangeDuringAppend);
            }
            self.env
                .record(Event::Log(LogEvent::SteppedDown { term: self.term }));
            let leader = None;
            for (_, waiting) in std::mem::take(&mut self.waiters) {
                for (reply, _) in waiting {
                    let answer = AppendReply::NotLeader {
                        leader: leader.clone(),
                    };
                    self.client_replies.push((reply, answer));
                }
            }
            for read in std::mem::take(&mut self.reads) {
                let answer = KvReadReply::NotLeader { leader: None };
                self.read_replies.push((read.reply, answer));
            }
            self.peers.clear();
        }
        self.role = Role::Follower;
        self.leader = None;
        self.reset_election_deadline();
    }

    // ----- leader duties ------------------------------------------------

    async fn append_as_leader(&mut self, entry: Entry) {
        let first_index = self.last_index() + 1;
        self.log.push(entry.clone());
        self.write_wal(WalRecord::Entries {
            first_index,
            entries: vec![entry],
        });
        self.env.crash_point(CrashPoint::LogLeaderBeforeSync).await;
        // The leader counts itself towards a majority only for synced entries.
        self.sync().await;
    }

    /// Sends new entries to every follower not already waiting for a reply.
    fn replicate_to_all(&mut self) {
        for peer in self.other_replicas() {
            self.replicate(&peer, false);
        }
    }

    /// Sends `peer` an append from its next index: now if nothing is
    /// outstanding, or as a `heartbeat` once the last send is a heartbeat
    /// interval old. A heartbeat to a peer that is sent everything and
    /// heard from this leader within the interval is skipped: the append
    /// was its heartbeat.
    fn replicate(&mut self, peer: &NodeName, heartbeat: bool) {
        let last_index = self.last_index();
        let now = self.env.clock.mono_now();
        let Some(state) = self.peers.get(peer).copied() else {
            return;
        };
        let overdue = heartbeat && now >= state.last_sent + self.config.heartbeat;
        if state.outstanding >= MAX_OUTSTANDING_APPENDS || (state.outstanding > 0 && !overdue) {
            return;
        }
        // An append sent within the interval was the heartbeat already.
        if heartbeat && !overdue && state.next > last_index {
            return;
        }
        let prev_index = state.next - 1;
        let end = last_index.min(prev_index + MAX_BATCH_ENTRIES);
        let entries = self.log[prev_index as usize..end as usize].to_vec();
        let count = entries.len() as u64;
        let request = LogRequest::Append(AppendRequest {
            term: self.term,
            leader: self.env.name.to_string(),
            prev_index,
            prev_term: self.term_at(prev_index),
            entries,
            leader_commit: self.commit,
        });
        if let Some(state) = self.peers.get_mut(peer) {
            state.outstanding += 1;
            state.last_sent = now;
        }
        let call = self.rpc.send_call(peer, &request, self.config.rpc_timeout);
        let (peer, term) = (peer.clone(), self.term);
        self.calls.push(Box::pin(async move {
            let result = call.await;
            PeerReply::Append {
                peer,
                term,
                prev_index,
                count,
                sent_at: now,
                result,
            }
        }));
    }

    /// Commits the highest index a majority holds, under the current-term
    /// rule: an entry of an earlier term commits only beneath one of this
    /// term (Raft paper figure 8).
    async fn advance_commit(&mut self) {
        let count_old_terms = self.env.bugs.has(Bug::RaftCommitOldTerm);
        let mut commit = self.commit;
        for index in (self.commit + 1..=self.last_index()).rev() {
            if !count_old_terms && self.term_at(index) != self.term {
                if self.holders(index) >= self.majority() {
                    self.env.mark(Mark::EarlierTermMajorityNotCounted);
                }
                break;
            }
            if self.holders(index) >= self.majority() {
                commit = index;
                break;
            }
        }
        if commit > self.commit {
            if self.term_at(self.commit + 1) < self.term && self.term_at(commit) == self.term {
                self.env.mark(Mark::EarlierTermEntriesCommitted);
            }
            self.set_commit(commit);
            self.env.crash_point(CrashPoint::LogLeaderAfterCommit).await;
            self.apply_committed();
        }
    }

    // ----- state machine ------------------------------------------------

    fn set_commit(&mut self, commit: u64) {
        debug_assert!(commit > self.commit, "a replica's commit index only grows");
        debug_assert!(
            commit <= self.last_index(),
            "a replica commits only entries it holds"
        );
        self.commit = commit;
        // Not synced on its own: it rides along with the next sync, after the
        // entries it covers, and only speeds up recovery.
        self.write_wal(WalRecord::Commit { index: commit });
    }

    fn apply_committed(&mut self) {
        // Only a follower told to overwrite committed entries can hold fewer
        // entries than its commit index; it applies what it has.
        while self.applied < self.commit.min(self.last_index()) {
            let index = self.applied + 1;
            debug_assert!(
                self.log[index as usize - 1].term <= self.term,
                "no entry is from a term after the replica's own"
            );
            let outcome = self.machine.apply(index, &self.log[index as usize - 1]);
            self.record_applied(index, outcome);
            self.applied = index;
            let (key, answer) = match outcome {
                Applied::Noop => continue,
                Applied::Command {
                    client,
                    seq,
                    receipt,
                } => ((client, seq), acknowledgement(receipt)),
                Applied::Duplicate {
                    client,
                    seq,
                    original: Some(original),
                } => {
                    self.env.mark(Mark::DuplicateCommandSkipped);
                    ((client, seq), acknowledgement(original))
                }
                Applied::Duplicate {
                    client,
                    seq,
                    original: None,
                } => {
                    self.env.mark(Mark::StaleCommandSkipped);
                    ((client, seq), AppendReply::Stale)
                }
            };
            for (reply, read_from) in self.waiters.remove(&key).unwrap_or_default() {
                let answer = self.with_entries(answer.clone(), read_from);
                self.client_replies.push((reply, answer));
            }
        }
    }

    fn record_applied(&self, index: u64, outcome: Applied) {
        let entry = &self.log[index as usize - 1];
        self.env.record(Event::Log(LogEvent::Applied {
            index,
            term: entry.term,
            entry: entry.id(),
            duplicate: matches!(outcome, Applied::Duplicate { .. }),
            commands: self.machine.applied_commands(),
        }));
    }

    async fn send_client_replies(&mut self) {
        for (reply, answer) in std::mem::take(&mut self.client_replies) {
            self.rpc.reply(reply, &answer).await;
        }
        for (reply, answer) in std::mem::take(&mut self.read_replies) {
            self.rpc.reply(reply, &answer).await;
        }
    }

    // ----- persistence --------------------------------------------------

    fn write_hard_state(&mut self) {
        self.write_wal(WalRecord::HardState {
            term: self.term,
            voted_for: self.voted_for.clone(),
        });
    }

    fn write_wal(&mut self, record: WalRecord) {
        if !matches!(record, WalRecord::Commit { .. }) {
            self.unsynced = true;
        }
        wal::write(&self.storage, &record);
    }

    async fn sync(&mut self) {
        if self.unsynced {
            self.unsynced = false;
            self.storage.sync(wal::WAL_FILE).await;
        }
    }

    /// Sends a reply that promises what the write-ahead log holds, after
    /// syncing it; or, with the planted bug, before. `vote`, a vote the
    /// reply grants, goes into the trace as the reply goes out: the moment
    /// the voter promised it.
    async fn persist_then_reply<A: serde::Serialize>(
        &mut self,
        reply: ReplyTo,
        response: &A,
        crash_point: CrashPoint,
        vote: Option<LogEvent>,
    ) {
        if self.unsynced && self.env.bugs.has(Bug::RaftAckBeforePersist) {
            self.reply_promising(reply, response, vote).await;
            self.env.crash_point(crash_point).await;
            self.sync().await;
            return;
        }
        if self.unsynced {
            self.env.crash_point(crash_point).await;
            self.sync().await;
        }
        self.reply_promising(reply, response, vote).await;
    }

    async fn reply_promising<A: serde::Serialize>(
        &mut self,
        reply: ReplyTo,
        response: &A,
        vote: Option<LogEvent>,
    ) {
        if let Some(vote) = vote {
            self.env.record(Event::Log(vote));
        }
        self.rpc.reply(reply, response).await;
    }

    // ----- helpers ------------------------------------------------------

    /// Until when no other replica can lead, on this leader's clock: the
    /// lease from the latest append a majority (itself included) is known
    /// to have received, with a margin for clock drift unless
    /// `ignore_drift`. `None` before a majority has answered in this term.
    fn lease_until(&self, ignore_drift: bool) -> Option<Duration> {
        let mut acked: Vec<Duration> = self
            .peers
            .values()
            .map(|peer| peer.acked_sent_at)
            .filter(|sent| *sent > Duration::ZERO)
            .collect();
        acked.sort_unstable_by(|a, b| b.cmp(a));
        let start = match self.majority() - 1 {
            0 => self.env.clock.mono_now(),
            others => *acked.get(others - 1)?,
        };
        Some(start + self.config.lease(ignore_drift))
    }

    fn reset_election_deadline(&mut self) {
        let range = self.config.election_timeout.clone();
        let timeout = if range.start < range.end {
            madsim::rand::thread_rng().gen_range(range)
        } else {
            range.start
        };
        self.election_deadline = self.env.clock.mono_now() + timeout;
    }

    fn last_index(&self) -> u64 {
        self.log.len() as u64
    }

    fn last_term(&self) -> u64 {
        self.log.last().map_or(0, |entry| entry.term)
    }

    fn term_at(&self, index: u64) -> u64 {
        match index {
            0 => 0,
            _ => self
                .log
                .get(index as usize - 1)
                .map_or(0, |entry| entry.term),
        }
    }

    /// Applied entries from index `from` on, `limit` and a read's limit
    /// at most.
    fn applied_entries(&self, from: u64, limit: u32) -> Vec<Entry> {
        let start = from.max(1);
        let end = self
            .applied
            .min(start.saturating_add(u64::from(limit.min(MAX_READ_ENTRIES))) - 1);
        if start <= end {
            self.log[start as usize - 1..end as usize].to_vec()
        } else {
            Vec::new()
        }
    }

    /// `answer` with the applied entries from `read_from` on, when it
    /// acknowledges a command that asked for them.
    fn with_entries(&self, answer: AppendReply, read_from: u64) -> AppendReply {
        match answer {
            AppendReply::Appended { index, .. } if read_from > 0 => AppendReply::Appended {
                index,
                entries: self.applied_entries(read_from, MAX_READ_ENTRIES),
            },
            other => other,
        }
    }

    /// How many replicas, this leader included, hold the entry at `index`.
    fn holders(&self, index: u64) -> usize {
        1 + self
            .peers
            .values()
            .filter(|peer| peer.matched >= index)
            .count()
    }

    fn majority(&self) -> usize {
        self.config.replicas.len() / 2 + 1
    }

    fn other_replicas(&self) -> Vec<NodeName> {
        self.config
            .replicas
            .iter()
            .filter(|name| **name != self.env.name)
            .cloned()
            .collect()
    }
}

/// What a client is told of its command's receipt.
fn acknowledgement(receipt: Receipt) -> AppendReply {
    match receipt.swapped {
        None => AppendReply::Appended {
            index: receipt.index,
            entries: Vec::new(),
        },
        Some(swapped) => AppendReply::Swapped {
            index: receipt.index,
            swapped,
        },
    }
}

#[cfg(test)]
mod tests;
