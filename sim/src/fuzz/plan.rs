//! Which seeds a fuzz run takes: a half-open range, open-ended under a
//! time budget, and a strided shard of it, so that shards balance and
//! together cover the range exactly once.

use std::{fmt, str::FromStr};

/// `A..B`, or `A..` (open-ended, for runs bounded by a budget).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedRange {
    pub start: u64,
    pub end: Option<u64>,
}

impl FromStr for SeedRange {
    type Err = String;

    fn from_str(text: &str) -> Result<SeedRange, String> {
        let expected =
            || format!("expected a seed range A..B with A < B, or A.. with --budget; got `{text}`");
        let (start, end) = text.split_once("..").ok_or_else(expected)?;
        let start: u64 = start.trim().parse().map_err(|_| expected())?;
        let end = match end.trim() {
            "" => None,
            end => Some(end.parse::<u64>().map_err(|_| expected())?),
        };
        if end.is_some_and(|end| start >= end) {
            return Err(expected());
        }
        Ok(SeedRange { start, end })
    }
}

impl fmt::Display for SeedRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.end {
            Some(end) => write!(f, "{}..{end}", self.start),
            None => write!(f, "{}..", self.start),
        }
    }
}

/// Shard `index` of `count` (1-based): the seeds s with s mod count =
/// index − 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// The whole range, unsharded.
    pub const ALL: Shard = Shard { index: 1, count: 1 };
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Shard, String> {
        let expected = || format!("expected I/N with 1 <= I <= N, got `{text}`");
        let (index, count) = text.split_once('/').ok_or_else(expected)?;
        let index: u64 = index.trim().parse().map_err(|_| expected())?;
        let count: u64 = count.trim().parse().map_err(|_| expected())?;
        if index == 0 || index > count {
            return Err(expected());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The seeds of `range` in `shard`, in increasing order.
pub fn seeds(range: SeedRange, shard: Shard) -> impl Iterator<Item = u64> + Send {
    let (first, end) = bounds(range, shard);
    let step = usize::try_from(shard.count).unwrap_or(usize::MAX);
    (first..end).step_by(step)
}

/// How many seeds `range` holds in `shard`, when it is bounded: counted,
/// not enumerated, so a huge range answers at once.
pub fn count(range: SeedRange, shard: Shard) -> Option<u64> {
    range.end?;
    let (first, end) = bounds(range, shard);
    Some(match end.checked_sub(first) {
        None | Some(0) => 0,
        Some(span) => (span - 1) / shard.count + 1,
    })
}

/// The first seed of `range` in `shard` and the end of the range.
fn bounds(range: SeedRange, shard: Shard) -> (u64, u64) {
    // In 128 bits: `residue + count` overflows 64 for a huge `count`.
    let (residue, count) = (u128::from(shard.index - 1), u128::from(shard.count));
    let offset = (residue + count - u128::from(range.start) % count) % count;
    let end = range.end.unwrap_or(u64::MAX);
    let first = (u128::from(range.start) + offset).min(u128::from(end));
    (u64::try_from(first).unwrap_or(end), end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(text: &str) -> SeedRange {
        text.parse().unwrap()
    }

    #[test]
    fn shards_are_strided_and_cover_the_range_once() {
        let all: Vec<u64> = seeds(range("3..20"), Shard::ALL).collect();
        let mut covered: Vec<u64> = (1..=3)
            .flat_map(|index| seeds(range("3..20"), Shard { index, count: 3 }))
            .collect();
        covered.sort_unstable();
        assert_eq!(covered, all);
        let second: Vec<u64> = seeds(range("3..20"), "2/3".parse().unwrap()).collect();
        assert_eq!(second, vec![4, 7, 10, 13, 16, 19]);
        assert_eq!(count(range("3..20"), "2/3".parse().unwrap()), Some(6));
    }

    #[test]
    fn open_ranges_run_on() {
        let open = range("10..");
        assert_eq!(open.end, None);
        assert_eq!(count(open, Shard::ALL), None);
        let first: Vec<u64> = seeds(open, "1/2".parse().unwrap()).take(3).collect();
        assert_eq!(first, vec![10, 12, 14]);
    }

    /// Shard arithmetic never wraps: with a count near `u64::MAX`, each
    /// shard still takes exactly its residue.
    #[test]
    fn huge_shard_counts_do_not_overlap() {
        let huge = u64::MAX - 1;
        let ten = range("0..10");
        let taken: Vec<Vec<u64>> = [1, 2, 10, huge]
            .iter()
            .map(|index| {
                seeds(
                    ten,
                    Shard {
                        index: *index,
                        count: huge,
                    },
                )
                .collect()
            })
            .collect();
        assert_eq!(taken, vec![vec![0], vec![1], vec![9], vec![]]);
        let late = SeedRange {
            start: u64::MAX - 3,
            end: None,
        };
        let last: Vec<u64> = seeds(
            late,
            Shard {
                index: huge,
                count: huge,
            },
        )
        .collect();
        assert_eq!(last, vec![u64::MAX - 2]);
        let all = range("0..18446744073709551615");
        assert_eq!(
            count(all, Shard { index: 1, count: 2 }),
            Some(u64::MAX / 2 + 1)
        );
        assert_eq!(
            count(
                all,
                Shard {
                    index: 3,
                    count: huge
                }
            ),
            Some(1)
        );
    }

    #[test]
    fn bad_ranges_and_shards_say_what_was_expected() {
        for bad in ["5..5", "7..2", "x..3", "3"] {
            let error = bad.parse::<SeedRange>().unwrap_err();
            assert!(error.contains("expected a seed range"), "{error}");
        }
        for bad in ["0/2", "3/2", "1", "a/b"] {
            let error = bad.parse::<Shard>().unwrap_err();
            assert!(error.starts_with("expected I/N"), "{error}");
        }
    }
}
