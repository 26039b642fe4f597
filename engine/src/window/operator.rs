//! The keyed window operator (Flink's `WindowOperator`).

use std::sync::Arc;

use spate_state::{KeyGroupRange, KeyRef, Timer, ValueTable};

use super::assigner::{Window, WindowAssigner};
use super::functions::WindowContents;
use super::session::MergingWindows;
use super::sliced_operator::{SlicedWindowOp, slicing_for};
use super::trigger::{Trigger, TriggerContext, TriggerResult};

use crate::checkpoint::{RestoredOperator, StateSink, StatefulOperator};
use crate::error::Result;
use crate::keyed::KeyedTimers;
use crate::operators::forward::forward_to_outputs;
use crate::operators::keyed_process::TimeDomain;
use crate::operators::timer_firing::fire_due;
use crate::runtime::output::{BoxOutput, Output, TaskCx};
use crate::runtime::side::SideOutputs;
use crate::time::{Timestamp, WATERMARK_MIN};

/// The build-time settings of a window operator.
#[derive(Clone)]
pub(crate) struct WindowSpec<A, Tr> {
    pub(crate) assigner: A,
    pub(crate) trigger: Tr,
    pub(crate) allowed_lateness_ms: i64,
    pub(crate) late_tag: Option<String>,
}

/// The keyed window operator. Aligned sliding event-time windows with an
/// aggregate function keep one partial result per slice
/// ([`SlicedWindowOp`]); every other kind keeps state and timers per window.
pub(crate) struct WindowOp<K, T, A: WindowAssigner<T>, Tr, C: WindowContents<K, A::W, T>> {
    path: Path<K, T, A, Tr, C>,
}

// One per operator subtask, so its size does not matter; unboxed variants
// keep an indirection off the per-record path.
#[allow(clippy::large_enum_variant)]
enum Path<K, T, A: WindowAssigner<T>, Tr, C: WindowContents<K, A::W, T>> {
    PerWindow(PerWindowOp<K, T, A, Tr, C>),
    Sliced(SlicedWindowOp<K, T, A::W, C>),
}

impl<K, T, A, Tr, C> WindowOp<K, T, A, Tr, C>
where
    K: crate::Key,
    T: crate::Data,
    A: WindowAssigner<T>,
    Tr: Trigger<T, A::W>,
    C: WindowContents<K, A::W, T>,
    C::Out: 'static,
{
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        spec: WindowSpec<A, Tr>,
        key_fn: Arc<dyn Fn(&T) -> K + Send + Sync>,
        contents: C,
        range: KeyGroupRange,
        next: BoxOutput<C::Out>,
        side: SideOutputs,
        max_parallelism: u16,
    ) -> Self {
        let path = match slicing_for::<K, T, A, Tr, C>(&spec, &contents) {
            Some(slicing) => Path::Sliced(SlicedWindowOp::new(
                slicing,
                spec.allowed_lateness_ms,
                spec.late_tag,
                key_fn,
                contents,
                next,
                side,
                max_parallelism,
            )),
            None => Path::PerWindow(PerWindowOp::new(
                spec,
                key_fn,
                contents,
                range,
                next,
                side,
                max_parallelism,
            )),
        };
        Self { path }
    }

    #[cfg(test)]
    pub(crate) fn is_sliced(&self) -> bool {
        matches!(self.path, Path::Sliced(_))
    }
}

impl<K, T, A, Tr, C> StatefulOperator for WindowOp<K, T, A, Tr, C>
where
    K: crate::Key,
    T: crate::Data,
    A: WindowAssigner<T>,
    Tr: Trigger<T, A::W>,
    C: WindowContents<K, A::W, T>,
    C::Out: 'static,
{
    fn capture(&mut self, sink: &mut StateSink<'_>) -> Result<()> {
        match &self.path {
            Path::Sliced(op) => op.capture(sink),
            Path::PerWindow(op) => op.capture(sink),
        }
    }

    fn restore(&mut self, from: &RestoredOperator<'_>, now_ms: i64) -> Result<()> {
        match &mut self.path {
            Path::Sliced(op) => op.restore(from, now_ms),
            Path::PerWindow(op) => op.restore(from, now_ms),
        }
    }
}

/// Dispatches each [`Output`] method to the operator's path.
macro_rules! dispatch {
    ($self:ident, $op:ident => $call:expr) => {
        match &mut $self.path {
            Path::PerWindow($op) => $call,
            Path::Sliced($op) => $call,
        }
    };
}

impl<K, T, A, Tr, C> Output<T> for WindowOp<K, T, A, Tr, C>
where
    K: crate::Key,
    T: crate::Data,
    A: WindowAssigner<T>,
    Tr: Trigger<T, A::W>,
    C: WindowContents<K, A::W, T>,
    C::Out: 'static,
{
    #[inline]
    fn record(&mut self, cx: &mut TaskCx, value: T, ts: Timestamp) {
        dispatch!(self, op => op.record(cx, value, ts))
    }
    fn watermark(&mut self, cx: &mut TaskCx, wm: Timestamp) {
        dispatch!(self, op => op.watermark(cx, wm))
    }
    fn idle(&mut self, cx: &mut TaskCx, idle: bool) {
        dispatch!(self, op => op.idle(cx, idle))
    }
    fn batch_end(&mut self, cx: &mut TaskCx) {
        dispatch!(self, op => op.batch_end(cx))
    }
    fn tick(&mut self, cx: &mut TaskCx) {
        dispatch!(self, op => op.tick(cx))
    }
    fn end(&mut self, cx: &mut TaskCx) {
        dispatch!(self, op => op.end(cx))
    }
}

/// The window operator with state and timers per key and window (Flink's
/// `WindowOperator`): any assigner, trigger and window function.
pub(crate) struct PerWindowOp<K, T, A: WindowAssigner<T>, Tr, C: WindowContents<K, A::W, T>> {
    spec: WindowSpec<A, Tr>,
    key_fn: Arc<dyn Fn(&T) -> K + Send + Sync>,
    contents: C,
    timers: KeyedTimers<K, A::W>,
    trigger_state: ValueTable<K, A::W, i64>,
    merging: Option<MergingWindows<K, A::W>>,
    next: BoxOutput<C::Out>,
    side: SideOutputs,
    watermark: Timestamp,
    max_parallelism: u16,
    windows: Vec<A::W>,
    results: Vec<C::Out>,
    event_timers: Vec<Timestamp>,
    processing_timers: Vec<Timestamp>,
    /// Restored processing-time timers wait for a tick request.
    tick_pending: bool,
    /// The processing time up to which timers have fired. Records are
    /// assigned no earlier than just after it: a window fires once, even
    /// when a record comes in the millisecond its timer fired.
    processing_fired_ms: Timestamp,
}

/// The per-window operator's states in checkpoints.
const CONTENTS: &str = "contents";
const TRIGGER_STATE: &str = "trigger";
const SESSIONS: &str = "sessions";

impl<K, T, A, Tr, C> PerWindowOp<K, T, A, Tr, C>
where
    K: crate::Key,
    T: crate::Data,
    A: WindowAssigner<T>,
    Tr: Trigger<T, A::W>,
    C: WindowContents<K, A::W, T>,
    C::Out: 'static,
{
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        spec: WindowSpec<A, Tr>,
        key_fn: Arc<dyn Fn(&T) -> K + Send + Sync>,
        contents: C,
        range: KeyGroupRange,
        next: BoxOutput<C::Out>,
        side: SideOutputs,
        max_parallelism: u16,
    ) -> Self {
        let merging = spec
            .assigner
            .is_merging()
            .then(|| MergingWindows::new(range));
        Self {
            spec,
            key_fn,
            contents,
            timers: KeyedTimers::new(range),
            trigger_state: ValueTable::new(range, None),
            merging,
            next,
            side,
            watermark: WATERMARK_MIN,
            max_parallelism,
            windows: Vec::new(),
            results: Vec::new(),
            event_timers: Vec::new(),
            processing_timers: Vec::new(),
            tick_pending: false,
            processing_fired_ms: WATERMARK_MIN,
        }
    }

    fn is_event_time(&self) -> bool {
        self.spec.assigner.is_event_time()
    }

    /// When the window's state is dropped: the end plus the allowed lateness.
    fn cleanup_time(&self, w: &A::W) -> Timestamp {
        if self.is_event_time() {
            w.max_timestamp()
                .saturating_add(self.spec.allowed_lateness_ms)
        } else {
            w.max_timestamp()
        }
    }

    fn is_late(&self, w: &A::W) -> bool {
        self.is_event_time() && self.cleanup_time(w) <= self.watermark
    }

    /// Runs the trigger with the window's trigger state loaded.
    fn run_trigger(
        &mut self,
        cx: &TaskCx,
        kr: KeyRef,
        key: &K,
        w: &A::W,
        call: impl FnOnce(&mut Tr, &mut TriggerContext<'_>) -> TriggerResult,
    ) -> Result<TriggerResult> {
        let uses_state = self.spec.trigger.uses_state();
        let mut state = if uses_state {
            self.trigger_state.get(kr, key, w, 0)?.copied().unwrap_or(0)
        } else {
            0
        };
        self.event_timers.clear();
        self.processing_timers.clear();
        let mut tcx = TriggerContext {
            watermark: self.watermark,
            now_ms: cx.now_ms_cached(),
            event_timers: &mut self.event_timers,
            processing_timers: &mut self.processing_timers,
            state: &mut state,
        };
        let result = call(&mut self.spec.trigger, &mut tcx);
        if uses_state {
            self.trigger_state
                .put(kr, key.clone(), w.clone(), state, 0)?;
        }
        for &ts in &self.event_timers {
            self.timers.register_event(kr, key, w, ts);
        }
        for &ts in &self.processing_timers {
            self.timers.register_processing(kr, key, w, ts);
        }
        Ok(result)
    }

    fn act(
        &mut self,
        cx: &mut TaskCx,
        kr: KeyRef,
        key: &K,
        w: &A::W,
        result: TriggerResult,
    ) -> Result<()> {
        if result.fires() {
            let now = cx.now_ms_cached();
            self.results.clear();
            self.contents.emit(kr, key, w, now, &mut self.results)?;
            let ts = w.max_timestamp();
            for out in self.results.drain(..) {
                self.next.record(cx, out, ts);
            }
        }
        if result.purges() {
            self.contents.clear(kr, key, w, cx.now_ms_cached())?;
        }
        Ok(())
    }

    fn process_record(&mut self, cx: &mut TaskCx, value: T, ts: Timestamp) -> Result<()> {
        let key = (self.key_fn)(&value);
        let kr = KeyRef::of(&key, self.max_parallelism);
        let element_ts = if self.is_event_time() {
            ts
        } else {
            cx.now_ms_cached()
                .max(self.processing_fired_ms.saturating_add(1))
        };
        let mut windows = std::mem::take(&mut self.windows);
        windows.clear();
        self.spec.assigner.assign(&value, element_ts, &mut windows);
        if self.merging.is_some() {
            windows = self.merge_windows(cx, kr, &key, windows)?;
        }
        let mut added = false;
        for w in &windows {
            if self.is_late(w) {
                continue;
            }
            added = true;
            let result = self.run_trigger(cx, kr, &key, w, |tr, tcx| {
                tr.on_element(&value, element_ts, w, tcx)
            })?;
            self.contents
                .add(kr, &key, w, value.clone(), cx.now_ms_cached())?;
            let cleanup = self.cleanup_time(w);
            if self.is_event_time() {
                self.timers.register_event(kr, &key, w, cleanup);
            }
            self.act(cx, kr, &key, w, result)?;
        }
        self.windows = windows;
        if !added && !self.windows.is_empty() {
            cx.metrics
                .add_late_records(self.contents.input_records(&value));
            if let Some(tag) = &self.spec.late_tag {
                self.side.emit(cx, tag, value, ts);
            }
        }
        Ok(())
    }

    /// Merges the record's window with the key's active sessions; the
    /// contents of merged windows move into the result. Lateness is judged
    /// on the merged window, as Flink's `WindowOperator` does: a record
    /// whose own session the watermark passed still joins a session that
    /// is open and that it touches. A late result is retired.
    fn merge_windows(
        &mut self,
        cx: &TaskCx,
        kr: KeyRef,
        key: &K,
        windows: Vec<A::W>,
    ) -> Result<Vec<A::W>> {
        let mut out = Vec::with_capacity(windows.len());
        for w in windows {
            let Some(merging) = self.merging.as_mut() else {
                break;
            };
            let merge = merging.add(kr, key, w)?;
            if !merge.merged_away.is_empty() {
                for old in &merge.merged_away {
                    let _ = self.timers.event.delete(kr, key, old, old.max_timestamp());
                    let cleanup = self.cleanup_time(old);
                    let _ = self.timers.event.delete(kr, key, old, cleanup);
                    self.trigger_state.remove(kr, key, old, 0)?;
                }
                self.contents.merge(
                    kr,
                    key,
                    &merge.merged_away,
                    &merge.result,
                    cx.now_ms_cached(),
                )?;
            }
            if self.is_late(&merge.result) {
                // Merged only with windows the watermark passed, if any:
                // nothing of it is kept.
                if let Some(merging) = self.merging.as_mut() {
                    merging.remove(kr, key, &merge.result)?;
                }
                self.contents
                    .clear(kr, key, &merge.result, cx.now_ms_cached())?;
            }
            out.push(merge.result);
        }
        Ok(out)
    }

    /// Fires the window timers of `domain` due at `up_to`, in timer order.
    fn on_timer(&mut self, cx: &mut TaskCx, domain: TimeDomain, up_to: Timestamp) {
        if domain == TimeDomain::ProcessingTime {
            self.processing_fired_ms = self.processing_fired_ms.max(up_to);
        }
        let fired = fire_due(
            self,
            |op| &mut op.timers,
            domain,
            up_to,
            |op, timer| op.fire_timer(cx, domain, timer),
        );
        if let Err(e) = fired {
            cx.fail(e);
        }
    }

    /// Runs the trigger for one timer, then cleans the window up if the
    /// timer was its cleanup time.
    fn fire_timer(
        &mut self,
        cx: &mut TaskCx,
        domain: TimeDomain,
        timer: Timer<K, A::W>,
    ) -> Result<()> {
        let (key, kr, w, time) = (timer.key, timer.key_ref, timer.ns, timer.timestamp_ms);
        if let Some(m) = &self.merging
            && !m.contains(kr, &key, &w)?
        {
            return Ok(());
        }
        let event_time = domain == TimeDomain::EventTime;
        let result = self.run_trigger(cx, kr, &key, &w, |tr, tcx| {
            if event_time {
                tr.on_event_time(time, &w, tcx)
            } else {
                tr.on_processing_time(time, &w, tcx)
            }
        })?;
        self.act(cx, kr, &key, &w, result)?;
        // A window's cleanup timer is in the assigner's time domain.
        if event_time == self.is_event_time() && time == self.cleanup_time(&w) {
            self.contents.clear(kr, &key, &w, cx.now_ms_cached())?;
            self.trigger_state.remove(kr, &key, &w, 0)?;
            if let Some(m) = self.merging.as_mut() {
                m.remove(kr, &key, &w)?;
            }
        }
        Ok(())
    }

    fn on_watermark(&mut self, cx: &mut TaskCx, wm: Timestamp) {
        // A restored operator keeps its watermark until its inputs' catch up.
        if wm < self.watermark {
            return;
        }
        self.watermark = wm;
        self.on_timer(cx, TimeDomain::EventTime, wm);
    }

    /// Restored processing-time timers need a tick to fire.
    fn on_batch_end(&mut self, cx: &mut TaskCx) {
        if self.tick_pending {
            self.tick_pending = false;
            self.request_tick(cx);
        }
    }

    pub(crate) fn capture(&self, sink: &mut StateSink<'_>) -> Result<()> {
        sink.table(CONTENTS, self.contents.table())?;
        sink.table(TRIGGER_STATE, &self.trigger_state)?;
        self.timers.capture(sink)?;
        if let Some(m) = &self.merging {
            sink.table(SESSIONS, m.table())?;
        }
        sink.watermark(self.watermark);
        Ok(())
    }

    pub(crate) fn restore(&mut self, from: &RestoredOperator<'_>, now_ms: i64) -> Result<()> {
        from.table(CONTENTS, self.contents.table_mut(), now_ms)?;
        from.table(TRIGGER_STATE, &mut self.trigger_state, now_ms)?;
        self.tick_pending = self.timers.restore(from, now_ms)?;
        if let Some(m) = &mut self.merging {
            from.table(SESSIONS, m.table_mut(), now_ms)?;
        }
        if let Some(wm) = from.watermark() {
            self.watermark = wm;
        }
        Ok(())
    }

    fn on_tick(&mut self, cx: &mut TaskCx) {
        cx.refresh_now();
        let now = cx.now_ms_cached();
        self.on_timer(cx, TimeDomain::ProcessingTime, now);
        self.request_tick(cx);
    }

    fn request_tick(&self, cx: &mut TaskCx) {
        if let Some(next) = self.timers.processing.peek_ts() {
            cx.request_tick_at(next);
        }
    }

    /// Bounded input: processing-time windows still open fire now, so the
    /// job ends with every result (event-time ones fired on the final
    /// watermark).
    fn on_end(&mut self, cx: &mut TaskCx) {
        if !self.is_event_time() {
            self.on_timer(cx, TimeDomain::ProcessingTime, i64::MAX);
        }
    }
}

impl<K, T, A, Tr, C> Output<T> for PerWindowOp<K, T, A, Tr, C>
where
    K: crate::Key,
    T: crate::Data,
    A: WindowAssigner<T>,
    Tr: Trigger<T, A::W>,
    C: WindowContents<K, A::W, T>,
    C::Out: 'static,
{
    fn record(&mut self, cx: &mut TaskCx, value: T, ts: Timestamp) {
        if let Err(e) = self.process_record(cx, value, ts) {
            cx.fail(e);
        }
        self.request_tick(cx);
    }

    forward_to_outputs!(idle; watermark after on_watermark, tick after on_tick, end after on_end, batch_end after on_batch_end);
}
