//! Scenario files: the declarative description of one simulation run.
//!
//! The format is the README's "Scenario files", every section of it, with
//! unknown keys rejected. [`load`] parses and validates a file; every error
//! names the file, the key and what was expected, on one line. [`generate`]
//! draws a scenario from a seed.

mod duration;
pub(crate) mod rules;
mod tables;
mod topology;

pub use duration::{Dur, DurRange, SignedDur, ms};
pub(crate) use topology::{DB, Roles, Topology};

use ledger::bugs::Checker;
use serde::{Deserialize, Serialize};
use std::{fmt, path::Path, time::Duration};
use thiserror::Error;

/// One scenario: what to build, what the clients do, which faults to inject
/// and what the run must show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The generator version that wrote this scenario, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator: Option<String>,
    pub seed: u64,
    /// The fault phase, in simulated time.
    #[serde(default = "defaults::duration")]
    pub duration: Dur,
    /// The longest settle phase; unset, [`Scenario::settle`] picks one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settle: Option<Dur>,
    #[serde(default, deserialize_with = "tables::table")]
    pub cluster: Cluster,
    #[serde(default, deserialize_with = "tables::table")]
    pub system: System,
    #[serde(default, deserialize_with = "tables::table")]
    pub workload: Workload,
    #[serde(default, deserialize_with = "tables::table")]
    pub faults: Faults,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "tables::tables"
    )]
    pub events: Vec<EventSpec>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "tables::optional_table"
    )]
    pub expect: Option<Expect>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Cluster {
    /// Raft log replicas: 1, 3, 5 or 7.
    pub log_replicas: u32,
    /// Ledger service replicas: 1 to 5.
    pub ledger_replicas: u32,
    /// Chain RPC nodes: 1 to 4.
    pub chain_rpc_nodes: u32,
    /// Client nodes: 1 to 16.
    pub clients: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct System {
    pub confirmations: u32,
    pub block_time: Dur,
    pub lease: Dur,
    pub election_timeout: DurRange,
    pub heartbeat: Dur,
    /// Whether the log leader serves key-value reads on a lease.
    pub read_lease: bool,
    pub sync_latency: DurRange,
    /// How long the database keeps a transaction nobody touches before it
    /// aborts it, as PostgreSQL's `idle_in_transaction_session_timeout`
    /// does; a commit that comes later is refused.
    pub db_idle_timeout: Dur,
    pub initial_balance: u64,
    /// Planted bugs to enable, by name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bugs: Vec<String>,
}

/// What the clients drive, and so which nodes start. Each kind's code is
/// one module of `kinds/`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::EnumIter,
    strum::EnumString,
    strum::IntoStaticStr,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum WorkloadKind {
    /// The whole system.
    Transfers,
    /// Clients append to the Raft log directly.
    Log,
    /// Bank transfers in database transactions.
    Bank,
    /// Signed transactions straight to the chain.
    Chain,
}

impl WorkloadKind {
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// The kind named `name`.
    pub fn from_name(name: &str) -> Option<WorkloadKind> {
        name.parse().ok()
    }

    /// Every kind, the whole system first.
    pub fn all() -> impl Iterator<Item = WorkloadKind> {
        <WorkloadKind as strum::IntoEnumIterator>::iter()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Workload {
    pub kind: WorkloadKind,
    /// Client requests issued during `duration`, over all clients.
    pub requests: u32,
    pub accounts: u32,
    pub max_amount: u64,
    /// How long a client waits for one attempt.
    pub client_timeout: Dur,
    /// Further attempts after the first, during the fault phase.
    pub client_retries: u32,
    /// Fraction of malformed or overdrawing requests.
    pub invalid_fraction: f64,
    /// Fraction of answered requests a client sends again later (a retry
    /// after the answer), expecting the first answer again.
    pub late_resends: f64,
    /// Key-value sessions per client node (`log`), each running operations
    /// back to back.
    pub kv_sessions: u32,
    /// Whether clients also read account balances (`transfers`).
    pub balance_reads: bool,
    /// Whether each transfer reads its source account again after writing
    /// it, in the same transaction (`bank`), which must see its own write.
    pub own_reads: bool,
    /// Whether clients also reverse committed transfers (`bank`): the
    /// last transfer row goes back in a SERIALIZABLE transaction that
    /// deletes it, so that deletes meet the database's validation.
    pub reversals: bool,
    /// Fraction of chain payments (`chain`) their wallet speeds up once
    /// sent: the same payment signed again at its nonce with a higher fee,
    /// which the mempool must take in place of the pending one. Written
    /// only when set, so files of other kinds stay as they were.
    #[serde(skip_serializing_if = "is_zero")]
    pub fee_bumps: f64,
}

fn is_zero(fraction: &f64) -> bool {
    *fraction == 0.0
}

/// Fault rates over `duration`; everything defaults to off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Faults {
    /// Probability each message is lost.
    pub drop: f64,
    /// Probability each message is delivered twice.
    pub duplicate: f64,
    /// Probability each message is held back by up to `max_delay`.
    pub reorder: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_delay: Option<Dur>,
    /// Mean interval between random crashes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crash_every: Option<Dur>,
    /// Probability a reached crash point crashes its node.
    pub crash_points: f64,
    /// Probability a crash tears the first unsynced record of a file.
    pub torn_writes: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pause_every: Option<Dur>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition_every: Option<Dur>,
    /// Largest wall-clock offset given to a node at the start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clock_skew: Option<Dur>,
    /// Largest clock drift given to a node at the start, in ppm.
    pub clock_drift_ppm: u32,
    pub chain_drop: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain_reorg_every: Option<Dur>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain_lag: Option<Dur>,
    pub db_unknown_commit: f64,
    /// Mean interval between random losses of the database's disk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub db_wipe_every: Option<Dur>,
}

/// A scheduled fault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSpec {
    pub at: Dur,
    pub action: Action,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Undo the fault after this long.
    #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
    pub for_: Option<Dur>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<Vec<String>>>,
    /// Cut only the links from the first group to the others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_way: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<SignedDur>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jump: Option<SignedDur>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift_ppm: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop: Option<f64>,
}

impl EventSpec {
    /// An event with only its time and action set.
    pub fn new(at: Dur, action: Action) -> EventSpec {
        EventSpec {
            at,
            action,
            node: None,
            for_: None,
            groups: None,
            one_way: None,
            offset: None,
            jump: None,
            drift_ppm: None,
            depth: None,
            drop: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Crash,
    Restart,
    Retire,
    Pause,
    Resume,
    Partition,
    Heal,
    Clock,
    ChainDrop,
    ChainReorg,
    DbWipe,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Crash => "crash",
            Action::Restart => "restart",
            Action::Retire => "retire",
            Action::Pause => "pause",
            Action::Resume => "resume",
            Action::Partition => "partition",
            Action::Heal => "heal",
            Action::Clock => "clock",
            Action::ChainDrop => "chain-drop",
            Action::ChainReorg => "chain-reorg",
            Action::DbWipe => "db-wipe",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// This checker must report a violation.
    pub violation: Checker,
}

/// A scenario that could not be loaded: which file, which key, what was
/// expected. Printed on one line.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub struct ScenarioError {
    pub file: String,
    pub line: Option<usize>,
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": key `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// A validation failure before the file name is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub key: String,
    pub message: String,
}

/// The node name that `[[events]] node` may use for whichever log replica
/// leads when the event fires.
pub const LOG_LEADER: &str = "log-leader";

/// The largest clock drift a scenario may give a node, in ppm: what the
/// log's read lease is configured to survive.
pub const MAX_DRIFT_PPM: u32 = 100_000;

impl Scenario {
    /// Writes the scenario back as TOML that [`crate::parse`] accepts.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("scenarios always serialize")
    }

    pub fn duration(&self) -> Duration {
        self.duration.0
    }

    /// The settle phase's deadline: as set, or else a minute, or twice
    /// what a request lost as the faults stopped takes to settle when that
    /// is longer (never more than the longest phase a file may set): it is
    /// sent again only after `client_timeout`, and then, where a chain
    /// runs, it is a payment to be mined, buried and seen through the
    /// lagging view, the time [`Scenario::least_settle`] counts apart from
    /// the timeout. Unset, it is one stretch of the phase and may be had
    /// again: see [`Scenario::longest_settle`].
    pub fn settle(&self) -> Duration {
        if let Some(settle) = self.settle {
            return settle.0;
        }
        let mut needed = self.least_settle();
        if matches!(
            self.workload.kind,
            WorkloadKind::Transfers | WorkloadKind::Chain
        ) {
            needed = needed.max(
                self.workload
                    .client_timeout
                    .0
                    .saturating_add(self.payment_seen()),
            );
        }
        needed
            .saturating_mul(2)
            .clamp(DEFAULT_SETTLE, rules::MAX_PHASE)
    }

    /// How long the settle phase may go on while the cluster is still
    /// settling: a file that sets `settle` gets exactly that; one that
    /// does not gets its [`Scenario::settle`] again and again, for as long
    /// as the last quarter of each settled requests (a log growing alone
    /// does not count: leader after leader grows it by their no-ops), up to
    /// the longest phase a file may set (or the chain's block bound, on a
    /// fast chain). So a heavy workload is not failed for
    /// the length of a default it never chose, and a stuck cluster still is.
    pub fn longest_settle(&self) -> Duration {
        let settle = self.settle();
        if self.settle.is_some() {
            return settle;
        }
        let blocks = self
            .system
            .block_time
            .0
            .saturating_mul(rules::MAX_BLOCKS)
            .saturating_sub(self.duration());
        rules::MAX_PHASE.min(blocks).max(settle)
    }

    /// The shortest settle phase a correct cluster can converge in, once
    /// healed, whatever the faults left: a request lost as they stopped is
    /// sent again only after `client_timeout`; a log leader lost then is
    /// replaced only after an election timeout, twice the longest of them
    /// should the first vote split; a payment sent then is seen confirmed
    /// only once a block includes it, `confirmations` more bury it and
    /// `chain_lag` has passed.
    pub fn least_settle(&self) -> Duration {
        let kind = self.workload.kind;
        let mut least = self.workload.client_timeout.0;
        if matches!(kind, WorkloadKind::Transfers | WorkloadKind::Log) {
            least = least.max(self.system.election_timeout.end.0.saturating_mul(2));
        }
        if matches!(kind, WorkloadKind::Transfers | WorkloadKind::Chain) {
            least = least.max(self.payment_seen());
        }
        least
    }

    /// What a payment sent takes to be seen confirmed: a block to include
    /// it, `confirmations` more to bury it, and `chain_lag` for the view.
    fn payment_seen(&self) -> Duration {
        let lag = self.faults.chain_lag.map_or(Duration::ZERO, |lag| lag.0);
        self.system
            .block_time
            .0
            .saturating_mul(self.system.confirmations.saturating_add(1))
            .saturating_add(lag)
    }
}

/// The settle phase of a scenario that sets none, on a chain no slower
/// than it allows for.
const DEFAULT_SETTLE: Duration = Duration::from_secs(60);

/// The largest scenario file read: far beyond any real one, and small
/// enough that a wrong path (`/dev/zero`) fails at once.
pub(crate) const MAX_FILE_BYTES: u64 = 1 << 20;

/// Reads a scenario file's text, at most [`MAX_FILE_BYTES`].
pub(crate) fn read_file(path: &Path) -> Result<String, ScenarioError> {
    crate::files::read_text(path, MAX_FILE_BYTES).map_err(|message| ScenarioError {
        file: path.display().to_string(),
        line: None,
        key: None,
        message,
    })
}

/// Parses scenario text into its types: syntax, keys and value types, with
/// errors naming the file, line and key. The rules are `crate::validate`'s.
pub(crate) fn parse_toml(text: &str, file: &str) -> Result<Scenario, ScenarioError> {
    parse_toml_naming(text, file, true)
}

/// [`parse_toml`]; with `name_enums`, an enum's value of the wrong type is
/// answered with the names it may take (see [`enum_names`]).
fn parse_toml_naming(text: &str, file: &str, name_enums: bool) -> Result<Scenario, ScenarioError> {
    let line_of = |span: Option<std::ops::Range<usize>>| {
        span.map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1)
    };
    let deserializer = toml::de::Deserializer::parse(text).map_err(|error| {
        // The parser names no place for a key too deeply dotted.
        if error.span().is_none()
            && error.message().trim() == "recursion limit"
            && let Some((line, key, parts)) = deepest_key(text)
        {
            return ScenarioError {
                file: file.to_owned(),
                line: Some(line),
                key: Some(key),
                message: format!(
                    "a key of {parts} dotted parts; expected at most {MOST_KEY_PARTS} (a scenario's keys have at most 3)"
                ),
            };
        }
        ScenarioError {
            file: file.to_owned(),
            line: line_of(error.span()),
            key: error
                .span()
                .filter(|_| error.message().starts_with("duplicate key"))
                .and_then(|span| duplicated_key(text, span)),
            message: one_line(error.message()),
        }
    })?;
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let message = one_line(inner.message());
        // serde names an unknown key only in its message: make it the key.
        let (key, message) = match message
            .strip_prefix("unknown field `")
            .and_then(|rest| rest.split_once('`'))
        {
            Some((field, rest)) => {
                let key = if path.ends_with(field) {
                    path
                } else {
                    join_key(&path, field)
                };
                (key, format!("unknown key;{}", rest.trim_start_matches(',')))
            }
            // An enum's value of the wrong type: the toml crate says what
            // it wanted, not what it got.
            None if message == "wanted string or table" => {
                let span = inner.span();
                let names = span
                    .clone()
                    .filter(|span| name_enums && !span.is_empty())
                    .and_then(|span| enum_names(text, span));
                let got = span
                    .and_then(|span| text.get(span))
                    .map(str::trim)
                    .filter(|got| !got.is_empty() && got.len() <= 40 && !got.contains('\n'));
                let mut message = names.map_or_else(
                    || "expected a name in quotes".to_owned(),
                    |names| format!("expected one of {names}"),
                );
                if let Some(got) = got {
                    message += &format!(", got {got}");
                }
                (path, message)
            }
            None => (path, message),
        };
        ScenarioError {
            file: file.to_owned(),
            line: line_of(inner.span()),
            key: (!key.is_empty() && key != ".").then_some(key),
            message,
        }
    })
}

/// The names an enum's value may take, for a value of the wrong type at
/// `span`: the text is parsed again with a name no enum has there, whose
/// error lists them.
fn enum_names(text: &str, span: std::ops::Range<usize>) -> Option<String> {
    let probe = format!("{}\"?\"{}", text.get(..span.start)?, text.get(span.end..)?);
    let error = parse_toml_naming(&probe, "", false).err()?;
    // serde says `one of` before three names or more, not before one or two.
    let names = error
        .message
        .strip_prefix("unknown variant `?`, expected ")?;
    Some(names.strip_prefix("one of ").unwrap_or(names).to_owned())
}

/// The most dotted parts a key may have: the toml parser's nesting limit.
const MOST_KEY_PARTS: usize = 79;

/// The line (from 1) of the first key, or table header, with more dotted
/// parts than the parser takes, its first parts, and how many it has.
fn deepest_key(text: &str) -> Option<(usize, String, usize)> {
    text.lines().enumerate().find_map(|(index, line)| {
        let line = line.trim_start();
        let key = match line.strip_prefix('[') {
            Some(header) => header.split(']').next()?,
            None => line.split('=').next()?,
        };
        let parts: Vec<&str> = key.split('.').map(str::trim).collect();
        (parts.len() > MOST_KEY_PARTS).then(|| {
            let shown = parts[..3].join(".");
            (index + 1, format!("{shown}…"), parts.len())
        })
    })
}

/// The full name of the key a "duplicate key" error points at: the key
/// under the error's span, inside the last table header above it.
fn duplicated_key(text: &str, span: std::ops::Range<usize>) -> Option<String> {
    let name = text
        .get(span.clone())?
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim();
    let name = name.split('=').next()?.trim().trim_matches('"');
    if name.is_empty() {
        return None;
    }
    let before = text.get(..span.start)?;
    let line_start = before.rfind('\n').map_or(0, |at| at + 1);
    let on_header = text[line_start..].trim_start().starts_with('[');
    let headers: Vec<&str> = before[..line_start]
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with('['))
        .collect();
    // An array of tables is named with its element's index: events[1].
    let table = headers.last().map(|header| {
        let name = header.trim_matches(|c| c == '[' || c == ']').trim();
        if header.starts_with("[[") {
            let index = headers.iter().filter(|other| *other == header).count() - 1;
            format!("{name}[{index}]")
        } else {
            name.to_owned()
        }
    });
    Some(match table {
        Some(table) if !on_header => join_key(&table, name),
        _ => name.to_owned(),
    })
}

fn join_key(path: &str, field: &str) -> String {
    if path.is_empty() || path == "." {
        field.to_owned()
    } else {
        format!("{path}.{field}")
    }
}

fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

mod defaults {
    use super::*;

    pub fn duration() -> Dur {
        Dur(Duration::from_secs(30))
    }
}

impl Default for Cluster {
    fn default() -> Cluster {
        Cluster {
            log_replicas: 3,
            ledger_replicas: 2,
            chain_rpc_nodes: 2,
            clients: 3,
        }
    }
}

impl Default for System {
    fn default() -> System {
        System {
            confirmations: 3,
            block_time: Dur(Duration::from_secs(1)),
            lease: Dur(Duration::from_secs(2)),
            election_timeout: DurRange {
                start: ms(150),
                end: ms(300),
            },
            heartbeat: ms(50),
            read_lease: false,
            sync_latency: DurRange {
                start: Dur(Duration::from_micros(200)),
                end: ms(5),
            },
            db_idle_timeout: Dur(Duration::from_secs(10)),
            initial_balance: 1_000_000,
            bugs: Vec::new(),
        }
    }
}

impl Default for Workload {
    fn default() -> Workload {
        Workload {
            kind: WorkloadKind::Transfers,
            requests: 100,
            accounts: 8,
            max_amount: 1000,
            client_timeout: Dur(Duration::from_secs(2)),
            client_retries: 5,
            invalid_fraction: 0.05,
            late_resends: 0.1,
            kv_sessions: 4,
            balance_reads: false,
            own_reads: false,
            reversals: false,
            fee_bumps: 0.0,
        }
    }
}

/// A probability rounded to three decimals, so generated files stay
/// readable.
/// A value between `low` and `high` whose logarithm is uniform.
pub(crate) fn log_uniform(rng: &mut impl rand::Rng, low: f64, high: f64) -> f64 {
    (rng.gen_range(low.ln()..high.ln())).exp()
}

pub(crate) fn rounded(probability: f64) -> f64 {
    (probability * 1000.0).round() / 1000.0
}
