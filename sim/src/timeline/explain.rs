//! The life of one transfer as plain text, one line per step: for people
//! who would rather read, and for bug reports.

use std::fmt::Write;

use super::model::{Timeline, TransferLife};

/// Which transfer to tell of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Explained {
    /// The transfer with this id (`tr-` and 16 hex digits).
    Transfer(String),
    /// The first transfer the first violation names: the violation a
    /// pinned scenario expects (what the file is about) before the others,
    /// each in time order.
    Violation,
}

/// The life of the transfer `which` picks, or why there is none.
pub fn explain(timeline: &Timeline, which: &Explained) -> Result<String, String> {
    let (life, why) = match which {
        Explained::Transfer(id) => {
            let life = find(timeline, id).ok_or_else(|| {
                format!(
                    "no transfer {id} in this run ({} transfers; ids look like tr-9173aee43e87c6f9)",
                    timeline.transfers.len()
                )
            })?;
            (life, None)
        }
        Explained::Violation => {
            let mut violations: Vec<_> = timeline.violations.iter().collect();
            violations.sort_by_key(|violation| (!violation.expected, violation.at_us));
            let violation = *violations
                .first()
                .ok_or("this run has no violation to start from")?;
            let life = violations
                .iter()
                .flat_map(|violation| &violation.transfers)
                .find_map(|id| find(timeline, id))
                .ok_or_else(|| {
                    format!(
                        "no violation of this run names a transfer (first: {} at {:.3}s: {})",
                        violation.checker,
                        violation.at_us as f64 / 1e6,
                        violation.message
                    )
                })?;
            (life, Some(violation))
        }
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "transfer {} (client {}, request {:?}) in {} (seed {})",
        life.id, life.client, life.request_id, timeline.scenario, timeline.seed
    );
    if let Some(violation) = why {
        let _ = writeln!(
            out,
            "violation {}{} at {:.3}s: {}",
            violation.checker,
            if violation.expected {
                " (expected)"
            } else {
                ""
            },
            violation.at_us as f64 / 1e6,
            violation.message
        );
    }
    let width = life
        .steps
        .iter()
        .map(|step| step.node.len())
        .max()
        .unwrap_or(0);
    for step in &life.steps {
        let _ = writeln!(
            out,
            "{:>9.3}s  {:<width$}  {:<12}  {}",
            step.at_us as f64 / 1e6,
            step.node,
            step.kind,
            step.what
        );
    }
    for violation in timeline
        .violations
        .iter()
        .filter(|violation| violation.transfers.contains(&life.id))
    {
        let _ = writeln!(
            out,
            "{:>9.3}s  {:<width$}  {:<12}  {}{}: {}",
            violation.at_us as f64 / 1e6,
            "checks",
            "violation",
            violation.checker,
            if violation.expected {
                " (expected)"
            } else {
                ""
            },
            violation.message
        );
    }
    Ok(out)
}

fn find<'a>(timeline: &'a Timeline, id: &str) -> Option<&'a TransferLife> {
    timeline.transfers.iter().find(|life| life.id == id)
}
