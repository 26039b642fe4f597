//! The non-keyed process function: per-record logic with side outputs and
//! access to event time.

use super::forward::forward_to_outputs;
use crate::api::side_output::OutputTag;
use crate::runtime::output::{BoxOutput, Output, TaskCx};
use crate::runtime::side::SideOutputs;
use crate::time::{Timestamp, WATERMARK_MIN};

/// Per-record logic on a non-keyed stream (Flink's `ProcessFunction`).
pub trait ProcessFunction<I, O>: Clone + Send + Sync + 'static {
    /// Called for every record.
    fn process_element(&mut self, value: I, ctx: &mut Context<'_, O>);
}

impl<I, O, F> ProcessFunction<I, O> for F
where
    F: FnMut(I, &mut Context<'_, O>) + Clone + Send + Sync + 'static,
{
    fn process_element(&mut self, value: I, ctx: &mut Context<'_, O>) {
        self(value, ctx)
    }
}

/// What a process function can do with the current record.
pub struct Context<'a, O> {
    pub(crate) cx: &'a mut TaskCx,
    pub(crate) out: &'a mut BoxOutput<O>,
    pub(crate) side: &'a mut SideOutputs,
    pub(crate) ts: Timestamp,
    pub(crate) watermark: Timestamp,
}

impl<O: 'static> Context<'_, O> {
    /// Emits a record with the input's timestamp.
    #[inline]
    pub fn collect(&mut self, value: O) {
        self.out.record(self.cx, value, self.ts);
    }

    /// Emits a record with another timestamp.
    pub fn collect_with_timestamp(&mut self, value: O, ts: Timestamp) {
        self.out.record(self.cx, value, ts);
    }

    /// Emits a record on a side output.
    pub fn side_output<X: 'static>(&mut self, tag: &OutputTag<X>, value: X) {
        self.side.emit(self.cx, tag.name(), value, self.ts);
    }

    /// The event timestamp of the current record, if the stream has event time.
    pub fn timestamp(&self) -> Option<Timestamp> {
        (self.ts != WATERMARK_MIN).then_some(self.ts)
    }

    /// The current watermark of this operator's input.
    pub fn current_watermark(&self) -> Timestamp {
        self.watermark
    }

    /// Fails the job with `err` after the current record.
    pub fn fail(&mut self, err: crate::SpateError) {
        self.cx.fail(err);
    }

    /// The index of this parallel subtask.
    pub fn subtask(&self) -> usize {
        self.cx.subtask
    }
}

/// Builds the [`Context`] of operator `$op` for a record at `$ts`,
/// borrowing the operator's fields one by one so that its user function can
/// be called beside it.
macro_rules! process_ctx {
    ($op:ident, $cx:expr, $ts:expr) => {
        $crate::operators::process::Context {
            cx: $cx,
            out: &mut $op.next,
            side: &mut $op.side,
            ts: $ts,
            watermark: $op.watermark,
        }
    };
}
pub(crate) use process_ctx;

pub(crate) struct ProcessOp<F, O> {
    f: F,
    next: BoxOutput<O>,
    side: SideOutputs,
    watermark: Timestamp,
}

impl<F, O> ProcessOp<F, O> {
    pub(crate) fn new(f: F, next: BoxOutput<O>, side: SideOutputs) -> Self {
        Self {
            f,
            next,
            side,
            watermark: WATERMARK_MIN,
        }
    }

    fn set_watermark(&mut self, _: &mut TaskCx, wm: Timestamp) {
        self.watermark = wm;
    }
}

impl<I: 'static, O: 'static, F: ProcessFunction<I, O>> Output<I> for ProcessOp<F, O> {
    fn record(&mut self, cx: &mut TaskCx, value: I, ts: Timestamp) {
        let mut ctx = process_ctx!(self, cx, ts);
        self.f.process_element(value, &mut ctx);
    }
    forward_to_outputs!(idle, batch_end, tick, end; watermark after set_watermark);
}
