//! The keyed process operator: per-key state and timers.

use std::sync::Arc;

use spate_state::KeyRef;

use super::forward::forward_to_outputs;
use crate::checkpoint::StatefulOperator;
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

impl TimeDomain {
    /// The event timestamp of what a timer firing at `timer_ms` emits: the
    /// timer's time in event time; none in processing time, as in Flink.
    pub(crate) fn output_timestamp(self, timer_ms: Timestamp) -> Timestamp {
        match self {
            TimeDomain::EventTime => timer_ms,
            TimeDomain::ProcessingTime => WATERMARK_MIN,
        }
    }
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
    /// Mini-batch: moves the keys whose output was held back while the
    /// current input batch was processed into `keys`. The operator then
    /// calls [`flush_key`](Self::flush_key) for each, with that key
    /// current, before the batch ends, before a watermark goes on and
    /// before the input ends: held-back output never crosses a watermark
    /// or a checkpoint barrier (barriers travel between batches).
    fn take_deferred_keys(&mut self, keys: &mut Vec<K>) {
        let _ = keys;
    }
    /// Emits what was held back for the current key (see
    /// [`take_deferred_keys`](Self::take_deferred_keys)).
    fn flush_key(&mut self, ctx: &mut KeyedContext<'_, K, O>) -> Result<()> {
        let _ = ctx;
        Ok(())
    }
}

/// Builds the [`KeyedContext`] of keyed operator `$op` for `$key`,
/// borrowing the operator's fields one by one so that its user function can
/// be called beside it.
macro_rules! keyed_ctx {
    ($op:ident, $cx:expr, $key:expr, $kr:expr, $ts:expr) => {
        $crate::keyed::KeyedContext {
            cx: $cx,
            out: &mut $op.next,
            side: &mut $op.side,
            timers: &mut $op.timers,
            registry: &mut $op.registry,
            key: $key,
            kr: $kr,
            ts: $ts,
            watermark: $op.watermark,
        }
    };
}
pub(crate) use keyed_ctx;

/// Implements `fire`, `on_watermark` and `on_tick` for a keyed operator
/// with fields as [`keyed_ctx!`] needs them and a user function `f` with
/// `on_timer`: the same for one input and two.
macro_rules! keyed_timer_hooks {
    () => {
        /// Fires the timers of `domain` due at `up_to`, in timer order.
        fn fire(
            &mut self,
            cx: &mut $crate::runtime::output::TaskCx,
            domain: $crate::operators::keyed_process::TimeDomain,
            up_to: $crate::time::Timestamp,
        ) {
            let fired = $crate::operators::timer_firing::fire_due(
                self,
                |op| &mut op.timers,
                domain,
                up_to,
                |op, timer| {
                    let ts = domain.output_timestamp(timer.timestamp_ms);
                    let mut ctx = $crate::operators::keyed_process::keyed_ctx!(
                        op,
                        cx,
                        &timer.key,
                        timer.key_ref,
                        ts
                    );
                    op.f.on_timer(timer.timestamp_ms, domain, &mut ctx)
                },
            );
            if let Err(e) = fired {
                cx.fail(e);
            }
        }

        fn on_watermark(
            &mut self,
            cx: &mut $crate::runtime::output::TaskCx,
            wm: $crate::time::Timestamp,
        ) {
            // A restored operator keeps its watermark until its inputs'
            // catch up: the watermark never goes back.
            if wm < self.watermark {
                return;
            }
            self.watermark = wm;
            self.fire(
                cx,
                $crate::operators::keyed_process::TimeDomain::EventTime,
                wm,
            );
        }

        /// Restored processing-time timers need a tick to fire.
        fn on_batch_end(&mut self, cx: &mut $crate::runtime::output::TaskCx) {
            if self.tick_pending {
                self.tick_pending = false;
                if let Some(next) = self.timers.processing.peek_ts() {
                    cx.request_tick_at(next);
                }
            }
        }

        fn on_tick(&mut self, cx: &mut $crate::runtime::output::TaskCx) {
            let now = cx.now_ms();
            self.fire(
                cx,
                $crate::operators::keyed_process::TimeDomain::ProcessingTime,
                now,
            );
            if let Some(next) = self.timers.processing.peek_ts() {
                cx.request_tick_at(next);
            }
        }
    };
}
pub(crate) use keyed_timer_hooks;

/// Implements [`StatefulOperator`] for a keyed operator with the fields
/// `registry`, `timers`, `watermark` and `tick_pending`: the same for one
/// input and two.
macro_rules! keyed_state_hooks {
    () => {
        fn capture(
            &mut self,
            sink: &mut $crate::checkpoint::StateSink<'_>,
        ) -> $crate::error::Result<()> {
            self.registry.capture(sink)?;
            self.timers.capture(sink)?;
            sink.watermark(self.watermark);
            Ok(())
        }

        fn continue_capture(
            &mut self,
            sink: &mut $crate::checkpoint::StateSink<'_>,
            budget: &mut usize,
        ) -> $crate::error::Result<bool> {
            self.registry.continue_capture(sink, budget)
        }

        fn restore(
            &mut self,
            from: &$crate::checkpoint::RestoredOperator<'_>,
            now_ms: i64,
        ) -> $crate::error::Result<()> {
            self.registry.restore(from, now_ms)?;
            self.tick_pending = self.timers.restore(from, now_ms)?;
            if let Some(wm) = from.watermark() {
                self.watermark = wm;
            }
            Ok(())
        }
    };
}
pub(crate) use keyed_state_hooks;

pub(crate) struct KeyedProcessOp<K, I, O, F> {
    f: F,
    key_fn: Arc<dyn Fn(&I) -> K + Send + Sync>,
    next: BoxOutput<O>,
    side: SideOutputs,
    timers: KeyedTimers<K, ()>,
    registry: StateRegistry,
    watermark: Timestamp,
    max_parallelism: u16,
    /// Restored processing-time timers wait for a tick request.
    tick_pending: bool,
    /// Keys whose held-back output is being flushed (reused buffer).
    deferred: Vec<K>,
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
            tick_pending: false,
            deferred: Vec::new(),
        })
    }

    keyed_timer_hooks!();

    /// Emits the output the function held back during the batch.
    fn flush_deferred(&mut self, cx: &mut TaskCx) {
        self.f.take_deferred_keys(&mut self.deferred);
        if self.deferred.is_empty() {
            return;
        }
        let mut keys = std::mem::take(&mut self.deferred);
        for key in keys.drain(..) {
            let kr = KeyRef::of(&key, self.max_parallelism);
            let mut ctx = keyed_ctx!(self, cx, &key, kr, WATERMARK_MIN);
            if let Err(e) = self.f.flush_key(&mut ctx) {
                cx.fail(e);
                break;
            }
        }
        // Empty: the drain dropped what a failure left.
        self.deferred = keys;
    }

    fn flush_then_watermark(&mut self, cx: &mut TaskCx, wm: Timestamp) {
        self.flush_deferred(cx);
        self.on_watermark(cx, wm);
    }

    fn flush_then_batch_end(&mut self, cx: &mut TaskCx) {
        self.flush_deferred(cx);
        self.on_batch_end(cx);
    }
}

impl<K: crate::Key, I: 'static, O: 'static, F: KeyedProcessFunction<K, I, O>> StatefulOperator
    for KeyedProcessOp<K, I, O, F>
{
    keyed_state_hooks!();
}

impl<K: crate::Key, I: 'static, O: 'static, F: KeyedProcessFunction<K, I, O>> Output<I>
    for KeyedProcessOp<K, I, O, F>
{
    #[inline]
    fn record(&mut self, cx: &mut TaskCx, value: I, ts: Timestamp) {
        let key = (self.key_fn)(&value);
        let kr = KeyRef::of(&key, self.max_parallelism);
        let mut ctx = keyed_ctx!(self, cx, &key, kr, ts);
        if let Err(e) = self.f.process_element(value, &mut ctx) {
            cx.fail(e);
        }
    }

    forward_to_outputs!(idle; watermark after flush_then_watermark, tick after on_tick,
        batch_end after flush_then_batch_end, end after flush_deferred);
}
