//! Watermark generation at sources and combination across inputs.

use std::sync::Arc;

use super::{Timestamp, WATERMARK_MIN};

/// How a source derives event time and watermarks from its records.
///
/// Watermarks come from the data only (the maximum timestamp seen minus the
/// bound), never from a processing-time timer, so the same input gives the
/// same watermarks on every run.
pub struct WatermarkStrategy<T> {
    pub(crate) assigner: Arc<dyn Fn(&T) -> Timestamp + Send + Sync>,
    pub(crate) out_of_orderness_ms: i64,
    pub(crate) idle_timeout_ms: Option<u64>,
}

impl<T> Clone for WatermarkStrategy<T> {
    fn clone(&self) -> Self {
        Self {
            assigner: self.assigner.clone(),
            out_of_orderness_ms: self.out_of_orderness_ms,
            idle_timeout_ms: self.idle_timeout_ms,
        }
    }
}

impl<T: 'static> WatermarkStrategy<T> {
    /// Records may arrive up to `bound_ms` out of order; the watermark trails
    /// the highest timestamp seen by that much.
    pub fn bounded_out_of_orderness(
        bound_ms: u64,
        assigner: impl Fn(&T) -> Timestamp + Send + Sync + 'static,
    ) -> Self {
        Self {
            assigner: Arc::new(assigner),
            out_of_orderness_ms: bound_ms.min(i64::MAX as u64) as i64,
            idle_timeout_ms: None,
        }
    }

    /// Timestamps only increase; the watermark follows the highest one.
    pub fn monotonous(assigner: impl Fn(&T) -> Timestamp + Send + Sync + 'static) -> Self {
        Self::bounded_out_of_orderness(0, assigner)
    }

    /// A source split with no input for this long is marked idle, so it no
    /// longer holds back the watermark downstream. Idleness is declared only
    /// when the source has nothing to read, never because of backpressure.
    pub fn with_idleness_ms(mut self, idle_timeout_ms: u64) -> Self {
        self.idle_timeout_ms = Some(idle_timeout_ms);
        self
    }
}

/// The per-split watermark generator state kept by a source task.
#[derive(Debug)]
pub(crate) struct WatermarkGenerator {
    max_ts: Timestamp,
    bound_ms: i64,
    emitted: Timestamp,
}

impl WatermarkGenerator {
    pub(crate) fn new(bound_ms: i64) -> Self {
        Self {
            max_ts: WATERMARK_MIN,
            bound_ms,
            emitted: WATERMARK_MIN,
        }
    }

    #[inline]
    pub(crate) fn observe(&mut self, ts: Timestamp) {
        if ts > self.max_ts {
            self.max_ts = ts;
        }
    }

    /// The new watermark, if it advanced since the last call.
    pub(crate) fn advance(&mut self) -> Option<Timestamp> {
        if self.max_ts == WATERMARK_MIN {
            return None;
        }
        // Flink's convention: a watermark W means no more records with ts <= W.
        let wm = self.max_ts.saturating_sub(self.bound_ms).saturating_sub(1);
        if wm > self.emitted {
            self.emitted = wm;
            Some(wm)
        } else {
            None
        }
    }
}

/// Combines the watermarks of several input channels: the minimum over the
/// channels that are active. Idle channels do not hold the watermark back.
#[derive(Debug, Clone)]
pub struct WatermarkTracker {
    channels: Vec<ChannelMark>,
    combined: Timestamp,
}

#[derive(Debug, Clone, Copy)]
struct ChannelMark {
    watermark: Timestamp,
    idle: bool,
}

impl WatermarkTracker {
    /// A tracker for `channels` inputs, all starting at the minimum.
    pub fn new(channels: usize) -> Self {
        Self {
            channels: vec![
                ChannelMark {
                    watermark: WATERMARK_MIN,
                    idle: false,
                };
                channels
            ],
            combined: WATERMARK_MIN,
        }
    }

    /// The current combined watermark.
    pub fn current(&self) -> Timestamp {
        self.combined
    }

    /// Records channel `c`'s watermark; returns the combined watermark if it
    /// advanced. A channel's watermark never moves backwards.
    pub fn update(&mut self, c: usize, wm: Timestamp) -> Option<Timestamp> {
        let mark = self.channels.get_mut(c)?;
        mark.idle = false;
        if wm > mark.watermark {
            mark.watermark = wm;
        }
        self.recompute()
    }

    /// Marks channel `c` idle (or active again). Returns the combined
    /// watermark if it advanced.
    pub fn set_idle(&mut self, c: usize, idle: bool) -> Option<Timestamp> {
        let mark = self.channels.get_mut(c)?;
        mark.idle = idle;
        self.recompute()
    }

    /// True when every channel is idle.
    pub fn all_idle(&self) -> bool {
        self.channels.iter().all(|m| m.idle)
    }

    fn recompute(&mut self) -> Option<Timestamp> {
        let min = self
            .channels
            .iter()
            .filter(|m| !m.idle)
            .map(|m| m.watermark)
            .min();
        match min {
            Some(m) if m > self.combined => {
                self.combined = m;
                Some(m)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combined_is_min_of_active_channels() {
        let mut t = WatermarkTracker::new(3);
        assert_eq!(t.update(0, 10), None);
        assert_eq!(t.update(1, 5), None);
        assert_eq!(t.update(2, 7), Some(5));
        assert_eq!(t.update(1, 20), Some(7));
        assert_eq!(t.set_idle(2, true), Some(10));
        assert_eq!(
            t.update(2, 8),
            None,
            "an idle channel that wakes behind does not regress"
        );
        assert_eq!(t.current(), 10);
    }

    #[test]
    fn generator_trails_max_by_bound() {
        let mut g = WatermarkGenerator::new(4000);
        assert_eq!(g.advance(), None);
        g.observe(10_000);
        g.observe(9_000);
        assert_eq!(g.advance(), Some(5_999));
        assert_eq!(g.advance(), None);
        g.observe(10_001);
        assert_eq!(g.advance(), Some(6_000));
    }
}
