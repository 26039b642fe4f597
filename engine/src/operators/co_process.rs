//! Co-process functions: one function over two connected streams, with
//! keyed state and timers shared by both inputs when the streams are keyed
//! (Flink's `CoProcessFunction` and `KeyedCoProcessFunction`).

use std::marker::PhantomData;
use std::sync::Arc;

use spate_state::KeyRef;

use super::forward::forward_to_outputs;
use super::keyed_process::{TimeDomain, keyed_ctx, keyed_state_hooks, keyed_timer_hooks};
use super::process::{Context, process_ctx};
use super::two_input::TwoInputOperator;
use crate::checkpoint::StatefulOperator;
use crate::error::Result;
use crate::keyed::{KeyedContext, KeyedTimers, OpenContext, StateRegistry};
use crate::runtime::output::{BoxOutput, TaskCx};
use crate::runtime::side::SideOutputs;
use crate::time::{Timestamp, WATERMARK_MAX, WATERMARK_MIN};

/// What a [`CoProcessFunction`] can do with the current record: emit
/// records and side outputs, read its timestamp and the watermark (the
/// minimum of both inputs' watermarks). The same type as a process
/// function's [`Context`].
pub type CoContext<'a, O> = Context<'a, O>;

/// What a [`KeyedCoProcessFunction`] can do for the current key: the keyed
/// state shared by both inputs, timers, output and side outputs. The same
/// type as a keyed process function's [`KeyedContext`].
pub type KeyedCoContext<'a, K, O> = KeyedContext<'a, K, O>;

/// Per-record logic over two connected, non-keyed streams (Flink's
/// `CoProcessFunction`). Each parallel instance sees the records of both
/// inputs that reach its subtask, one at a time, in arrival order.
pub trait CoProcessFunction<A, B, O>: Clone + Send + Sync + 'static {
    /// Called for every record of the first input.
    fn process_element1(&mut self, value: A, ctx: &mut CoContext<'_, O>);
    /// Called for every record of the second input.
    fn process_element2(&mut self, value: B, ctx: &mut CoContext<'_, O>);
}

/// Per-record logic over two connected keyed streams with the same key
/// type (Flink's `KeyedCoProcessFunction`): records of both inputs with the
/// same key meet on one subtask, and share that key's state and timers.
pub trait KeyedCoProcessFunction<K, A, B, O>: Clone + Send + Sync + 'static {
    /// Creates state handles; called once per subtask before any record.
    /// Both inputs use the same state.
    fn open(&mut self, ctx: &mut OpenContext) -> Result<()> {
        let _ = ctx;
        Ok(())
    }
    /// Called for every record of the first input, with its key current.
    fn process_element1(&mut self, value: A, ctx: &mut KeyedCoContext<'_, K, O>) -> Result<()>;
    /// Called for every record of the second input, with its key current.
    fn process_element2(&mut self, value: B, ctx: &mut KeyedCoContext<'_, K, O>) -> Result<()>;
    /// Called when a timer registered for the current key fires. Event-time
    /// timers fire once the combined watermark of both inputs passes them.
    fn on_timer(
        &mut self,
        timestamp: Timestamp,
        domain: TimeDomain,
        ctx: &mut KeyedCoContext<'_, K, O>,
    ) -> Result<()> {
        let _ = (timestamp, domain, ctx);
        Ok(())
    }
    /// How far the operator's output watermark runs behind its input
    /// watermark, in ms. A function that emits records up to that much
    /// behind the watermark (an interval join pairs a new row with older
    /// ones, and pads an unmatched row once its interval has passed) sets
    /// it so that those records are not late for the operators after it,
    /// as Flink's `KeyedCoProcessOperatorWithWatermarkDelay` does. The final
    /// watermark is never held back.
    fn output_watermark_delay_ms(&self) -> i64 {
        0
    }
}

/// The non-keyed co-process operator.
pub(crate) struct CoProcessOp<F, A, B, O> {
    f: F,
    next: BoxOutput<O>,
    side: SideOutputs,
    watermark: Timestamp,
    _in: PhantomData<fn(A, B)>,
}

impl<F, A, B, O> CoProcessOp<F, A, B, O> {
    pub(crate) fn new(f: F, next: BoxOutput<O>, side: SideOutputs) -> Self {
        Self {
            f,
            next,
            side,
            watermark: WATERMARK_MIN,
            _in: PhantomData,
        }
    }

    fn set_watermark(&mut self, _: &mut TaskCx, wm: Timestamp) {
        self.watermark = wm;
    }
}

impl<F, A, B, O> TwoInputOperator for CoProcessOp<F, A, B, O>
where
    F: CoProcessFunction<A, B, O>,
    A: 'static,
    B: 'static,
    O: 'static,
{
    type In1 = A;
    type In2 = B;

    #[inline]
    fn record1(&mut self, cx: &mut TaskCx, value: A, ts: Timestamp) {
        let mut ctx = process_ctx!(self, cx, ts);
        self.f.process_element1(value, &mut ctx);
    }

    #[inline]
    fn record2(&mut self, cx: &mut TaskCx, value: B, ts: Timestamp) {
        let mut ctx = process_ctx!(self, cx, ts);
        self.f.process_element2(value, &mut ctx);
    }

    forward_to_outputs!(idle, batch_end, tick, end; watermark after set_watermark);
}

/// The keyed co-process operator: one state registry and one pair of timer
/// queues for both inputs.
pub(crate) struct KeyedCoProcessOp<K, A, B, O, F> {
    f: F,
    key1: Arc<dyn Fn(&A) -> K + Send + Sync>,
    key2: Arc<dyn Fn(&B) -> K + Send + Sync>,
    next: BoxOutput<O>,
    side: SideOutputs,
    timers: KeyedTimers<K, ()>,
    registry: StateRegistry,
    watermark: Timestamp,
    max_parallelism: u16,
    /// Restored processing-time timers wait for a tick request.
    tick_pending: bool,
}

impl<K, A, B, O, F> KeyedCoProcessOp<K, A, B, O, F>
where
    K: crate::Key,
    A: 'static,
    B: 'static,
    O: 'static,
    F: KeyedCoProcessFunction<K, A, B, O>,
{
    pub(crate) fn new(
        mut f: F,
        key1: Arc<dyn Fn(&A) -> K + Send + Sync>,
        key2: Arc<dyn Fn(&B) -> K + Send + Sync>,
        next: BoxOutput<O>,
        side: SideOutputs,
        mut open: OpenContext,
        max_parallelism: u16,
    ) -> Result<Self> {
        f.open(&mut open)?;
        Ok(Self {
            f,
            key1,
            key2,
            next,
            side,
            timers: KeyedTimers::new(open.range),
            registry: open.registry,
            watermark: WATERMARK_MIN,
            max_parallelism,
            tick_pending: false,
        })
    }

    keyed_timer_hooks!();
}

impl<K, A, B, O, F> StatefulOperator for KeyedCoProcessOp<K, A, B, O, F>
where
    K: crate::Key,
    A: 'static,
    B: 'static,
    O: 'static,
    F: KeyedCoProcessFunction<K, A, B, O>,
{
    keyed_state_hooks!();
}

impl<K, A, B, O, F> TwoInputOperator for KeyedCoProcessOp<K, A, B, O, F>
where
    K: crate::Key,
    A: 'static,
    B: 'static,
    O: 'static,
    F: KeyedCoProcessFunction<K, A, B, O>,
{
    type In1 = A;
    type In2 = B;

    #[inline]
    fn record1(&mut self, cx: &mut TaskCx, value: A, ts: Timestamp) {
        let key = (self.key1)(&value);
        let kr = KeyRef::of(&key, self.max_parallelism);
        let mut ctx = keyed_ctx!(self, cx, &key, kr, ts);
        if let Err(e) = self.f.process_element1(value, &mut ctx) {
            cx.fail(e);
        }
    }

    #[inline]
    fn record2(&mut self, cx: &mut TaskCx, value: B, ts: Timestamp) {
        let key = (self.key2)(&value);
        let kr = KeyRef::of(&key, self.max_parallelism);
        let mut ctx = keyed_ctx!(self, cx, &key, kr, ts);
        if let Err(e) = self.f.process_element2(value, &mut ctx) {
            cx.fail(e);
        }
    }

    /// Fires the timers due, then passes the watermark on, held back by
    /// the function's output delay.
    fn watermark(&mut self, cx: &mut TaskCx, wm: Timestamp) {
        self.on_watermark(cx, wm);
        let out = if wm == WATERMARK_MAX {
            wm
        } else {
            wm.saturating_sub(self.f.output_watermark_delay_ms().max(0))
        };
        self.side.watermark(cx, out);
        self.next.watermark(cx, out);
    }

    forward_to_outputs!(idle, end; tick after on_tick, batch_end after on_batch_end);

    fn state(&self) -> Option<&dyn StatefulOperator> {
        Some(self)
    }

    fn state_mut(&mut self) -> Option<&mut dyn StatefulOperator> {
        Some(self)
    }
}
