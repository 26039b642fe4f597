//! Event-time and processing-time timers of one keyed operator subtask.

use spate_state::{KeyGroupRange, KeyRef, StateData, TimerQueue};

use crate::checkpoint::{RestoredOperator, StateSink};
use crate::error::Result;
use crate::time::Timestamp;

/// The timer queues' names in checkpoints; `$` keeps them apart from user
/// states.
const EVENT_TIMERS: &str = "$event-timers";
const PROCESSING_TIMERS: &str = "$processing-timers";

/// Both timer services of a keyed operator (Flink's `InternalTimerService`),
/// for namespace `N` (`()` for process functions, the window for windows).
pub(crate) struct KeyedTimers<K, N> {
    pub(crate) event: TimerQueue<K, N>,
    pub(crate) processing: TimerQueue<K, N>,
}

impl<K: crate::Key, N: std::hash::Hash + Eq + Clone + 'static> KeyedTimers<K, N> {
    pub(crate) fn new(range: KeyGroupRange) -> Self {
        Self {
            event: TimerQueue::new(range),
            processing: TimerQueue::new(range),
        }
    }

    pub(crate) fn register_event(&mut self, kr: KeyRef, key: &K, ns: &N, ts: Timestamp) {
        // Registration only fails for a key group outside this subtask's
        // range, which the exchange makes impossible.
        let _ = self.event.register(kr, key, ns, ts);
    }

    /// Captures both queues into a checkpoint.
    pub(crate) fn capture(&self, sink: &mut StateSink<'_>) -> Result<()>
    where
        N: StateData,
    {
        sink.table(EVENT_TIMERS, &self.event)?;
        sink.table(PROCESSING_TIMERS, &self.processing)
    }

    /// Restores both queues; true when processing-time timers came back,
    /// which need a tick requested.
    pub(crate) fn restore(&mut self, from: &RestoredOperator<'_>, now_ms: i64) -> Result<bool>
    where
        N: StateData,
    {
        from.table(EVENT_TIMERS, &mut self.event, now_ms)?;
        from.table(PROCESSING_TIMERS, &mut self.processing, now_ms)?;
        Ok(!self.processing.is_empty())
    }

    pub(crate) fn register_processing(&mut self, kr: KeyRef, key: &K, ns: &N, ts: Timestamp) {
        let _ = self.processing.register(kr, key, ns, ts);
    }
}
