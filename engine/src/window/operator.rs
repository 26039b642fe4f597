//! The keyed window operator (Flink's `WindowOperator`).

use std::sync::Arc;

use spate_state::{KeyGroupRange, KeyRef, ValueTable};

use super::assigner::{Window, WindowAssigner};
use super::functions::WindowContents;
use super::session::MergingWindows;
use super::trigger::{Trigger, TriggerContext, TriggerResult};
use crate::error::Result;
use crate::keyed::KeyedTimers;
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

pub(crate) struct WindowOp<K, T, A: WindowAssigner<T>, Tr, C: WindowContents<K, A::W, T>> {
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
            cx.metrics.add_late_records(1);
            if let Some(tag) = &self.spec.late_tag {
                self.side.emit(cx, tag, value, ts);
            }
        }
        Ok(())
    }

    /// Merges the record's window with the key's active sessions; the
    /// contents of merged windows move into the result.
    fn merge_windows(
        &mut self,
        cx: &TaskCx,
        kr: KeyRef,
        key: &K,
        windows: Vec<A::W>,
    ) -> Result<Vec<A::W>> {
        let mut out = Vec::with_capacity(windows.len());
        for w in windows {
            if self.is_late(&w) {
                out.push(w);
                continue;
            }
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
            out.push(merge.result);
        }
        Ok(out)
    }

    fn on_timer(&mut self, cx: &mut TaskCx, event_time: bool, up_to: Timestamp) -> Result<()> {
        loop {
            let queue = if event_time {
                &mut self.timers.event
            } else {
                &mut self.timers.processing
            };
            let Some(timer) = queue.pop_due(up_to) else {
                break;
            };
            let (key, kr, w, time) = (timer.key, timer.key_ref, timer.ns, timer.timestamp_ms);
            if let Some(m) = &self.merging
                && !m.contains(kr, &key, &w)?
            {
                continue;
            }
            let result = self.run_trigger(cx, kr, &key, &w, |tr, tcx| {
                if event_time {
                    tr.on_event_time(time, &w, tcx)
                } else {
                    tr.on_processing_time(time, &w, tcx)
                }
            })?;
            self.act(cx, kr, &key, &w, result)?;
            let is_cleanup = if event_time {
                self.is_event_time() && time == self.cleanup_time(&w)
            } else {
                !self.is_event_time() && time == self.cleanup_time(&w)
            };
            if is_cleanup {
                self.contents.clear(kr, &key, &w, cx.now_ms_cached())?;
                self.trigger_state.remove(kr, &key, &w, 0)?;
                if let Some(m) = self.merging.as_mut() {
                    m.remove(kr, &key, &w)?;
                }
            }
        }
        Ok(())
    }
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
    fn record(&mut self, cx: &mut TaskCx, value: T, ts: Timestamp) {
        if let Err(e) = self.process_record(cx, value, ts) {
            cx.fail(e);
        }
        if let Some(next) = self.timers.processing.peek_ts() {
            cx.request_tick_at(next);
        }
    }

    fn watermark(&mut self, cx: &mut TaskCx, wm: Timestamp) {
        self.watermark = wm;
        if let Err(e) = self.on_timer(cx, true, wm) {
            cx.fail(e);
        }
        self.side.watermark(cx, wm);
        self.next.watermark(cx, wm);
    }

    fn idle(&mut self, cx: &mut TaskCx, idle: bool) {
        self.side.idle(cx, idle);
        self.next.idle(cx, idle);
    }

    fn batch_end(&mut self, cx: &mut TaskCx) {
        self.side.batch_end(cx);
        self.next.batch_end(cx);
    }

    fn tick(&mut self, cx: &mut TaskCx) {
        cx.refresh_now();
        let now = cx.now_ms_cached();
        if let Err(e) = self.on_timer(cx, false, now) {
            cx.fail(e);
        }
        if let Some(next) = self.timers.processing.peek_ts() {
            cx.request_tick_at(next);
        }
        self.side.tick(cx);
        self.next.tick(cx);
    }

    fn end(&mut self, cx: &mut TaskCx) {
        // Bounded input: processing-time windows still open fire now, so the
        // job ends with every result (event-time ones fired on the final watermark).
        if !self.is_event_time()
            && let Err(e) = self.on_timer(cx, false, i64::MAX)
        {
            cx.fail(e);
        }
        self.side.end(cx);
        self.next.end(cx);
    }
}
