//! The fuzz progress bar, drawn on stderr only when stderr is a terminal.
//! Result lines go through [`Progress::suspend`], which clears the bar while
//! they print, so a failure line never lands in the middle of it.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::time::Duration;

use crate::words::{count, noun_for};

/// Seeds done out of a planned count, or through a time budget.
pub struct Progress {
    bar: ProgressBar,
    /// Without a count the bar measures the budget, in seconds.
    budget: Option<Duration>,
    counted: bool,
    done: u64,
    failed: u64,
}

impl Progress {
    /// Progress towards `total` seeds, or through `budget` of wall time.
    pub fn new(total: Option<u64>, budget: Option<Duration>) -> Progress {
        Progress::with_target(total, budget, ProgressDrawTarget::stderr())
    }

    fn with_target(
        total: Option<u64>,
        budget: Option<Duration>,
        target: ProgressDrawTarget,
    ) -> Progress {
        let (length, template) = match (total, budget) {
            (Some(total), _) => (
                total,
                format!(
                    "[{{bar:24}}] {{pos}}/{{len}} {}, {{msg}}, {{per_sec}}, ETA {{eta}}",
                    noun_for(total, "seed")
                ),
            ),
            (None, Some(budget)) => (
                budget.as_secs().max(1),
                "[{bar:24}] {msg}, {elapsed} of the budget".to_owned(),
            ),
            (None, None) => (0, "{msg}".to_owned()),
        };
        let style = ProgressStyle::with_template(&template)
            .expect("a valid template")
            .progress_chars("#>.");
        let bar = ProgressBar::with_draw_target(Some(length), target).with_style(style);
        let progress = Progress {
            bar,
            budget: budget.filter(|_| total.is_none()),
            counted: total.is_some(),
            done: 0,
            failed: 0,
        };
        progress.bar.set_message(progress.message());
        progress
    }

    /// Counts one seed.
    pub fn seed(&mut self, failed: bool) {
        self.done += 1;
        self.failed += u64::from(failed);
        self.bar.set_message(self.message());
        if self.counted {
            self.bar.inc(1);
        } else if self.budget.is_some() {
            self.bar.set_position(self.bar.elapsed().as_secs());
        }
    }

    /// Runs `print` with the bar cleared, then draws it again.
    pub fn suspend<R>(&self, print: impl FnOnce() -> R) -> R {
        self.bar.suspend(print)
    }

    /// Clears the bar for good.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }

    fn message(&self) -> String {
        let seeds = if self.counted {
            String::new()
        } else {
            format!("{}, ", count(self.done, "seed"))
        };
        format!("{seeds}{} failed", self.failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_counts_seeds_and_failures() {
        let mut progress = Progress::with_target(Some(10), None, ProgressDrawTarget::hidden());
        for failed in [false, true, false] {
            progress.seed(failed);
        }
        assert_eq!(progress.bar.position(), 3);
        assert_eq!(progress.bar.length(), Some(10));
        assert_eq!(progress.bar.message(), "1 failed");
    }

    #[test]
    fn without_a_count_the_bar_measures_the_budget() {
        let mut progress = Progress::with_target(
            None,
            Some(Duration::from_secs(600)),
            ProgressDrawTarget::hidden(),
        );
        progress.seed(true);
        assert_eq!(progress.bar.length(), Some(600));
        assert_eq!(progress.bar.message(), "1 seed, 1 failed");
        progress.seed(false);
        assert_eq!(progress.bar.message(), "2 seeds, 1 failed");
    }
}
