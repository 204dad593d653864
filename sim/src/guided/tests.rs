//! Guided search is deterministic whatever the number of jobs, resumes
//! where it stopped, and keeps members that replay to what they were kept
//! for.

use super::*;
use crate::fuzz::{SeedRange, Shard};
use crate::testing::Scratch;
use std::path::PathBuf;

/// Guided search of `runs` log-workload runs (the fastest kind) from seed
/// 5, keeping its corpus in `corpus` and writing failures to `out`.
fn options(runs: u64, jobs: usize, corpus: Option<PathBuf>, out: &Scratch) -> FuzzOptions {
    FuzzOptions {
        seeds: SeedRange {
            start: 5,
            end: Some(5 + runs),
        },
        shard: Shard::ALL,
        budget: None,
        jobs,
        bug: None,
        kind: Some(WorkloadKind::Log),
        out: out.to_path_buf(),
        interrupt: None,
        guided: true,
        corpus,
    }
}

fn hashes(summary: &FuzzSummary) -> Vec<&str> {
    summary
        .seeds
        .iter()
        .map(|seed| seed.trace_hash.as_str())
        .collect()
}

#[test]
fn the_search_is_the_same_on_one_job_or_two_and_resumes_where_it_stopped() {
    let out = Scratch::new("guided-out");
    let mut one = Corpus::default();
    let alone = guided(&options(48, 1, None, &out), &mut one, |_| {}).unwrap();
    let mut two = Corpus::default();
    let paired = guided(&options(48, 2, None, &out), &mut two, |_| {}).unwrap();
    assert_eq!(hashes(&alone), hashes(&paired));
    assert_eq!(one, two);
    assert!(
        one.members.len() > 3 && one.members.len() < 48,
        "{} members",
        one.members.len()
    );
    assert!(
        alone.seeds.iter().any(|seed| seed.seed >= 1 << 16),
        "mutants with new seeds ran"
    );

    let dir = Scratch::new("guided-resume");
    let mut first = Corpus::default();
    let started = guided(
        &options(32, 2, Some(dir.to_path_buf()), &out),
        &mut first,
        |_| {},
    )
    .unwrap();
    let mut resumed = Corpus::open(&dir).unwrap();
    assert_eq!(resumed, first);
    let rest = guided(
        &options(16, 2, Some(dir.to_path_buf()), &out),
        &mut resumed,
        |_| {},
    )
    .unwrap();
    let mut all = hashes(&started);
    all.extend(hashes(&rest));
    assert_eq!(all, hashes(&alone));
    assert_eq!(Corpus::open(&dir).unwrap(), one);
}

/// Every member, run again from its file, reaches every feature it was
/// kept for that is its own (pairs of rare marks depend on the runs before
/// it; both marks of such a pair it reaches again).
#[test]
fn every_member_replays_to_what_it_was_kept_for() {
    let out = Scratch::new("guided-replay-out");
    let dir = Scratch::new("guided-replay");
    let mut corpus = Corpus::default();
    guided(
        &options(32, 2, Some(dir.to_path_buf()), &out),
        &mut corpus,
        |_| {},
    )
    .unwrap();
    let read = Corpus::open(&dir).unwrap();
    for member in &read.members {
        let (_, reached) = run_candidate(member.scenario());
        let own = features::own_features(&reached);
        for feature in &member.kept_for {
            match feature.split_once(" + ") {
                Some((first, second)) => {
                    assert!(own.contains(first) && own.contains(second), "{feature}");
                }
                None => assert!(own.contains(feature), "{} lost {feature}", member.file),
            }
        }
    }
}

/// Hunting a bug, a search runs the members it started with as they are
/// before it mutates any: a member whose scenario fails once the bug is
/// planted is the first catch, ahead of every fresh seed. Without the
/// member, the same search's first run (that fresh seed) passes.
#[test]
fn a_hunt_runs_the_corpus_as_it_is_before_anything_else() {
    let bug = Bug::DbTxnIdReuse;
    let pinned = crate::validate::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/db-txn-id-reuse.toml"),
    )
    .expect("the pinned scenario loads");
    let mut member = pinned.clone();
    member.system.bugs.clear();
    member.expect = None;
    let out = Scratch::new("guided-hunt-out");
    let hunt = |corpus: &mut Corpus| {
        let options = FuzzOptions {
            bug: Some(bug),
            kind: None,
            ..options(4, 1, None, &out)
        };
        search(&options, corpus, |_, _| Ok(())).unwrap()
    };

    let plain = hunt(&mut Corpus::default());
    assert_eq!(
        plain.results[0].verdict,
        Verdict::Pass,
        "the search's first fresh seed does not catch it"
    );

    let mut corpus = Corpus::default();
    corpus.count(&member, &BTreeSet::from(["a mark".to_owned()]), (0, 0));
    let found = hunt(&mut corpus);
    let (runs, caught) = found.caught.expect("the member catches the bug");
    assert_eq!(runs, 1);
    assert_eq!(caught.system.bugs, vec![bug.name().to_owned()]);
    assert_eq!((caught.seed, &caught.events), (member.seed, &member.events));
    assert_eq!(
        origin(&caught),
        format!("corpus member {} as it is", corpus.members[0].file)
    );
}

/// A hunt from a corpus, its members replayed before any is mutated, is the
/// same on one job or two: the replays are drawn before a round runs. It
/// reads the corpus on disk but does not write it back.
#[test]
fn a_hunt_with_replays_is_the_same_on_one_job_or_two() {
    let out = Scratch::new("guided-hunt-jobs-out");
    let dir = Scratch::new("guided-hunt-jobs-corpus");
    let mut built = Corpus::default();
    guided(
        &options(32, 2, Some(dir.to_path_buf()), &out),
        &mut built,
        |_| {},
    )
    .unwrap();
    let hunt = |jobs| {
        let mut corpus = Corpus::open(&dir).unwrap();
        let options = FuzzOptions {
            bug: Some(Bug::LeaseReadIgnoresDrift),
            ..options(24, jobs, Some(dir.to_path_buf()), &out)
        };
        let found = search(&options, &mut corpus, |_, _| Ok(())).unwrap();
        let runs: Vec<(u64, String)> = found
            .results
            .iter()
            .map(|result| (result.seed, result.trace_hash.clone()))
            .collect();
        (runs, corpus)
    };
    let (alone, after_one) = hunt(1);
    let (paired, after_two) = hunt(2);
    assert_eq!(alone, paired);
    assert_eq!(after_one, after_two);
    let member_seeds: Vec<u64> = built
        .members
        .iter()
        .map(|member| member.scenario().seed)
        .collect();
    assert!(
        member_seeds.contains(&alone[0].0),
        "the hunt's first run replays a member"
    );
    assert!(after_one.runs > built.runs, "the hunt counted its runs");
    assert_eq!(
        Corpus::open(&dir).unwrap(),
        built,
        "the corpus on disk is as built"
    );
}

/// Hunting a bug, the members are replayed rarest first, whatever their
/// order in the corpus: each of four members alone reached one feature,
/// which the later a member was kept the fewer runs reached.
#[test]
fn a_hunt_replays_the_rarest_member_first() {
    let out = Scratch::new("guided-rarest-out");
    let mut corpus = Corpus::default();
    let mut members = Vec::new();
    let mut others = 200..;
    for (index, hits) in [8, 7, 6, 5].into_iter().enumerate() {
        let feature = BTreeSet::from([format!("a mark {hits} runs reached")]);
        let member = crate::generate::generate_kind(100 + index as u64, WorkloadKind::Log);
        corpus.count(&member, &feature, (0, 0));
        for _ in 1..hits {
            let other = others.next().expect("seeds");
            corpus.count(
                &crate::generate::generate_kind(other, WorkloadKind::Log),
                &feature,
                (0, 0),
            );
        }
        members.push(member.seed);
    }
    assert_eq!(corpus.members.len(), 4);
    let options = FuzzOptions {
        bug: Some(Bug::RaftCommitOldTerm),
        ..options(8, 1, None, &out)
    };
    let found = search(&options, &mut corpus, |_, _| Ok(())).unwrap();
    assert!(found.caught.is_none(), "no run of these catches the bug");
    let replayed: Vec<u64> = found
        .results
        .iter()
        .step_by(2)
        .map(|result| result.seed)
        .collect();
    members.reverse();
    assert_eq!(
        replayed, members,
        "replays by rarity, fresh seeds between them"
    );
}
