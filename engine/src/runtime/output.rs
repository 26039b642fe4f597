//! The push interface between operators of a chain, and the per-task context.

use std::rc::Rc;

use rkyv::util::AlignedVec;

use super::archived::{ArchivedBatch, fail_invalid_batch};
use crate::error::SpateError;
use crate::metrics::CoreMetrics;
use crate::time::{Clock, SystemClock, Timestamp};

/// Where an operator pushes its output. Operators of a chain are linked by
/// these calls: a record passes down the chain as a function call, not
/// through a queue.
pub(crate) trait Output<T>: 'static {
    /// One record with its event timestamp.
    fn record(&mut self, cx: &mut TaskCx, value: T, ts: Timestamp);
    /// The input's watermark advanced.
    fn watermark(&mut self, cx: &mut TaskCx, wm: Timestamp);
    /// The input became idle (true) or active again (false).
    fn idle(&mut self, cx: &mut TaskCx, idle: bool);
    /// The task finished one input message: a hook for per-batch work
    /// (watermark generation, latency sampling).
    fn batch_end(&mut self, cx: &mut TaskCx);
    /// Processing time advanced: fire due processing-time timers.
    fn tick(&mut self, cx: &mut TaskCx);
    /// The input ended: nothing follows.
    fn end(&mut self, cx: &mut TaskCx);
    /// A batch from another process, still in its receive buffer. Operators
    /// that read records in place override this; the rest get each record
    /// deserialized.
    fn archived(&mut self, cx: &mut TaskCx, batch: &ArchivedBatch<T>) {
        let mut scratch = AlignedVec::new();
        let decoded =
            batch.decode_each(&mut scratch, &mut |rec| self.record(cx, rec.value, rec.ts));
        match decoded {
            Ok(n) => cx.metrics.add_remote_records_deserialized(n),
            Err(e) => fail_invalid_batch(cx, &e),
        }
    }
}

pub(crate) type BoxOutput<T> = Box<dyn Output<T>>;

/// State shared by every operator of one task (one chain on one core).
pub(crate) struct TaskCx {
    pub(crate) clock: SystemClock,
    /// Creation stamp of the input message being processed.
    pub(crate) created_ns: u64,
    pub(crate) subtask: usize,
    /// Earliest processing-time timer of any operator in the chain (ms).
    pub(crate) next_proc_timer_ms: Option<i64>,
    /// The first error raised by an operator; the task stops on it.
    pub(crate) failure: Option<SpateError>,
    pub(crate) metrics: Rc<CoreMetrics>,
    /// Processing time read once per input message, for state TTL.
    pub(crate) now_ms_cached: i64,
    /// The job's stop flag ([`RunSettings::stopping`]).
    ///
    /// [`RunSettings::stopping`]: super::settings::RunSettings::stopping
    pub(crate) stopping: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl TaskCx {
    /// A context for driving operators by hand in unit tests.
    #[cfg(test)]
    pub(crate) fn for_tests() -> TaskCx {
        TaskCx {
            clock: SystemClock::default(),
            created_ns: 0,
            subtask: 0,
            next_proc_timer_ms: None,
            failure: None,
            metrics: Rc::new(CoreMetrics::default()),
            now_ms_cached: 0,
            stopping: std::sync::Arc::default(),
        }
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Processing time as of the current input message; cheap.
    #[inline]
    pub(crate) fn now_ms_cached(&self) -> i64 {
        self.now_ms_cached
    }

    /// Refreshes the cached processing time.
    pub(crate) fn refresh_now(&mut self) {
        self.now_ms_cached = self.clock.now_ms();
    }

    /// True unless the job is stopping without drain: an input that ends
    /// then holds its watermark instead of releasing the final one.
    pub(crate) fn drains_on_end(&self) -> bool {
        !self.stopping.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The job stops without drain; called by a source before it ends.
    pub(crate) fn stop_without_drain(&self) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// Records an operator failure; the task stops after the current message.
    pub(crate) fn fail(&mut self, err: SpateError) {
        if self.failure.is_none() {
            self.failure = Some(err);
        }
    }

    /// Asks for a `tick` no later than `due_ms`.
    pub(crate) fn request_tick_at(&mut self, due_ms: i64) {
        self.next_proc_timer_ms = Some(match self.next_proc_timer_ms {
            Some(t) => t.min(due_ms),
            None => due_ms,
        });
    }
}

/// What a [`Collected`] output saw: each record with its timestamp.
#[cfg(test)]
pub(crate) type Seen<X> = Rc<std::cell::RefCell<Vec<(X, Timestamp)>>>;

/// The end of a chain in unit tests: keeps every record with its timestamp.
#[cfg(test)]
pub(crate) struct Collected<X>(pub(crate) Seen<X>);

#[cfg(test)]
impl<X: 'static> Output<X> for Collected<X> {
    fn record(&mut self, _: &mut TaskCx, v: X, ts: Timestamp) {
        self.0.borrow_mut().push((v, ts));
    }
    fn watermark(&mut self, _: &mut TaskCx, _: Timestamp) {}
    fn idle(&mut self, _: &mut TaskCx, _: bool) {}
    fn batch_end(&mut self, _: &mut TaskCx) {}
    fn tick(&mut self, _: &mut TaskCx) {}
    fn end(&mut self, _: &mut TaskCx) {}
}

/// Sends every element to several outputs (a stream consumed twice).
pub(crate) struct Fanout<T> {
    pub(crate) outputs: Vec<BoxOutput<T>>,
}

impl<T: Clone + 'static> Output<T> for Fanout<T> {
    fn record(&mut self, cx: &mut TaskCx, value: T, ts: Timestamp) {
        if let Some((last, rest)) = self.outputs.split_last_mut() {
            for o in rest {
                o.record(cx, value.clone(), ts);
            }
            last.record(cx, value, ts);
        }
    }
    fn watermark(&mut self, cx: &mut TaskCx, wm: Timestamp) {
        self.outputs.iter_mut().for_each(|o| o.watermark(cx, wm));
    }
    fn idle(&mut self, cx: &mut TaskCx, idle: bool) {
        self.outputs.iter_mut().for_each(|o| o.idle(cx, idle));
    }
    fn batch_end(&mut self, cx: &mut TaskCx) {
        self.outputs.iter_mut().for_each(|o| o.batch_end(cx));
    }
    fn tick(&mut self, cx: &mut TaskCx) {
        self.outputs.iter_mut().for_each(|o| o.tick(cx));
    }
    fn end(&mut self, cx: &mut TaskCx) {
        self.outputs.iter_mut().for_each(|o| o.end(cx));
    }
}

/// The output of a stream nobody consumes.
pub(crate) struct Discard;

impl<T: 'static> Output<T> for Discard {
    fn record(&mut self, _: &mut TaskCx, _: T, _: Timestamp) {}
    fn watermark(&mut self, _: &mut TaskCx, _: Timestamp) {}
    fn idle(&mut self, _: &mut TaskCx, _: bool) {}
    fn batch_end(&mut self, _: &mut TaskCx) {}
    fn tick(&mut self, _: &mut TaskCx) {}
    fn end(&mut self, _: &mut TaskCx) {}
}

/// Implements the control-flow methods of [`Output`] by forwarding to a
/// field `next`, for operators that only transform records.
macro_rules! forward_control {
    () => {
        fn watermark(
            &mut self,
            cx: &mut $crate::runtime::output::TaskCx,
            wm: $crate::time::Timestamp,
        ) {
            self.next.watermark(cx, wm)
        }
        fn idle(&mut self, cx: &mut $crate::runtime::output::TaskCx, idle: bool) {
            self.next.idle(cx, idle)
        }
        fn batch_end(&mut self, cx: &mut $crate::runtime::output::TaskCx) {
            self.next.batch_end(cx)
        }
        fn tick(&mut self, cx: &mut $crate::runtime::output::TaskCx) {
            self.next.tick(cx)
        }
        fn end(&mut self, cx: &mut $crate::runtime::output::TaskCx) {
            self.next.end(cx)
        }
    };
}
pub(crate) use forward_control;
