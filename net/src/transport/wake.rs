//! Where a waiting future leaves its waker.

use std::task::Waker;

/// One waiter's waker: a new registration replaces the old one.
#[derive(Debug, Default)]
pub(crate) struct WakeSlot {
    waker: Option<Waker>,
}

impl WakeSlot {
    pub(crate) fn register(&mut self, waker: &Waker) {
        match &self.waker {
            Some(old) if old.will_wake(waker) => {}
            _ => self.waker = Some(waker.clone()),
        }
    }

    pub(crate) fn wake(&mut self) {
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }
}

/// Several waiters' wakers (e.g. tasks sharing a `Link` handle), each kept
/// once; all are woken together.
#[derive(Debug, Default)]
pub(crate) struct WakeList {
    wakers: Vec<Waker>,
}

impl WakeList {
    pub(crate) fn register(&mut self, waker: &Waker) {
        if !self.wakers.iter().any(|w| w.will_wake(waker)) {
            self.wakers.push(waker.clone());
        }
    }

    pub(crate) fn wake_all(&mut self) {
        for waker in self.wakers.drain(..) {
            waker.wake();
        }
    }
}
