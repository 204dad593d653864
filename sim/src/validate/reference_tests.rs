//! docs/scenarios.md, the reference of the scenario format, held to the
//! code so that it cannot drift. The keys a section takes, the actions and
//! the workload kinds are read from what serde itself expects (the error
//! for an unknown name lists every known one), so a key added to the code
//! and not to the reference fails here, and so does one documented but
//! gone. Each action's fields come from its `ScheduledFault`, each kind's
//! checkers from its `Kind`, each default from a scenario that sets nothing.

use std::{collections::BTreeSet, path::Path};

use serde::{Deserialize, de::IntoDeserializer};

use super::parse;
use crate::{
    actions, kinds,
    scenario::{Action, Scenario, WorkloadKind},
};

fn repository() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn reference() -> String {
    std::fs::read_to_string(repository().join("docs/scenarios.md")).expect("docs/scenarios.md")
}

/// A heading (`##` or `###`) and the rows of the tables under it, each row
/// its cells.
struct Part {
    heading: String,
    rows: Vec<Vec<String>>,
}

fn parts(doc: &str) -> Vec<Part> {
    let mut parts: Vec<Part> = Vec::new();
    for line in doc.lines() {
        if let Some(heading) = line
            .strip_prefix("### ")
            .or_else(|| line.strip_prefix("## "))
        {
            parts.push(Part {
                heading: heading.trim().to_owned(),
                rows: Vec::new(),
            });
        } else if line.starts_with('|')
            && !line.starts_with("|---")
            && let Some(part) = parts.last_mut()
        {
            let cells = line
                .trim_matches('|')
                .split('|')
                .map(|cell| cell.trim().to_owned())
                .collect();
            part.rows.push(cells);
        }
    }
    parts
}

/// The names written in backticks in `text`.
fn quoted(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// What serde expects instead of the unknown name in `text`: every name
/// its error lists.
fn expected_names(text: &str) -> BTreeSet<String> {
    let error = toml::from_str::<Scenario>(text).expect_err(text);
    let message = error.message().to_owned();
    let (_, list) = message
        .split_once("expected")
        .unwrap_or_else(|| panic!("{message}"));
    quoted(list).into_iter().collect()
}

impl Part {
    /// The rows of this part's table by the name in their first cell (the
    /// header row has none).
    fn named_rows(&self) -> Vec<(String, &[String])> {
        self.rows
            .iter()
            .filter_map(|row| {
                let name = quoted(row.first()?).into_iter().next()?;
                Some((name, row.as_slice()))
            })
            .collect()
    }

    fn names(&self) -> BTreeSet<String> {
        self.named_rows()
            .into_iter()
            .map(|(name, _)| name)
            .collect()
    }
}

fn part<'a>(parts: &'a [Part], heading: &str) -> &'a Part {
    parts
        .iter()
        .find(|part| part.heading == heading)
        .unwrap_or_else(|| panic!("no `{heading}` heading in docs/scenarios.md"))
}

/// Every key of every section is in its section's table, and nothing else
/// is; the default shown for each key a file always holds is the one
/// written for a scenario that sets nothing.
#[test]
fn the_reference_documents_every_key_and_its_default() {
    let parts = parts(&reference());
    let defaults = parse("name = \"n\"\nseed = 1\n", "minimal.toml").expect("a minimal scenario");
    let defaults: toml::Table = toml::from_str(&defaults.to_toml()).expect("TOML");
    let mut top_level = BTreeSet::new();
    for key in expected_names("unknown_key = 1\n") {
        let (table, array) = (format!("`[{key}]`"), format!("`[[{key}]]`"));
        let section = parts
            .iter()
            .find(|part| part.heading == table || part.heading == array);
        let Some(section) = section else {
            top_level.insert(key);
            continue;
        };
        let header = section.heading.trim_matches('`');
        let keys = expected_names(&format!("{header}\nunknown_key = 1\n"));
        assert_eq!(section.names(), keys, "the keys of {header}");
        if let Some(toml::Value::Table(written)) = defaults.get(&key) {
            check_defaults(section, written);
        }
    }
    let top = part(&parts, "Top level");
    assert_eq!(top.names(), top_level, "the top-level keys");
    check_defaults(top, &defaults);
}

/// Each key of `written` documented with `written`'s value as its default,
/// unless the reference says it is required.
fn check_defaults(part: &Part, written: &toml::Table) {
    for (name, row) in part.named_rows() {
        let Some(value) = written.get(&name) else {
            continue;
        };
        if value.is_table() || row[2] == "required" {
            continue;
        }
        assert_eq!(
            row[2],
            format!("`{value}`"),
            "the default of `{name}` under {}",
            part.heading
        );
    }
}

/// Every action is in the table of actions, with exactly the fields its
/// `ScheduledFault` reads.
#[test]
fn the_reference_documents_every_action_and_its_fields() {
    let parts = parts(&reference());
    let actions_part = part(&parts, "Actions");
    let names = expected_names("[[events]]\nat = \"1s\"\naction = \"unknown-action\"\n");
    assert_eq!(actions_part.names(), names, "the actions");
    for (name, row) in actions_part.named_rows() {
        let action = Action::deserialize(name.as_str().into_deserializer())
            .map_err(|error: serde::de::value::Error| error.to_string())
            .expect("an action");
        let documented: BTreeSet<String> = quoted(&row[1]).into_iter().collect();
        let read: BTreeSet<String> = actions::of(action)
            .fields()
            .iter()
            .map(|field| field.name().to_owned())
            .collect();
        assert_eq!(documented, read, "the fields of `{name}`");
    }
}

/// Every workload kind is in the table of kinds, with exactly its
/// checkers, in report order.
#[test]
fn the_reference_documents_every_kind_and_its_checkers() {
    let parts = parts(&reference());
    let kinds_part = part(&parts, "Workload kinds");
    let names = expected_names("[workload]\nkind = \"unknown-kind\"\n");
    assert_eq!(kinds_part.names(), names, "the workload kinds");
    assert_eq!(
        names,
        WorkloadKind::all()
            .map(|kind| kind.name().to_owned())
            .collect()
    );
    for (name, row) in kinds_part.named_rows() {
        let kind = WorkloadKind::from_name(&name).expect("a kind");
        let checkers: Vec<&str> = kinds::of(kind)
            .checkers()
            .iter()
            .map(|checker| checker.name())
            .collect();
        assert_eq!(quoted(&row[3]), checkers, "the checkers of `{name}`");
    }
}

/// Every TOML example of the reference is a scenario that loads.
#[test]
fn the_references_examples_load() {
    let doc = reference();
    let examples: Vec<&str> = doc
        .split("```toml\n")
        .skip(1)
        .filter_map(|rest| rest.split("```").next())
        .collect();
    assert!(examples.len() >= 2, "{} examples", examples.len());
    for example in examples {
        parse(example, "docs/scenarios.md").unwrap_or_else(|error| panic!("{error}\n{example}"));
    }
}

/// The documents point only at files of this repository, which exist.
#[test]
fn the_documents_link_only_to_files_in_the_repository() {
    let root = std::fs::canonicalize(repository()).expect("the repository");
    for document in ["README.md", "ARCHITECTURE.md", "docs/scenarios.md"] {
        let path = root.join(document);
        let text = std::fs::read_to_string(&path).expect(document);
        let folder = path.parent().expect("a folder");
        for link in text.split("](").skip(1) {
            let target = link.split(')').next().unwrap_or_default();
            let target = target.split('#').next().unwrap_or_default();
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let linked = std::fs::canonicalize(folder.join(target))
                .unwrap_or_else(|_| panic!("{document} links to `{target}`, which does not exist"));
            assert!(
                linked.starts_with(&root),
                "{document} links to `{target}`, outside the repository"
            );
        }
    }
}
