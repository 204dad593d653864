//! The bounds shared by every rule a scenario must respect, and the error
//! each broken rule gives: the file's validation (`crate::validate`) and
//! each scheduled fault's own rules (`crate::actions`) use them.

use std::time::Duration;

use super::{Dur, Invalid};

/// The longest phase, timeout or interval a scenario may set.
pub(crate) const MAX_PHASE: Duration = Duration::from_secs(3600);

/// Blocks a run may make at most (`(duration + settle) / block_time`).
pub(crate) const MAX_BLOCKS: u32 = 100_000;

/// A broken rule at `key`.
pub(crate) fn invalid<T>(key: impl Into<String>, message: impl Into<String>) -> Result<T, Invalid> {
    Err(Invalid {
        key: key.into(),
        message: message.into(),
    })
}

/// `value` must lie in `low..=high`.
pub(crate) fn within(
    key: &str,
    value: Duration,
    low: Duration,
    high: Duration,
) -> Result<(), Invalid> {
    if value < low || value > high {
        return invalid(
            key,
            format!(
                "expected a duration from {} to {}, got {}",
                Dur(low),
                Dur(high),
                Dur(value)
            ),
        );
    }
    Ok(())
}

/// `value` must be a probability.
pub(crate) fn probability(key: &str, value: f64) -> Result<(), Invalid> {
    if !(0.0..=1.0).contains(&value) {
        return invalid(
            key,
            format!("expected a probability from 0 to 1, got {value}"),
        );
    }
    Ok(())
}
