//! Triggers decide when a window emits its result.

use std::marker::PhantomData;

use super::assigner::Window;
use crate::time::Timestamp;

/// What a trigger decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerResult {
    /// Do nothing.
    Continue,
    /// Emit the window's result, keep its contents.
    Fire,
    /// Drop the window's contents without emitting.
    Purge,
    /// Emit, then drop the contents.
    FireAndPurge,
}

impl TriggerResult {
    pub(crate) fn fires(self) -> bool {
        matches!(self, TriggerResult::Fire | TriggerResult::FireAndPurge)
    }
    pub(crate) fn purges(self) -> bool {
        matches!(self, TriggerResult::Purge | TriggerResult::FireAndPurge)
    }
}

/// What a trigger may see and do for one key and window.
pub struct TriggerContext<'a> {
    pub(crate) watermark: Timestamp,
    pub(crate) now_ms: i64,
    pub(crate) event_timers: &'a mut Vec<Timestamp>,
    pub(crate) processing_timers: &'a mut Vec<Timestamp>,
    /// A per key and window counter the trigger may use as its state.
    pub(crate) state: &'a mut i64,
}

impl TriggerContext<'_> {
    /// The operator's current watermark.
    pub fn current_watermark(&self) -> Timestamp {
        self.watermark
    }
    /// Processing time in ms.
    pub fn current_processing_time(&self) -> i64 {
        self.now_ms
    }
    /// Asks for `on_event_time` once the watermark passes `ts`.
    pub fn register_event_time_timer(&mut self, ts: Timestamp) {
        self.event_timers.push(ts);
    }
    /// Asks for `on_processing_time` once the clock reaches `ts`.
    pub fn register_processing_time_timer(&mut self, ts: i64) {
        self.processing_timers.push(ts);
    }
    /// The trigger's per key and window state.
    pub fn state(&mut self) -> &mut i64 {
        self.state
    }
}

/// Decides when a window fires (Flink's `Trigger`).
pub trait Trigger<T, W: Window>: Clone + Send + Sync + 'static {
    /// A record was added to `window`.
    fn on_element(
        &mut self,
        value: &T,
        ts: Timestamp,
        window: &W,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult;
    /// An event-time timer of `window` fired.
    fn on_event_time(
        &mut self,
        time: Timestamp,
        window: &W,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult;
    /// A processing-time timer of `window` fired.
    fn on_processing_time(
        &mut self,
        time: i64,
        window: &W,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult;
    /// True when the trigger keeps per-window state in `ctx.state()`.
    fn uses_state(&self) -> bool {
        false
    }
}

/// Fires when the watermark passes the end of the window (the default for
/// event-time windows); a late record within the allowed lateness fires again.
#[derive(Debug, Clone, Copy, Default)]
pub struct EventTimeTrigger;

impl<T, W: Window> Trigger<T, W> for EventTimeTrigger {
    fn on_element(
        &mut self,
        _: &T,
        _: Timestamp,
        window: &W,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        if window.max_timestamp() <= ctx.watermark {
            TriggerResult::Fire
        } else {
            ctx.register_event_time_timer(window.max_timestamp());
            TriggerResult::Continue
        }
    }
    fn on_event_time(
        &mut self,
        time: Timestamp,
        window: &W,
        _: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        if time == window.max_timestamp() {
            TriggerResult::Fire
        } else {
            TriggerResult::Continue
        }
    }
    fn on_processing_time(&mut self, _: i64, _: &W, _: &mut TriggerContext<'_>) -> TriggerResult {
        TriggerResult::Continue
    }
}

/// Fires when processing time passes the end of the window.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessingTimeTrigger;

impl<T, W: Window> Trigger<T, W> for ProcessingTimeTrigger {
    fn on_element(
        &mut self,
        _: &T,
        _: Timestamp,
        window: &W,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        ctx.register_processing_time_timer(window.max_timestamp());
        TriggerResult::Continue
    }
    fn on_event_time(&mut self, _: Timestamp, _: &W, _: &mut TriggerContext<'_>) -> TriggerResult {
        TriggerResult::Continue
    }
    fn on_processing_time(&mut self, _: i64, _: &W, _: &mut TriggerContext<'_>) -> TriggerResult {
        TriggerResult::Fire
    }
}

/// Fires and purges every `count` records (for global windows).
#[derive(Debug, Clone, Copy)]
pub struct CountTrigger<W> {
    count: i64,
    _w: PhantomData<fn() -> W>,
}

impl<W> CountTrigger<W> {
    /// Fires after every `count` records of a key.
    pub fn of(count: u64) -> Self {
        Self {
            count: count.clamp(1, i64::MAX as u64) as i64,
            _w: PhantomData,
        }
    }
}

impl<T, W: Window> Trigger<T, W> for CountTrigger<W> {
    fn on_element(
        &mut self,
        _: &T,
        _: Timestamp,
        _: &W,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        let seen = ctx.state();
        *seen += 1;
        if *seen >= self.count {
            *seen = 0;
            TriggerResult::FireAndPurge
        } else {
            TriggerResult::Continue
        }
    }
    fn on_event_time(&mut self, _: Timestamp, _: &W, _: &mut TriggerContext<'_>) -> TriggerResult {
        TriggerResult::Continue
    }
    fn on_processing_time(&mut self, _: i64, _: &W, _: &mut TriggerContext<'_>) -> TriggerResult {
        TriggerResult::Continue
    }
    fn uses_state(&self) -> bool {
        true
    }
}
