//! Durations as scenario files write them: `250us`, `250ms`, `3s`, `2m`,
//! `1h`;
//! ranges `150ms..300ms`; signed offsets `+3s`, `-1s`.

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};
use std::{fmt, ops::Range, str::FromStr, time::Duration};

/// A duration written with a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Dur(pub Duration);

/// A half-open range of durations, `150ms..300ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DurRange {
    pub start: Dur,
    pub end: Dur,
}

/// A signed duration, `+3s` or `-1s`, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignedDur(pub i64);

const UNITS: [(&str, u64); 5] = [
    ("us", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

const EXPECTED: &str = "a duration such as `250us`, `250ms`, `3s`, `2m` or `1h`";

impl FromStr for Dur {
    type Err = String;

    fn from_str(text: &str) -> Result<Dur, String> {
        let text = text.trim();
        let digits = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(digits);
        let scale = UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, scale)| *scale);
        match (number.parse::<u64>(), scale) {
            (Ok(number), Some(scale)) => number
                .checked_mul(scale)
                .map(|nanos| Dur(Duration::from_nanos(nanos)))
                .ok_or_else(|| format!("expected {EXPECTED}, got `{text}` (too long)")),
            _ => Err(format!("expected {EXPECTED}, got `{text}`")),
        }
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0.as_nanos() as u64;
        if nanos == 0 {
            return f.write_str("0s");
        }
        let (name, scale) = UNITS
            .iter()
            .rev()
            .find(|(_, scale)| nanos.is_multiple_of(*scale))
            .copied()
            .unwrap_or(("us", 1_000));
        write!(f, "{}{name}", nanos / scale)
    }
}

impl FromStr for DurRange {
    type Err = String;

    fn from_str(text: &str) -> Result<DurRange, String> {
        let expected = "a range of durations such as `150ms..300ms`";
        let (start, end) = text
            .split_once("..")
            .ok_or_else(|| format!("expected {expected}, got `{text}`"))?;
        let (start, end) = (start.parse::<Dur>()?, end.parse::<Dur>()?);
        if start > end {
            return Err(format!(
                "expected {expected} with start ≤ end, got `{text}`"
            ));
        }
        Ok(DurRange { start, end })
    }
}

impl fmt::Display for DurRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

impl DurRange {
    pub fn range(&self) -> Range<Duration> {
        self.start.0..self.end.0
    }
}

impl FromStr for SignedDur {
    type Err = String;

    fn from_str(text: &str) -> Result<SignedDur, String> {
        let (negative, rest) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let magnitude = rest.parse::<Dur>().map_err(|_| {
            format!("expected a signed duration such as `+3s` or `-250ms`, got `{text}`")
        })?;
        let nanos = i64::try_from(magnitude.0.as_nanos())
            .map_err(|_| format!("expected a signed duration within ±290 years, got `{text}`"))?;
        Ok(SignedDur(if negative { -nanos } else { nanos }))
    }
}

impl fmt::Display for SignedDur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { '-' } else { '+' };
        write!(
            f,
            "{sign}{}",
            Dur(Duration::from_nanos(self.0.unsigned_abs()))
        )
    }
}

macro_rules! string_serde {
    ($type:ty) => {
        impl Serialize for $type {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $type {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(de::Error::custom)
            }
        }
    };
}

string_serde!(Dur);
string_serde!(DurRange);
string_serde!(SignedDur);

/// Shorthand for a duration in milliseconds.
pub fn ms(millis: u64) -> Dur {
    Dur(Duration::from_millis(millis))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_each_unit() {
        for (text, nanos) in [
            ("250us", 250_000),
            ("250ms", 250_000_000),
            ("3s", 3_000_000_000),
            ("2m", 120_000_000_000),
            ("1h", 3_600_000_000_000),
            ("0s", 0),
        ] {
            assert_eq!(
                text.parse::<Dur>(),
                Ok(Dur(Duration::from_nanos(nanos))),
                "{text}"
            );
        }
    }

    #[test]
    fn rejects_what_is_not_a_duration() {
        for text in [
            "",
            "3",
            "s",
            "3 h",
            "3d",
            "-3s",
            "1.5s",
            "99999999999999999999s",
        ] {
            let error = text.parse::<Dur>().unwrap_err();
            assert!(error.starts_with("expected a duration"), "{text}: {error}");
        }
        assert!("300ms..150ms".parse::<DurRange>().is_err());
        assert!("150ms".parse::<DurRange>().is_err());
    }

    #[test]
    fn signed_durations_keep_their_sign() {
        assert_eq!("+3s".parse::<SignedDur>(), Ok(SignedDur(3_000_000_000)));
        assert_eq!("-250ms".parse::<SignedDur>(), Ok(SignedDur(-250_000_000)));
        assert_eq!("1s".parse::<SignedDur>(), Ok(SignedDur(1_000_000_000)));
        assert_eq!(SignedDur(-250_000_000).to_string(), "-250ms");
    }

    proptest! {
        #[test]
        fn display_round_trips(micros in 0u64..10_000_000_000) {
            let dur = Dur(Duration::from_micros(micros));
            prop_assert_eq!(dur.to_string().parse::<Dur>(), Ok(dur));
        }
    }
}
