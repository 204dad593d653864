//! A linter for the GitHub workflows under `.github/workflows`: they must be
//! valid YAML shaped like a workflow, every `${{ }}` expression must name
//! contexts that exist there (a matrix key of its job, a declared input, an
//! earlier step, a job it needs), and every `sim` command line they run must
//! parse with the real `sim` grammar. The nightly fuzz workflow must also run
//! on a schedule and on demand, over a matrix of shards. The README's
//! `cargo run -p sim -- ...` lines are held to the same grammar.

use clap::Parser;
use serde_yaml_ng::{Mapping, Value};
use sim::cli::Cli;
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

const JOB_KEYS: &[&str] = &[
    "name",
    "runs-on",
    "needs",
    "if",
    "strategy",
    "steps",
    "timeout-minutes",
    "env",
    "permissions",
    "defaults",
    "outputs",
    "services",
    "container",
    "continue-on-error",
    "concurrency",
    "environment",
];
const STEP_KEYS: &[&str] = &[
    "name",
    "id",
    "if",
    "uses",
    "run",
    "with",
    "env",
    "shell",
    "continue-on-error",
    "timeout-minutes",
    "working-directory",
];
const WORKFLOW_KEYS: &[&str] = &[
    "name",
    "run-name",
    "on",
    "permissions",
    "concurrency",
    "defaults",
    "env",
    "jobs",
];
/// Variables that replace `.cargo/config.toml`'s rustflags, and with them
/// `--cfg madsim`, whenever they are set (even empty).
const FLAG_VARIABLES: &[&str] = &["RUSTFLAGS", "RUSTDOCFLAGS", "CARGO_ENCODED_RUSTFLAGS"];
const CONTEXTS: &[&str] = &[
    "github", "env", "vars", "job", "jobs", "steps", "runner", "secrets", "strategy", "matrix",
    "needs", "inputs",
];
const FUNCTIONS: &[&str] = &[
    "always",
    "success",
    "failure",
    "cancelled",
    "contains",
    "startsWith",
    "endsWith",
    "format",
    "join",
    "toJSON",
    "fromJSON",
    "hashFiles",
];

/// What an expression or a shell variable may refer to in one job.
struct Scope<'a> {
    inputs: &'a Mapping,
    matrix: Mapping,
    needs: Vec<String>,
    steps: Vec<String>,
    /// Environment variables: the step's, the job's, the workflow's.
    env: Vec<&'a Mapping>,
}

fn key<'a>(map: &'a Mapping, name: &str) -> Option<&'a Value> {
    map.get(Value::String(name.to_owned()))
}

fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        Value::Bool(flag) => flag.to_string(),
        _ => String::new(),
    }
}

fn names(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(name)) => vec![name.clone()],
        Some(Value::Sequence(names)) => names.iter().map(text).collect(),
        _ => Vec::new(),
    }
}

/// Every problem of one workflow, one line each.
fn lint(source: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let workflow: Value = match serde_yaml_ng::from_str(source) {
        Ok(workflow) => workflow,
        Err(error) => return vec![format!("not YAML: {error}")],
    };
    let Some(workflow) = workflow.as_mapping() else {
        return vec!["expected a mapping at the top".to_owned()];
    };
    if key(workflow, "name").and_then(Value::as_str).is_none() {
        problems.push("expected a `name`".to_owned());
    }
    for workflow_key in workflow.keys().map(text) {
        if !WORKFLOW_KEYS.contains(&workflow_key.as_str()) {
            problems.push(format!("unknown top-level key `{workflow_key}`"));
        }
    }
    check_flags_env(key(workflow, "env"), "env", &mut problems);
    let empty = Mapping::new();
    let triggers = key(workflow, "on").and_then(Value::as_mapping);
    if triggers.is_none() {
        problems.push("expected `on` with its triggers as a mapping".to_owned());
    }
    let inputs = triggers
        .and_then(|on| key(on, "workflow_dispatch"))
        .and_then(Value::as_mapping)
        .and_then(|dispatch| key(dispatch, "inputs"))
        .and_then(Value::as_mapping)
        .unwrap_or(&empty);
    for cron in triggers
        .and_then(|on| key(on, "schedule"))
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
    {
        let line = cron
            .as_mapping()
            .and_then(|cron| key(cron, "cron"))
            .map(text)
            .unwrap_or_default();
        let fields: Vec<&str> = line.split_whitespace().collect();
        let valid = fields.len() == 5
            && fields.iter().all(|field| {
                field
                    .chars()
                    .all(|c| c.is_ascii_digit() || "*/,-".contains(c))
            });
        if !valid {
            problems.push(format!("schedule: `{line}` is not a five-field cron line"));
        }
    }
    let Some(jobs) = key(workflow, "jobs").and_then(Value::as_mapping) else {
        problems.push("expected `jobs` as a mapping".to_owned());
        return problems;
    };
    let job_names: Vec<String> = jobs.keys().map(text).collect();
    let workflow_env = key(workflow, "env").and_then(Value::as_mapping);
    for (name, job) in jobs {
        let name = text(name);
        let Some(job) = job.as_mapping() else {
            problems.push(format!("jobs.{name}: expected a mapping"));
            continue;
        };
        for job_key in job.keys().map(text) {
            if !JOB_KEYS.contains(&job_key.as_str()) {
                problems.push(format!("jobs.{name}: unknown key `{job_key}`"));
            }
        }
        if key(job, "runs-on").is_none() {
            problems.push(format!("jobs.{name}: expected `runs-on`"));
        }
        let needs = names(key(job, "needs"));
        for need in &needs {
            if !job_names.contains(need) {
                problems.push(format!("jobs.{name}: needs `{need}`, which is no job"));
            }
        }
        let matrix = key(job, "strategy")
            .and_then(Value::as_mapping)
            .and_then(|strategy| key(strategy, "matrix"))
            .and_then(Value::as_mapping)
            .cloned()
            .unwrap_or_default();
        let mut scope = Scope {
            inputs,
            matrix,
            needs,
            steps: Vec::new(),
            env: Vec::new(),
        };
        let job_env = key(job, "env").and_then(Value::as_mapping);
        check_flags_env(key(job, "env"), &format!("jobs.{name}.env"), &mut problems);
        for field in ["name", "if"] {
            if let Some(value) = key(job, field) {
                check_expressions(&text(value), field == "if", &scope, &mut problems, &name);
            }
        }
        let Some(steps) = key(job, "steps").and_then(Value::as_sequence) else {
            problems.push(format!("jobs.{name}: expected a list of `steps`"));
            continue;
        };
        for (index, step) in steps.iter().enumerate() {
            let place = format!("jobs.{name}.steps[{index}]");
            let Some(step) = step.as_mapping() else {
                problems.push(format!("{place}: expected a mapping"));
                continue;
            };
            for step_key in step.keys().map(text) {
                if !STEP_KEYS.contains(&step_key.as_str()) {
                    problems.push(format!("{place}: unknown key `{step_key}`"));
                }
            }
            let (uses, run) = (key(step, "uses"), key(step, "run"));
            if uses.is_some() == run.is_some() {
                problems.push(format!("{place}: expected exactly one of `uses` and `run`"));
            }
            if let Some(uses) = uses.map(text) {
                let pinned = uses
                    .split_once('@')
                    .is_some_and(|(action, version)| action.contains('/') && !version.is_empty());
                if !pinned {
                    problems.push(format!("{place}: `uses: {uses}` is not owner/repo@version"));
                }
            }
            scope.env = key(step, "env")
                .and_then(Value::as_mapping)
                .into_iter()
                .chain(job_env)
                .chain(workflow_env)
                .collect();
            for field in ["name", "if", "run"] {
                if let Some(value) = key(step, field) {
                    check_expressions(&text(value), field == "if", &scope, &mut problems, &place);
                }
            }
            for value in [key(step, "with"), key(step, "env")].into_iter().flatten() {
                for value in value.as_mapping().into_iter().flat_map(Mapping::values) {
                    check_expressions(&text(value), false, &scope, &mut problems, &place);
                }
            }
            check_flags_env(key(step, "env"), &format!("{place}.env"), &mut problems);
            if let Some(run) = run.map(text) {
                check_sim_lines(&run, &scope, &mut problems, &place);
                check_flags_script(&run, &place, &mut problems);
                check_bash_scripts(&run, &place, &mut problems);
            }
            if let Some(id) = key(step, "id").map(text) {
                if scope.steps.contains(&id) {
                    problems.push(format!("{place}: step id `{id}` is used twice"));
                }
                scope.steps.push(id);
            }
        }
    }
    problems
}

/// A flags variable's value keeps the simulator only if it carries
/// `--cfg madsim` itself.
fn keeps_madsim(value: &str) -> bool {
    let words: Vec<&str> = value
        .split(|c: char| c.is_whitespace() || c == '\u{1f}')
        .filter(|word| !word.is_empty())
        .collect();
    words.windows(2).any(|pair| pair == ["--cfg", "madsim"])
}

/// An `env` mapping must not set a flags variable without `--cfg madsim`.
fn check_flags_env(env: Option<&Value>, place: &str, problems: &mut Vec<String>) {
    for (name, value) in env.and_then(Value::as_mapping).into_iter().flatten() {
        let name = text(name);
        if FLAG_VARIABLES.contains(&name.as_str()) && !keeps_madsim(&text(value)) {
            problems.push(format!(
                "{place}: sets {name} without `--cfg madsim`, which replaces .cargo/config.toml's flags (even empty, it is set) and the build fails"
            ));
        }
    }
}

/// A script must not set a flags variable (`RUSTFLAGS=...`, `export`, or
/// a line for `$GITHUB_ENV`) without `--cfg madsim`.
fn check_flags_script(script: &str, place: &str, problems: &mut Vec<String>) {
    for line in script.lines() {
        for name in FLAG_VARIABLES {
            let Some(at) = line.find(&format!("{name}=")) else {
                continue;
            };
            let starts_word = line[..at]
                .chars()
                .last()
                .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
            let value = &line[at + name.len() + 1..];
            if starts_word && !keeps_madsim(value.trim_matches(|c| c == '"' || c == '\'')) {
                problems.push(format!(
                    "{place}: `{}` sets {name} without `--cfg madsim`",
                    line.trim()
                ));
            }
        }
    }
}

/// The `${{ }}` expressions of `value` (all of it, for an `if`).
fn expressions(value: &str, bare: bool) -> Vec<String> {
    if bare && !value.contains("${{") {
        return vec![value.to_owned()];
    }
    let mut found = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find("${{") {
        let Some(end) = rest[start..].find("}}") else {
            found.push("${{ unclosed".to_owned());
            break;
        };
        found.push(rest[start + 3..start + end].trim().to_owned());
        rest = &rest[start + end + 2..];
    }
    found
}

fn check_expressions(
    value: &str,
    bare: bool,
    scope: &Scope,
    problems: &mut Vec<String>,
    place: &str,
) {
    for expression in expressions(value, bare) {
        if let Err(problem) = check_expression(&expression, scope) {
            problems.push(format!("{place}: `{expression}`: {problem}"));
        }
    }
}

/// Checks the names an expression uses: contexts, their known members, and
/// functions.
fn check_expression(expression: &str, scope: &Scope) -> Result<(), String> {
    if expression.starts_with("${{ unclosed") {
        return Err("an expression is not closed with }}".to_owned());
    }
    // String literals name nothing.
    let mut code = String::new();
    let mut quoted = false;
    for c in expression.chars() {
        if c == '\'' {
            quoted = !quoted;
        } else if !quoted {
            code.push(c);
        }
    }
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if !(chars[i].is_ascii_alphabetic() || chars[i] == '_') {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "_-.*".contains(chars[i])) {
            i += 1;
        }
        let path: String = chars[start..i].iter().collect();
        let called = chars[i..].iter().find(|c| !c.is_whitespace()) == Some(&'(');
        let parts: Vec<&str> = path.split('.').collect();
        if called {
            if !FUNCTIONS.contains(&path.as_str()) {
                return Err(format!("unknown function `{path}`"));
            }
            continue;
        }
        if ["true", "false", "null"].contains(&path.as_str()) {
            continue;
        }
        if !CONTEXTS.contains(&parts[0]) {
            return Err(format!("unknown context `{}`", parts[0]));
        }
        let member = parts.get(1).copied().unwrap_or_default();
        let known = match parts[0] {
            "matrix" => key(&scope.matrix, member).is_some(),
            "inputs" => key(scope.inputs, member).is_some(),
            "steps" => scope.steps.iter().any(|step| step == member),
            "needs" => scope.needs.iter().any(|need| need == member),
            _ => true,
        };
        if !known {
            return Err(format!("`{path}` names nothing defined before it"));
        }
    }
    Ok(())
}

/// A value for an expression as a scheduled run sees it: inputs take their
/// declared defaults, a matrix key its first value, `a || b` the first
/// non-empty side.
fn evaluate(expression: &str, scope: &Scope) -> String {
    for side in expression.split("||").map(str::trim) {
        let value = if let Some(literal) = side.strip_prefix('\'') {
            literal.trim_end_matches('\'').to_owned()
        } else if let Some(name) = side.strip_prefix("inputs.") {
            key(scope.inputs, name)
                .and_then(Value::as_mapping)
                .and_then(|input| key(input, "default"))
                .map(text)
                .unwrap_or_default()
        } else if let Some(name) = side.strip_prefix("matrix.") {
            key(&scope.matrix, name)
                .and_then(Value::as_sequence)
                .and_then(|values| values.first())
                .map(text)
                .unwrap_or_default()
        } else if side == "strategy.job-total" {
            scope
                .matrix
                .values()
                .filter_map(Value::as_sequence)
                .map(Vec::len)
                .product::<usize>()
                .to_string()
        } else {
            "1".to_owned()
        };
        if !value.is_empty() {
            return value;
        }
    }
    String::new()
}

/// Replaces `${{ }}` expressions and `$NAME`, `${NAME}` or `${NAME:-...}`
/// shell variables by the values a scheduled run would give them; a
/// variable the script sets itself stands for the number 1.
fn substitute(line: &str, scope: &Scope) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(start) = rest.find('$') {
        out += &rest[..start];
        let after = &rest[start + 1..];
        let (name, used) = if let Some(inner) = after.strip_prefix("{{") {
            let end = inner.find("}}").unwrap_or(inner.len());
            out += &evaluate(inner[..end].trim(), scope);
            rest = &inner[(end + 2).min(inner.len())..];
            continue;
        } else if let Some(inner) = after.strip_prefix('{') {
            let end = inner.find('}').unwrap_or(inner.len());
            let name = inner[..end].split(":-").next().unwrap_or_default();
            (name.to_owned(), end + 2)
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (after[..end].to_owned(), end)
        };
        let defined = scope.env.iter().find_map(|env| key(env, &name)).map(text);
        out += &match defined {
            Some(value) => substitute(&value, scope),
            None => "1".to_owned(),
        };
        rest = &after[used.min(after.len())..];
    }
    out + rest
}

/// Shell words of a simple command line: double and single quotes group,
/// and a redirection ends the command.
fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let (mut word, mut quote, mut started) = (String::new(), None, false);
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                started = true;
            }
            (None, c) if c.is_whitespace() => {
                if started || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            (None, '>' | '|' | ';') => break,
            (None, c) => word.push(c),
        }
    }
    if started || !word.is_empty() {
        words.push(word);
    }
    words
}

/// Every script of the repository a step runs with `bash FILE` must exist
/// and parse (`bash -n`): the rehearsal runs the dev build, so a script
/// only the nightly's release build runs is checked here.
fn check_bash_scripts(script: &str, place: &str, problems: &mut Vec<String>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for line in script.lines() {
        let words = words(line.trim());
        let [bash, file, ..] = words.as_slice() else {
            continue;
        };
        if bash != "bash" || file.starts_with('-') {
            continue;
        }
        let path = root.join(file);
        if !path.is_file() {
            problems.push(format!(
                "{place}: `bash {file}`: no such file in the repository"
            ));
            continue;
        }
        match std::process::Command::new("bash")
            .arg("-n")
            .arg(&path)
            .output()
        {
            Ok(output) if output.status.success() => {}
            Ok(output) => problems.push(format!(
                "{place}: `bash {file}` does not parse: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )),
            Err(error) => problems.push(format!("{place}: `bash {file}`: {error}")),
        }
    }
}

/// Whether a shell word is a variable assignment, `NAME=value`.
fn assigns(word: &str) -> bool {
    word.split_once('=').is_some_and(|(name, _)| {
        name.chars()
            .next()
            .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// Parses every `sim` command line of a script with the real grammar.
fn check_sim_lines(script: &str, scope: &Scope, problems: &mut Vec<String>, place: &str) {
    for line in script.replace("\\\n", " ").lines() {
        let mut words = words(&substitute(line.trim(), scope));
        // Assignments before a command (or alone on a line) run nothing.
        let assignments = words.iter().take_while(|word| assigns(word)).count();
        words.drain(..assignments);
        // `sim ...`, `./target/release/sim ...` or `cargo run ... -p sim -- ...`.
        let args: Vec<&str> = match words.first().map(String::as_str) {
            Some(program) if program == "sim" || program.ends_with("/sim") => {
                words.iter().map(String::as_str).collect()
            }
            Some("cargo") if words.iter().any(|word| word == "run") => {
                let Some(dashes) = words.iter().position(|word| word == "--") else {
                    continue;
                };
                std::iter::once("sim")
                    .chain(words[dashes + 1..].iter().map(String::as_str))
                    .collect()
            }
            _ => continue,
        };
        if let Err(error) = Cli::try_parse_from(&args) {
            let first = error
                .to_string()
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned();
            problems.push(format!("{place}: `{}`: {first}", line.trim()));
        }
    }
}

fn workflow_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.github/workflows");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the workflows directory")
        .map(|entry| entry.expect("an entry").path())
        .filter(|path| {
            path.extension()
                .is_some_and(|ext| ext == "yml" || ext == "yaml")
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_workflow_passes_the_linter() {
    let files = workflow_files();
    assert!(!files.is_empty());
    for file in files {
        let source = std::fs::read_to_string(&file).expect("readable");
        let problems = lint(&source);
        assert!(
            problems.is_empty(),
            "{}:\n{}",
            file.display(),
            problems.join("\n")
        );
    }
}

#[test]
fn the_nightly_run_fuzzes_shards_on_a_schedule_and_on_demand() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.github/workflows");
    let source = std::fs::read_to_string(dir.join("nightly-fuzz.yml")).expect("nightly-fuzz.yml");
    let workflow: Value = serde_yaml_ng::from_str(&source).expect("YAML");
    let on = &workflow["on"];
    assert!(on["schedule"].is_sequence(), "runs on a schedule");
    assert!(on.get("workflow_dispatch").is_some(), "runs on demand");
    let shards = workflow["jobs"]["fuzz"]["strategy"]["matrix"]["shard"]
        .as_sequence()
        .expect("a matrix of shards");
    let numbers: Vec<u64> = shards.iter().filter_map(Value::as_u64).collect();
    assert_eq!(numbers, (1..=shards.len() as u64).collect::<Vec<_>>());
    for needed in [
        "sim fuzz --seeds",
        "--budget",
        "--shard",
        "--json",
        "sim fuzz merge",
        "actions/upload-artifact",
        "failures/",
        "sim fuzz --guided",
        "--corpus corpus",
        "actions/cache",
    ] {
        assert!(source.contains(needed), "`{needed}` missing");
    }
}

#[test]
fn the_linter_catches_what_it_should() {
    let bad = r#"
name: broken
on:
  schedule:
    - cron: "every night"
  workflow_dispatch:
    inputs:
      budget:
        default: "1m"
jobs:
  fuzz:
    runs-on: ubuntu-latest
    needs: build
    strategy:
      matrix:
        shard: [1, 2]
    steps:
      - uses: actions/checkout
      - run: ./target/release/sim fuzz --shard ${{ matrix.shards }}/2 --budget ${{ inputs.budget }}
      - run: ./target/release/sim fuzz --frobnicate
      - run: |
          built=target/release/sim
          SHARD=1/2 bin/sim fuzz --shard-of 2
          bash .ci/no-such-script
      - if: steps.missing.outputs.exit != '0'
        run: echo ${{ nosuch.thing }}
      - name: twice
        uses: a/b@v1
        run: echo both
      - env:
          RUSTFLAGS: ""
        run: export RUSTDOCFLAGS="-C opt-level=1"
    env:
      CARGO_ENCODED_RUSTFLAGS: "--cfg\u001fmadsim"
"#;
    let problems = lint(bad);
    for expected in [
        "`every night` is not a five-field cron line",
        "needs `build`, which is no job",
        "`uses: actions/checkout` is not owner/repo@version",
        "`matrix.shards` names nothing defined before it",
        "unexpected argument '--frobnicate'",
        "`SHARD=1/2 bin/sim fuzz --shard-of 2`: error: unexpected argument '--shard-of'",
        "`bash .ci/no-such-script`: no such file in the repository",
        "`steps.missing.outputs.exit` names nothing defined before it",
        "unknown context `nosuch`",
        "expected exactly one of `uses` and `run`",
        "sets RUSTFLAGS without `--cfg madsim`",
        "sets RUSTDOCFLAGS without `--cfg madsim`",
    ] {
        assert!(
            problems.iter().any(|problem| problem.contains(expected)),
            "`{expected}` not reported in:\n{}",
            problems.join("\n")
        );
    }
    assert!(
        !problems.iter().any(|problem| problem.contains("built=")),
        "an assignment runs nothing:\n{}",
        problems.join("\n")
    );
    assert!(
        !problems
            .iter()
            .any(|problem| problem.contains("CARGO_ENCODED_RUSTFLAGS")),
        "flags that keep `--cfg madsim` are fine:\n{}",
        problems.join("\n")
    );
    assert!(
        problems
            .iter()
            .any(|problem| problem.contains("--shard") && problem.contains("expected I/N")),
        "an empty matrix value makes a bad shard:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_readmes_sim_command_lines_parse() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("README.md");
    let (empty, matrix) = (Mapping::new(), Mapping::new());
    let scope = Scope {
        inputs: &empty,
        matrix,
        needs: Vec::new(),
        steps: Vec::new(),
        env: Vec::new(),
    };
    let commands: Vec<&str> = readme
        .lines()
        .map(|line| line.trim_start_matches("$ "))
        .filter(|line| line.starts_with("cargo run") && line.contains("-p sim --"))
        .map(|line| line.split(" #").next().unwrap_or(line))
        .collect();
    assert!(commands.len() >= 4, "{commands:?}");
    let mut problems = Vec::new();
    for command in commands {
        check_sim_lines(command, &scope, &mut problems, "README.md");
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The nightly workflow with `RUSTFLAGS: ""` put back, as it once was:
/// every build would fail, and the linter says so.
#[test]
fn an_empty_rustflags_in_the_nightly_is_refused() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.github/workflows");
    let source = std::fs::read_to_string(dir.join("nightly-fuzz.yml")).expect("nightly-fuzz.yml");
    let broken = source.replacen(
        "env:\n  CARGO_TERM_COLOR: never",
        "env:\n  CARGO_TERM_COLOR: never\n  RUSTFLAGS: \"\"",
        1,
    );
    assert_ne!(broken, source);
    let problems = lint(&broken);
    assert!(
        problems
            .iter()
            .any(|problem| problem.contains("env: sets RUSTFLAGS without `--cfg madsim`")),
        "{problems:?}"
    );
    let error = rehearse(&broken, "3s", 2).expect_err("the rehearsal refuses it");
    assert!(error.contains("RUSTFLAGS"), "{error}");
}

/// The nightly run, rehearsed here from its own YAML: every job in order,
/// every `run:` step through bash with the workflow's environment, a short
/// budget and two shards, then the merge. It must pass from a clean clone.
#[test]
fn the_nightly_workflow_rehearses_green() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.github/workflows");
    let source = std::fs::read_to_string(dir.join("nightly-fuzz.yml")).expect("nightly-fuzz.yml");
    let summary = rehearse(&source, "3s", 2).unwrap_or_else(|error| panic!("{error}"));
    assert!(summary.starts_with("```text\n"), "{summary}");
    assert!(summary.contains("shard 1/2 + 2/2"), "{summary}");
    assert!(summary.contains(" 0 failed"), "{summary}");
    assert!(summary.contains("guided     corpus in corpus"), "{summary}");
}

/// What a rehearsed expression can see.
struct Context<'a> {
    inputs: &'a BTreeMap<String, String>,
    matrix: &'a BTreeMap<String, String>,
    job_total: usize,
    steps: &'a BTreeMap<String, BTreeMap<String, String>>,
    needs: &'a BTreeMap<String, bool>,
    /// Whether a step of the job has failed so far.
    failed: bool,
}

/// The value of an expression as the rehearsal runs it.
fn value(expression: &str, context: &Context) -> Result<String, String> {
    for side in expression.split("||").map(str::trim) {
        let parts: Vec<&str> = side.split('.').collect();
        let found = if let Some(literal) = side.strip_prefix('\'') {
            literal.trim_end_matches('\'').to_owned()
        } else if side.starts_with("hashFiles(") {
            // Only cache keys hash files, and the rehearsal caches nothing.
            "rehearsal".to_owned()
        } else {
            match parts.as_slice() {
                ["inputs", name] => context.inputs.get(*name).cloned().unwrap_or_default(),
                ["matrix", name] => context
                    .matrix
                    .get(*name)
                    .cloned()
                    .ok_or_else(|| format!("no matrix key `{name}`"))?,
                ["strategy", "job-total"] => context.job_total.to_string(),
                ["runner", "os"] => "Linux".to_owned(),
                // As GITHUB_RUN_NUMBER is for the rehearsal's scripts.
                ["github", "run_number"] => "1".to_owned(),
                ["steps", id, "outputs", name] => context
                    .steps
                    .get(*id)
                    .and_then(|outputs| outputs.get(*name))
                    .cloned()
                    .unwrap_or_default(),
                ["needs", job, "result"] => match context.needs.get(*job) {
                    Some(true) => "success".to_owned(),
                    Some(false) => "failure".to_owned(),
                    None => return Err(format!("`{side}`: no such job ran")),
                },
                _ => return Err(format!("the rehearsal cannot evaluate `{side}`")),
            }
        };
        if !found.is_empty() {
            return Ok(found);
        }
    }
    Ok(String::new())
}

/// Whether a step (or job) with condition `condition` runs.
fn runs(condition: Option<&str>, context: &Context) -> Result<bool, String> {
    let Some(condition) = condition else {
        return Ok(!context.failed);
    };
    let condition = condition
        .trim()
        .trim_start_matches("${{")
        .trim_end_matches("}}")
        .trim();
    match condition {
        "always()" => Ok(true),
        "success()" => Ok(!context.failed),
        "failure()" => Ok(context.failed),
        _ => {
            let (left, equal, right) = if let Some((left, right)) = condition.split_once("!=") {
                (left, false, right)
            } else if let Some((left, right)) = condition.split_once("==") {
                (left, true, right)
            } else {
                return Err(format!("the rehearsal cannot evaluate `{condition}`"));
            };
            let same = value(left.trim(), context)? == value(right.trim(), context)?;
            Ok(!context.failed && same == equal)
        }
    }
}

/// `text` with every `${{ }}` replaced by its value.
fn expand(text: &str, context: &Context) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        out += &rest[..start];
        let end = rest[start..]
            .find("}}")
            .ok_or_else(|| format!("unclosed expression in `{text}`"))?;
        out += &value(rest[start + 3..start + end].trim(), context)?;
        rest = &rest[start + end + 2..];
    }
    Ok(out + rest)
}

/// Copies `from` (a file or a folder's contents) into the folder `to`.
fn copy_into(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|error| error.to_string())?;
    if from.is_dir() {
        for entry in std::fs::read_dir(from).map_err(|error| error.to_string())? {
            let path = entry.map_err(|error| error.to_string())?.path();
            if path.is_dir() {
                copy_into(&path, &to.join(path.file_name().expect("a name")))?;
            } else {
                copy_into(&path, to)?;
            }
        }
        return Ok(());
    }
    if from.exists() {
        let target = to.join(from.file_name().ok_or("a file name")?);
        std::fs::copy(from, &target).map_err(|error| format!("{}: {error}", from.display()))?;
    }
    Ok(())
}

/// The local stand-in for a step that `uses:` an action.
fn act(
    action: &str,
    with: &BTreeMap<String, String>,
    workdir: &Path,
    artifacts: &Path,
    repo: &Path,
) -> Result<(), String> {
    let name = action.split('@').next().unwrap_or(action);
    match name {
        // The checkout is the repository itself, seen from the job's folder.
        "actions/checkout" => {
            for entry in std::fs::read_dir(repo).map_err(|error| error.to_string())? {
                let path = entry.map_err(|error| error.to_string())?.path();
                let file = path.file_name().expect("a name");
                if file != ".git" {
                    std::os::unix::fs::symlink(&path, workdir.join(file))
                        .map_err(|error| error.to_string())?;
                }
            }
            Ok(())
        }
        // The toolchain is this one; a cache only saves time.
        "dtolnay/rust-toolchain" | "actions/cache" => Ok(()),
        "actions/upload-artifact" => {
            let artifact = artifacts.join(with.get("name").ok_or("upload without a name")?);
            for path in with.get("path").map(String::as_str).unwrap_or("").lines() {
                copy_into(&workdir.join(path.trim()), &artifact)?;
            }
            Ok(())
        }
        "actions/download-artifact" => {
            let into = workdir.join(with.get("path").map(String::as_str).unwrap_or("."));
            let wanted = |artifact: &str| match (with.get("name"), with.get("pattern")) {
                (Some(name), _) => artifact == name,
                (None, Some(pattern)) => artifact.starts_with(pattern.trim_end_matches('*')),
                (None, None) => true,
            };
            let mut found = false;
            for entry in std::fs::read_dir(artifacts).map_err(|error| error.to_string())? {
                let path = entry.map_err(|error| error.to_string())?.path();
                let artifact = path
                    .file_name()
                    .expect("a name")
                    .to_string_lossy()
                    .to_string();
                if wanted(&artifact) {
                    found = true;
                    copy_into(&path, &into)?;
                }
            }
            if found {
                Ok(())
            } else {
                Err(format!("no artifact matches {with:?}"))
            }
        }
        other => Err(format!(
            "the rehearsal has no stand-in for action `{other}`"
        )),
    }
}

/// Rehearses the nightly workflow `source`: lints it, then runs its jobs in
/// the order their `needs` give, with the budget `budget` and `shards`
/// shards, in a scratch folder. Returns the step summary the run wrote.
fn rehearse(source: &str, budget: &str, shards: usize) -> Result<String, String> {
    let problems = lint(source);
    if !problems.is_empty() {
        return Err(format!(
            "the workflow does not lint:\n{}",
            problems.join("\n")
        ));
    }
    let workflow: Value = serde_yaml_ng::from_str(source).map_err(|error| error.to_string())?;
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .map_err(|error| error.to_string())?;
    // One folder per rehearsal, since tests run at once, under Cargo's
    // target folder; removed again at the end.
    static REHEARSALS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let number = REHEARSALS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let scratch =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("nightly-rehearsal-{number}"));
    let _ = std::fs::remove_dir_all(&scratch);
    let artifacts = scratch.join("artifacts");
    std::fs::create_dir_all(&artifacts).map_err(|error| error.to_string())?;
    let summary_file = scratch.join("step-summary.md");
    let mut inputs: BTreeMap<String, String> = BTreeMap::new();
    if let Some(declared) = workflow["on"]["workflow_dispatch"]["inputs"].as_mapping() {
        for (name, input) in declared {
            inputs.insert(
                text(name),
                input.get("default").map(text).unwrap_or_default(),
            );
        }
    }
    inputs.insert("budget".to_owned(), budget.to_owned());
    inputs.insert("profile".to_owned(), "dev".to_owned());
    let workflow_env = env_of(&workflow["env"]);
    let jobs = workflow["jobs"].as_mapping().ok_or("no jobs")?;
    let mut results: BTreeMap<String, bool> = BTreeMap::new();
    let mut pending: Vec<(String, &Value)> =
        jobs.iter().map(|(name, job)| (text(name), job)).collect();
    while !pending.is_empty() {
        let ready = pending
            .iter()
            .position(|(_, job)| {
                names(job.get("needs"))
                    .iter()
                    .all(|need| results.contains_key(need))
            })
            .ok_or("the jobs' `needs` form a cycle")?;
        let (name, job) = pending.remove(ready);
        let needs: BTreeMap<String, bool> = names(job.get("needs"))
            .into_iter()
            .map(|need| {
                let result = results[&need];
                (need, result)
            })
            .collect();
        let instances: Vec<BTreeMap<String, String>> = match job["strategy"]["matrix"].as_mapping()
        {
            None => vec![BTreeMap::new()],
            Some(matrix) if matrix.len() == 1 && matrix.contains_key("shard") => (1..=shards)
                .map(|shard| BTreeMap::from([("shard".to_owned(), shard.to_string())]))
                .collect(),
            Some(_) => return Err(format!("jobs.{name}: a matrix other than `shard`")),
        };
        let job_total = instances.len();
        let empty_steps = BTreeMap::new();
        let entry = Context {
            inputs: &inputs,
            matrix: &BTreeMap::new(),
            job_total,
            steps: &empty_steps,
            needs: &needs,
            failed: needs.values().any(|ok| !ok),
        };
        if !runs(job.get("if").map(text).as_deref(), &entry)? {
            results.insert(name, false);
            continue;
        }
        for (index, matrix) in instances.iter().enumerate() {
            let workdir = scratch.join(format!("{name}-{index}"));
            std::fs::create_dir_all(&workdir).map_err(|error| error.to_string())?;
            let mut outputs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
            let job_env = env_of(&job["env"]);
            for (number, step) in job["steps"]
                .as_sequence()
                .ok_or("no steps")?
                .iter()
                .enumerate()
            {
                let place = format!("jobs.{name}[{index}].steps[{number}]");
                let context = Context {
                    inputs: &inputs,
                    matrix,
                    job_total,
                    steps: &outputs,
                    needs: &needs,
                    // A failed step ends the rehearsal, so none has failed.
                    failed: false,
                };
                if !runs(step.get("if").map(text).as_deref(), &context)? {
                    continue;
                }
                let mut with = BTreeMap::new();
                for (field, value) in step["with"].as_mapping().into_iter().flatten() {
                    with.insert(text(field), expand(&text(value), &context)?);
                }
                let result = if let Some(action) = step.get("uses").map(text) {
                    act(&action, &with, &workdir, &artifacts, &repo)
                } else {
                    let script = expand(&step.get("run").map(text).unwrap_or_default(), &context)?;
                    let output = workdir.join(format!(".output-{number}"));
                    let mut command = std::process::Command::new("bash");
                    command
                        .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", &script])
                        .current_dir(&workdir)
                        .env("GITHUB_OUTPUT", &output)
                        .env("GITHUB_STEP_SUMMARY", &summary_file)
                        .env("GITHUB_RUN_NUMBER", "1")
                        // The repository's build, so the rehearsal reuses it.
                        .env("CARGO_TARGET_DIR", repo.join("target"));
                    for variable in FLAG_VARIABLES {
                        command.env_remove(variable);
                    }
                    for env in [&workflow_env, &job_env, &env_of(&step["env"])] {
                        for (variable, value) in env {
                            command.env(variable, expand(value, &context)?);
                        }
                    }
                    let run = command.output().map_err(|error| error.to_string())?;
                    if let Ok(written) = std::fs::read_to_string(&output) {
                        let id = step.get("id").map(text).unwrap_or_default();
                        for line in written.lines() {
                            if let Some((key, value)) = line.split_once('=') {
                                outputs
                                    .entry(id.clone())
                                    .or_default()
                                    .insert(key.to_owned(), value.to_owned());
                            }
                        }
                    }
                    if run.status.success() {
                        Ok(())
                    } else {
                        Err(format!(
                            "exit {:?}\n{}{}",
                            run.status.code(),
                            String::from_utf8_lossy(&run.stdout),
                            String::from_utf8_lossy(&run.stderr)
                        ))
                    }
                };
                result.map_err(|error| format!("{place} failed: {error}"))?;
            }
        }
        results.insert(name, true);
    }
    let summary = std::fs::read_to_string(&summary_file).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(summary)
}

/// An `env` mapping as names and raw values.
fn env_of(env: &Value) -> BTreeMap<String, String> {
    env.as_mapping()
        .into_iter()
        .flatten()
        .map(|(name, value)| (text(name), text(value)))
        .collect()
}
