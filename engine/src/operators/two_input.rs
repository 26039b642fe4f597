//! The plumbing of a two-input operator (co-process, interval join): one
//! shared operator instance per core, fed by one [`Output`] adapter per
//! input, with watermarks, idleness and end-of-input combined across both
//! inputs as in [`union`](super::union).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use super::combiner::{Combined, InputCombiner};

use crate::checkpoint::{
    RestoredOperator, StateSink, StatefulOperator, restore_operator, take_part,
};
use crate::error::Result;
use crate::runtime::graph::{ConsumerFactory, NodeId};
use crate::runtime::instantiate::Instantiator;
use crate::runtime::output::{Output, TaskCx};
use crate::time::Timestamp;

/// An operator with two typed inputs. Records arrive per input; control
/// events arrive already combined over both inputs.
pub(crate) trait TwoInputOperator: 'static {
    /// The record type of the first input.
    type In1;
    /// The record type of the second input.
    type In2;
    /// A record of the first input.
    fn record1(&mut self, cx: &mut TaskCx, value: Self::In1, ts: Timestamp);
    /// A record of the second input.
    fn record2(&mut self, cx: &mut TaskCx, value: Self::In2, ts: Timestamp);
    /// The combined watermark (the minimum of both inputs') advanced.
    fn watermark(&mut self, cx: &mut TaskCx, wm: Timestamp);
    /// Both inputs became idle (true), or one became active again (false).
    fn idle(&mut self, cx: &mut TaskCx, idle: bool);
    /// One input message was processed.
    fn batch_end(&mut self, cx: &mut TaskCx);
    /// Processing time advanced.
    fn tick(&mut self, cx: &mut TaskCx);
    /// Both inputs ended.
    fn end(&mut self, cx: &mut TaskCx);
    /// The operator's keyed state, if it keeps any (for checkpoints).
    fn state(&self) -> Option<&dyn StatefulOperator> {
        None
    }
    /// The same, for restores.
    fn state_mut(&mut self) -> Option<&mut dyn StatefulOperator> {
        None
    }
}

struct Core<Op> {
    combiner: InputCombiner,
    op: Op,
}

impl<Op: TwoInputOperator> Core<Op> {
    fn apply(&mut self, cx: &mut TaskCx, c: Combined) {
        if let Some(wm) = c.watermark {
            self.op.watermark(cx, wm);
        }
        if let Some(idle) = c.idle_changed {
            self.op.idle(cx, idle);
        }
        if c.all_ended {
            self.op.end(cx);
        }
    }
}

type SharedCore<Op> = Rc<RefCell<Core<Op>>>;

/// The adapter of input `INPUT` (0 or 1) of a shared two-input operator.
struct Input<Op, const INPUT: usize> {
    core: SharedCore<Op>,
}

impl<Op: TwoInputOperator, const INPUT: usize> Input<Op, INPUT> {
    fn control(&self, cx: &mut TaskCx, event: impl FnOnce(&mut InputCombiner, usize) -> Combined) {
        let mut core = self.core.borrow_mut();
        let c = event(&mut core.combiner, INPUT);
        core.apply(cx, c);
    }
}

/// Implements the control methods of [`Output`] for an input adapter:
/// they are the same for both inputs, only the record method differs.
macro_rules! input_control {
    () => {
        fn watermark(&mut self, cx: &mut TaskCx, wm: Timestamp) {
            self.control(cx, |c, i| c.watermark(i, wm));
        }
        fn idle(&mut self, cx: &mut TaskCx, idle: bool) {
            self.control(cx, |c, i| c.idle(i, idle));
        }
        fn batch_end(&mut self, cx: &mut TaskCx) {
            self.core.borrow_mut().op.batch_end(cx);
        }
        fn tick(&mut self, cx: &mut TaskCx) {
            self.core.borrow_mut().op.tick(cx);
        }
        fn end(&mut self, cx: &mut TaskCx) {
            let drain = cx.drains_on_end();
            self.control(cx, |c, i| c.end(i, drain));
        }
    };
}

impl<Op: TwoInputOperator> Output<Op::In1> for Input<Op, 0> {
    #[inline]
    fn record(&mut self, cx: &mut TaskCx, value: Op::In1, ts: Timestamp) {
        self.core.borrow_mut().op.record1(cx, value, ts);
    }
    input_control!();
}

impl<Op: TwoInputOperator> Output<Op::In2> for Input<Op, 1> {
    #[inline]
    fn record(&mut self, cx: &mut TaskCx, value: Op::In2, ts: Timestamp) {
        self.core.borrow_mut().op.record2(cx, value, ts);
    }
    input_control!();
}

/// The consumer factories of the two inputs of two-input node `node`.
/// `make` builds the operator once per core; the first input wired on a
/// core creates it and the other shares it.
pub(crate) fn two_input_consumers<Op, M>(
    node: NodeId,
    make: M,
) -> (ConsumerFactory<Op::In1>, ConsumerFactory<Op::In2>)
where
    Op: TwoInputOperator,
    Op::In1: crate::Data,
    Op::In2: crate::Data,
    M: Fn(&mut Instantiator<'_>, NodeId) -> Result<Op> + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let make2 = make.clone();
    let first: ConsumerFactory<Op::In1> = Arc::new(move |inst| {
        let core = shared_core(inst, node, &*make)?;
        Ok(Box::new(Input::<Op, 0> { core }))
    });
    let second: ConsumerFactory<Op::In2> = Arc::new(move |inst| {
        let core = shared_core(inst, node, &*make2)?;
        Ok(Box::new(Input::<Op, 1> { core }))
    });
    (first, second)
}

fn shared_core<Op, M>(inst: &mut Instantiator<'_>, node: NodeId, make: &M) -> Result<SharedCore<Op>>
where
    Op: TwoInputOperator,
    M: Fn(&mut Instantiator<'_>, NodeId) -> Result<Op>,
{
    inst.shared_node(node, |inst| {
        let core = Rc::new(RefCell::new(Core {
            combiner: InputCombiner::new(2),
            op: make(inst, node)?,
        }));
        take_part_in_checkpoints(inst, node, &core)?;
        Ok(core)
    })
}

/// Restores a stateful operator's state, and registers it with the task's
/// checkpoints, once per core (the first input wired creates it).
fn take_part_in_checkpoints<Op: TwoInputOperator>(
    inst: &mut Instantiator<'_>,
    node: NodeId,
    core: &SharedCore<Op>,
) -> Result<()> {
    if core.borrow().op.state().is_none() {
        return Ok(());
    }
    let range = crate::api::keyed::key_groups(inst);
    restore_operator(inst, node, range, &mut *core.borrow_mut())?;
    take_part(inst, node, core);
    Ok(())
}

/// A shared core checkpoints its operator's state, if it keeps any.
impl<Op: TwoInputOperator> StatefulOperator for Core<Op> {
    fn capture(&mut self, sink: &mut StateSink<'_>) -> Result<()> {
        self.op.state_mut().map_or(Ok(()), |s| s.capture(sink))
    }

    fn continue_capture(&mut self, sink: &mut StateSink<'_>, budget: &mut usize) -> Result<bool> {
        self.op
            .state_mut()
            .map_or(Ok(true), |s| s.continue_capture(sink, budget))
    }

    fn restore(&mut self, from: &RestoredOperator<'_>, now_ms: i64) -> Result<()> {
        self.op
            .state_mut()
            .map_or(Ok(()), |s| s.restore(from, now_ms))
    }
}
