//! Event-time and processing-time timers of one keyed operator subtask.

use spate_state::{KeyGroupRange, KeyRef, TimerQueue};

use crate::time::Timestamp;

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

    pub(crate) fn register_processing(&mut self, kr: KeyRef, key: &K, ns: &N, ts: Timestamp) {
        let _ = self.processing.register(kr, key, ns, ts);
    }
}
