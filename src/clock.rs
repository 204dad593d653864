//! A node's clocks: a wall clock that can be wrong and jump, and a monotonic
//! clock that drifts but never jumps.
//!
//! Both are derived from madsim's simulated time. The harness owns each node's
//! [`ClockSkew`] and changes it during a run (offset, drift, jumps); the node
//! only reads. Timeouts and retries use [`Clock::mono_now`]; only values shared
//! between nodes (lease expiry) use [`Clock::wall_now`].

use std::{
    future::Future,
    pin::{Pin, pin},
    sync::{Arc, Mutex, OnceLock, PoisonError},
    task::{Context, Poll, Waker},
    time::{Duration, Instant},
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
        let since = true_nanos.saturating_sub(self.rebased_at_nanos);
        // Every clock read comes here, several per message. The product
        // fits in 64 bits for any run a file may ask for (an hour at the
        // largest drift is 3.6e17), and a 128-bit division is a call into
        // the compiler's runtime: take it only when the product overflows.
        let drift = match i64::try_from(since)
            .ok()
            .and_then(|since| since.checked_mul(self.drift_ppm))
        {
            Some(product) => product / 1_000_000,
            None => (i128::from(since) * i128::from(self.drift_ppm) / 1_000_000) as i64,
        };
        self.drift_accumulated_nanos + drift
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

/// True simulated time, read through madsim's time handle taken on first
/// use and kept: looking the handle up costs a thread-local borrow and two
/// reference-count round trips, on a read made several times per message.
/// A holder lives inside one runtime; madsim has one time source per run.
#[derive(Clone, Default)]
pub struct SimTime(OnceLock<madsim::time::TimeHandle>);

impl SimTime {
    fn handle(&self) -> &madsim::time::TimeHandle {
        self.0.get_or_init(madsim::time::TimeHandle::current)
    }

    /// Simulated time since the run began.
    pub fn elapsed(&self) -> Duration {
        self.handle().elapsed()
    }

    /// The current simulated instant.
    pub fn now_instant(&self) -> Instant {
        self.handle().now_instant()
    }

    /// A sleep until `deadline` (madsim sleeps at least a millisecond).
    pub fn sleep_until(&self, deadline: Instant) -> madsim::time::Sleep {
        self.handle().sleep_until(deadline)
    }
}

impl std::fmt::Debug for SimTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SimTime")
    }
}

/// A node's view of time.
#[derive(Clone, Debug)]
pub struct Clock {
    skew: Arc<ClockSkew>,
    time: SimTime,
}

impl Clock {
    pub fn new(skew: Arc<ClockSkew>) -> Clock {
        Clock {
            skew,
            time: SimTime::default(),
        }
    }

    /// Monotonic time since the run began, as this node's drifting oscillator
    /// counts it. Never goes backwards, whatever the harness does.
    pub fn mono_now(&self) -> Duration {
        let true_nanos = self.time.elapsed().as_nanos() as u64;
        let drift = self.skew.snapshot().drift_nanos(true_nanos);
        Duration::from_nanos(true_nanos.saturating_add_signed(drift))
    }

    /// Wall-clock time in nanoseconds since the Unix epoch, as this node
    /// believes it: true time plus offset plus drift. It may jump either way.
    pub fn wall_now(&self) -> u64 {
        let true_nanos = self.time.elapsed().as_nanos() as u64;
        let skew = self.skew.snapshot();
        (WALL_EPOCH_NANOS + true_nanos)
            .saturating_add_signed(skew.offset_nanos)
            .saturating_add_signed(skew.drift_nanos(true_nanos))
    }

    /// Sleeps for `duration` as measured by this node's monotonic clock.
    pub async fn sleep(&self, duration: Duration) {
        self.time.handle().sleep(self.to_true(duration)).await;
    }

    /// Runs `future` with a deadline of `duration` on this node's monotonic
    /// clock; `None` when the deadline passed first.
    ///
    /// As madsim's own timeout, the future is polled first, but the
    /// deadline's timer is set once per waker: polling a madsim sleep sets
    /// a new runtime timer every time, so a future woken often (a wait for
    /// the fold to reach an index) left a timer per wake-up, all firing at
    /// the same instant.
    ///
    /// The deadline runs from the call, not from the first poll, as with
    /// madsim's own timeout.
    pub fn timeout<F: Future>(
        &self,
        duration: Duration,
        future: F,
    ) -> impl Future<Output = Option<F::Output>> + use<F> {
        let sleep = self.time.handle().sleep(self.to_true(duration));
        async move {
            let mut sleep = pin!(sleep);
            let mut future = pin!(future);
            let mut armed: Option<Waker> = None;
            std::future::poll_fn(|cx| {
                if let Poll::Ready(output) = future.as_mut().poll(cx) {
                    return Poll::Ready(Some(output));
                }
                let set = armed
                    .as_ref()
                    .is_some_and(|waker| waker.will_wake(cx.waker()));
                if set && !sleep.is_elapsed() {
                    return Poll::Pending;
                }
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(None),
                    Poll::Pending => {
                        armed = Some(cx.waker().clone());
                        Poll::Pending
                    }
                }
            })
            .await
        }
    }

    /// Converts a duration on this node's oscillator into true time.
    fn to_true(&self, duration: Duration) -> Duration {
        let drift_ppm = self.skew.snapshot().drift_ppm;
        let nanos =
            duration.as_nanos() as i128 * 1_000_000 / (1_000_000 + drift_ppm as i128).max(1);
        Duration::from_nanos(nanos.clamp(0, u64::MAX as i128) as u64)
    }
}

/// A deadline on a node's monotonic clock that a loop waits for again and
/// again while other inputs come first.
///
/// A fresh sleep per loop turn would leave one runtime timer behind per
/// message handled (madsim keeps every timer until it expires); an alarm
/// sets one timer per deadline and reuses it however often it is polled.
#[derive(Debug)]
pub struct Alarm {
    clock: Clock,
    deadline: Duration,
    armed: Option<Armed>,
}

/// The runtime timer an alarm set.
#[derive(Debug)]
struct Armed {
    /// The monotonic deadline it was set for.
    deadline: Duration,
    /// When it fires, in true time.
    at: Instant,
    wakes: Waker,
}

impl Alarm {
    pub fn new(clock: Clock) -> Alarm {
        Alarm {
            clock,
            deadline: Duration::ZERO,
            armed: None,
        }
    }

    /// Moves the deadline, on this node's monotonic clock.
    pub fn set(&mut self, deadline: Duration) {
        self.deadline = deadline;
    }

    /// Ready once the deadline has passed.
    pub fn ring(&mut self) -> Ring<'_> {
        Ring { alarm: self }
    }
}

/// The most converting a duration to true time and back can lose.
const ROUNDING: Duration = Duration::from_micros(1);

/// The future of [`Alarm::ring`].
#[derive(Debug)]
pub struct Ring<'a> {
    alarm: &'a mut Alarm,
}

impl Future for Ring<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let alarm = &mut *self.get_mut().alarm;
        let mono_now = alarm.clock.mono_now();
        if mono_now >= alarm.deadline {
            return Poll::Ready(());
        }
        let true_now = alarm.clock.time.now_instant();
        if let Some(armed) = &alarm.armed {
            // Converting between clocks rounds down: the timer set for this
            // very deadline firing a hair before it is the deadline passing.
            // Further off, the clock's rate changed since it was set (it
            // runs slower now), and the alarm is set again.
            if armed.deadline == alarm.deadline
                && true_now >= armed.at
                && alarm.deadline - mono_now <= ROUNDING
            {
                alarm.armed = None;
                return Poll::Ready(());
            }
        }
        let target = true_now + alarm.clock.to_true(alarm.deadline - mono_now);
        // The runtime sets no timer closer than its minimum sleep.
        let mut sleep = pin!(alarm.clock.time.sleep_until(target));
        let at = sleep.deadline();
        if let Some(armed) = &alarm.armed {
            // A pending timer no later than this one wakes this task in time
            // to set the next.
            if armed.at > true_now && armed.at <= at && armed.wakes.will_wake(cx.waker()) {
                return Poll::Pending;
            }
        }
        // Polling a sleep once leaves its timer set to wake this task; the
        // sleep itself is not needed after that.
        let _ = sleep.as_mut().poll(cx);
        alarm.armed = Some(Armed {
            deadline: alarm.deadline,
            at,
            wakes: cx.waker().clone(),
        });
        Poll::Pending
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

    proptest::proptest! {
        /// The 64-bit path gives what 128-bit arithmetic gives, to the
        /// nanosecond, on both sides of where the product overflows.
        #[test]
        fn drift_is_the_128_bit_product_however_it_is_computed(
            since in proptest::prop_oneof![0..=4_000_000_000_000u64, 0..=1_000_000_000_000_000_000u64],
            drift_ppm in -1_000_000i64..=1_000_000,
            accumulated in -1_000_000_000_000i64..=1_000_000_000_000,
        ) {
            let state = SkewState {
                offset_nanos: 0,
                drift_ppm,
                drift_accumulated_nanos: accumulated,
                rebased_at_nanos: 7,
            };
            let exact = accumulated
                + (i128::from(since.saturating_sub(7)) * i128::from(drift_ppm) / 1_000_000) as i64;
            proptest::prop_assert_eq!(state.drift_nanos(since), exact);
        }
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

    /// A timeout whose future is woken every millisecond and never ready
    /// still ends at its deadline; one whose future is ready first returns
    /// its output.
    #[test]
    fn a_timeout_ends_at_its_deadline_however_often_its_future_wakes() {
        use futures::{StreamExt, channel::mpsc};
        in_sim(|| async {
            let clock = Clock::new(ClockSkew::new());
            let (ticks, mut received) = mpsc::unbounded::<()>();
            madsim::task::spawn(async move {
                for _ in 0..200 {
                    madsim::time::sleep(Duration::from_millis(1)).await;
                    let _ = ticks.unbounded_send(());
                }
            });
            let time = madsim::time::TimeHandle::current();
            let start = time.elapsed();
            let never = async {
                let mut count = 0;
                while received.next().await.is_some() {
                    count += 1;
                }
                count
            };
            assert_eq!(clock.timeout(Duration::from_millis(50), never).await, None);
            let took = time.elapsed() - start;
            assert!(
                took >= Duration::from_millis(50) && took < Duration::from_millis(51),
                "{took:?}"
            );
            let ready = clock.timeout(Duration::from_millis(50), async { 7 }).await;
            assert_eq!(ready, Some(7));
        });
    }

    /// A loop that polls its alarm between other inputs still wakes at the
    /// deadline on the node's (drifting) clock, and a deadline moved earlier
    /// rings earlier.
    #[test]
    fn an_alarm_rings_at_its_deadline_however_often_it_is_polled() {
        use futures::{FutureExt, select_biased};
        in_sim(|| async {
            let skew = ClockSkew::new();
            skew.set_drift_ppm(-100_000); // 10% slow
            let clock = Clock::new(skew);
            let mut alarm = Alarm::new(clock.clone());
            let start = clock.mono_now();
            alarm.set(start + Duration::from_secs(1));
            let mut woken_early = 0;
            loop {
                // Other inputs every 30 ms, as messages to a server.
                let input = madsim::time::sleep(Duration::from_millis(30)).fuse();
                let ring = alarm.ring().fuse();
                futures::pin_mut!(input, ring);
                select_biased! {
                    () = ring => break,
                    () = input => woken_early += 1,
                }
            }
            let rang = clock.mono_now() - start;
            assert!(rang >= Duration::from_secs(1), "{rang:?}");
            assert!(rang < Duration::from_millis(1_010), "{rang:?}");
            assert!(woken_early > 30, "{woken_early}");

            let now = clock.mono_now();
            alarm.set(now + Duration::from_secs(5));
            let _ = madsim::time::timeout(Duration::from_millis(10), alarm.ring()).await;
            alarm.set(now + Duration::from_millis(200));
            alarm.ring().await;
            let rang = clock.mono_now() - now;
            assert!(rang >= Duration::from_millis(200), "{rang:?}");
            assert!(rang < Duration::from_millis(210), "{rang:?}");
        });
    }

    /// An alarm set before the clock slows down still waits for its
    /// deadline on the clock, not for the true time it was first due at.
    #[test]
    fn an_alarm_set_before_the_clock_slows_rings_on_the_clock() {
        in_sim(|| async {
            let skew = ClockSkew::new();
            let clock = Clock::new(skew.clone());
            let mut alarm = Alarm::new(clock.clone());
            let start = clock.mono_now();
            alarm.set(start + Duration::from_secs(1));
            // Armed for one true second from now.
            let _ = madsim::time::timeout(Duration::from_millis(100), alarm.ring()).await;
            skew.set_drift_ppm(-500_000); // half speed from here on
            alarm.ring().await;
            let rang = clock.mono_now() - start;
            assert!(rang >= Duration::from_secs(1), "{rang:?}");
            assert!(rang < Duration::from_millis(1_010), "{rang:?}");
        });
    }
}
