//! Notices a simulation that hangs. A task that never returns `Pending`
//! (a loop whose every await is ready at once) keeps madsim's executor in
//! one poll forever: simulated time stops, no timer fires, and nothing
//! inside the run can notice. So the thread that started the run watches
//! from outside, in wall time: the trace notes the simulated time of every
//! event it records, and a run whose simulated clock stands still for
//! [`HANG_AFTER`] of wall time is reported hung instead of waited on for
//! ever. A healthy run moves its clock thousands of times a wall second.
//!
//! Only whether a run hangs is decided on wall time, and a run that hangs
//! does so again when run again; the verdict itself (a crash naming the
//! simulated instant it stopped at) is the same on every machine.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc::{Receiver, RecvTimeoutError},
    },
    time::{Duration, Instant},
};

/// How long the simulated clock may stand still, in wall time, before the
/// run counts as hung.
pub(crate) const HANG_AFTER: Duration = Duration::from_secs(10);

/// How often the watcher looks.
const LOOK_EVERY: Duration = Duration::from_millis(250);

/// How far a run has come, written by its trace and read by the watcher.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    /// The simulated time of the latest event, in nanoseconds.
    sim_nanos: AtomicU64,
    /// Whether the run is past its simulation (judging takes wall time of
    /// its own and moves no clock).
    simulated: AtomicBool,
}

impl Progress {
    pub(crate) fn advance(&self, now: Duration) {
        self.sim_nanos
            .store(now.as_nanos() as u64, Ordering::Relaxed);
    }

    pub(crate) fn simulation_over(&self) {
        self.simulated.store(true, Ordering::Relaxed);
    }
}

/// What the watcher saw of a run.
pub(crate) enum Watched<T> {
    /// The run ended and handed this over.
    Ended(T),
    /// The run's thread ended without handing anything over: it panicked.
    Vanished,
    /// The simulated clock stood still at this instant for too long.
    Hung(Duration),
}

/// Waits for the run reporting to `ended`, watching `progress`; a run
/// whose clock stands still for `hang_after` is hung.
pub(crate) fn watch<T>(
    ended: &Receiver<T>,
    progress: &Arc<Progress>,
    hang_after: Duration,
) -> Watched<T> {
    // Wall time on the thread that started the run, never inside it.
    #[allow(clippy::disallowed_methods)]
    let now = Instant::now;
    let mut seen = progress.sim_nanos.load(Ordering::Relaxed);
    let mut still_since = now();
    loop {
        match ended.recv_timeout(LOOK_EVERY) {
            Ok(outcome) => return Watched::Ended(outcome),
            Err(RecvTimeoutError::Disconnected) => return Watched::Vanished,
            Err(RecvTimeoutError::Timeout) => {}
        }
        let at = progress.sim_nanos.load(Ordering::Relaxed);
        if at != seen || progress.simulated.load(Ordering::Relaxed) {
            seen = at;
            still_since = now();
        } else if now().duration_since(still_since) >= hang_after {
            return Watched::Hung(Duration::from_nanos(at));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{sync::mpsc, thread};

    const SOON: Duration = Duration::from_millis(600);

    #[test]
    fn a_clock_that_stands_still_is_a_hang_at_its_last_instant() {
        let progress = Arc::new(Progress::default());
        progress.advance(Duration::from_millis(1500));
        let (_keep, ended) = mpsc::channel::<()>();
        match watch(&ended, &progress, SOON) {
            Watched::Hung(at) => assert_eq!(at, Duration::from_millis(1500)),
            _ => panic!("a run whose clock stands still must be hung"),
        }
    }

    #[test]
    fn a_moving_clock_and_a_long_judgement_are_no_hang() {
        let progress = Arc::new(Progress::default());
        let (sender, ended) = mpsc::channel();
        let run = {
            let progress = progress.clone();
            // Stands in for a run's thread: a plain thread that sleeps in
            // wall time, with no simulation anywhere in this test.
            #[allow(clippy::disallowed_methods)]
            thread::spawn(move || {
                // Simulated time moves for longer than the limit, then the
                // judging takes longer than it with the clock still.
                for step in 1..=12u64 {
                    progress.advance(Duration::from_millis(step));
                    thread::sleep(Duration::from_millis(100));
                }
                progress.simulation_over();
                thread::sleep(SOON * 2);
                sender.send("verdict").expect("the watcher waits");
            })
        };
        assert!(matches!(
            watch(&ended, &progress, SOON),
            Watched::Ended("verdict")
        ));
        run.join().expect("the run ends");
    }

    #[test]
    fn a_run_that_panics_is_no_hang() {
        let progress = Arc::new(Progress::default());
        let (sender, ended) = mpsc::channel::<()>();
        drop(sender);
        assert!(matches!(watch(&ended, &progress, SOON), Watched::Vanished));
    }
}
