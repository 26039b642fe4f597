//! The window operator for aligned sliding event-time windows with an
//! aggregate function: one partial result per key and slice (pane).
//!
//! A record updates the one slice it falls in instead of every window
//! that holds it (`size / slide` of them), and no timer is kept per key:
//! when the watermark passes a window's end, the window fires for every key
//! with data in its slices, each result merged from the key's slices. The
//! results are those of [`PerWindowOp`](super::operator) with the default
//! event-time trigger, allowed lateness and late side output included.

use std::any::Any;
use std::collections::BTreeSet;
use std::marker::PhantomData;
use std::sync::Arc;

use spate_state::KeyRef;

use super::assigner::{SlidingEventTimeWindows, TimeWindow, Window, WindowAssigner};
use super::auto_trigger::DefaultTrigger;
use super::functions::WindowContents;
use super::operator::WindowSpec;
use super::slice_store::{KeySlices, SliceStore};
use super::slicing::Slicing;
use super::trigger::EventTimeTrigger;
use crate::checkpoint::{RestoredOperator, StateSink};
use crate::error::{Result, SpateError};
use crate::operators::forward::forward_to_outputs;
use crate::runtime::output::{BoxOutput, Output, TaskCx};
use crate::runtime::side::SideOutputs;
use crate::time::{Timestamp, WATERMARK_MIN};

/// The slice layout when a window operator can keep partial results per
/// slice: the engine's sliding event-time assigner, a trigger that fires
/// exactly when the watermark passes the window's end, and contents whose
/// partial results merge. Other assigners and triggers (custom ones
/// included) keep the per-window path, as their windows and firing need
/// not follow slices; types are compared exactly for that reason.
pub(crate) fn slicing_for<K, T, A, Tr, C>(spec: &WindowSpec<A, Tr>, contents: &C) -> Option<Slicing>
where
    A: WindowAssigner<T>,
    Tr: 'static,
    C: WindowContents<K, A::W, T>,
{
    let trigger: &dyn Any = &spec.trigger;
    let fires_at_end = trigger
        .downcast_ref::<DefaultTrigger>()
        .is_some_and(|t| t.event_time)
        || trigger.is::<EventTimeTrigger>();
    let assigner: &dyn Any = &spec.assigner;
    let sliding = assigner.downcast_ref::<SlidingEventTimeWindows>()?;
    let time_windows = std::any::TypeId::of::<A::W>() == std::any::TypeId::of::<TimeWindow>();
    (fires_at_end && time_windows && contents.merges_partials()).then(|| sliding.slicing())
}

pub(crate) struct SlicedWindowOp<K, T, W, C: WindowContents<K, W, T>> {
    slicing: Slicing,
    allowed_lateness_ms: i64,
    late_tag: Option<String>,
    key_fn: Arc<dyn Fn(&T) -> K + Send + Sync>,
    contents: C,
    store: SliceStore<K, C::Partial>,
    next: BoxOutput<C::Out>,
    side: SideOutputs,
    watermark: Timestamp,
    max_parallelism: u16,
    results: Vec<C::Out>,
    _w: PhantomData<fn() -> W>,
}

impl<K, T, W, C> SlicedWindowOp<K, T, W, C>
where
    K: crate::Key,
    T: crate::Data,
    W: Window,
    C: WindowContents<K, W, T>,
    C::Out: 'static,
{
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        slicing: Slicing,
        allowed_lateness_ms: i64,
        late_tag: Option<String>,
        key_fn: Arc<dyn Fn(&T) -> K + Send + Sync>,
        contents: C,
        next: BoxOutput<C::Out>,
        side: SideOutputs,
        max_parallelism: u16,
    ) -> Self {
        Self {
            slicing,
            allowed_lateness_ms,
            late_tag,
            key_fn,
            contents,
            store: SliceStore::new(),
            next,
            side,
            watermark: WATERMARK_MIN,
            max_parallelism,
            results: Vec::new(),
            _w: PhantomData,
        }
    }

    /// When the state of the window starting at `start` is dropped.
    fn cleanup_time(&self, start: Timestamp) -> Timestamp {
        self.slicing
            .max_timestamp(start)
            .saturating_add(self.allowed_lateness_ms)
    }

    /// The window starting at `start`, as the function sees it.
    fn window(&self, start: Timestamp) -> Result<W> {
        let w = TimeWindow::new(start, self.slicing.window_end(start));
        (&w as &dyn Any)
            .downcast_ref::<W>()
            .cloned()
            .ok_or_else(|| SpateError::internal("a sliced window operator without time windows"))
    }

    fn process_record(&mut self, cx: &mut TaskCx, value: T, ts: Timestamp) -> Result<()> {
        let slice = self.slicing.slice_of(ts);
        // A record in no window (a slide longer than the size) is dropped.
        let Some((first, last)) = self.slicing.windows_of(slice) else {
            return Ok(());
        };
        // Windows whose state is gone ignore the record; if all are, it is late.
        let open = self
            .slicing
            .starts((first, last))
            .find(|s| self.cleanup_time(*s) > self.watermark);
        let Some(open) = open else {
            cx.metrics
                .add_late_records(self.contents.input_records(&value));
            if let Some(tag) = &self.late_tag {
                self.side.emit(cx, tag, value, ts);
            }
            return Ok(());
        };
        let key = (self.key_fn)(&value);
        let kr = KeyRef::of(&key, self.max_parallelism);
        let contents = &self.contents;
        self.store.update(
            kr,
            &key,
            slice,
            value,
            |v| contents.partial(v),
            |p, v| contents.partial_add(p, v),
        );
        if self.slicing.max_timestamp(open) <= self.watermark {
            self.fire_late(cx, kr, &key, (open, last))?;
        }
        Ok(())
    }

    /// A record within the allowed lateness fires the windows the watermark
    /// already passed again, for its key (as the event-time trigger does).
    fn fire_late(
        &mut self,
        cx: &mut TaskCx,
        kr: KeyRef,
        key: &K,
        range: (Timestamp, Timestamp),
    ) -> Result<()> {
        let passed: Vec<Timestamp> = self
            .slicing
            .starts(range)
            .take_while(|s| self.slicing.max_timestamp(*s) <= self.watermark)
            .collect();
        for start in passed {
            let w = self.window(start)?;
            if let Some(entry) = self.store.get(kr, key) {
                emit_window(
                    cx,
                    &mut self.contents,
                    &mut self.next,
                    &mut self.results,
                    entry,
                    (&w, start, self.slicing.window_end(start)),
                );
            }
        }
        Ok(())
    }

    /// The windows the watermark passed since `previous`, up to `wm`, that
    /// hold data: they fire now, oldest first.
    fn due_windows(&self, previous: Timestamp, wm: Timestamp) -> BTreeSet<Timestamp> {
        let mut due = BTreeSet::new();
        for slice in self.store.live_slices() {
            let Some(range) = self.slicing.windows_of(slice) else {
                continue;
            };
            for start in self.slicing.starts(range) {
                let t = self.slicing.max_timestamp(start);
                if t > previous && t <= wm {
                    due.insert(start);
                }
            }
        }
        due
    }

    fn advance(&mut self, cx: &mut TaskCx, wm: Timestamp) {
        if let Err(e) = self.on_watermark(cx, wm) {
            cx.fail(e);
        }
    }

    /// Fires the windows the watermark passed, then drops the slices no
    /// window needs any more.
    fn on_watermark(&mut self, cx: &mut TaskCx, wm: Timestamp) -> Result<()> {
        if wm <= self.watermark {
            return Ok(());
        }
        let previous = std::mem::replace(&mut self.watermark, wm);
        let due = self
            .due_windows(previous, wm)
            .into_iter()
            .map(|start| Ok((self.window(start)?, start, self.slicing.window_end(start))))
            .collect::<Result<Vec<_>>>()?;
        if !due.is_empty() {
            self.fire(cx, &due);
        }
        self.expire(wm);
        Ok(())
    }

    /// Fires the `due` windows (oldest first) for every key. One pass over
    /// the keys serves all of them (several are due at the end of input, or
    /// when the watermark jumps), so each key's slices are read from memory
    /// once. A key's windows still fire oldest first; the order across keys
    /// was never defined.
    fn fire(&mut self, cx: &mut TaskCx, due: &[(W, Timestamp, Timestamp)]) {
        for entry in self.store.iter() {
            for (w, start, end) in due {
                emit_window(
                    cx,
                    &mut self.contents,
                    &mut self.next,
                    &mut self.results,
                    entry,
                    (w, *start, *end),
                );
            }
        }
    }

    /// Drops the slices no window needs any more: a slice is kept while
    /// the last window holding it may still fire.
    fn expire(&mut self, wm: Timestamp) {
        let keep_from = self
            .store
            .live_slices()
            .find(|slice| {
                self.slicing
                    .windows_of(*slice)
                    .is_some_and(|(_, last)| self.cleanup_time(last) > wm)
            })
            .unwrap_or(Timestamp::MAX);
        self.store.expire_before(keep_from);
    }
}

/// The name of the partial results in checkpoints.
const SLICES: &str = "slices";

impl<K, T, W, C> SlicedWindowOp<K, T, W, C>
where
    K: crate::Key,
    T: crate::Data,
    W: Window,
    C: WindowContents<K, W, T>,
    C::Out: 'static,
{
    pub(crate) fn capture(&self, sink: &mut StateSink<'_>) -> Result<()> {
        let entries = self.store.export(SLICES, self.max_parallelism)?;
        sink.entries(SLICES, "window-slices", entries);
        sink.watermark(self.watermark);
        Ok(())
    }

    pub(crate) fn restore(&mut self, from: &RestoredOperator<'_>, _now_ms: i64) -> Result<()> {
        self.store.import(SLICES, &from.entries(SLICES)?)?;
        if let Some(wm) = from.watermark() {
            self.watermark = wm;
        }
        Ok(())
    }
}

/// Emits the result of window `w` (starting at `start`, ending before
/// `end`) for one key, if the key has data in it.
fn emit_window<K, T, W, C: WindowContents<K, W, T>>(
    cx: &mut TaskCx,
    contents: &mut C,
    next: &mut BoxOutput<C::Out>,
    results: &mut Vec<C::Out>,
    entry: &KeySlices<K, C::Partial>,
    (w, start, end): (&W, Timestamp, Timestamp),
) where
    W: Window,
    C::Out: 'static,
{
    results.clear();
    contents.emit_partials(&entry.key, w, entry.within(start, end), results);
    let ts = w.max_timestamp();
    for out in results.drain(..) {
        next.record(cx, out, ts);
    }
}

impl<K, T, W, C> Output<T> for SlicedWindowOp<K, T, W, C>
where
    K: crate::Key,
    T: crate::Data,
    W: Window,
    C: WindowContents<K, W, T>,
    C::Out: 'static,
{
    #[inline]
    fn record(&mut self, cx: &mut TaskCx, value: T, ts: Timestamp) {
        if let Err(e) = self.process_record(cx, value, ts) {
            cx.fail(e);
        }
    }

    forward_to_outputs!(idle, batch_end, tick, end; watermark after advance);
}

#[cfg(test)]
mod tests;
