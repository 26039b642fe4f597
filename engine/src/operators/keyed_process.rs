//! The keyed process operator: per-key state and timers.

use std::sync::Arc;

use spate_state::KeyRef;

use crate::error::Result;
use crate::keyed::{KeyedContext, KeyedTimers, OpenContext, StateRegistry};
use crate::runtime::output::{BoxOutput, Output, TaskCx};
use crate::runtime::side::SideOutputs;
use crate::time::{Timestamp, WATERMARK_MIN};

/// Which clock a timer belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeDomain {
    /// Fired by the watermark.
    EventTime,
    /// Fired by the processing-time clock.
    ProcessingTime,
}

/// Per-record logic on a keyed stream, with keyed state and timers
/// (Flink's `KeyedProcessFunction`).
pub trait KeyedProcessFunction<K, I, O>: Clone + Send + Sync + 'static {
    /// Creates state handles; called once per subtask before any record.
    fn open(&mut self, ctx: &mut OpenContext) -> Result<()> {
        let _ = ctx;
        Ok(())
    }
    /// Called for every record, with the record's key current.
    fn process_element(&mut self, value: I, ctx: &mut KeyedContext<'_, K, O>) -> Result<()>;
    /// Called when a timer registered for the current key fires.
    fn on_timer(
        &mut self,
        timestamp: Timestamp,
        domain: TimeDomain,
        ctx: &mut KeyedContext<'_, K, O>,
    ) -> Result<()> {
        let _ = (timestamp, domain, ctx);
        Ok(())
    }
}

pub(crate) struct KeyedProcessOp<K, I, O, F> {
    f: F,
    key_fn: Arc<dyn Fn(&I) -> K + Send + Sync>,
    next: BoxOutput<O>,
    side: SideOutputs,
    timers: KeyedTimers<K, ()>,
    registry: StateRegistry,
    watermark: Timestamp,
    max_parallelism: u16,
}

impl<K: crate::Key, I: 'static, O: 'static, F: KeyedProcessFunction<K, I, O>>
    KeyedProcessOp<K, I, O, F>
{
    pub(crate) fn new(
        mut f: F,
        key_fn: Arc<dyn Fn(&I) -> K + Send + Sync>,
        next: BoxOutput<O>,
        side: SideOutputs,
        mut open: OpenContext,
        max_parallelism: u16,
    ) -> Result<Self> {
        f.open(&mut open)?;
        Ok(Self {
            f,
            key_fn,
            next,
            side,
            timers: KeyedTimers::new(open.range),
            registry: open.registry,
            watermark: WATERMARK_MIN,
            max_parallelism,
        })
    }

    fn fire(&mut self, cx: &mut TaskCx, domain: TimeDomain, up_to: Timestamp) {
        loop {
            let queue = match domain {
                TimeDomain::EventTime => &mut self.timers.event,
                TimeDomain::ProcessingTime => &mut self.timers.processing,
            };
            let Some(timer) = queue.pop_due(up_to) else {
                break;
            };
            let ts = match domain {
                TimeDomain::EventTime => timer.timestamp_ms,
                TimeDomain::ProcessingTime => WATERMARK_MIN,
            };
            let mut ctx = KeyedContext {
                cx,
                out: &mut self.next,
                side: &mut self.side,
                timers: &mut self.timers,
                registry: &mut self.registry,
                key: &timer.key,
                kr: timer.key_ref,
                ts,
                watermark: self.watermark,
            };
            if let Err(e) = self.f.on_timer(timer.timestamp_ms, domain, &mut ctx) {
                cx.fail(e);
                return;
            }
        }
    }
}

impl<K: crate::Key, I: 'static, O: 'static, F: KeyedProcessFunction<K, I, O>> Output<I>
    for KeyedProcessOp<K, I, O, F>
{
    #[inline]
    fn record(&mut self, cx: &mut TaskCx, value: I, ts: Timestamp) {
        let key = (self.key_fn)(&value);
        let kr = KeyRef::of(&key, self.max_parallelism);
        let mut ctx = KeyedContext {
            cx,
            out: &mut self.next,
            side: &mut self.side,
            timers: &mut self.timers,
            registry: &mut self.registry,
            key: &key,
            kr,
            ts,
            watermark: self.watermark,
        };
        if let Err(e) = self.f.process_element(value, &mut ctx) {
            cx.fail(e);
        }
    }

    fn watermark(&mut self, cx: &mut TaskCx, wm: Timestamp) {
        self.watermark = wm;
        self.fire(cx, TimeDomain::EventTime, wm);
        self.side.watermark(cx, wm);
        self.next.watermark(cx, wm);
    }

    fn idle(&mut self, cx: &mut TaskCx, idle: bool) {
        self.side.idle(cx, idle);
        self.next.idle(cx, idle);
    }

    fn batch_end(&mut self, cx: &mut TaskCx) {
        self.side.batch_end(cx);
        self.next.batch_end(cx);
    }

    fn tick(&mut self, cx: &mut TaskCx) {
        let now = cx.now_ms();
        self.fire(cx, TimeDomain::ProcessingTime, now);
        if let Some(next) = self.timers.processing.peek_ts() {
            cx.request_tick_at(next);
        }
        self.side.tick(cx);
        self.next.tick(cx);
    }

    fn end(&mut self, cx: &mut TaskCx) {
        self.side.end(cx);
        self.next.end(cx);
    }
}
