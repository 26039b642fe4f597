//! Where a worker's cores meet its control thread during deployment: each
//! core reports the address its data listener is bound to, and waits for
//! the coordinator's table of every subtask's address.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::{ClusterError, Result};
use crate::protocol::SubtaskSlot;

#[derive(Default)]
struct Shared {
    addrs: Vec<Option<String>>,
    slots: Option<Vec<SubtaskSlot>>,
    failed: Option<String>,
}

/// The meeting point of one deployment.
pub(crate) struct Rendezvous {
    shared: Mutex<Shared>,
    changed: Condvar,
    timeout: Duration,
}

impl Rendezvous {
    pub(crate) fn new(cores: usize, timeout: Duration) -> Self {
        Self {
            shared: Mutex::new(Shared {
                addrs: vec![None; cores],
                ..Shared::default()
            }),
            changed: Condvar::new(),
            timeout,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Core `core` listens on `addr`.
    pub(crate) fn report(&self, core: usize, addr: String) {
        if let Some(slot) = self.lock().addrs.get_mut(core) {
            *slot = Some(addr);
        }
        self.changed.notify_all();
    }

    /// Deployment failed; every waiter returns this reason.
    pub(crate) fn fail(&self, reason: String) {
        self.lock().failed.get_or_insert(reason);
        self.changed.notify_all();
    }

    /// The coordinator's table arrived.
    pub(crate) fn start(&self, slots: Vec<SubtaskSlot>) {
        self.lock().slots = Some(slots);
        self.changed.notify_all();
    }

    /// Every core's address, once all have reported.
    pub(crate) fn wait_addrs(&self) -> Result<Vec<String>> {
        self.wait("every core's data listener", |s| {
            s.addrs.iter().cloned().collect::<Option<Vec<_>>>()
        })
    }

    /// The coordinator's table of every subtask.
    pub(crate) fn wait_slots(&self) -> Result<Vec<SubtaskSlot>> {
        self.wait("the coordinator's start signal", |s| s.slots.clone())
    }

    fn wait<T>(&self, what: &str, ready: impl Fn(&Shared) -> Option<T>) -> Result<T> {
        let deadline = Instant::now() + self.timeout;
        let mut guard = self.lock();
        loop {
            if let Some(reason) = &guard.failed {
                return Err(ClusterError::JobFailed {
                    job: 0,
                    reason: reason.clone(),
                });
            }
            if let Some(v) = ready(&guard) {
                return Ok(v);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ClusterError::Timeout {
                    what: what.to_string(),
                    limit_ms: self.timeout.as_millis() as u64,
                });
            }
            guard = self
                .changed
                .wait_timeout(guard, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }
}
