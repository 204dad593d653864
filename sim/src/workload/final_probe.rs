//! The hand-over of a run's final probe: a client that will look at the
//! system once more after the run has gone quiet says so when it starts;
//! the harness starts the probe after the quiet tail, when nothing else is
//! in flight, and waits for it to finish before the final checks. The
//! prober waits on a channel, not a timer, so that a run is the same as
//! without it until the probe starts.

use futures::channel::oneshot;
use std::{
    sync::{Mutex, PoisonError},
    time::Duration,
};

/// The harness's end of a probe a client expects to make.
#[derive(Default)]
pub(crate) struct FinalProbe(Mutex<Option<Handover>>);

struct Handover {
    start: oneshot::Sender<()>,
    done: oneshot::Receiver<()>,
}

/// The probing client's end.
pub(crate) struct Prober {
    start: oneshot::Receiver<()>,
    done: oneshot::Sender<()>,
}

impl FinalProbe {
    /// A client will probe once started: its end of the hand-over.
    pub(crate) fn expect(&self) -> Prober {
        let (start, started) = oneshot::channel();
        let (finished, done) = oneshot::channel();
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(Handover { start, done });
        Prober {
            start: started,
            done: finished,
        }
    }

    /// Starts the probe a client expects to make, if any, and waits until
    /// it finishes or `budget` runs out (then it records nothing).
    pub(crate) async fn run(&self, budget: Duration) {
        let handover = self.0.lock().unwrap_or_else(PoisonError::into_inner).take();
        let Some(Handover { start, done }) = handover else {
            return;
        };
        if start.send(()).is_ok() {
            let _ = madsim::time::timeout(budget, done).await;
        }
    }
}

impl Prober {
    /// Waits until the harness starts the probe: false if the harness
    /// dropped its end. A run that never starts it (one that did not
    /// settle) ends with the prober still waiting.
    pub(crate) async fn started(&mut self) -> bool {
        (&mut self.start).await.is_ok()
    }

    pub(crate) fn finish(self) {
        let _ = self.done.send(());
    }
}
