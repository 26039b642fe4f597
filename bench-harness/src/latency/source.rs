//! The paced source of the latency jobs, with the peer's source-lag measure.

use std::sync::Arc;

use spate::Result;
use spate::sources::{RateLimiter, Source, SourceCollector, SourcePoll, SplitInfo};

use super::clock::now_ns;
use super::shared::RunShared;

/// A latency record: `(key in 1..=10_000, value, created_ns)`. `created_ns`
/// is [`now_ns`] at the moment the source emitted it.
pub type LatencyRecord = (u64, u64, u64);

/// Keys are uniform in `1..=KEYS`, like the Flink peer's.
pub const KEYS: u64 = 10_000;

/// One split of the paced source: `rate / splits` records per second on an
/// even schedule (Spate's [`RateLimiter`]) until `seconds` worth are out.
pub struct PacedSource {
    pace: RateLimiter,
    /// `now_ns()` when the limiter started: its schedule's zero.
    start_ns: u64,
    /// Lag is only tracked for records due after this (the warm-up).
    lag_from_ns: u64,
    next: u64,
    total: u64,
    seed: u64,
    max_lag_ns: u64,
    shared: Arc<RunShared>,
    done: bool,
}

impl PacedSource {
    /// Split `split` of a source of `rate_per_s` records/s over all splits
    /// that runs for `seconds`, tracking lag after `warmup_s`.
    pub fn new(
        rate_per_s: u64,
        seconds: f64,
        warmup_s: f64,
        split: SplitInfo,
        shared: Arc<RunShared>,
    ) -> Self {
        let per_split = rate_per_s as f64 / split.count.max(1) as f64;
        let pace = RateLimiter::new(per_split);
        // Read right after the limiter's own `Instant::now()`, so the two
        // schedules differ by nanoseconds.
        let start_ns = now_ns();
        shared.source_started(start_ns);
        Self {
            pace,
            start_ns,
            lag_from_ns: start_ns + (warmup_s * 1e9) as u64,
            next: 0,
            total: (per_split * seconds).round() as u64,
            // The peer's xorshift seed per subtask, so key sequences match.
            seed: 0x9E37_79B9_7F4A_7C15_u64.wrapping_mul(split.index as u64 + 1),
            max_lag_ns: 0,
            shared,
            done: false,
        }
    }

    #[inline]
    fn next_key(&mut self) -> u64 {
        let mut s = self.seed;
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        self.seed = s;
        1 + s % KEYS
    }

    fn finish(&mut self) {
        if !self.done {
            self.done = true;
            self.shared
                .source_finished(self.next, self.max_lag_ns, now_ns());
        }
    }
}

impl Source for PacedSource {
    type Item = LatencyRecord;

    fn poll(
        &mut self,
        out: &mut SourceCollector<'_, LatencyRecord>,
        count_max: usize,
    ) -> Result<SourcePoll> {
        let remaining = self.total.saturating_sub(self.next);
        if remaining == 0 {
            self.finish();
            return Ok(SourcePoll::Exhausted);
        }
        let n = (self.pace.due(count_max) as u64).min(remaining);
        if n == 0 {
            return Ok(SourcePoll::Pending {
                retry_after_us: self.pace.wait_us(),
            });
        }
        // The oldest due record is the one furthest behind its schedule.
        let due_ns = self.start_ns + self.pace.due_at_ns(self.next);
        let now = now_ns();
        if due_ns >= self.lag_from_ns {
            self.max_lag_ns = self.max_lag_ns.max(now.saturating_sub(due_ns));
        }
        for _ in 0..n {
            let key = self.next_key();
            // Stamped per record, at the emit, as the peer does: a batch's
            // later records are not charged for the earlier ones' work.
            out.collect((key, self.next, now_ns()));
            self.next += 1;
        }
        self.pace.emitted(n as usize);
        Ok(SourcePoll::Ready)
    }

    // Positions let the latency jobs take checkpoints, whose cost on the
    // records' latency is what the runs with checkpoint.interval_ms measure.
    fn offset(&self) -> Option<Vec<u8>> {
        Some(spate::sources::encode_offset(&[self.next, self.seed]))
    }

    fn seek(&mut self, offset: &[u8]) -> Result<()> {
        let [next, seed] = spate::sources::decode_offset::<2>("paced", offset)?;
        self.next = next;
        self.seed = seed;
        Ok(())
    }
}

impl Drop for PacedSource {
    fn drop(&mut self) {
        // A job that fails or stops early still reports what was emitted.
        self.finish();
    }
}
