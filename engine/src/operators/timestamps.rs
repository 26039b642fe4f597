//! Assigns event timestamps and generates watermarks from the data.

use crate::runtime::output::{BoxOutput, Output, TaskCx};
use crate::time::watermark::WatermarkGenerator;
use crate::time::{Timestamp, WatermarkStrategy};

pub(crate) struct TimestampsOp<T> {
    strategy: WatermarkStrategy<T>,
    generator: WatermarkGenerator,
    next: BoxOutput<T>,
    /// Processing time (ms) of the last record, for idleness.
    last_record_ms: i64,
    idle: bool,
}

impl<T: 'static> TimestampsOp<T> {
    pub(crate) fn new(strategy: WatermarkStrategy<T>, next: BoxOutput<T>) -> Self {
        let bound = strategy.out_of_orderness_ms;
        Self {
            strategy,
            generator: WatermarkGenerator::new(bound),
            next,
            last_record_ms: i64::MIN,
            idle: false,
        }
    }

    fn emit_watermark(&mut self, cx: &mut TaskCx) {
        if let Some(wm) = self.generator.advance() {
            self.next.watermark(cx, wm);
        }
    }
}

impl<T: 'static> Output<T> for TimestampsOp<T> {
    #[inline]
    fn record(&mut self, cx: &mut TaskCx, value: T, _ts: Timestamp) {
        let ts = (self.strategy.assigner)(&value);
        self.generator.observe(ts);
        if self.idle {
            self.idle = false;
            self.next.idle(cx, false);
        }
        self.last_record_ms = i64::MAX;
        self.next.record(cx, value, ts);
    }

    fn watermark(&mut self, cx: &mut TaskCx, wm: Timestamp) {
        // Upstream watermarks are replaced by ours, except the final one.
        if wm == crate::time::WATERMARK_MAX {
            self.next.watermark(cx, wm);
        }
    }

    fn idle(&mut self, cx: &mut TaskCx, idle: bool) {
        self.next.idle(cx, idle)
    }

    fn batch_end(&mut self, cx: &mut TaskCx) {
        // One watermark per input batch: from the data, never from a timer.
        self.emit_watermark(cx);
        if let Some(idle_ms) = self.strategy.idle_timeout_ms
            && self.last_record_ms == i64::MAX
        {
            self.last_record_ms = cx.now_ms();
            cx.request_tick_at(self.last_record_ms.saturating_add(idle_ms as i64));
        }
        self.next.batch_end(cx)
    }

    fn tick(&mut self, cx: &mut TaskCx) {
        if let Some(idle_ms) = self.strategy.idle_timeout_ms {
            let quiet_since = self.last_record_ms;
            if !self.idle && quiet_since != i64::MIN && quiet_since != i64::MAX {
                if cx.now_ms().saturating_sub(quiet_since) >= idle_ms as i64 {
                    self.idle = true;
                    self.next.idle(cx, true);
                } else {
                    cx.request_tick_at(quiet_since.saturating_add(idle_ms as i64));
                }
            }
        }
        self.next.tick(cx)
    }

    fn end(&mut self, cx: &mut TaskCx) {
        self.next.end(cx)
    }
}
