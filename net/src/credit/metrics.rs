//! Per-channel flow-control metrics, computed from the events the caller
//! reports (the state machines read no clock).

use crate::error::ChannelId;

/// Accumulates how much of the time, and of the send attempts, a channel
/// spent blocked on credit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BackpressureMeter {
    /// Nanoseconds the channel had data queued but no credit.
    pub blocked_ns: u64,
    /// Nanoseconds accounted in all.
    pub total_ns: u64,
    /// Data submissions that found no credit to go out at once.
    pub blocked_attempts: u64,
    /// Data submissions in all.
    pub attempts: u64,
}

impl BackpressureMeter {
    /// Attributes `elapsed_ns` to the channel's current state.
    pub fn record_time(&mut self, elapsed_ns: u64, blocked: bool) {
        self.total_ns = self.total_ns.saturating_add(elapsed_ns);
        if blocked {
            self.blocked_ns = self.blocked_ns.saturating_add(elapsed_ns);
        }
    }

    /// Counts one send attempt.
    pub fn record_attempt(&mut self, blocked: bool) {
        self.attempts = self.attempts.saturating_add(1);
        if blocked {
            self.blocked_attempts = self.blocked_attempts.saturating_add(1);
        }
    }

    /// Fraction of accounted time spent blocked (0 when none accounted).
    pub fn time_ratio(&self) -> f64 {
        ratio(self.blocked_ns, self.total_ns)
    }

    /// Fraction of send attempts that found no credit (0 when none).
    pub fn attempt_ratio(&self) -> f64 {
        ratio(self.blocked_attempts, self.attempts)
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// A snapshot of one channel's flow-control state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChannelMetrics {
    /// The channel.
    pub channel: ChannelId,
    /// Credits granted and not yet used: on a sender, data frames it may
    /// still send; on a receiver, frames it has promised to accept.
    pub outstanding_credit: u64,
    /// Frames waiting: a sender's queued data, or a receiver's undelivered
    /// data and events.
    pub queued_frames: usize,
    /// Buffers holding received data not yet released (receivers only).
    pub buffers_in_use: u64,
    /// Backpressure accounting (senders only; zero on receivers).
    pub backpressure: BackpressureMeter,
}

impl ChannelMetrics {
    /// Share of time the channel was blocked on credit, as Flink's
    /// `backPressuredTimeMsPerSecond` / 1000; falls back to the share of
    /// blocked send attempts when no time has been accounted.
    pub fn backpressure_ratio(&self) -> f64 {
        if self.backpressure.total_ns > 0 {
            self.backpressure.time_ratio()
        } else {
            self.backpressure.attempt_ratio()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_follow_the_reported_events() {
        let mut meter = BackpressureMeter::default();
        assert_eq!(meter.time_ratio(), 0.0);
        meter.record_time(300, true);
        meter.record_time(700, false);
        assert!((meter.time_ratio() - 0.3).abs() < 1e-12);
        meter.record_attempt(true);
        meter.record_attempt(false);
        meter.record_attempt(false);
        meter.record_attempt(false);
        assert!((meter.attempt_ratio() - 0.25).abs() < 1e-12);
    }

    #[test]
    fn ratio_falls_back_to_attempts_without_time() {
        let mut backpressure = BackpressureMeter::default();
        backpressure.record_attempt(true);
        let metrics = ChannelMetrics {
            channel: 1,
            outstanding_credit: 0,
            queued_frames: 0,
            buffers_in_use: 0,
            backpressure,
        };
        assert_eq!(metrics.backpressure_ratio(), 1.0);
    }
}
