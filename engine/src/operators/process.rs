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
    /// Called when the task finished an input batch, before a watermark
    /// goes on and before the input ends: a function that combines the
    /// records of a batch (a local pre-aggregation) emits here, so nothing
    /// it holds crosses a watermark or a checkpoint barrier. Output has no
    /// timestamp.
    fn on_batch_end(&mut self, ctx: &mut Context<'_, O>) {
        let _ = ctx;
    }
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
}

impl<I: 'static, O: 'static, F: ProcessFunction<I, O>> Output<I> for ProcessOp<F, O> {
    fn record(&mut self, cx: &mut TaskCx, value: I, ts: Timestamp) {
        let mut ctx = process_ctx!(self, cx, ts);
        self.f.process_element(value, &mut ctx);
    }
    // What the function holds for the batch goes out before each event
    // passes on (see `ProcessFunction::on_batch_end`).
    fn watermark(&mut self, cx: &mut TaskCx, wm: Timestamp) {
        self.f
            .on_batch_end(&mut process_ctx!(self, cx, WATERMARK_MIN));
        self.watermark = wm;
        self.side.watermark(cx, wm);
        self.next.watermark(cx, wm);
    }
    fn batch_end(&mut self, cx: &mut TaskCx) {
        self.f
            .on_batch_end(&mut process_ctx!(self, cx, WATERMARK_MIN));
        self.side.batch_end(cx);
        self.next.batch_end(cx);
    }
    fn end(&mut self, cx: &mut TaskCx) {
        self.f
            .on_batch_end(&mut process_ctx!(self, cx, WATERMARK_MIN));
        self.side.end(cx);
        self.next.end(cx);
    }
    forward_to_outputs!(idle, tick);
}
