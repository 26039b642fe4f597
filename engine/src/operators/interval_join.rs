//! The interval join operator (Flink's `IntervalJoinOperator`): joins
//! records `a` and `b` of the same key when
//! `a.ts + lower <= b.ts <= a.ts + upper`.
//!
//! Each side's records are buffered per key in a map from timestamp to the
//! records with that timestamp. A record is joined against the other side's
//! buffer when it arrives, then buffered itself until the combined watermark
//! shows that no future record of the other side can match it; an
//! event-time timer then drops its bucket.

use std::sync::Arc;

use spate_state::{KeyRef, MapTable, StateData, TimerQueue};

use super::forward::forward_to_outputs;
use super::two_input::TwoInputOperator;
use crate::checkpoint::{RestoredOperator, StateSink, StatefulOperator};
use crate::error::Result;
use crate::runtime::output::{BoxOutput, TaskCx};
use crate::runtime::side::SideOutputs;
use crate::time::{Timestamp, WATERMARK_MIN};

/// Which buffer a cleanup timer belongs to, and the bucket (timestamp) it
/// drops. Keeping the bucket in the timer avoids recomputing it from the
/// timer's time, which saturating arithmetic could make ambiguous.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub(crate) enum Bucket {
    Left(Timestamp),
    Right(Timestamp),
}

/// The build-time settings of an interval join.
#[derive(Clone)]
pub(crate) struct IntervalJoinSpec<K, A, B, F> {
    pub(crate) key_left: Arc<dyn Fn(&A) -> K + Send + Sync>,
    pub(crate) key_right: Arc<dyn Fn(&B) -> K + Send + Sync>,
    /// Inclusive lower bound of `b.ts - a.ts` (exclusive bounds are
    /// already shifted by one).
    pub(crate) lower: i64,
    /// Inclusive upper bound of `b.ts - a.ts`.
    pub(crate) upper: i64,
    pub(crate) f: F,
    pub(crate) left_late_tag: Option<String>,
    pub(crate) right_late_tag: Option<String>,
}

pub(crate) struct IntervalJoinOp<K, A, B, O, F> {
    spec: IntervalJoinSpec<K, A, B, F>,
    left: MapTable<K, (), Timestamp, Vec<A>>,
    right: MapTable<K, (), Timestamp, Vec<B>>,
    cleanup: TimerQueue<K, Bucket>,
    next: BoxOutput<O>,
    side: SideOutputs,
    watermark: Timestamp,
    max_parallelism: u16,
}

impl<K, A, B, O, F> IntervalJoinOp<K, A, B, O, F>
where
    K: crate::Key,
    A: Clone + 'static,
    B: Clone + 'static,
    O: 'static,
    F: Fn(&A, &B) -> O + 'static,
{
    pub(crate) fn new(
        spec: IntervalJoinSpec<K, A, B, F>,
        range: spate_state::KeyGroupRange,
        next: BoxOutput<O>,
        side: SideOutputs,
        max_parallelism: u16,
    ) -> Self {
        Self {
            spec,
            left: MapTable::new(range, None),
            right: MapTable::new(range, None),
            cleanup: TimerQueue::new(range),
            next,
            side,
            watermark: WATERMARK_MIN,
            max_parallelism,
        }
    }

    /// A record is late when the watermark has passed its timestamp: the
    /// watermark `W` promises no more records with `ts <= W`, so the other
    /// side's buffer may already have dropped its partners. (Flink checks
    /// `ts < W`; with `<=` a pair is never lost at the cleanup edge.)
    fn is_late(&self, ts: Timestamp) -> bool {
        self.watermark != WATERMARK_MIN && ts <= self.watermark
    }

    fn late(&mut self, cx: &mut TaskCx, left: Option<A>, right: Option<B>, ts: Timestamp) {
        cx.metrics.add_late_records(1);
        if let (Some(a), Some(tag)) = (left, &self.spec.left_late_tag) {
            self.side.emit(cx, tag, a, ts);
        }
        if let (Some(b), Some(tag)) = (right, &self.spec.right_late_tag) {
            self.side.emit(cx, tag, b, ts);
        }
    }

    fn process_left(&mut self, cx: &mut TaskCx, a: A, ts: Timestamp) -> Result<()> {
        if self.is_late(ts) {
            self.late(cx, Some(a), None, ts);
            return Ok(());
        }
        let key = (self.spec.key_left)(&a);
        let kr = KeyRef::of(&key, self.max_parallelism);
        let now = cx.now_ms_cached();
        // Partners b satisfy ts + lower <= b.ts <= ts + upper.
        let (from, to) = (
            ts.saturating_add(self.spec.lower),
            ts.saturating_add(self.spec.upper),
        );
        for (&bts, bs) in self.right.iter(kr, &key, &(), now)? {
            if bts < from || bts > to {
                continue;
            }
            for b in bs {
                self.next.record(cx, (self.spec.f)(&a, b), ts.max(bts));
            }
        }
        // No right record later than ts + upper can match: keep `a` until
        // the watermark passes that point (or its own ts, if later).
        let cleanup_at = if self.spec.upper > 0 { to } else { ts };
        buffer(&mut self.left, kr, &key, ts, a, now)?;
        self.cleanup
            .register(kr, &key, &Bucket::Left(ts), cleanup_at)?;
        Ok(())
    }

    fn process_right(&mut self, cx: &mut TaskCx, b: B, ts: Timestamp) -> Result<()> {
        if self.is_late(ts) {
            self.late(cx, None, Some(b), ts);
            return Ok(());
        }
        let key = (self.spec.key_right)(&b);
        let kr = KeyRef::of(&key, self.max_parallelism);
        let now = cx.now_ms_cached();
        // Partners a satisfy ts - upper <= a.ts <= ts - lower.
        let (from, to) = (
            ts.saturating_sub(self.spec.upper),
            ts.saturating_sub(self.spec.lower),
        );
        for (&ats, as_) in self.left.iter(kr, &key, &(), now)? {
            if ats < from || ats > to {
                continue;
            }
            for a in as_ {
                self.next.record(cx, (self.spec.f)(a, &b), ts.max(ats));
            }
        }
        let cleanup_at = if self.spec.lower < 0 { to } else { ts };
        buffer(&mut self.right, kr, &key, ts, b, now)?;
        self.cleanup
            .register(kr, &key, &Bucket::Right(ts), cleanup_at)?;
        Ok(())
    }

    fn on_watermark(&mut self, cx: &mut TaskCx, wm: Timestamp) {
        // A restored operator keeps its watermark until its inputs' catch up.
        if wm < self.watermark {
            return;
        }
        self.watermark = wm;
        if let Err(e) = self.clean_up(cx, wm) {
            cx.fail(e);
        }
    }

    /// Drops the buckets whose cleanup time the watermark has reached.
    fn clean_up(&mut self, cx: &TaskCx, wm: Timestamp) -> Result<()> {
        let now = cx.now_ms_cached();
        while let Some(timer) = self.cleanup.pop_due(wm) {
            let (kr, key) = (timer.key_ref, &timer.key);
            match timer.ns {
                Bucket::Left(ts) => {
                    self.left.remove(kr, key, &(), &ts, now)?;
                }
                Bucket::Right(ts) => {
                    self.right.remove(kr, key, &(), &ts, now)?;
                }
            }
        }
        Ok(())
    }
}

/// Appends `value` to the bucket `ts` of `key` in `table`.
fn buffer<K, V>(
    table: &mut MapTable<K, (), Timestamp, Vec<V>>,
    kr: KeyRef,
    key: &K,
    ts: Timestamp,
    value: V,
    now: i64,
) -> Result<()>
where
    K: crate::Key,
    V: Clone + 'static,
{
    if let Some(bucket) = table.get_mut(kr, key, &(), &ts, now)? {
        bucket.push(value);
    } else {
        table.put(kr, key, &(), ts, vec![value], now)?;
    }
    Ok(())
}

/// The interval join's states in checkpoints.
const LEFT: &str = "left";
const RIGHT: &str = "right";
const CLEANUP: &str = "$cleanup-timers";

impl<K, A, B, O, F> StatefulOperator for IntervalJoinOp<K, A, B, O, F>
where
    K: crate::Key,
    A: Clone + StateData + 'static,
    B: Clone + StateData + 'static,
    O: 'static,
    F: Fn(&A, &B) -> O + 'static,
{
    fn capture(&mut self, sink: &mut StateSink<'_>) -> Result<()> {
        sink.table(LEFT, &self.left)?;
        sink.table(RIGHT, &self.right)?;
        sink.table(CLEANUP, &self.cleanup)?;
        sink.watermark(self.watermark);
        Ok(())
    }

    fn restore(&mut self, from: &RestoredOperator<'_>, now_ms: i64) -> Result<()> {
        from.table(LEFT, &mut self.left, now_ms)?;
        from.table(RIGHT, &mut self.right, now_ms)?;
        from.table(CLEANUP, &mut self.cleanup, now_ms)?;
        if let Some(wm) = from.watermark() {
            self.watermark = wm;
        }
        Ok(())
    }
}

impl<K, A, B, O, F> TwoInputOperator for IntervalJoinOp<K, A, B, O, F>
where
    K: crate::Key,
    A: Clone + StateData + 'static,
    B: Clone + StateData + 'static,
    O: 'static,
    F: Fn(&A, &B) -> O + 'static,
{
    type In1 = A;
    type In2 = B;

    fn record1(&mut self, cx: &mut TaskCx, value: A, ts: Timestamp) {
        if let Err(e) = self.process_left(cx, value, ts) {
            cx.fail(e);
        }
    }

    fn record2(&mut self, cx: &mut TaskCx, value: B, ts: Timestamp) {
        if let Err(e) = self.process_right(cx, value, ts) {
            cx.fail(e);
        }
    }

    forward_to_outputs!(idle, batch_end, tick, end; watermark after on_watermark);

    fn state(&self) -> Option<&dyn StatefulOperator> {
        Some(self)
    }

    fn state_mut(&mut self) -> Option<&mut dyn StatefulOperator> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use spate_state::KeyGroupRange;

    use super::*;
    use crate::runtime::output::{Collected, Seen};

    /// (key, record id).
    type Ev = (u64, u32);
    type Pairs = Seen<(u32, u32)>;

    fn task_cx() -> TaskCx {
        TaskCx::for_tests()
    }

    type Op = IntervalJoinOp<u64, Ev, Ev, (u32, u32), fn(&Ev, &Ev) -> (u32, u32)>;

    fn join_op(lower: i64, upper: i64, out: &Pairs) -> Op {
        let spec = IntervalJoinSpec {
            key_left: Arc::new(|e: &Ev| e.0),
            key_right: Arc::new(|e: &Ev| e.0),
            lower,
            upper,
            f: (|a: &Ev, b: &Ev| (a.1, b.1)) as fn(&Ev, &Ev) -> (u32, u32),
            left_late_tag: None,
            right_late_tag: None,
        };
        IntervalJoinOp::new(
            spec,
            KeyGroupRange::all(128),
            Box::new(Collected(out.clone())),
            SideOutputs::default(),
            128,
        )
    }

    #[test]
    fn buffers_are_dropped_exactly_when_no_partner_can_arrive() {
        let out: Pairs = Rc::default();
        let mut cx = task_cx();
        // b.ts in [a.ts - 2, a.ts + 3].
        let mut op = join_op(-2, 3, &out);
        op.record1(&mut cx, (1, 1), 10);
        op.record2(&mut cx, (1, 8), 8);
        assert_eq!((op.left.len(), op.right.len()), (1, 1));
        // A right record may join lefts up to b.ts + 2: b8 goes at wm 10.
        op.watermark(&mut cx, 9);
        assert_eq!(op.right.len(), 1);
        op.watermark(&mut cx, 10);
        assert_eq!((op.left.len(), op.right.len()), (1, 0));
        // A left record may join rights up to a.ts + 3 = 13: kept at wm 12,
        // so a right record at 13 (not late) still finds it.
        op.watermark(&mut cx, 12);
        assert_eq!(op.left.len(), 1);
        op.record2(&mut cx, (1, 13), 13);
        op.watermark(&mut cx, 13);
        assert_eq!(
            op.left.len(),
            0,
            "a is dropped once the watermark reaches 13"
        );
        // b13 may still meet lefts up to 15.
        assert_eq!(op.right.len(), 1);
        op.watermark(&mut cx, 15);
        assert_eq!(op.right.len(), 0);
        assert_eq!(*out.borrow(), vec![((1, 8), 10), ((1, 13), 13)]);
        assert!(cx.failure.is_none());
    }

    #[test]
    fn records_at_or_behind_the_watermark_are_late() {
        let out: Pairs = Rc::default();
        let mut cx = task_cx();
        let mut op = join_op(0, 5, &out);
        op.watermark(&mut cx, 20);
        op.record1(&mut cx, (1, 100), 20);
        op.record2(&mut cx, (1, 101), 3);
        op.record1(&mut cx, (1, 1), 21);
        op.record2(&mut cx, (1, 2), 21);
        assert_eq!(cx.metrics.snapshot().late_records, 2);
        assert_eq!(*out.borrow(), vec![((1, 2), 21)]);
        assert_eq!((op.left.len(), op.right.len()), (1, 1));
        op.watermark(&mut cx, crate::time::WATERMARK_MAX);
        assert_eq!(
            (op.left.len(), op.right.len()),
            (0, 0),
            "the final watermark empties both buffers"
        );
    }
}
