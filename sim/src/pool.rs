//! Runs seeds on a pool of worker threads. Each seed's simulation still
//! gets a fresh thread of its own (see `run`), so a seed's outcome does not
//! depend on the pool. Results are handed on in the order the seeds were
//! handed out, whatever order they finish in, so what a run prints does
//! not depend on the pool either.

use std::{
    collections::{BTreeMap, VecDeque},
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    thread,
    time::Instant,
};

/// The most simulations one command runs at once: far beyond any machine's
/// cores, and each one is a thread with its own stack.
pub const MAX_JOBS: usize = 256;

/// When the pool stops handing out seeds: at a wall-clock deadline
/// (`--budget`), once a flag is raised from outside (Ctrl-C), or never.
/// Seeds already handed out still run to the end and are handed on: a
/// simulation cannot be cut short without losing its verdict.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    pub deadline: Option<Instant>,
    pub flag: Option<Arc<AtomicBool>>,
}

impl Stop {
    /// Whether the flag has been raised.
    pub fn raised(&self) -> bool {
        self.flag
            .as_ref()
            .is_some_and(|flag| flag.load(Ordering::SeqCst))
    }

    /// Whether to hand out no more seeds.
    fn reached(&self) -> bool {
        // Wall time, read between simulations, never inside one.
        #[allow(clippy::disallowed_methods)]
        let late = self
            .deadline
            .is_some_and(|deadline| Instant::now() >= deadline);
        late || self.raised()
    }
}

/// What the pool does after a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Hand out no seed above this one; results above it are discarded, so
    /// the outcome is the same for any number of workers.
    StopAfter(u64),
}

struct Dispatch<I> {
    seeds: I,
    stop_after: Option<u64>,
    /// Seeds handed out whose results have not been handed on yet, in the
    /// order they were handed out.
    outstanding: VecDeque<u64>,
}

/// Runs `work` on each seed of `seeds` (increasing) on `jobs` threads,
/// handing out no new seed once `stop` is reached. `on_done` hears of
/// each result on the calling thread, in seed order, as soon as every
/// earlier seed's result is in. Returns the results in seed order.
pub fn run_pool<T: Send>(
    seeds: impl Iterator<Item = u64> + Send,
    jobs: usize,
    stop: &Stop,
    work: impl Fn(u64) -> T + Sync,
    mut on_done: impl FnMut(u64, &mut T) -> Flow,
) -> Vec<(u64, T)> {
    let dispatch = Mutex::new(Dispatch {
        seeds,
        stop_after: None,
        outstanding: VecDeque::new(),
    });
    let next = || {
        if stop.reached() {
            return None;
        }
        let mut dispatch = dispatch.lock().unwrap_or_else(PoisonError::into_inner);
        let seed = dispatch.seeds.next()?;
        if dispatch.stop_after.is_some_and(|last| seed > last) {
            return None;
        }
        dispatch.outstanding.push_back(seed);
        Some(seed)
    };
    let mut results = Vec::new();
    thread::scope(|scope| {
        let (sender, receiver) = mpsc::channel();
        for _ in 0..jobs.max(1) {
            let sender = sender.clone();
            let (next, work) = (&next, &work);
            // The fuzz driver's workers run outside every simulation.
            #[allow(clippy::disallowed_methods)]
            thread::Builder::new()
                .name("fuzz-worker".to_owned())
                .spawn_scoped(scope, move || {
                    while let Some(seed) = next() {
                        if sender.send((seed, work(seed))).is_err() {
                            return;
                        }
                    }
                })
                .expect("spawn a fuzz worker");
        }
        drop(sender);
        let mut arrived = BTreeMap::new();
        for (seed, result) in receiver {
            arrived.insert(seed, result);
            loop {
                let (next, stopped) = {
                    let mut handed = dispatch.lock().unwrap_or_else(PoisonError::into_inner);
                    let Some(next) = handed.outstanding.front().copied() else {
                        break;
                    };
                    if !arrived.contains_key(&next) {
                        break;
                    }
                    handed.outstanding.pop_front();
                    (next, handed.stop_after.is_some_and(|last| next > last))
                };
                let Some(mut result) = arrived.remove(&next) else {
                    break;
                };
                if stopped {
                    continue;
                }
                if let Flow::StopAfter(last) = on_done(next, &mut result) {
                    let mut handed = dispatch.lock().unwrap_or_else(PoisonError::into_inner);
                    handed.stop_after = Some(handed.stop_after.map_or(last, |old| old.min(last)));
                }
                results.push((next, result));
            }
        }
    });
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_back_in_seed_order_for_any_number_of_workers() {
        for jobs in [1, 2, 5] {
            let results = run_pool(
                0..40,
                jobs,
                &Stop::default(),
                |seed| seed * seed,
                |_, _| Flow::Continue,
            );
            let expected: Vec<(u64, u64)> = (0..40).map(|seed| (seed, seed * seed)).collect();
            assert_eq!(results, expected, "{jobs} jobs");
        }
    }

    #[test]
    fn a_stop_keeps_exactly_the_seeds_up_to_the_first_stopping_one() {
        for jobs in [1, 3] {
            let results = run_pool(
                0..100,
                jobs,
                &Stop::default(),
                |seed| seed,
                |seed, _| {
                    if seed % 7 == 6 {
                        Flow::StopAfter(seed)
                    } else {
                        Flow::Continue
                    }
                },
            );
            let seeds: Vec<u64> = results.iter().map(|(seed, _)| *seed).collect();
            assert_eq!(seeds, (0..=6).collect::<Vec<_>>(), "{jobs} jobs");
        }
    }

    #[test]
    fn results_are_handed_on_in_seed_order() {
        let mut heard = Vec::new();
        run_pool(
            (0..30).step_by(3),
            4,
            &Stop::default(),
            |seed| seed,
            |seed, _| {
                heard.push(seed);
                Flow::Continue
            },
        );
        assert_eq!(heard, (0..30).step_by(3).collect::<Vec<_>>());
    }

    #[test]
    fn a_passed_deadline_hands_out_nothing() {
        // A deadline already passed; no simulation is running here.
        #[allow(clippy::disallowed_methods)]
        let now = Instant::now();
        let stop = Stop {
            deadline: Some(now),
            flag: None,
        };
        let results = run_pool(0.., 2, &stop, |seed| seed, |_, _| Flow::Continue);
        assert!(results.is_empty());
    }

    #[test]
    fn a_raised_flag_lets_the_seeds_handed_out_finish_and_hands_out_no_more() {
        let flag = Arc::new(AtomicBool::new(false));
        let stop = Stop {
            deadline: None,
            flag: Some(flag.clone()),
        };
        for jobs in [1, 3] {
            flag.store(false, Ordering::SeqCst);
            let results = run_pool(
                0..,
                jobs,
                &stop,
                |seed| seed,
                |seed, _| {
                    if seed == 4 {
                        flag.store(true, Ordering::SeqCst);
                    }
                    Flow::Continue
                },
            );
            // The seeds are endless: that the pool returns at all is the
            // flag at work. Every seed handed out before it (however far
            // the workers ran ahead) is handed on, in order.
            let seeds: Vec<u64> = results.iter().map(|(seed, _)| *seed).collect();
            assert!(seeds.len() >= 5, "{jobs}: {seeds:?}");
            assert_eq!(seeds, (0..seeds.len() as u64).collect::<Vec<_>>());
        }
    }
}
