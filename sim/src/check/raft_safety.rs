//! `raft-safety`: at most one leader per term; a vote goes only to a
//! candidate whose log is at least as up to date as the voter's; a new
//! leader's log holds every entry committed in earlier terms; when a
//! leader commits an entry, no replica lacking it could still win an
//! election; no two
//! replicas apply different
//! entries at one index; committed entries never disappear; a replica votes
//! once a term, and never forgets a vote it cast.

use ledger::{
    log::{Entry, EntryId, LogEvent},
    observe::{Event, NodeName},
};
use std::{
    borrow::Borrow,
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};

use ledger::log::DurableLog;

use crate::words::seconds;

use super::{holders, majority};

/// The entry first applied at an index, and by whom.
#[derive(Debug, Clone)]
pub struct AppliedEntry {
    pub term: u64,
    pub entry: EntryId,
    pub first_by: NodeName,
    /// The term its first applier was leading, if it led: the term the
    /// entry was committed in, since a leader applies what it commits
    /// before it tells anyone.
    committed_in: Option<u64>,
}

pub(super) struct Online {
    leaders: BTreeMap<u64, NodeName>,
    /// The term each replica leads, while it does, as it told.
    leading: BTreeMap<String, u64>,
    /// When each term's first leader was elected.
    elected_at: BTreeMap<u64, Duration>,
    /// Leases already reported as used after a later election, by leader
    /// and term.
    outlived_leases: BTreeSet<(String, u64)>,
    applied: BTreeMap<u64, AppliedEntry>,
    /// Terms and indexes already reported: each is reported once.
    split_terms: BTreeSet<u64>,
    divergent: BTreeSet<u64>,
    /// Indexes a leader was already reported to lack.
    missing_at_election: BTreeSet<u64>,
    /// The index a leader has just applied first, and the term it leads,
    /// not yet checked against the synced logs of the replicas that could
    /// win an election.
    just_committed: Option<(u64, u64)>,
    /// Replicas already reported as lacking an entry committed in a term
    /// while they could still win an election, by replica and term: the
    /// entries committed after it in that term are the same hazard.
    overturnable_commits: BTreeSet<(String, u64)>,
    /// Replicas taken out for good: they neither stand nor vote again.
    retired: BTreeSet<String>,
    lost: BTreeSet<u64>,
    /// Replicas already reported for a synced entry above their synced term.
    ahead_of_term: BTreeSet<String>,
    /// Each replica's vote of the latest term it voted in, as it told it.
    votes: BTreeMap<String, (u64, String)>,
    /// Each candidate's log as it asked for votes, by candidate and term:
    /// its last entry's term and index.
    asked: BTreeMap<(String, u64), (u64, u64)>,
    /// Votes already reported as granted to a less up-to-date log, by
    /// voter and term.
    stale_grants: BTreeSet<(String, u64)>,
    /// Replicas already reported for a second vote in a term, or for a vote
    /// their synced log does not hold.
    double_voters: BTreeSet<String>,
    forgot_vote: BTreeSet<String>,
    replicas: usize,
}

impl Online {
    pub(super) fn new(replicas: usize) -> Online {
        Online {
            leaders: BTreeMap::new(),
            leading: BTreeMap::new(),
            elected_at: BTreeMap::new(),
            outlived_leases: BTreeSet::new(),
            applied: BTreeMap::new(),
            split_terms: BTreeSet::new(),
            divergent: BTreeSet::new(),
            missing_at_election: BTreeSet::new(),
            just_committed: None,
            overturnable_commits: BTreeSet::new(),
            retired: BTreeSet::new(),
            lost: BTreeSet::new(),
            ahead_of_term: BTreeSet::new(),
            votes: BTreeMap::new(),
            asked: BTreeMap::new(),
            stale_grants: BTreeSet::new(),
            double_voters: BTreeSet::new(),
            forgot_vote: BTreeSet::new(),
            replicas,
        }
    }

    pub(super) fn observe(&mut self, node: &NodeName, event: &Event) -> Option<String> {
        let Event::Log(event) = event else {
            return None;
        };
        match event {
            LogEvent::Elected { term } => {
                self.leading.insert(node.to_string(), *term);
                let first = self.leaders.entry(*term).or_insert_with(|| node.clone());
                (first != node && self.split_terms.insert(*term)).then(|| {
                    format!(
                        "two leaders in term {term}: {first} and {node} (of {} replicas)",
                        self.replicas
                    )
                })
            }
            LogEvent::Applied {
                index, term, entry, ..
            } => match self.applied.get(index) {
                Some(first)
                    if (first.term, first.entry) != (*term, *entry)
                        && self.divergent.insert(*index) =>
                {
                    Some(format!(
                        "replicas applied different entries at index {index}: {} applied {} (term {}), {node} applied {entry} (term {term})",
                        first.first_by, first.entry, first.term
                    ))
                }
                Some(_) => None,
                None => {
                    let committed_in = self.leading.get(node.as_str()).copied();
                    self.just_committed = committed_in.map(|term| (*index, term));
                    self.applied.insert(
                        *index,
                        AppliedEntry {
                            term: *term,
                            entry: *entry,
                            first_by: node.clone(),
                            committed_in,
                        },
                    );
                    None
                }
            },
            LogEvent::Voted { term, candidate } => self.voted(node, *term, candidate),
            LogEvent::Recovered { .. } | LogEvent::SteppedDown { .. } => {
                self.leading.remove(node.as_str());
                None
            }
            LogEvent::Refused { .. } => None,
        }
    }

    /// Notes a vote `node` cast (a grant it sent, or its own as it stood);
    /// a second one in a term for another candidate is a violation: two
    /// candidates may then each count it towards a majority.
    fn voted(&mut self, node: &NodeName, term: u64, candidate: &str) -> Option<String> {
        let vote = (term, candidate.to_owned());
        let earlier = self.votes.entry(node.to_string()).or_insert(vote);
        if earlier.0 < term {
            *earlier = (term, candidate.to_owned());
            return None;
        }
        (earlier.0 == term && earlier.1 != candidate && self.double_voters.insert(node.to_string()))
            .then(|| {
                format!(
                    "{node} voted twice in term {term}: for {} and for {candidate}",
                    earlier.1
                )
            })
    }
}

impl Online {
    /// Notes when the leader of `term` was elected, at `at`.
    pub(super) fn elected_at(&mut self, term: u64, at: Duration) {
        self.elected_at.entry(term).or_insert(at);
    }

    /// A read lease (Raft dissertation §6.4.1) promises that no other
    /// replica is elected while it lasts: `node` took a read on its lease
    /// at `at`, so no replica may have won a later term than the one it
    /// leads before then, in true time, whatever the clocks said. A lease
    /// used after that serves a read the new leader's writes may already
    /// have made stale, whether or not one did. Each leader's term is
    /// reported once.
    pub(super) fn read_on_lease(&mut self, node: &NodeName, at: Duration) -> Option<String> {
        let term = *self.leading.get(node.as_str())?;
        let (later, when) = self.elected_at.range(term + 1..).next()?;
        let (later, when) = (*later, *when);
        if !self.outlived_leases.insert((node.to_string(), term)) {
            return None;
        }
        let winner = self
            .leaders
            .get(&later)
            .map_or_else(|| "another replica".to_owned(), ToString::to_string);
        Some(format!(
            "{node} took a read on its lease as leader of term {term} at {}, after {winner} had won term {later} at {}: a lease promises no other leader while it lasts",
            seconds(at),
            seconds(when)
        ))
    }

    /// Checks `event` of `node` against `log`, its synced log as the event
    /// is told: a vote (`granted`) or an election (`elected`). A replica
    /// syncs before it tells either, so this is the log it acted on.
    pub(super) fn against_synced_log(
        &mut self,
        node: &NodeName,
        event: &LogEvent,
        log: &DurableLog,
    ) -> Option<String> {
        match event {
            LogEvent::Elected { term } => self.elected(node, *term, log),
            LogEvent::Voted { term, candidate } => self.granted(node, *term, candidate, log),
            _ => None,
        }
    }

    /// Raft's election restriction (§5.4.1): a replica grants its vote only
    /// to a candidate whose log is at least as up to date as its own (a
    /// later last term, or the same and at least as long). A candidate's
    /// own vote notes its log as it asks: it syncs first and takes no entry
    /// while it waits. Each voter is reported once a term.
    fn granted(
        &mut self,
        node: &NodeName,
        term: u64,
        candidate: &str,
        log: &DurableLog,
    ) -> Option<String> {
        let last = up_to_date(log);
        if candidate == node.as_str() {
            self.asked.insert((candidate.to_owned(), term), last);
            return None;
        }
        let asked = *self.asked.get(&(candidate.to_owned(), term))?;
        (asked < last && self.stale_grants.insert((node.to_string(), term))).then(|| {
            format!(
                "{node} granted its vote in term {term} to {candidate}, whose log ends at index {} (term {}), less up to date than its own, which ends at index {} (term {})",
                asked.1, asked.0, last.1, last.0
            )
        })
    }

    /// Raft's leader completeness (§5.4): an entry committed in a term is
    /// in the log of every leader of a later term. `log` is the synced log
    /// of `node`, just elected leader of `term`: a candidate syncs before it
    /// asks for votes and takes no entry while it waits, so this is the log
    /// it won with. A leader that lacks such an entry replaces it on its
    /// followers, which then apply another entry at its index; reported
    /// here, at the election, a run fails where the entry was lost, not
    /// where it was overwritten (which needs the new leader to reach a
    /// majority, and an apply). Only entries whose commit term is known
    /// count: a leader of an earlier term may still win late, on votes
    /// granted before the later terms, and legitimately lacks what those
    /// committed. The highest such entry the log holds is looked for from
    /// the top: below it the log matches by Log Matching, which the
    /// divergence check holds. Each missing entry is reported once: every
    /// leader after the first that lacks it lacks it too.
    pub(super) fn elected(
        &mut self,
        node: &NodeName,
        term: u64,
        log: &DurableLog,
    ) -> Option<String> {
        let holds = |index: u64, applied: &AppliedEntry| {
            log.entries
                .get(index as usize - 1)
                .is_some_and(|entry| entry.term == applied.term && entry.id() == applied.entry)
        };
        // Missing entries from the top down, to the highest one held.
        let missing: Vec<(&u64, &AppliedEntry)> = self
            .applied
            .iter()
            .rev()
            .filter(|(_, applied)| {
                applied
                    .committed_in
                    .is_some_and(|committed| committed < term)
            })
            .take_while(|(index, applied)| !holds(**index, applied))
            .collect();
        let (&(highest, _), &(index, first)) = (missing.first()?, missing.last()?);
        if !self.missing_at_election.insert(*index) {
            return None;
        }
        let there = match log.entries.get(*index as usize - 1) {
            Some(entry) => format!("holds {} (term {}) there", entry.id(), entry.term),
            None => format!("ends at index {}", log.entries.len()),
        };
        let more = match missing.len() {
            1 => String::new(),
            n => format!(", one of {n} committed entries it lacks up to index {highest}"),
        };
        Some(format!(
            "{node} won term {term} without committed entry {} (term {}) at index {index}, applied by {}: its log {there}{more}",
            first.entry, first.term, first.first_by,
        ))
    }

    /// Notes that `node` was taken out for good: it never stands for
    /// election nor votes again.
    pub(super) fn retired(&mut self, node: &str) {
        self.retired.insert(node.to_owned());
    }

    /// The index a leader has just committed and applied, and the term it
    /// leads, if the last event was such an apply: to be checked by
    /// [`Self::electable_without`] against the synced logs as they stand at
    /// that moment.
    pub(super) fn take_just_committed(&mut self) -> Option<(u64, u64)> {
        self.just_committed.take()
    }

    /// What makes a commit safe (Raft §5.4.2): once a leader commits an
    /// entry, no replica whose log lacks it can win an election, since
    /// every majority holds a replica whose log is more up to date than
    /// the lacking one's. So when a leader has just applied the entry at
    /// `index`, no replica still in the cluster may lack it in its synced
    /// log while, with itself, a majority of the replicas hold synced logs
    /// no more up to date than its own (by last term, then length): every
    /// replica may crash now and come back with its synced log, and those
    /// votes then elect it, and it replaces the entry on its followers. A
    /// correct commit rule never allows this, whatever the faults (the
    /// commit counted an entry of the leader's term at or above `index`,
    /// whose holders, a majority, end in that term or a later one, and a
    /// replica ending in a later term took it from a leader holding the
    /// entry);
    /// counting replicas for an earlier term's entry does (figure 8). Only
    /// an entry a majority of synced logs holds is judged: acknowledging
    /// an append before syncing it is a fault of durability, not of the
    /// commit rule, and is judged where a crash loses it.
    /// Reported when the entry is committed, not when it is overwritten,
    /// which takes that election to happen. Each replica is reported once
    /// a term: what the leader commits after it there, it lacks too.
    pub(super) fn electable_without<L: Borrow<DurableLog>>(
        &mut self,
        (index, term): (u64, u64),
        replicas: &BTreeMap<String, L>,
    ) -> Option<String> {
        let applied = self.applied.get(&index)?;
        let matches = |entry: &Entry| entry.term == applied.term && entry.id() == applied.entry;
        let holding = holders(replicas, index, matches);
        let needed = majority(replicas.len());
        // An entry not yet on a majority of synced logs is a matter of
        // durability, which the probes at crashes judge: here, only what
        // the commit rule lets through.
        if holding.len() < needed {
            return None;
        }
        let standing: Vec<(&str, &DurableLog)> = replicas
            .iter()
            .filter(|(name, _)| !self.retired.contains(*name))
            .map(|(name, log)| (name.as_str(), log.borrow()))
            .collect();
        let (lacking, log, voters) = standing.iter().find_map(|(name, log)| {
            if holding.contains(name)
                || self
                    .overturnable_commits
                    .contains(&((*name).to_owned(), term))
            {
                return None;
            }
            let own = up_to_date(log);
            let voters: Vec<&str> = standing
                .iter()
                .filter(|(other, theirs)| other != name && up_to_date(theirs) <= own)
                .map(|(other, _)| *other)
                .collect();
            (voters.len() + 1 >= needed).then_some((*name, *log, voters))
        })?;
        self.overturnable_commits.insert((lacking.to_owned(), term));
        let (last_term, length) = up_to_date(log);
        Some(format!(
            "{} committed entry {} (term {}) at index {index} as leader of term {term}, but {lacking} lacks it and could still win an election: its synced log ends at index {length} (term {last_term}), at least as up to date as those of {}, whose votes would elect it after a crash of every replica, and it would replace the entry",
            applied.first_by,
            applied.entry,
            applied.term,
            voters.join(", "),
        ))
    }

    /// Every entry some replica applied was committed, so a majority of the
    /// replicas' synced logs must hold it at its index, at every moment: the
    /// harness probes after each crash and at the end. Each lost entry is
    /// reported once.
    pub(super) fn probe<L: Borrow<DurableLog>>(
        &mut self,
        replicas: &BTreeMap<String, L>,
    ) -> Vec<String> {
        let needed = majority(replicas.len());
        let mut found = Vec::new();
        for (index, applied) in &self.applied {
            if self.lost.contains(index) {
                continue;
            }
            let holding = holders(replicas, *index, |entry| {
                entry.term == applied.term && entry.id() == applied.entry
            });
            if holding.len() < needed {
                self.lost.insert(*index);
                found.push(format!(
                    "committed entry {} (term {}) at index {index}, applied by {}, survives in the synced logs of {} of {} replicas{}",
                    applied.entry,
                    applied.term,
                    applied.first_by,
                    holding.len(),
                    replicas.len(),
                    if holding.is_empty() { String::new() } else { format!(" ({})", holding.join(", ")) },
                ));
            }
        }
        found.extend(self.entries_ahead_of_term(replicas));
        found.extend(self.votes_forgotten(replicas));
        found
    }

    /// A replica makes its vote durable before it tells it (its own, before
    /// it asks for others'), so its synced log holds, at every moment after,
    /// the term of its latest vote with that vote, or a later term. One that
    /// does not would come back from a crash free to vote in that term
    /// again. Each replica is reported once.
    fn votes_forgotten<L: Borrow<DurableLog>>(
        &mut self,
        replicas: &BTreeMap<String, L>,
    ) -> Vec<String> {
        let mut found = Vec::new();
        for (name, (term, candidate)) in &self.votes {
            let Some(log) = replicas.get(name) else {
                continue;
            };
            let log: &DurableLog = log.borrow();
            let kept = log.term > *term
                || (log.term == *term && log.voted_for.as_deref() == Some(candidate.as_str()));
            if !kept && self.forgot_vote.insert(name.clone()) {
                let holds = match &log.voted_for {
                    Some(vote) => format!("term {} with a vote for {vote}", log.term),
                    None => format!("term {} with no vote", log.term),
                };
                found.push(format!(
                    "{name} voted for {candidate} in term {term}, but its synced log holds {holds}: a vote told before it was made durable, which a crash frees it to cast again"
                ));
            }
        }
        found
    }

    /// A replica takes a newer term into its write-ahead log before any
    /// entry of that term, and its disk keeps a prefix of what was written,
    /// so no synced log holds an entry of a term above its synced term. One
    /// that does restarts in the older term: it answers an older leader, and
    /// votes in a term it had already left. Each replica is reported once.
    fn entries_ahead_of_term<L: Borrow<DurableLog>>(
        &mut self,
        replicas: &BTreeMap<String, L>,
    ) -> Vec<String> {
        let mut found = Vec::new();
        for (name, log) in replicas {
            let log: &DurableLog = log.borrow();
            let Some((index, entry)) = (1..)
                .zip(&log.entries)
                .filter(|(_, entry)| entry.term > log.term)
                .max_by_key(|(_, entry)| entry.term)
            else {
                continue;
            };
            if self.ahead_of_term.insert(name.clone()) {
                found.push(format!(
                    "{name}'s synced log holds an entry of term {} (index {index}) above its synced term {}: a term taken without being made durable first",
                    entry.term, log.term
                ));
            }
        }
        found
    }
}

/// How up to date a log is, as votes compare logs: its last entry's term,
/// then its length.
fn up_to_date(log: &DurableLog) -> (u64, u64) {
    (
        log.entries.last().map_or(0, |entry| entry.term),
        log.entries.len() as u64,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger::log::{Entry, EntryKind};

    fn synced(term: u64, entry_terms: &[u64]) -> DurableLog {
        DurableLog {
            term,
            entries: entry_terms
                .iter()
                .map(|term| Entry {
                    term: *term,
                    kind: EntryKind::Noop,
                })
                .collect(),
            ..DurableLog::default()
        }
    }

    /// A synced log whose entries run ahead of its synced term is reported,
    /// once; one whose term is at or above its entries' is not.
    #[test]
    fn an_entry_above_the_synced_term_is_reported_once() {
        let replicas = BTreeMap::from([
            ("log-1".to_owned(), synced(3, &[1, 2, 3])),
            ("log-2".to_owned(), synced(2, &[1, 3])),
            ("log-3".to_owned(), synced(5, &[1])),
        ]);
        let mut online = Online::new(3);
        let found = online.probe(&replicas);
        assert_eq!(
            found,
            vec![
                "log-2's synced log holds an entry of term 3 (index 2) above its synced term 2: a term taken without being made durable first"
            ]
        );
        assert!(online.probe(&replicas).is_empty(), "reported once");
    }

    fn vote(online: &mut Online, node: &str, term: u64, candidate: &str) -> Option<String> {
        online.observe(
            &NodeName::new(node),
            &Event::Log(LogEvent::Voted {
                term,
                candidate: candidate.to_owned(),
            }),
        )
    }

    fn voted(term: u64, voted_for: Option<&str>) -> DurableLog {
        DurableLog {
            term,
            voted_for: voted_for.map(str::to_owned),
            ..DurableLog::default()
        }
    }

    /// A vote told is a vote kept: a synced log at the vote's term with that
    /// vote, or at a later term, passes; an earlier term, or the same term
    /// with no vote or another, is reported, once.
    #[test]
    fn a_vote_the_synced_log_does_not_hold_is_reported_once() {
        let mut online = Online::new(3);
        for (node, candidate) in [("log-1", "log-1"), ("log-2", "log-1"), ("log-3", "log-3")] {
            assert_eq!(vote(&mut online, node, 4, candidate), None);
        }
        assert_eq!(vote(&mut online, "log-4", 2, "log-4"), None);
        assert_eq!(vote(&mut online, "log-5", 4, "log-1"), None);
        let replicas = BTreeMap::from([
            ("log-1".to_owned(), voted(4, Some("log-1"))),
            ("log-2".to_owned(), voted(5, None)),
            ("log-3".to_owned(), voted(3, Some("log-3"))),
            ("log-4".to_owned(), voted(2, None)),
            ("log-5".to_owned(), voted(4, Some("log-2"))),
        ]);
        assert_eq!(
            online.probe(&replicas),
            vec![
                "log-3 voted for log-3 in term 4, but its synced log holds term 3 with a vote for log-3: a vote told before it was made durable, which a crash frees it to cast again",
                "log-4 voted for log-4 in term 2, but its synced log holds term 2 with no vote: a vote told before it was made durable, which a crash frees it to cast again",
                "log-5 voted for log-1 in term 4, but its synced log holds term 4 with a vote for log-2: a vote told before it was made durable, which a crash frees it to cast again",
            ]
        );
        assert!(online.probe(&replicas).is_empty(), "reported once");
    }

    /// One vote a term: the same vote told again (a retried request) is
    /// fine, a vote in a later term replaces it, another candidate in the
    /// same term is reported once.
    #[test]
    fn a_second_vote_in_a_term_is_reported_once() {
        let mut online = Online::new(3);
        assert_eq!(vote(&mut online, "log-2", 3, "log-1"), None);
        assert_eq!(vote(&mut online, "log-2", 3, "log-1"), None);
        assert_eq!(vote(&mut online, "log-2", 4, "log-3"), None);
        assert_eq!(
            vote(&mut online, "log-2", 4, "log-1").as_deref(),
            Some("log-2 voted twice in term 4: for log-3 and for log-1")
        );
        assert_eq!(
            vote(&mut online, "log-2", 4, "log-2"),
            None,
            "reported once"
        );
        assert_eq!(
            vote(&mut online, "log-2", 3, "log-3"),
            None,
            "an older term"
        );
    }

    fn tell(online: &mut Online, node: &str, event: LogEvent) -> Option<String> {
        online.observe(&NodeName::new(node), &Event::Log(event))
    }

    fn elect(online: &mut Online, node: &str, term: u64) {
        assert_eq!(tell(online, node, LogEvent::Elected { term }), None);
    }

    fn applied(online: &mut Online, node: &str, index: u64, term: u64) {
        let event = LogEvent::Applied {
            index,
            term,
            entry: EntryId::Noop,
            duplicate: false,
            commands: 0,
        };
        assert_eq!(tell(online, node, event), None);
    }

    /// Raft figure 8: log-1 led term 2 and committed its index 2 entry by
    /// counting replicas; log-5, whose index 2 holds term 3, wins term 4.
    /// Reported at that election, once an entry; a leader that holds the
    /// entry passes.
    #[test]
    fn a_leader_without_an_entry_committed_in_an_earlier_term_is_reported_once() {
        let mut online = Online::new(5);
        elect(&mut online, "log-1", 2);
        applied(&mut online, "log-1", 1, 1);
        applied(&mut online, "log-1", 2, 2);
        elect(&mut online, "log-5", 4);
        let without = synced(4, &[1, 3]);
        assert_eq!(
            online
                .elected(&NodeName::new("log-5"), 4, &without)
                .as_deref(),
            Some(
                "log-5 won term 4 without committed entry no-op (term 2) at index 2, applied by log-1: its log holds no-op (term 3) there"
            )
        );
        assert_eq!(
            online.elected(&NodeName::new("log-5"), 4, &without),
            None,
            "reported once"
        );
        let short = synced(5, &[]);
        assert_eq!(
            online
                .elected(&NodeName::new("log-4"), 5, &short)
                .as_deref(),
            Some(
                "log-4 won term 5 without committed entry no-op (term 1) at index 1, applied by log-1: its log ends at index 0, one of 2 committed entries it lacks up to index 2"
            )
        );
        let holding = synced(6, &[1, 2, 6]);
        assert_eq!(online.elected(&NodeName::new("log-2"), 6, &holding), None);
    }

    /// Raft figure 8 again, caught at the commit: log-1, leading term 4,
    /// commits its index 2 entry of term 2 by counting log-1..log-3, while
    /// log-5's index 2 holds term 3, a later last term than theirs, so
    /// log-5 with log-4 and any one of them makes a majority. Reported once
    /// a replica and term. An entry on fewer than a majority of synced logs
    /// is left to the durability probes; a commit whose holders end in a
    /// term at least the lacking replica's, or whose only electable lacking
    /// replica is retired, passes.
    #[test]
    fn a_commit_a_replica_lacking_it_could_overturn_is_reported_once() {
        let mut online = Online::new(5);
        elect(&mut online, "log-1", 4);
        applied(&mut online, "log-1", 1, 1);
        assert_eq!(online.take_just_committed(), Some((1, 4)));
        applied(&mut online, "log-1", 2, 2);
        assert_eq!(online.take_just_committed(), Some((2, 4)));
        applied(&mut online, "log-1", 3, 2);
        let mut replicas = BTreeMap::from([
            ("log-1".to_owned(), synced(4, &[1, 2, 2])),
            ("log-2".to_owned(), synced(4, &[1, 2, 2])),
            ("log-3".to_owned(), synced(4, &[1])),
            ("log-4".to_owned(), synced(3, &[1])),
            ("log-5".to_owned(), synced(3, &[1, 3])),
        ]);
        assert_eq!(online.electable_without((1, 4), &replicas), None);
        assert_eq!(
            online.electable_without((2, 4), &replicas),
            None,
            "on two synced logs of five: durability's to judge"
        );
        replicas.insert("log-3".to_owned(), synced(4, &[1, 2, 2]));
        assert_eq!(
            online.electable_without((2, 4), &replicas).as_deref(),
            Some(
                "log-1 committed entry no-op (term 2) at index 2 as leader of term 4, but log-5 lacks it and could still win an election: its synced log ends at index 2 (term 3), at least as up to date as those of log-1, log-2, log-3, log-4, whose votes would elect it after a crash of every replica, and it would replace the entry"
            )
        );
        assert_eq!(
            online.electable_without((3, 4), &replicas),
            None,
            "log-5 reported once in term 4"
        );

        let mut online = Online::new(5);
        elect(&mut online, "log-1", 4);
        applied(&mut online, "log-1", 2, 2);
        applied(&mut online, "log-1", 3, 4);
        for holder in ["log-1", "log-2", "log-3"] {
            replicas.insert(holder.to_owned(), synced(4, &[1, 2, 4]));
        }
        assert_eq!(
            online.electable_without((2, 4), &replicas),
            None,
            "held in term 4"
        );
        replicas.insert("log-2".to_owned(), synced(4, &[1, 2]));
        replicas.insert("log-3".to_owned(), synced(4, &[1, 2]));
        let mut retired = Online::new(5);
        elect(&mut retired, "log-1", 4);
        applied(&mut retired, "log-1", 2, 2);
        retired.retired("log-5");
        assert_eq!(
            retired.electable_without((2, 4), &replicas),
            None,
            "log-5 is retired"
        );
        assert!(
            online.electable_without((2, 4), &replicas).is_some(),
            "the same logs with log-5 in the cluster"
        );
    }

    /// A candidate of an earlier term may win on votes granted before a
    /// later term began, and lack what that later term committed: legal,
    /// since its appends will be refused. Nor is an entry counted whose
    /// first applier no longer led when it applied it.
    #[test]
    fn a_late_leader_of_an_earlier_term_is_not_held_to_later_commits() {
        let mut online = Online::new(3);
        elect(&mut online, "log-1", 3);
        applied(&mut online, "log-1", 1, 3);
        assert_eq!(
            online.elected(&NodeName::new("log-2"), 2, &synced(2, &[])),
            None
        );
        assert_eq!(
            tell(&mut online, "log-1", LogEvent::SteppedDown { term: 3 }),
            None
        );
        applied(&mut online, "log-1", 2, 3);
        assert_eq!(
            online.elected(&NodeName::new("log-3"), 5, &synced(5, &[3])),
            None,
            "index 2 was applied by a follower: its commit term is not known"
        );
    }

    /// A vote goes to a log at least as up to date as the voter's: a later
    /// last term, or the same and at least as long. A grant to a shorter
    /// log of the same last term is reported, once a voter and term; a
    /// grant to a candidate not seen asking says nothing.
    #[test]
    fn a_vote_granted_to_a_less_up_to_date_log_is_reported_once() {
        let mut online = Online::new(5);
        let candidate = NodeName::new("log-1");
        let vote = |online: &mut Online, node: &str, log: &DurableLog| {
            let event = LogEvent::Voted {
                term: 3,
                candidate: "log-1".to_owned(),
            };
            online.against_synced_log(&NodeName::new(node), &event, log)
        };
        assert_eq!(
            online.against_synced_log(
                &candidate,
                &LogEvent::Voted {
                    term: 3,
                    candidate: "log-1".to_owned()
                },
                &synced(3, &[1, 1, 2])
            ),
            None
        );
        assert_eq!(vote(&mut online, "log-2", &synced(3, &[1, 1, 2])), None);
        assert_eq!(
            vote(&mut online, "log-3", &synced(3, &[1, 1, 1, 1, 1])),
            None
        );
        assert_eq!(
            vote(&mut online, "log-4", &synced(3, &[1, 2, 2, 2])).as_deref(),
            Some(
                "log-4 granted its vote in term 3 to log-1, whose log ends at index 3 (term 2), less up to date than its own, which ends at index 4 (term 2)"
            )
        );
        assert_eq!(
            vote(&mut online, "log-4", &synced(3, &[1, 2, 2, 2])),
            None,
            "reported once"
        );
        assert!(
            vote(&mut online, "log-5", &synced(3, &[3])).is_some(),
            "the voter's later last term is more up to date, however short"
        );
        let unseen = LogEvent::Voted {
            term: 4,
            candidate: "log-2".to_owned(),
        };
        assert_eq!(
            online.against_synced_log(&NodeName::new("log-3"), &unseen, &synced(4, &[1, 1, 1])),
            None
        );
    }

    /// A read taken on a lease before any later term is won passes; one
    /// taken after is reported, once a leader and term; the new leader's
    /// own reads pass.
    #[test]
    fn a_lease_used_after_a_later_election_is_reported_once() {
        let mut online = Online::new(3);
        let at = Duration::from_millis;
        let (old, new) = (NodeName::new("log-1"), NodeName::new("log-2"));
        for (node, term, when) in [(&old, 2, 1000), (&new, 3, 5000)] {
            if node == &new {
                assert_eq!(online.read_on_lease(&old, at(4999)), None);
            }
            elect(&mut online, node.as_str(), term);
            online.elected_at(term, at(when));
        }
        assert_eq!(
            online.read_on_lease(&old, at(5250)).as_deref(),
            Some(
                "log-1 took a read on its lease as leader of term 2 at 5.25s, after log-2 had won term 3 at 5s: a lease promises no other leader while it lasts"
            )
        );
        assert_eq!(online.read_on_lease(&old, at(5300)), None, "reported once");
        assert_eq!(online.read_on_lease(&new, at(5300)), None);
    }
}
