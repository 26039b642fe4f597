//! Side outputs: extra typed outputs of an operator, addressed by tag.

use std::any::Any;

use super::output::{BoxOutput, TaskCx};
use crate::time::Timestamp;

/// A side output with its record type erased; control events still flow.
pub(crate) trait ErasedOutput {
    fn as_any_mut(&mut self) -> &mut dyn Any;
    fn watermark(&mut self, cx: &mut TaskCx, wm: Timestamp);
    fn idle(&mut self, cx: &mut TaskCx, idle: bool);
    fn batch_end(&mut self, cx: &mut TaskCx);
    fn tick(&mut self, cx: &mut TaskCx);
    fn end(&mut self, cx: &mut TaskCx);
}

pub(crate) struct TypedSide<X: 'static>(pub(crate) BoxOutput<X>);

impl<X: 'static> ErasedOutput for TypedSide<X> {
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn watermark(&mut self, cx: &mut TaskCx, wm: Timestamp) {
        self.0.watermark(cx, wm)
    }
    fn idle(&mut self, cx: &mut TaskCx, idle: bool) {
        self.0.idle(cx, idle)
    }
    fn batch_end(&mut self, cx: &mut TaskCx) {
        self.0.batch_end(cx)
    }
    fn tick(&mut self, cx: &mut TaskCx) {
        self.0.tick(cx)
    }
    fn end(&mut self, cx: &mut TaskCx) {
        self.0.end(cx)
    }
}

/// The side outputs of one operator instance.
#[derive(Default)]
pub(crate) struct SideOutputs {
    outs: Vec<(String, Box<dyn ErasedOutput>)>,
}

impl SideOutputs {
    pub(crate) fn new(outs: Vec<(String, Box<dyn ErasedOutput>)>) -> Self {
        Self { outs }
    }

    /// Emits `value` on side output `tag`. Returns false when nobody consumes
    /// that tag (the record is then dropped, as in Flink).
    pub(crate) fn emit<X: 'static>(
        &mut self,
        cx: &mut TaskCx,
        tag: &str,
        value: X,
        ts: Timestamp,
    ) -> bool {
        for (name, out) in &mut self.outs {
            if name == tag {
                if let Some(typed) = out.as_any_mut().downcast_mut::<TypedSide<X>>() {
                    typed.0.record(cx, value, ts);
                    return true;
                }
                cx.fail(crate::SpateError::internal(format!(
                    "side output `{tag}` used with two record types"
                )));
                return false;
            }
        }
        false
    }

    pub(crate) fn watermark(&mut self, cx: &mut TaskCx, wm: Timestamp) {
        self.outs.iter_mut().for_each(|(_, o)| o.watermark(cx, wm));
    }
    pub(crate) fn idle(&mut self, cx: &mut TaskCx, idle: bool) {
        self.outs.iter_mut().for_each(|(_, o)| o.idle(cx, idle));
    }
    pub(crate) fn batch_end(&mut self, cx: &mut TaskCx) {
        self.outs.iter_mut().for_each(|(_, o)| o.batch_end(cx));
    }
    pub(crate) fn tick(&mut self, cx: &mut TaskCx) {
        self.outs.iter_mut().for_each(|(_, o)| o.tick(cx));
    }
    pub(crate) fn end(&mut self, cx: &mut TaskCx) {
        self.outs.iter_mut().for_each(|(_, o)| o.end(cx));
    }
}
