//! A one-line progress bar for long runs, drawn on stderr by the command
//! line only when stderr is a terminal.

use std::time::{Duration, Instant};

/// Seeds done out of a planned count or a time budget.
pub struct Progress {
    total: Option<u64>,
    budget: Option<Duration>,
    started: Instant,
    done: u64,
    failed: u64,
}

impl Progress {
    /// Progress towards `total` seeds, or through `budget` of wall time.
    pub fn new(total: Option<u64>, budget: Option<Duration>) -> Progress {
        // Wall time for people, outside every simulation.
        #[allow(clippy::disallowed_methods)]
        let started = Instant::now();
        Progress {
            total,
            budget,
            started,
            done: 0,
            failed: 0,
        }
    }

    /// Counts one seed.
    pub fn seed(&mut self, failed: bool) {
        self.done += 1;
        self.failed += u64::from(failed);
    }

    /// The bar as it stands: seeds done, failures, seeds/s and ETA.
    pub fn line(&self) -> String {
        let elapsed = self.started.elapsed();
        let rate = self.done as f64 / elapsed.as_secs_f64().max(1e-3);
        let (fraction, eta) = match (self.total, self.budget) {
            (Some(total), budget) => {
                let left = total.saturating_sub(self.done) as f64 / rate.max(1e-9);
                let by_budget = budget.map(|budget| budget.saturating_sub(elapsed).as_secs_f64());
                let eta = by_budget.map_or(left, |by_budget| left.min(by_budget));
                (self.done as f64 / total.max(1) as f64, eta)
            }
            (None, Some(budget)) => (
                elapsed.as_secs_f64() / budget.as_secs_f64().max(1e-9),
                budget.saturating_sub(elapsed).as_secs_f64(),
            ),
            (None, None) => (0.0, 0.0),
        };
        let width = 24;
        let filled = ((fraction.clamp(0.0, 1.0)) * width as f64) as usize;
        let of = self
            .total
            .map_or(String::new(), |total| format!("/{total}"));
        format!(
            "[{}{}] {}{of} seeds, {} failed, {rate:.1} seeds/s, ETA {}",
            "#".repeat(filled),
            ".".repeat(width - filled),
            self.done,
            self.failed,
            clock(eta)
        )
    }
}

/// Seconds as m:ss.
fn clock(seconds: f64) -> String {
    let seconds = seconds.max(0.0).round() as u64;
    format!("{}:{:02}", seconds / 60, seconds % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_shows_seeds_failures_rate_and_eta() {
        let mut progress = Progress::new(Some(10), None);
        for failed in [false, true, false] {
            progress.seed(failed);
        }
        let line = progress.line();
        assert!(line.starts_with("[#######"), "{line}");
        assert!(line.contains("3/10 seeds, 1 failed"), "{line}");
        assert!(line.contains("seeds/s, ETA "), "{line}");
        assert_eq!(clock(75.4), "1:15");
    }
}
