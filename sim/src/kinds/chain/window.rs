//! How many payments a chain client has in flight at once. A wallet that
//! pays faster than the chain mines holds the rest back, in nonce order,
//! as geth's pool holds at most 64 queued transactions per account: without
//! a bound, a client's backlog of thousands each polls for its receipt
//! and resubmits, the work of every simulated second grows with the
//! backlog, and the payments waiting on a nonce gap fill the chain's pool.

use futures::channel::oneshot;
use std::{
    cell::{Cell, RefCell},
    collections::VecDeque,
    rc::Rc,
};

/// Payments in flight per client at most.
pub(super) const MOST_IN_FLIGHT: usize = 64;

/// The payments of one client in flight, and those waiting to be sent, in
/// the order they asked.
#[derive(Default)]
pub(super) struct Window {
    in_flight: Cell<usize>,
    waiting: RefCell<VecDeque<oneshot::Sender<()>>>,
}

/// A payment's place in the window, handed to the next waiting payment (or
/// given back) when dropped, whichever way the payment ends.
pub(super) struct Slot(Rc<Window>);

impl Window {
    /// Takes a place in line, after every payment that asked earlier: at
    /// once, so that the order is the order of asking, whenever each
    /// payment's task comes to wait.
    pub(super) fn ask(window: &Rc<Window>) -> Ticket {
        let turn = if window.in_flight.get() < MOST_IN_FLIGHT && window.waiting.borrow().is_empty()
        {
            window.in_flight.set(window.in_flight.get() + 1);
            None
        } else {
            let (handed, place) = oneshot::channel();
            window.waiting.borrow_mut().push_back(handed);
            Some(place)
        };
        Ticket {
            window: window.clone(),
            turn,
        }
    }
}

/// A place in line: in the window already, or waiting to be handed one.
pub(super) struct Ticket {
    window: Rc<Window>,
    turn: Option<oneshot::Receiver<()>>,
}

impl Ticket {
    /// Waits for the payment's turn.
    pub(super) async fn wait(self) -> Slot {
        if let Some(turn) = self.turn {
            // The slot is handed over by a leaving payment: `in_flight`
            // stays as it was.
            turn.await.expect("a window outlives its waiting payments");
        }
        Slot(self.window)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let window = &self.0;
        loop {
            let next = window.waiting.borrow_mut().pop_front();
            let Some(next) = next else {
                window.in_flight.set(window.in_flight.get() - 1);
                return;
            };
            // A payment that stopped waiting takes no place.
            if next.send(()).is_ok() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    /// The window lets `MOST_IN_FLIGHT` in at once, then one more for each
    /// that leaves, first come first served.
    #[test]
    fn payments_beyond_the_bound_wait_their_turn() {
        let window = Rc::new(Window::default());
        let mut inside: Vec<Slot> = (0..MOST_IN_FLIGHT)
            .map(|_| Window::ask(&window).wait().now_or_never().expect("room"))
            .collect();
        let (first, second) = (Window::ask(&window), Window::ask(&window));
        // The second's task comes to wait first; the first still goes first.
        let mut second = Box::pin(second.wait());
        let mut first = Box::pin(first.wait());
        assert!(second.as_mut().now_or_never().is_none());
        assert!(first.as_mut().now_or_never().is_none());
        inside.pop();
        assert!(
            second.as_mut().now_or_never().is_none(),
            "the first asked first"
        );
        let first = first.now_or_never().expect("handed the place");
        drop(first);
        let second = second.now_or_never().expect("handed the place in turn");
        assert_eq!(window.in_flight.get(), MOST_IN_FLIGHT);
        drop((second, inside));
        assert_eq!(window.in_flight.get(), 0);
    }
}
