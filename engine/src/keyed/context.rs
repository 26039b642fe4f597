//! The contexts handed to keyed user functions.

use std::hash::Hash;
use std::marker::PhantomData;

use spate_state::rocks::{
    RocksAggregatingTable, RocksBackend, RocksListTable, RocksMapTable, RocksReducingTable,
    RocksValueTable,
};
use spate_state::{
    AggregateFunction, AggregatingTable, KeyGroupRange, KeyRef, ListTable, MapTable, ReducingTable,
    StateData, StateTtl, ValueTable,
};

use super::handles::{AggregatingState, ListState, MapState, ReducingState, ValueState};
use super::timers::KeyedTimers;
use super::{KeyScope, StateRegistry};
use crate::api::side_output::OutputTag;
use crate::error::Result;
use crate::runtime::output::{BoxOutput, TaskCx};
use crate::runtime::side::SideOutputs;
use crate::time::{Timestamp, WATERMARK_MIN};

/// Creates keyed state when a keyed function opens on a subtask.
pub struct OpenContext {
    pub(crate) range: KeyGroupRange,
    pub(crate) subtask: usize,
    pub(crate) registry: StateRegistry,
    /// With the RocksDB backend: the operator subtask's instance, and the
    /// prefix of its column families.
    rocks: Option<(RocksBackend, String)>,
}

impl OpenContext {
    pub(crate) fn new(range: KeyGroupRange, subtask: usize) -> Self {
        Self {
            range,
            subtask,
            registry: StateRegistry::default(),
            rocks: None,
        }
    }

    /// States go to the operator subtask's RocksDB `instance`, named
    /// `<operator>/<state>` in it (their names in checkpoints).
    pub(crate) fn in_rocks(
        mut self,
        instance: crate::checkpoint::RocksInstance,
        operator: String,
    ) -> Self {
        self.rocks = Some((instance.backend.clone(), operator));
        self.registry.use_rocks(instance);
        self
    }

    /// The RocksDB instance and the column-family name of state `name`.
    fn rocks_name(&self, name: &str) -> Option<(&RocksBackend, String)> {
        self.rocks
            .as_ref()
            .map(|(backend, operator)| (backend, format!("{operator}/{name}")))
    }

    /// The key groups this subtask owns.
    pub fn key_group_range(&self) -> KeyGroupRange {
        self.range
    }

    /// This subtask's index.
    pub fn subtask(&self) -> usize {
        self.subtask
    }

    /// A `ValueState`, optionally with a time-to-live.
    pub fn value_state<K: crate::Key + StateData, V: Clone + StateData + 'static>(
        &mut self,
        name: &str,
        ttl: Option<StateTtl>,
    ) -> Result<ValueState<K, V>> {
        let id = match self.rocks_name(name) {
            Some((db, cf)) => {
                let table = RocksValueTable::<K, (), V>::open(db, &cf, ttl)?;
                self.registry.register(name, table)?
            }
            None => self
                .registry
                .register(name, ValueTable::<K, (), V>::new(self.range, ttl))?,
        };
        Ok(ValueState {
            id,
            _p: PhantomData,
        })
    }

    /// A `ListState`.
    pub fn list_state<K: crate::Key + StateData, V: Clone + StateData + 'static>(
        &mut self,
        name: &str,
        ttl: Option<StateTtl>,
    ) -> Result<ListState<K, V>> {
        let id = match self.rocks_name(name) {
            Some((db, cf)) => {
                let table = RocksListTable::<K, (), V>::open(db, &cf, ttl)?;
                self.registry.register(name, table)?
            }
            None => self
                .registry
                .register(name, ListTable::<K, (), V>::new(self.range, ttl))?,
        };
        Ok(ListState {
            id,
            _p: PhantomData,
        })
    }

    /// A `MapState`.
    pub fn map_state<
        K: crate::Key + StateData,
        UK: Hash + Eq + Clone + StateData + 'static,
        UV: Clone + StateData + 'static,
    >(
        &mut self,
        name: &str,
        ttl: Option<StateTtl>,
    ) -> Result<MapState<K, UK, UV>> {
        let id = match self.rocks_name(name) {
            Some((db, cf)) => {
                let table = RocksMapTable::<K, (), UK, UV>::open(db, &cf, ttl)?;
                self.registry.register(name, table)?
            }
            None => self
                .registry
                .register(name, MapTable::<K, (), UK, UV>::new(self.range, ttl))?,
        };
        Ok(MapState {
            id,
            _p: PhantomData,
        })
    }

    /// A `ReducingState` folding with `reduce`.
    pub fn reducing_state<K: crate::Key + StateData, V: Clone + StateData + 'static>(
        &mut self,
        name: &str,
        reduce: impl Fn(&V, &V) -> V + 'static,
        ttl: Option<StateTtl>,
    ) -> Result<ReducingState<K, V>> {
        let id = match self.rocks_name(name) {
            Some((db, cf)) => {
                let table = RocksReducingTable::<K, (), V>::open(db, &cf, ttl, reduce)?;
                self.registry.register(name, table)?
            }
            None => {
                let table = ReducingTable::<K, (), V>::new(self.range, ttl, reduce);
                self.registry.register(name, table)?
            }
        };
        Ok(ReducingState {
            id,
            _p: PhantomData,
        })
    }

    /// An `AggregatingState` with aggregate function `agg`.
    pub fn aggregating_state<K: crate::Key + StateData, A: AggregateFunction<Acc: StateData>>(
        &mut self,
        name: &str,
        agg: A,
        ttl: Option<StateTtl>,
    ) -> Result<AggregatingState<K, A>> {
        let id = match self.rocks_name(name) {
            Some((db, cf)) => {
                let table = RocksAggregatingTable::<K, (), A>::open(db, &cf, ttl, agg)?;
                self.registry.register(name, table)?
            }
            None => {
                let table = AggregatingTable::<K, (), A>::new(self.range, ttl, agg);
                self.registry.register(name, table)?
            }
        };
        Ok(AggregatingState {
            id,
            _p: PhantomData,
        })
    }
}

/// What a keyed process function can do for the current key: state,
/// timers, output and side outputs.
pub struct KeyedContext<'a, K, O> {
    pub(crate) cx: &'a mut TaskCx,
    pub(crate) out: &'a mut BoxOutput<O>,
    pub(crate) side: &'a mut SideOutputs,
    pub(crate) timers: &'a mut KeyedTimers<K, ()>,
    pub(crate) registry: &'a mut StateRegistry,
    pub(crate) key: &'a K,
    pub(crate) kr: KeyRef,
    pub(crate) ts: Timestamp,
    pub(crate) watermark: Timestamp,
}

impl<K: crate::Key, O: 'static> KeyScope<K> for KeyedContext<'_, K, O> {
    #[inline]
    fn parts(&mut self) -> (&K, KeyRef, i64, &mut StateRegistry) {
        (self.key, self.kr, self.cx.now_ms_cached(), self.registry)
    }
}

impl<K: crate::Key, O: 'static> KeyedContext<'_, K, O> {
    /// The current key.
    pub fn key(&self) -> &K {
        self.key
    }

    /// Emits a record with the current timestamp (the record's, or the timer's).
    #[inline]
    pub fn collect(&mut self, value: O) {
        self.out.record(self.cx, value, self.ts);
    }

    /// Emits a record with another timestamp.
    pub fn collect_with_timestamp(&mut self, value: O, ts: Timestamp) {
        self.out.record(self.cx, value, ts);
    }

    /// Emits a record on a side output.
    pub fn side_output<X: 'static>(&mut self, tag: &OutputTag<X>, value: X) {
        self.side.emit(self.cx, tag.name(), value, self.ts);
    }

    /// Counts a record dropped for arriving behind the watermark in the
    /// job's late-records metric, as the window operators count theirs.
    pub fn count_late_record(&mut self) {
        self.cx.metrics.add_late_records(1);
    }

    /// The event time of the current record or timer, if any.
    pub fn timestamp(&self) -> Option<Timestamp> {
        (self.ts != WATERMARK_MIN).then_some(self.ts)
    }

    /// The operator's current watermark.
    pub fn current_watermark(&self) -> Timestamp {
        self.watermark
    }

    /// Processing time, ms since the epoch.
    pub fn current_processing_time(&self) -> i64 {
        self.cx.now_ms()
    }

    /// Calls `on_timer` for the current key once the watermark passes `ts`.
    pub fn register_event_time_timer(&mut self, ts: Timestamp) {
        self.timers.register_event(self.kr, self.key, &(), ts);
    }

    /// Calls `on_timer` for the current key once processing time reaches `ts`.
    pub fn register_processing_time_timer(&mut self, ts: i64) {
        self.timers.register_processing(self.kr, self.key, &(), ts);
        self.cx.request_tick_at(ts);
    }

    /// Deletes an event-time timer of the current key.
    pub fn delete_event_time_timer(&mut self, ts: Timestamp) {
        let _ = self.timers.event.delete(self.kr, self.key, &(), ts);
    }

    /// Deletes a processing-time timer of the current key.
    pub fn delete_processing_time_timer(&mut self, ts: i64) {
        let _ = self.timers.processing.delete(self.kr, self.key, &(), ts);
    }

    /// Reports a failure of the user function; the job stops with it.
    pub fn fail(&mut self, reason: impl Into<String>) {
        self.cx.fail(crate::SpateError::Operator {
            operator: "keyed process".into(),
            reason: reason.into(),
        });
    }

    /// Reports a state error (e.g. from a state handle) as a job failure.
    pub fn check<T>(&mut self, r: crate::Result<T>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.cx.fail(e);
                None
            }
        }
    }
}
