//! Colour in what `sim` prints, as `--color` asks: `auto` colours a stream
//! only when it is a terminal and `NO_COLOR` is unset (no-color.org), so a
//! log redirected to a file or a summary piped to a script stays plain text.

use std::io::IsTerminal;

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Color {
    /// Colour a stream that is a terminal, unless NO_COLOR is set.
    #[default]
    Auto,
    Always,
    Never,
}

impl Color {
    /// Whether the output on stdout gets colour.
    pub fn stdout(self) -> bool {
        self.on(std::io::stdout().is_terminal())
    }

    /// Whether the output on stderr (logs) gets colour.
    pub fn stderr(self) -> bool {
        self.on(std::io::stderr().is_terminal())
    }

    fn on(self, terminal: bool) -> bool {
        match self {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => terminal && std::env::var_os("NO_COLOR").is_none_or(|no| no.is_empty()),
        }
    }
}

const GREEN: &str = "\x1b[32m";
const RED: &str = "\x1b[31m";
const BOLD_GREEN: &str = "\x1b[1;32m";
const BOLD_RED: &str = "\x1b[1;31m";
const RESET: &str = "\x1b[0m";

/// A run's summary (`report::summary`) in colour: each check's ✓ green and
/// ✗ red, the verdict's PASS green and FAIL red. It paints the plain text
/// afterwards, so the summary itself (what snapshots hold) never changes.
pub fn paint_summary(summary: &str) -> String {
    summary
        .split_inclusive('\n')
        .map(|line| {
            let (mark, word) = if line.starts_with("  ✓ ") {
                (Some(("✓", GREEN)), None)
            } else if line.starts_with("  ✗ ") {
                (Some(("✗", RED)), None)
            } else if line.starts_with("verdict ") {
                let word =
                    [("PASS", BOLD_GREEN), ("FAIL", BOLD_RED)]
                        .into_iter()
                        .find(|(word, _)| {
                            line.trim_start_matches("verdict")
                                .trim_start()
                                .starts_with(word)
                        });
                (None, word)
            } else {
                (None, None)
            };
            match mark.or(word) {
                Some((text, colour)) => line.replacen(text, &format!("{colour}{text}{RESET}"), 1),
                None => line.to_owned(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUMMARY: &str = "scenario   t\nchecks\n  ✓ raft-safety\n  ✗ liveness at 1.000s: stuck\nverdict    FAIL (liveness failure; exit 3)\n";

    #[test]
    fn checks_and_the_verdict_are_painted_and_nothing_else() {
        let painted = paint_summary(SUMMARY);
        assert_eq!(
            painted,
            "scenario   t\nchecks\n  \x1b[32m✓\x1b[0m raft-safety\n  \x1b[31m✗\x1b[0m liveness at 1.000s: stuck\nverdict    \x1b[1;31mFAIL\x1b[0m (liveness failure; exit 3)\n"
        );
        let pass = paint_summary("verdict    PASS (the expected FAIL)\n");
        assert_eq!(
            pass,
            "verdict    \x1b[1;32mPASS\x1b[0m (the expected FAIL)\n"
        );
    }

    #[test]
    fn always_and_never_ignore_the_terminal() {
        assert!(Color::Always.on(false));
        assert!(!Color::Never.on(true));
        assert!(!Color::Auto.on(false));
    }
}
