//! Processing-time clocks, behind a trait so tests can simulate time.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// A source of processing time.
pub trait Clock: 'static {
    /// Wall-clock milliseconds since the Unix epoch (for processing-time timers and TTL).
    fn now_ms(&self) -> i64;
    /// Monotonic nanoseconds (for latency and timeouts).
    fn mono_ns(&self) -> u64;
}

/// The real clock.
#[derive(Clone, Debug)]
pub struct SystemClock {
    origin: Instant,
    origin_wall_ns: u64,
}

impl Default for SystemClock {
    fn default() -> Self {
        let origin_wall_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Self {
            origin: Instant::now(),
            origin_wall_ns,
        }
    }
}

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        (self.wall_ns() / 1_000_000) as i64
    }
    fn mono_ns(&self) -> u64 {
        self.origin.elapsed().as_nanos() as u64
    }
}

impl SystemClock {
    /// Wall-clock nanoseconds derived from one origin, so every core of a
    /// process agrees (creation stamps are compared across cores).
    pub fn wall_ns(&self) -> u64 {
        self.origin_wall_ns + self.mono_ns()
    }
}

/// A clock that only moves when told to; for deterministic tests.
#[derive(Clone, Debug, Default)]
pub struct ManualClock {
    now_ns: Rc<Cell<u64>>,
}

impl ManualClock {
    /// Moves time forward.
    pub fn advance_ms(&self, ms: u64) {
        self.now_ns.set(self.now_ns.get() + ms * 1_000_000);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        (self.now_ns.get() / 1_000_000) as i64
    }
    fn mono_ns(&self) -> u64 {
        self.now_ns.get()
    }
}
