//! Paces a source to a target rate in processing time.

use std::time::Instant;

/// Lets a source emit `rate` records per second on average, starting now.
/// It never sleeps itself: it says how many records are due and how long to
/// wait when none are, so the source task can flush and park meanwhile.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    start: Instant,
    per_s: f64,
    emitted: u64,
}

impl RateLimiter {
    /// A limiter for `per_s` records per second (at least 1).
    pub fn new(per_s: f64) -> Self {
        Self {
            start: Instant::now(),
            per_s: per_s.max(1e-9),
            emitted: 0,
        }
    }

    /// The records due now, at most `count_max`.
    pub fn due(&self, count_max: usize) -> usize {
        let due = (self.start.elapsed().as_secs_f64() * self.per_s) as u64;
        due.saturating_sub(self.emitted).min(count_max as u64) as usize
    }

    /// Records that `n` records were emitted.
    pub fn emitted(&mut self, n: usize) {
        self.emitted += n as u64;
    }

    /// Microseconds until the next record is due.
    pub fn wait_us(&self) -> u64 {
        let next_at_s = (self.emitted + 1) as f64 / self.per_s;
        let now_s = self.start.elapsed().as_secs_f64();
        ((next_at_s - now_s) * 1e6).max(1.0) as u64
    }

    /// The processing time (ns since the limiter started) at which record
    /// number `n` (0-based) is due; for measuring latency from the schedule.
    pub fn due_at_ns(&self, n: u64) -> u64 {
        (n as f64 / self.per_s * 1e9) as u64
    }
}
