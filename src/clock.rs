//! A node's clocks: a wall clock that can be wrong and jump, and a monotonic
//! clock that drifts but never jumps.
//!
//! Both are derived from madsim's simulated time. The harness owns each node's
//! [`ClockSkew`] and changes it during a run (offset, drift, jumps); the node
//! only reads. Timeouts and retries use [`Clock::mono_now`]; only values shared
//! between nodes (lease expiry) use [`Clock::wall_now`].

use std::{
    future::Future,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

/// Simulated wall time at the start of every run: 2026-01-01T00:00:00Z, so
/// that wall-clock values in traces are stable and readable.
pub const WALL_EPOCH_NANOS: u64 = 1_767_225_600_000_000_000;

/// How one node's clock deviates from true time. Shared between the node and
/// the harness that skews it.
#[derive(Debug, Default)]
pub struct ClockSkew {
    state: Mutex<SkewState>,
}

#[derive(Debug, Default, Clone, Copy)]
struct SkewState {
    /// Wall-clock offset from true time, in nanoseconds (may be negative).
    offset_nanos: i64,
    /// Rate error in parts per million: +1000 runs 0.1% fast.
    drift_ppm: i64,
    /// Drift accumulated up to `rebased_at_nanos`, so that changing the rate
    /// never makes the monotonic clock jump.
    drift_accumulated_nanos: i64,
    /// True elapsed time at which `drift_ppm` last changed.
    rebased_at_nanos: u64,
}

impl SkewState {
    fn drift_nanos(&self, true_nanos: u64) -> i64 {
        let since = true_nanos.saturating_sub(self.rebased_at_nanos) as i128;
        self.drift_accumulated_nanos + (since * self.drift_ppm as i128 / 1_000_000) as i64
    }
}

impl ClockSkew {
    pub fn new() -> Arc<ClockSkew> {
        Arc::new(ClockSkew::default())
    }

    /// Sets the wall-clock offset from true time.
    pub fn set_offset(&self, offset_nanos: i64) {
        self.lock().offset_nanos = offset_nanos;
    }

    /// Moves the wall clock by `jump_nanos` (forward or back).
    pub fn jump(&self, jump_nanos: i64) {
        let mut state = self.lock();
        state.offset_nanos = state.offset_nanos.saturating_add(jump_nanos);
    }

    /// Sets the rate error; the monotonic clock continues from where it is.
    pub fn set_drift_ppm(&self, drift_ppm: i64) {
        let now = true_elapsed_nanos();
        let mut state = self.lock();
        state.drift_accumulated_nanos = state.drift_nanos(now);
        state.rebased_at_nanos = now;
        state.drift_ppm = drift_ppm;
    }

    /// The current offset and drift, for reports.
    pub fn offset_and_drift(&self) -> (i64, i64) {
        let state = self.lock();
        (state.offset_nanos, state.drift_ppm)
    }

    fn snapshot(&self) -> SkewState {
        *self.lock()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SkewState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A node's view of time.
#[derive(Clone, Debug)]
pub struct Clock {
    skew: Arc<ClockSkew>,
}

impl Clock {
    pub fn new(skew: Arc<ClockSkew>) -> Clock {
        Clock { skew }
    }

    /// Monotonic time since the run began, as this node's drifting oscillator
    /// counts it. Never goes backwards, whatever the harness does.
    pub fn mono_now(&self) -> Duration {
        let true_nanos = true_elapsed_nanos();
        let drift = self.skew.snapshot().drift_nanos(true_nanos);
        Duration::from_nanos(true_nanos.saturating_add_signed(drift))
    }

    /// Wall-clock time in nanoseconds since the Unix epoch, as this node
    /// believes it: true time plus offset plus drift. It may jump either way.
    pub fn wall_now(&self) -> u64 {
        let true_nanos = true_elapsed_nanos();
        let skew = self.skew.snapshot();
        (WALL_EPOCH_NANOS + true_nanos)
            .saturating_add_signed(skew.offset_nanos)
            .saturating_add_signed(skew.drift_nanos(true_nanos))
    }

    /// Sleeps for `duration` as measured by this node's monotonic clock.
    pub async fn sleep(&self, duration: Duration) {
        madsim::time::sleep(self.to_true(duration)).await;
    }

    /// Runs `future` with a deadline of `duration` on this node's monotonic
    /// clock; `None` when the deadline passed first.
    pub async fn timeout<F: Future>(&self, duration: Duration, future: F) -> Option<F::Output> {
        madsim::time::timeout(self.to_true(duration), future)
            .await
            .ok()
    }

    /// Converts a duration on this node's oscillator into true time.
    fn to_true(&self, duration: Duration) -> Duration {
        let drift_ppm = self.skew.snapshot().drift_ppm;
        let nanos =
            duration.as_nanos() as i128 * 1_000_000 / (1_000_000 + drift_ppm as i128).max(1);
        Duration::from_nanos(nanos.clamp(0, u64::MAX as i128) as u64)
    }
}

/// True simulated time since the run began.
fn true_elapsed_nanos() -> u64 {
    madsim::time::TimeHandle::current().elapsed().as_nanos() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_sim<F: Future<Output = ()> + 'static>(f: impl FnOnce() -> F) {
        let runtime = madsim::runtime::Runtime::new();
        runtime.block_on(f());
    }

    #[test]
    fn wall_clock_jumps_but_monotonic_clock_does_not() {
        in_sim(|| async {
            let skew = ClockSkew::new();
            let clock = Clock::new(skew.clone());
            madsim::time::sleep(Duration::from_secs(1)).await;
            let (wall, mono) = (clock.wall_now(), clock.mono_now());
            skew.jump(-5_000_000_000);
            assert!(clock.wall_now() < wall - 4_000_000_000);
            assert!(clock.mono_now() >= mono);
        });
    }

    #[test]
    fn drift_changes_the_rate_without_a_jump() {
        in_sim(|| async {
            let skew = ClockSkew::new();
            let clock = Clock::new(skew.clone());
            madsim::time::sleep(Duration::from_secs(10)).await;
            let before = clock.mono_now();
            skew.set_drift_ppm(100_000); // 10% fast
            let after = clock.mono_now();
            assert!(after >= before && after - before < Duration::from_millis(1));
            madsim::time::sleep(Duration::from_secs(10)).await;
            let gained = clock.mono_now() - after;
            assert!(gained > Duration::from_millis(10_990), "{gained:?}");
            assert!(gained < Duration::from_millis(11_010), "{gained:?}");
        });
    }

    #[test]
    fn a_fast_clock_sleeps_less_true_time() {
        in_sim(|| async {
            let skew = ClockSkew::new();
            skew.set_drift_ppm(1_000_000); // twice as fast
            let clock = Clock::new(skew);
            let time = madsim::time::TimeHandle::current();
            let start = time.elapsed();
            clock.sleep(Duration::from_secs(2)).await;
            let slept = time.elapsed() - start;
            assert!(slept >= Duration::from_millis(999) && slept < Duration::from_millis(1010));
        });
    }
}
