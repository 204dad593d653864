//! The timeline page in a real browser: headless Chromium opens a rendered
//! page and must find it drawn (`data-ready`) with no error written into it
//! (`data-error`), and a screenshot must come out.
//!
//! Without a browser on PATH the tests only say so, unless `CI` is set: CI
//! installs Chromium (`.ci/run`) and must not pass by skipping.
//!
//! The page drawn here is a made-up run of every kind of element at once.
//! The README's picture is a real run's, made the same way:
//!
//! ```text
//! cargo run -p sim -- run scenarios/lease-no-fencing.toml --timeline t.html
//! chromium --headless --no-sandbox --window-size=1400,900 \
//!     --screenshot=docs/timeline.png "file://$PWD/t.html#violation=1"
//! ```
//!
//! (`SIM_TIMELINE_SCREENSHOT=out.png` keeps this test's own screenshot.)

use std::{
    fs::File,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use sim::timeline::{
    Timeline,
    model::{Lane, Mark, Message, Span, Step, Term, TransferLife, Violation},
    render,
};

const BROWSERS: [&str; 3] = ["chromium", "chromium-browser", "google-chrome"];
/// A hung browser fails the test instead of hanging it.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(60);

#[test]
fn a_run_with_violations_draws_and_starts_from_the_unexpected_one() {
    let Some(browser) = browser() else { return };
    let dir = scratch("violation");
    let page = write_page(&dir, &realistic(Scale::README));
    // The second violation in the list is the unexpected one (`realistic`).
    let dom = run_browser(&browser, &dir, &[url(&page, "#violation=2")]);
    assert_drawn(&dom, &dir);
    assert_eq!(
        attribute(&dom, "data-selected-transfer"),
        Some(PAID_TWICE),
        "the violation selects the first transfer it names"
    );
    cleanup(&dir);
}

#[test]
fn a_screenshot_comes_out() {
    let Some(browser) = browser() else { return };
    let dir = scratch("screenshot");
    let page = write_page(&dir, &realistic(Scale::README));
    let png = dir.join("timeline.png");
    run_browser(
        &browser,
        &dir,
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1400,900".to_owned(),
            "--hide-scrollbars".to_owned(),
            url(&page, "#violation=2"),
        ],
    );
    let bytes = std::fs::read(&png).unwrap_or_else(|error| {
        panic!("no screenshot at {}: {error}", png.display());
    });
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "not a PNG: {}",
        png.display()
    );
    assert!(
        bytes.len() > 10_000,
        "a {}-byte screenshot is blank: {}",
        bytes.len(),
        png.display()
    );
    if let Some(keep) = std::env::var_os("SIM_TIMELINE_SCREENSHOT") {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("sim sits in the workspace");
        let keep = workspace.join(keep);
        if let Some(parent) = keep.parent() {
            std::fs::create_dir_all(parent).expect("the screenshot's folder");
        }
        std::fs::copy(&png, &keep).expect("the screenshot is kept");
        eprintln!("screenshot: {} ({} bytes)", keep.display(), bytes.len());
    }
    cleanup(&dir);
}

/// A long run's worth: thousands of messages, marks and transfers.
#[test]
fn a_large_run_draws() {
    let Some(browser) = browser() else { return };
    let dir = scratch("large");
    let page = write_page(&dir, &realistic(Scale::LARGE));
    let dom = run_browser(&browser, &dir, &[url(&page, "")]);
    assert_drawn(&dom, &dir);
    eprintln!(
        "large run: {} bytes of HTML, first draw {} ms",
        std::fs::metadata(&page).map_or(0, |meta| meta.len()),
        attribute(&dom, "data-draw-ms").unwrap_or("?")
    );
    cleanup(&dir);
}

/// The first browser on PATH. None: the caller skips, except under CI.
fn browser() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .flat_map(|dir| BROWSERS.map(|name| dir.join(name)))
        .find(|candidate| candidate.is_file());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI has no browser: none of {BROWSERS:?} is on PATH (.ci/run installs chromium)"
        );
        eprintln!(
            "note: timeline browser test skipped: none of {BROWSERS:?} is on PATH \
             (install one, e.g. `apt-get install chromium`, to run it)"
        );
    }
    found
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("timeline-browser-{name}"));
    // Emptied first: a screenshot an earlier run left must not pass for
    // this one's.
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    dir
}

fn cleanup(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
}

fn write_page(dir: &Path, timeline: &Timeline) -> PathBuf {
    let page = dir.join("timeline.html");
    std::fs::write(&page, render(timeline)).expect("the page is written");
    page
}

fn url(page: &Path, fragment: &str) -> String {
    format!("file://{}{fragment}", page.display())
}

/// Runs the browser headless with its own profile, so parallel tests do
/// not share one, and returns what it printed. Output goes to files, not
/// pipes: a dumped DOM outgrows a pipe's buffer before the browser exits.
fn run_browser(browser: &Path, dir: &Path, args: &[String]) -> String {
    let stdout = dir.join("stdout.txt");
    let stderr = dir.join("stderr.txt");
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .args(args)
        .arg("--dump-dom")
        .stdin(Stdio::null())
        .stdout(File::create(&stdout).expect("a stdout file"))
        .stderr(File::create(&stderr).expect("a stderr file"))
        .spawn()
        .unwrap_or_else(|error| panic!("{} does not start: {error}", browser.display()));
    let poll = Duration::from_millis(100);
    let mut waited = Duration::ZERO;
    let status = loop {
        if let Some(status) = child.try_wait().expect("the browser can be waited for") {
            break status;
        }
        if waited >= BROWSER_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{} took over {BROWSER_TIMEOUT:?}; its output is in {}",
                browser.display(),
                dir.display()
            );
        }
        std::thread::sleep(poll);
        waited += poll;
    };
    let printed = std::fs::read_to_string(&stdout).unwrap_or_default();
    assert!(
        status.success(),
        "{} failed ({status}): {}",
        browser.display(),
        std::fs::read_to_string(&stderr).unwrap_or_default()
    );
    printed
}

/// The value of a `data-` attribute of the page's body, as dumped.
fn attribute<'a>(dom: &'a str, name: &str) -> Option<&'a str> {
    let body = &dom[dom.find("<body")?..];
    let start = body.find(&format!(" {name}=\""))? + name.len() + 3;
    let length = body[start..].find('"')?;
    Some(&body[start..start + length])
}

fn assert_drawn(dom: &str, dir: &Path) {
    assert!(!dom.is_empty(), "no DOM dumped; see {}", dir.display());
    if let Some(error) = attribute(dom, "data-error") {
        panic!("the page failed: {error}");
    }
    assert_eq!(
        attribute(dom, "data-ready"),
        Some("yes"),
        "the page never finished drawing; see {}",
        dir.display()
    );
    let drawn: u64 = attribute(dom, "data-drawn-messages")
        .and_then(|count| count.parse().ok())
        .unwrap_or(0);
    assert!(drawn > 0, "no messages drawn");
}

// ---- A realistic run, made up -------------------------------------------

/// How much of everything a made-up run has.
struct Scale {
    transfers: usize,
    messages: usize,
    block_every_us: u64,
    extra_marks: usize,
}

impl Scale {
    const README: Scale = Scale {
        transfers: 300,
        messages: 1_200,
        block_every_us: 100_000,
        extra_marks: 0,
    };
    /// About a 30,000-event run after sampling.
    const LARGE: Scale = Scale {
        transfers: 2_000,
        messages: 4_000,
        block_every_us: 1_000,
        extra_marks: 10_000,
    };
}

const PAID_TWICE: &str = "tr-3f9a0c11d2e4b807";
const GAVE_UP: &str = "tr-0b7d5e2a9c41f366";
const SETTLE_US: u64 = 3_500_000;
const END_US: u64 = 5_000_000;
const LOGS: [&str; 3] = ["log-1", "log-2", "log-3"];
const LEDGERS: [&str; 2] = ["ledger-1", "ledger-2"];
const RPCS: [&str; 2] = ["rpc-1", "rpc-2"];
const CLIENTS: [&str; 3] = ["client-0", "client-1", "client-2"];
/// The partition: log-2 and rpc-1 against the rest.
const CUT_FROM: u64 = 2_600_000;
const CUT_TO: u64 = 3_300_000;
const MINORITY: [&str; 2] = ["log-2", "rpc-1"];

/// A small deterministic generator: the page, and so the screenshot, is
/// the same on every run.
struct Draw(u64);

impl Draw {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn pick<'a>(&mut self, names: &[&'a str]) -> &'a str {
        names[self.below(names.len() as u64) as usize]
    }
}

fn leader_at(us: u64) -> &'static str {
    match us {
        ..1_200_000 => "log-1",
        1_200_000..2_750_000 => "log-2",
        _ => "log-3",
    }
}

fn realistic(scale: Scale) -> Timeline {
    let mut draw = Draw(0x5eed_1234_abcd_0042);
    let mut lanes = Vec::new();
    for (nodes, role) in [
        (&LOGS[..], "log"),
        (&["db"][..], "db"),
        (&LEDGERS[..], "ledger"),
        (&["chain"][..], "chain"),
        (&RPCS[..], "rpc"),
        (&CLIENTS[..], "client"),
    ] {
        lanes.extend(nodes.iter().map(|node| Lane {
            node: (*node).to_owned(),
            role: role.to_owned(),
        }));
    }
    let nodes: Vec<&str> = lanes.iter().map(|lane| lane.node.as_str()).collect();
    let transfers = transfers(&mut draw, &scale);
    Timeline {
        scenario: "partition-during-transfer".to_owned(),
        seed: 42,
        verdict: "safety-violation".to_owned(),
        settle_us: SETTLE_US,
        end_us: END_US,
        spans: spans(&nodes),
        marks: marks(&mut draw, &nodes, &scale),
        terms: vec![
            term(1, "log-1", 20_000, Some(1_200_000)),
            term(2, "log-2", 1_350_000, Some(2_750_000)),
            term(3, "log-3", 2_750_000, None),
        ],
        messages: messages(&mut draw, &scale),
        messages_total: 48_210,
        violations: vec![
            Violation {
                checker: "availability".to_owned(),
                at_us: 2_950_000,
                message: format!("{GAVE_UP} had no answer within 250ms of its request"),
                expected: true,
                transfers: vec![GAVE_UP.to_owned()],
            },
            Violation {
                checker: "exactly-once".to_owned(),
                at_us: 3_180_000,
                message: format!(
                    "{PAID_TWICE} was paid twice on chain: blocks 29 and 32 both carry its memo"
                ),
                expected: false,
                transfers: vec![PAID_TWICE.to_owned()],
            },
        ],
        transfers,
        lanes,
    }
}

fn term(term: u64, leader: &str, from_us: u64, to_us: Option<u64>) -> Term {
    Term {
        term,
        leader: leader.to_owned(),
        from_us,
        to_us,
    }
}

fn span(node: &str, kind: &str, from_us: u64, to_us: Option<u64>, label: String) -> Span {
    Span {
        node: node.to_owned(),
        kind: kind.to_owned(),
        from_us,
        to_us,
        label,
    }
}

fn spans(nodes: &[&str]) -> Vec<Span> {
    let majority: Vec<&str> = nodes
        .iter()
        .copied()
        .filter(|node| !MINORITY.contains(node))
        .collect();
    let mut spans = vec![
        span(
            "log-1",
            "down",
            1_200_000,
            Some(1_900_000),
            "down: crashed".to_owned(),
        ),
        span(
            "db",
            "paused",
            600_000,
            Some(800_000),
            "paused 200ms".to_owned(),
        ),
        span(
            "chain",
            "skewed",
            300_000,
            None,
            "offset +250ms, drift +40ppm".to_owned(),
        ),
    ];
    for node in nodes {
        let label = if MINORITY.contains(node) {
            format!("side 1 of 2: {}", MINORITY.join(", "))
        } else {
            format!("side 2 of 2: {}", majority.join(", "))
        };
        spans.push(span(node, "cut", CUT_FROM, Some(CUT_TO), label));
    }
    spans
}

fn mark(node: &str, kind: &str, at_us: u64, label: &str) -> Mark {
    Mark {
        node: node.to_owned(),
        kind: kind.to_owned(),
        at_us,
        label: label.to_owned(),
    }
}

fn marks(draw: &mut Draw, nodes: &[&str], scale: &Scale) -> Vec<Mark> {
    let mut marks: Vec<Mark> = nodes
        .iter()
        .map(|node| mark(node, "boot", 1_000, "booted"))
        .collect();
    marks.extend([
        mark("log-1", "elected", 20_000, "elected in term 1"),
        mark("db", "pause", 600_000, "paused"),
        mark("db", "resume", 800_000, "resumed"),
        mark(
            "chain",
            "clock",
            300_000,
            "clock offset +250ms, drift +40ppm",
        ),
        mark("log-1", "crash", 1_200_000, "crashed (the nemesis)"),
        mark(
            "log-1",
            "torn-write",
            1_200_000,
            "the last log write was torn",
        ),
        mark("log-2", "elected", 1_350_000, "elected in term 2"),
        mark(
            "rpc-2",
            "reply-lost",
            1_700_000,
            "the reply to client-1 was lost",
        ),
        mark("log-1", "restart", 1_900_000, "restarted"),
        mark("chain", "reorg", 2_800_000, "reorg: blocks 28-29 replaced"),
        mark("log-3", "elected", 2_750_000, "elected in term 3"),
        mark(
            "ledger-1",
            "crash-point",
            2_900_000,
            "crash point: after-sign",
        ),
        mark(
            "rpc-1",
            "mempool-drop",
            3_000_000,
            "mempool dropped 3 transactions",
        ),
        mark(
            "log-2",
            "stepped-down",
            3_300_000,
            "stepped down: saw term 3",
        ),
        mark("ledger-1", "settle", SETTLE_US, "faults end"),
    ]);
    let blocks = END_US / scale.block_every_us;
    marks.extend((1..=blocks).map(|block| {
        let label = format!("block {block}");
        mark("chain", "block", block * scale.block_every_us, &label)
    }));
    let kinds = ["reply-lost", "clock", "mempool-drop", "block"];
    marks.extend((0..scale.extra_marks).map(|_| {
        let at = draw.below(END_US);
        mark(draw.pick(nodes), draw.pick(&kinds), at, "filler")
    }));
    marks
}

/// Who talks to whom in the ledger, roughly.
fn messages(draw: &mut Draw, scale: &Scale) -> Vec<Message> {
    (0..scale.messages)
        .map(|_| {
            let sent_us = draw.below(END_US - 50_000);
            let leader = leader_at(sent_us);
            let (from, to) = match draw.below(6) {
                0 => (draw.pick(&CLIENTS), draw.pick(&RPCS)),
                1 => (draw.pick(&RPCS), draw.pick(&LEDGERS)),
                2 => (draw.pick(&LEDGERS), leader),
                3 => (leader, draw.pick(&LOGS)),
                4 => (draw.pick(&LEDGERS), "db"),
                _ => (draw.pick(&RPCS), "chain"),
            };
            let across = (CUT_FROM..CUT_TO).contains(&sent_us)
                && MINORITY.contains(&from) != MINORITY.contains(&to);
            let trip = 300 + draw.below(1_500);
            let (fate, arrive_us) = match draw.below(100) {
                _ if across => ("cut", None),
                0..2 => ("dropped", None),
                2..5 => ("delayed", Some(sent_us + trip + 5_000 + draw.below(40_000))),
                _ => ("sent", Some(sent_us + trip)),
            };
            let duplicate_after_us =
                (arrive_us.is_some() && draw.below(100) == 0).then(|| 1_000 + draw.below(10_000));
            Message {
                from: from.to_owned(),
                to: to.to_owned(),
                kind: "Append",
                sent_us,
                arrive_us,
                fate: fate.to_owned(),
                duplicate_after_us,
                bytes: 80 + draw.below(400) as u32,
            }
        })
        .collect()
}

/// A transfer's life from its steps: (when, node, kind, what).
fn life(
    id: &str,
    client: u64,
    request_id: String,
    steps: Vec<(u64, &str, &str, String)>,
) -> TransferLife {
    TransferLife {
        id: id.to_owned(),
        client,
        request_id,
        steps: steps
            .into_iter()
            .map(|(at_us, node, kind, what)| Step {
                at_us,
                node: node.to_owned(),
                kind: kind.to_owned(),
                what,
            })
            .collect(),
    }
}

fn transfers(draw: &mut Draw, scale: &Scale) -> Vec<TransferLife> {
    let mut lives = vec![paid_twice(), gave_up()];
    for index in 0..scale.transfers {
        let id = format!("tr-{:016x}", draw.next());
        let client = draw.below(CLIENTS.len() as u64);
        let client_node = CLIENTS[client as usize];
        let ledger = draw.pick(&LEDGERS);
        let rpc = draw.pick(&RPCS);
        let start = 50_000 + draw.below(END_US - 800_000);
        // Blocks come every 100ms; the transaction makes the next one.
        let block = (start + 12_000) / 100_000 + 1;
        let included = block * 100_000;
        let steps = vec![
            (
                start,
                client_node,
                "request",
                format!("pay 10 to acct-{index}"),
            ),
            (
                start + 2_000,
                leader_at(start),
                "appended",
                "log index 1".to_owned(),
            ),
            (start + 5_000, "db", "projected", format!("{id} pending")),
            (
                start + 9_000,
                ledger,
                "claimed",
                format!("{ledger} claims {id}"),
            ),
            (start + 10_000, ledger, "signed", "nonce 7".to_owned()),
            (start + 12_000, rpc, "submitted", format!("via {rpc}")),
            (included, "chain", "included", format!("block {block}")),
            (
                included + 300_000,
                ledger,
                "confirming",
                "3 confirmations".to_owned(),
            ),
            (
                included + 302_000,
                client_node,
                "answer",
                "ok: paid".to_owned(),
            ),
        ];
        lives.push(life(&id, client, format!("req-{client}-{index}"), steps));
    }
    lives
}

/// The transfer the unexpected violation names: included, reorged away
/// while the log changed leaders, then claimed and paid again.
fn paid_twice() -> TransferLife {
    let id = PAID_TWICE;
    let steps = vec![
        (
            2_540_000,
            "client-0",
            "request",
            "pay 250 to acct-7".to_owned(),
        ),
        (
            2_542_000,
            "log-2",
            "appended",
            "log index 812, term 2".to_owned(),
        ),
        (2_545_000, "db", "projected", format!("{id} pending")),
        (
            2_551_000,
            "ledger-1",
            "claimed",
            format!("ledger-1 claims {id}"),
        ),
        (2_553_000, "ledger-1", "signed", "nonce 41".to_owned()),
        (2_556_000, "rpc-2", "submitted", "via rpc-2".to_owned()),
        (2_700_000, "chain", "included", "block 27".to_owned()),
        (
            2_800_000,
            "chain",
            "reorged",
            "block 27 replaced".to_owned(),
        ),
        (
            2_900_000,
            "chain",
            "included",
            "block 29: the old transaction, mined again".to_owned(),
        ),
        (
            2_905_000,
            "ledger-2",
            "claimed",
            format!("ledger-2 claims {id} again"),
        ),
        (2_907_000, "ledger-2", "signed", "nonce 42".to_owned()),
        (2_910_000, "rpc-2", "submitted", "via rpc-2".to_owned()),
        (3_100_000, "chain", "included", "block 32".to_owned()),
        (
            3_104_000,
            "ledger-2",
            "confirming",
            "1 confirmation".to_owned(),
        ),
        (3_400_000, "client-0", "answer", "ok: paid".to_owned()),
    ];
    life(id, 0, "req-0-4711".to_owned(), steps)
}

/// The transfer the expected violation names: its request went to the
/// cut-off side and the client gave up.
fn gave_up() -> TransferLife {
    let steps = vec![
        (
            2_650_000,
            "client-1",
            "request",
            "pay 5 to acct-2".to_owned(),
        ),
        (
            2_652_000,
            "rpc-1",
            "submitted",
            "rpc-1 is cut off".to_owned(),
        ),
        (
            2_900_000,
            "client-1",
            "status",
            "asked again: no answer".to_owned(),
        ),
        (
            2_950_000,
            "client-1",
            "gave-up",
            "no answer in 250ms".to_owned(),
        ),
    ];
    life(GAVE_UP, 1, "req-1-980".to_owned(), steps)
}
