//! `projection`, across lost disks: every write of the projection and of
//! the payout claims is fenced by a compare-and-set on the version it read,
//! and a row's version is the number of the commit that wrote it. The fence
//! holds across a lost disk only while no disk numbers a commit as an
//! earlier disk did: a version read before the loss must never name a row
//! written after. So every commit of a disk comes after every commit of the
//! disks lost before it. Read from the synced disks with the database's
//! own recovery: each lost disk just before it was erased, the last one at
//! the end of the run.

use ledger::bugs::Checker;

use super::Facts;
use crate::check::{LostDisk, Violation};

const CHECKER: Checker = Checker::Projection;

pub(super) fn check(facts: &Facts<'_>) -> Vec<Violation> {
    let truth = facts.truth;
    reused(truth.lost_disks, truth.db.commit_range())
        .into_iter()
        .map(|reuse| {
            let (at, which) = match reuse.later {
                Some(lost) => (lost.at, format!("the disk lost at {:.3}s", lost.at.as_secs_f64())),
                None => (truth.end, "the disk the run ended on".to_owned()),
            };
            let (first, top) = reuse.numbered;
            facts.violation_at(
                CHECKER,
                at,
                format!(
                    "the disk of {} lost at {:.3}s held commits {} to {}, but {which} numbered its commits {first} to {top}: a version read before the loss can name a row written after it, and a stale compare-and-set then passes",
                    reuse.earlier.node,
                    reuse.earlier.at.as_secs_f64(),
                    reuse.earlier_commits.0,
                    reuse.earlier_commits.1,
                ),
            )
        })
        .collect()
}

/// A disk that numbered a commit at or below one of an earlier lost disk.
#[derive(Debug, PartialEq, Eq)]
struct Reuse<'a> {
    /// The lost disk with the highest commit before it.
    earlier: &'a LostDisk,
    earlier_commits: (u64, u64),
    /// The disk that reused its numbers: a later lost one, or `None` for
    /// the disk the run ended on.
    later: Option<&'a LostDisk>,
    numbered: (u64, u64),
}

/// Every disk, in order (the `lost` ones, then the one the run ended on,
/// holding `last`), whose first commit is not past the highest commit of
/// the disks lost before it. A disk that held no commit numbers nothing.
fn reused(lost: &[LostDisk], last: Option<(u64, u64)>) -> Vec<Reuse<'_>> {
    let disks = lost
        .iter()
        .map(|disk| (disk.commits, Some(disk)))
        .chain(std::iter::once((last, None)));
    let mut highest: Option<(&LostDisk, (u64, u64))> = None;
    let mut found = Vec::new();
    for (commits, later) in disks {
        let Some((first, top)) = commits else {
            continue;
        };
        if let Some((earlier, earlier_commits)) = highest
            && first <= earlier_commits.1
        {
            found.push(Reuse {
                earlier,
                earlier_commits,
                later,
                numbered: (first, top),
            });
        }
        if let Some(disk) = later
            && highest.is_none_or(|(_, (_, earlier_top))| top > earlier_top)
        {
            highest = Some((disk, (first, top)));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn lost(at_secs: u64, commits: Option<(u64, u64)>) -> LostDisk {
        LostDisk {
            node: "db".to_owned(),
            at: Duration::from_secs(at_secs),
            commits,
        }
    }

    const DISK: u64 = 1 << 32;

    /// Each fresh disk numbers past every commit of the disks before it, as
    /// the database does: nothing is reused, however many disks are lost,
    /// and a disk lost before its first commit counts for nothing.
    #[test]
    fn disks_numbered_past_each_other_pass() {
        let disks = [
            lost(5, Some((1, 40))),
            lost(9, None),
            lost(12, Some((3 * DISK + 1, 3 * DISK + 8))),
        ];
        assert_eq!(reused(&disks, Some((5 * DISK + 1, 5 * DISK + 30))), []);
        assert_eq!(reused(&disks, None), []);
        assert_eq!(reused(&[], Some((1, 90))), []);
    }

    /// A disk that numbers from 1 again reuses its predecessor's versions,
    /// whether it is lost in turn or the one the run ends on; each reuse
    /// names the disk lost before with the highest commit.
    #[test]
    fn a_disk_that_numbers_again_from_1_is_found() {
        let disks = [lost(5, Some((1, 40))), lost(12, Some((1, 8)))];
        let found = reused(&disks, Some((1, 3)));
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].later, Some(&disks[1]));
        assert_eq!(found[0].numbered, (1, 8));
        assert_eq!(found[1].earlier, &disks[0]);
        assert_eq!(found[1].later, None);
        assert_eq!(found[1].numbered, (1, 3));
    }

    /// Numbers that start past a lost disk's first commit but not past its
    /// last still collide.
    #[test]
    fn numbers_inside_an_earlier_disk_range_are_found() {
        let disks = [lost(5, Some((DISK + 1, DISK + 500)))];
        let found = reused(&disks, Some((DISK + 300, DISK + 320)));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].earlier_commits, (DISK + 1, DISK + 500));
        assert_eq!(reused(&disks, Some((DISK + 501, DISK + 502))), []);
    }
}
