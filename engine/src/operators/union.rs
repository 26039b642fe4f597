//! Union: several inputs of the same type merged into one stream.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use super::combiner::{Combined, InputCombiner};
use crate::runtime::graph::{ConsumerFactory, NodeId};
use crate::runtime::output::{BoxOutput, Output, TaskCx};
use crate::time::Timestamp;

struct UnionCore<T> {
    combiner: InputCombiner,
    next: BoxOutput<T>,
}

impl<T: 'static> UnionCore<T> {
    fn apply(&mut self, cx: &mut TaskCx, c: Combined) {
        if let Some(wm) = c.watermark {
            self.next.watermark(cx, wm);
        }
        if let Some(idle) = c.idle_changed {
            self.next.idle(cx, idle);
        }
        if c.all_ended {
            self.next.end(cx);
        }
    }
}

struct UnionInput<T> {
    core: Rc<RefCell<UnionCore<T>>>,
    input: usize,
}

impl<T: 'static> Output<T> for UnionInput<T> {
    #[inline]
    fn record(&mut self, cx: &mut TaskCx, value: T, ts: Timestamp) {
        self.core.borrow_mut().next.record(cx, value, ts);
    }
    fn watermark(&mut self, cx: &mut TaskCx, wm: Timestamp) {
        let mut core = self.core.borrow_mut();
        let c = core.combiner.watermark(self.input, wm);
        core.apply(cx, c);
    }
    fn idle(&mut self, cx: &mut TaskCx, idle: bool) {
        let mut core = self.core.borrow_mut();
        let c = core.combiner.idle(self.input, idle);
        core.apply(cx, c);
    }
    fn batch_end(&mut self, cx: &mut TaskCx) {
        self.core.borrow_mut().next.batch_end(cx);
    }
    fn tick(&mut self, cx: &mut TaskCx) {
        self.core.borrow_mut().next.tick(cx);
    }
    fn end(&mut self, cx: &mut TaskCx) {
        let mut core = self.core.borrow_mut();
        let c = core.combiner.end(self.input, cx.drains_on_end());
        core.apply(cx, c);
    }
}

/// The consumer factory of input `input` (of `inputs`) of union node `node`.
pub(crate) fn union_input<T: crate::Data>(
    node: NodeId,
    input: usize,
    inputs: usize,
) -> ConsumerFactory<T> {
    Arc::new(move |inst| {
        let core = inst.shared_node(node, |inst| {
            Ok(Rc::new(RefCell::new(UnionCore {
                combiner: InputCombiner::new(inputs),
                next: inst.outputs_of::<T>(node)?,
            })))
        })?;
        Ok(Box::new(UnionInput { core, input }) as BoxOutput<T>)
    })
}
