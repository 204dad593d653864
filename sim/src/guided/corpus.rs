//! The corpus of guided search: scenarios that each reached something no
//! earlier run had, kept as scenario files (each reproduces on its own with
//! `sim run`), and an index, `corpus.json`, of what each was kept for and of
//! how many runs reached every feature. A corpus on disk is resumed by the
//! next `sim fuzz --guided --corpus DIR`, and corpora of shards merge.

use serde::{Deserialize, Serialize};
use std::{
    collections::{BTreeMap, BTreeSet},
    fs, io,
    path::{Path, PathBuf},
};
use thiserror::Error;

use crate::{files, reproduce, scenario::Scenario};

/// The index's file name inside a corpus folder.
pub const INDEX: &str = "corpus.json";

/// The index format; a change that older readers would misread bumps it.
const FORMAT: u32 = 1;

/// The largest index read: far beyond any corpus of a night's runs.
const MAX_INDEX_BYTES: u64 = 256 * 1024 * 1024;

/// The largest member file read.
const MAX_MEMBER_BYTES: u64 = 1024 * 1024;

/// A corpus that cannot be read or written, naming the file.
#[derive(Debug, Error)]
pub enum CorpusError {
    #[error("{file}: {message}")]
    Unreadable { file: PathBuf, message: String },
    #[error("{file}: cannot write: {error}")]
    Unwritable { file: PathBuf, error: io::Error },
}

/// One kept scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// Its scenario file, inside the corpus folder.
    pub file: String,
    /// The round of the search that ran it, and its place in the round:
    /// the order members are kept in.
    pub round: u64,
    pub slot: u64,
    /// The features it reached first.
    pub kept_for: Vec<String>,
    /// Every feature it reached.
    pub features: Vec<String>,
    /// How often it was picked as a parent.
    pub picks: u64,
    #[serde(skip)]
    pub scenario: Option<Scenario>,
}

impl Member {
    pub fn scenario(&self) -> &Scenario {
        self.scenario.as_ref().expect("a loaded member's scenario")
    }
}

/// What guided search knows: its members, and how many runs reached each
/// feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Corpus {
    pub format: u32,
    /// Rounds run so far.
    pub rounds: u64,
    /// Runs counted so far.
    pub runs: u64,
    /// Generated (unmutated) seeds run so far, by the search that ran
    /// them (its starting seed and shard, as `A I/N`): a search from
    /// another start takes its own seeds from their beginning.
    pub fresh: BTreeMap<String, u64>,
    /// Runs that reached each feature.
    pub hits: BTreeMap<String, u64>,
    pub members: Vec<Member>,
}

impl Default for Corpus {
    fn default() -> Corpus {
        Corpus {
            format: FORMAT,
            rounds: 0,
            runs: 0,
            fresh: BTreeMap::new(),
            hits: BTreeMap::new(),
            members: Vec::new(),
        }
    }
}

impl Corpus {
    /// Counts a run that reached `features`, and keeps its scenario if one
    /// of them is new. Returns what it was kept for, if it was.
    pub fn count(
        &mut self,
        scenario: &Scenario,
        features: &BTreeSet<String>,
        (round, slot): (u64, u64),
    ) -> Option<Vec<String>> {
        self.runs = self.runs.saturating_add(1);
        let mut new = Vec::new();
        for feature in features {
            let hits = self.hits.entry(feature.clone()).or_default();
            if *hits == 0 {
                new.push(feature.clone());
            }
            *hits = hits.saturating_add(1);
        }
        if new.is_empty() {
            return None;
        }
        let file = member_file(scenario);
        if self.members.iter().any(|member| member.file == file) {
            return None;
        }
        self.members.push(Member {
            file,
            round,
            slot,
            kept_for: new.clone(),
            features: features.iter().cloned().collect(),
            picks: 0,
            scenario: Some(scenario.clone()),
        });
        Some(new)
    }

    /// Reads the corpus in `dir`; an empty corpus when it holds no index.
    pub fn open(dir: &Path) -> Result<Corpus, CorpusError> {
        let index = dir.join(INDEX);
        if !index.exists() {
            return Ok(Corpus::default());
        }
        let unreadable = |file: &Path, message: String| CorpusError::Unreadable {
            file: file.to_path_buf(),
            message,
        };
        let text =
            files::read_text(&index, MAX_INDEX_BYTES).map_err(|error| unreadable(&index, error))?;
        let mut corpus: Corpus = serde_json::from_str(&text).map_err(|error| {
            unreadable(
                &index,
                format!("expected a corpus index written by `sim fuzz --guided`: {error}"),
            )
        })?;
        if corpus.format != FORMAT {
            return Err(unreadable(
                &index,
                format!(
                    "`format`: expected {FORMAT}, got {} (written by another version of sim)",
                    corpus.format
                ),
            ));
        }
        // Counts past the runs are not a corpus search wrote: a feature
        // reached by more runs than ran would skew every rarity.
        if let Some((feature, hits)) = corpus.hits.iter().find(|(_, hits)| **hits > corpus.runs) {
            return Err(unreadable(
                &index,
                format!(
                    "`hits`: expected at most `runs` ({}) for each feature, got {hits} for {feature:?}",
                    corpus.runs
                ),
            ));
        }
        for member in &mut corpus.members {
            let file = dir.join(&member.file);
            if Path::new(&member.file).file_name() != Some(member.file.as_ref())
                || member.file.chars().any(char::is_control)
            {
                return Err(unreadable(
                    &index,
                    format!(
                        "`members`: expected file names inside the corpus folder, got {:?}",
                        member.file
                    ),
                ));
            }
            let text = files::read_text(&file, MAX_MEMBER_BYTES)
                .map_err(|error| unreadable(&file, error))?;
            let scenario = crate::parse(&text, &file.display().to_string())
                .map_err(|error| unreadable(&file, error.to_string()))?;
            member.scenario = Some(scenario);
        }
        Ok(corpus)
    }

    /// Writes the members not yet on disk, then the index, in `dir`. The
    /// index is written last and renamed into place, so an interrupted
    /// save leaves the previous corpus whole.
    pub fn save(&self, dir: &Path) -> Result<(), CorpusError> {
        let unwritable = |file: PathBuf| move |error| CorpusError::Unwritable { file, error };
        fs::create_dir_all(dir).map_err(unwritable(dir.to_path_buf()))?;
        for member in &self.members {
            let file = dir.join(&member.file);
            if file.exists() {
                continue;
            }
            let text = format!(
                "# Kept by guided search for reaching first: {}\n{}{}",
                member.kept_for.join(", "),
                reproduce::header_line(&file),
                member.scenario().to_toml()
            );
            fs::write(&file, text).map_err(unwritable(file.clone()))?;
        }
        let index = dir.join(INDEX);
        let partial = dir.join(format!("{INDEX}.partial"));
        let json = serde_json::to_string_pretty(self).expect("a corpus serializes");
        fs::write(&partial, json).map_err(unwritable(partial.clone()))?;
        fs::rename(&partial, &index).map_err(unwritable(index))
    }

    /// Merges corpora of shards (or of separate nights) into one: every
    /// member once, in order of round and slot; hits and runs summed.
    pub fn merge(parts: Vec<Corpus>) -> Corpus {
        let mut merged = Corpus::default();
        for part in parts {
            merged.rounds = merged.rounds.max(part.rounds);
            merged.runs = merged.runs.saturating_add(part.runs);
            for (search, fresh) in part.fresh {
                let merged = merged.fresh.entry(search).or_default();
                *merged = (*merged).max(fresh);
            }
            for (feature, hits) in part.hits {
                let merged = merged.hits.entry(feature).or_default();
                *merged = merged.saturating_add(hits);
            }
            for member in part.members {
                if !merged.members.iter().any(|kept| kept.file == member.file) {
                    merged.members.push(member);
                }
            }
        }
        merged
            .members
            .sort_by(|a, b| (a.round, a.slot, &a.file).cmp(&(b.round, b.slot, &b.file)));
        merged
    }
}

/// A member's file name: from its content, so the same scenario kept by two
/// shards is one file when they merge.
fn member_file(scenario: &Scenario) -> String {
    let hash = ledger::stable_hash::stable_hash(&scenario.to_toml());
    format!("{hash:016x}.toml")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::generate;
    use crate::testing::Scratch;

    fn features(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|name| (*name).to_owned()).collect()
    }

    #[test]
    fn a_run_is_kept_only_for_something_new() {
        let mut corpus = Corpus::default();
        let first = generate(1);
        assert_eq!(
            corpus.count(&first, &features(&["a", "b"]), (0, 0)),
            Some(vec!["a".to_owned(), "b".to_owned()])
        );
        assert_eq!(corpus.count(&generate(2), &features(&["a"]), (0, 1)), None);
        assert_eq!(
            corpus.count(&generate(3), &features(&["a", "c"]), (0, 2)),
            Some(vec!["c".to_owned()])
        );
        assert_eq!(corpus.runs, 3);
        assert_eq!(corpus.hits["a"], 3);
        assert_eq!(corpus.members.len(), 2);
    }

    #[test]
    fn a_saved_corpus_reads_back_and_merges_without_duplicates() {
        let dir = Scratch::new("corpus-merge");
        let mut corpus = Corpus::default();
        corpus.count(&generate(1), &features(&["a"]), (0, 0));
        corpus.count(&generate(2), &features(&["b"]), (1, 0));
        corpus.save(&dir).unwrap();
        let read = Corpus::open(&dir).unwrap();
        assert_eq!(read, corpus);
        let mut other = Corpus::default();
        other.count(&generate(2), &features(&["b"]), (0, 3));
        other.count(&generate(3), &features(&["c"]), (0, 1));
        let merged = Corpus::merge(vec![read, other]);
        let order: Vec<u64> = merged
            .members
            .iter()
            .map(|member| member.scenario().seed)
            .collect();
        assert_eq!(order, vec![1, 3, 2]);
        assert_eq!((merged.runs, merged.hits["b"]), (4, 2));
    }

    #[test]
    fn a_broken_index_names_its_file() {
        let dir = Scratch::new("corpus-broken");
        fs::write(dir.join(INDEX), "{\"format\": 1}").unwrap();
        let error = Corpus::open(&dir).unwrap_err().to_string();
        assert!(
            error.contains("corpus.json: expected a corpus index"),
            "{error}"
        );
        fs::write(
            dir.join(INDEX),
            r#"{"format":1,"rounds":0,"runs":0,"fresh":{},"hits":{},"members":[{"file":"../x.toml","round":0,"slot":0,"kept_for":[],"features":[],"picks":0}]}"#,
        )
        .unwrap();
        let error = Corpus::open(&dir).unwrap_err().to_string();
        assert!(error.contains("inside the corpus folder"), "{error}");
        fs::write(
            dir.join(INDEX),
            r#"{"format":1,"rounds":0,"runs":0,"fresh":{},"hits":{},"members":[{"file":"x\u0000.toml","round":0,"slot":0,"kept_for":[],"features":[],"picks":0}]}"#,
        )
        .unwrap();
        let error = Corpus::open(&dir).unwrap_err().to_string();
        assert!(error.contains(r#"got "x\0.toml""#), "{error}");
        fs::write(
            dir.join(INDEX),
            r#"{"format":1,"rounds":0,"runs":3,"fresh":{},"hits":{"split-vote":4},"members":[]}"#,
        )
        .unwrap();
        let error = Corpus::open(&dir).unwrap_err().to_string();
        assert!(
            error
                .contains("expected at most `runs` (3) for each feature, got 4 for \"split-vote\""),
            "{error}"
        );
    }

    /// Counts at the top of their range stay there: a merge of corpora
    /// that ran for ever is not one that never ran.
    #[test]
    fn counts_saturate_rather_than_wrap() {
        let full = Corpus {
            runs: u64::MAX,
            hits: [("a".to_owned(), u64::MAX)].into(),
            ..Corpus::default()
        };
        let mut merged = Corpus::merge(vec![full.clone(), full]);
        assert_eq!((merged.runs, merged.hits["a"]), (u64::MAX, u64::MAX));
        merged.count(&generate(1), &features(&["a"]), (0, 0));
        assert_eq!((merged.runs, merged.hits["a"]), (u64::MAX, u64::MAX));
    }
}
