//! The module map stays a map: no two top-level modules of `sim` reach each
//! other, directly or round a circle. Read from the source, every
//! `crate::module` path (in `use crate::{...}` groups too) is an edge.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

type Graph = BTreeMap<String, BTreeSet<String>>;

/// Each top-level module of `sim/src`, and the top-level modules it names.
fn module_graph() -> Graph {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph = Graph::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("a source folder") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|ext| ext != "rs") {
                continue;
            }
            let relative = path.strip_prefix(&root).expect("under src");
            let first = relative
                .components()
                .next()
                .and_then(|part| part.as_os_str().to_str())
                .expect("a file name");
            let module = first.trim_end_matches(".rs").to_owned();
            if module == "lib" || module == "main" {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("a source file");
            let named = crate_paths(&strip_comments(&text));
            let edges = graph.entry(module.clone()).or_default();
            edges.extend(named.into_iter().filter(|named| *named != module));
        }
    }
    graph
}

fn strip_comments(text: &str) -> String {
    text.lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first segment of every `crate::` path in `text`, with the members
/// of `crate::{...}` groups.
fn crate_paths(text: &str) -> BTreeSet<String> {
    let mut named = BTreeSet::new();
    for (start, _) in text.match_indices("crate::") {
        let rest = &text[start + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            named.extend(group_members(group));
        } else {
            named.insert(identifier(rest));
        }
    }
    named.retain(|name| !name.is_empty());
    named
}

/// The top-level members of a `{a, b::{c, d}, e as f}` group, from after
/// its opening brace.
fn group_members(group: &str) -> Vec<String> {
    let mut members = Vec::new();
    let mut depth = 0;
    let mut at_start = true;
    for (index, character) in group.char_indices() {
        match character {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => at_start = true,
            character if at_start && !character.is_whitespace() => {
                members.push(identifier(&group[index..]));
                at_start = false;
            }
            _ => {}
        }
    }
    members
}

fn identifier(text: &str) -> String {
    text.chars()
        .take_while(|character| character.is_ascii_alphanumeric() || *character == '_')
        .collect()
}

/// A circle of modules, if the graph has one.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        module: &str,
        graph: &Graph,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|on_path| on_path == module) {
            let mut cycle = path[at..].to_vec();
            cycle.push(module.to_owned());
            return Some(cycle);
        }
        if done.contains(module) {
            return None;
        }
        path.push(module.to_owned());
        for next in graph.get(module).into_iter().flatten() {
            if graph.contains_key(next)
                && let Some(cycle) = visit(next, graph, path, done)
            {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(module.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|module| visit(module, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_two_modules_reach_each_other() {
    let graph = module_graph();
    assert!(graph.len() >= 20, "modules missing: {graph:?}");
    if let Some(cycle) = find_cycle(&graph) {
        let map: Vec<String> = graph
            .iter()
            .map(|(module, edges)| {
                let edges: Vec<&str> = edges.iter().map(String::as_str).collect();
                format!("{module} -> {}", edges.join(" "))
            })
            .collect();
        panic!(
            "modules in a circle: {}\n{}",
            cycle.join(" -> "),
            map.join("\n")
        );
    }
}

#[test]
fn the_cycle_finder_finds_a_planted_circle() {
    let mut graph = Graph::new();
    for (from, to) in [("a", "b"), ("b", "c"), ("c", "a"), ("d", "a")] {
        graph
            .entry(from.to_owned())
            .or_default()
            .insert(to.to_owned());
    }
    let cycle = find_cycle(&graph).expect("a circle");
    assert_eq!(cycle.first(), cycle.last());
    assert_eq!(cycle.len(), 4, "{cycle:?}");
    graph.get_mut("c").expect("c").clear();
    assert_eq!(find_cycle(&graph), None);
}

#[test]
fn crate_paths_read_groups_and_plain_paths() {
    let text = "use crate::{\n    check::{A, B},\n    events::now,\n    kinds,\n};\nlet x = crate::world::World::new();";
    let named: Vec<String> = crate_paths(text).into_iter().collect();
    assert_eq!(named, ["check", "events", "kinds", "world"]);
}
