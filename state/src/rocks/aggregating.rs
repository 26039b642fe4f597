//! Aggregating state on RocksDB: values added into a stored accumulator.

use super::{ExpiringEntry, StateResult};
use std::fmt;

use super::db::RocksBackend;
use super::value::RocksValueTable;
use crate::aggregating::AggregateFunction;
use crate::codec::StateData;
use crate::error::StateError;
use crate::key_group::{KeyGroup, KeyGroupRange, KeyRef};
use crate::ttl::StateTtl;

/// Aggregating state (Flink's `AggregatingState`) in a RocksDB column
/// family: the counterpart of [`AggregatingTable`](crate::AggregatingTable),
/// for an [`AggregateFunction`] whose accumulator is [`StateData`]. Each
/// `add` reads the accumulator, adds and writes it back; TTL applies to the
/// accumulator.
pub struct RocksAggregatingTable<K, N, A: AggregateFunction> {
    accumulators: RocksValueTable<K, N, A::Acc>,
    function: A,
}

impl<K, N, A> RocksAggregatingTable<K, N, A>
where
    K: StateData,
    N: StateData,
    A: AggregateFunction,
    A::Acc: StateData,
{
    /// The table of state `name` in `backend`, aggregating with `function`.
    pub fn open(
        backend: &RocksBackend,
        name: &str,
        ttl: Option<StateTtl>,
        function: A,
    ) -> Result<Self, StateError> {
        Ok(Self {
            accumulators: RocksValueTable::open(backend, name, ttl)?,
            function,
        })
    }

    /// The column family, for the canonical form.
    pub(crate) fn state_cf(&self) -> &super::state_cf::StateCf {
        self.accumulators.state_cf()
    }

    /// The state's name.
    pub fn name(&self) -> &str {
        self.accumulators.name()
    }

    /// The key groups this table holds.
    pub fn range(&self) -> KeyGroupRange {
        self.accumulators.range()
    }

    /// The TTL configuration, if any.
    pub fn ttl(&self) -> Option<StateTtl> {
        self.accumulators.ttl()
    }

    /// The aggregate function.
    pub fn function(&self) -> &A {
        &self.function
    }

    /// Adds `value` to the accumulator of (key, ns), creating it first if
    /// there is no visible one.
    pub fn add(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        value: A::In,
        now_ms: i64,
    ) -> Result<(), StateError> {
        let function = &self.function;
        self.accumulators
            .update(kr, key, ns, now_ms, |current| match current {
                Some(acc) => {
                    function.add(value, acc);
                    None
                }
                None => {
                    let mut acc = function.create_accumulator();
                    function.add(value, &mut acc);
                    Some(acc)
                }
            })
    }

    /// The aggregate result of (key, ns), if it has a visible accumulator.
    pub fn get(
        &self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        now_ms: i64,
    ) -> Result<Option<A::Out>, StateError> {
        Ok(self
            .accumulators
            .get(kr, key, ns, now_ms)?
            .map(|acc| self.function.get_result(&acc)))
    }

    /// The accumulator of (key, ns), if visible.
    pub fn get_accumulator(
        &self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        now_ms: i64,
    ) -> Result<Option<A::Acc>, StateError> {
        self.accumulators.get(kr, key, ns, now_ms)
    }

    /// Sets the accumulator of (key, ns).
    pub fn put_accumulator(
        &mut self,
        kr: KeyRef,
        key: K,
        ns: N,
        acc: A::Acc,
        now_ms: i64,
    ) -> Result<(), StateError> {
        self.accumulators.put(kr, key, ns, acc, now_ms)
    }

    /// Removes the accumulator of (key, ns), returning it if visible.
    pub fn take_accumulator(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        now_ms: i64,
    ) -> Result<Option<A::Acc>, StateError> {
        self.accumulators.remove(kr, key, ns, now_ms)
    }

    /// Removes the accumulator of (key, ns).
    pub fn clear(&mut self, kr: KeyRef, key: &K, ns: &N) -> Result<(), StateError> {
        self.remove_namespace_for_key(kr, key, ns).map(drop)
    }

    /// Drops (key, ns); returns whether it was stored.
    pub fn remove_namespace_for_key(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
    ) -> Result<bool, StateError> {
        self.accumulators.remove_namespace_for_key(kr, key, ns)
    }

    /// Removes the accumulators of `sources` and merges them into `target`
    /// with [`AggregateFunction::merge`] (session-window merging).
    pub fn merge_namespaces(
        &mut self,
        kr: KeyRef,
        key: &K,
        sources: &[N],
        target: &N,
        now_ms: i64,
    ) -> Result<(), StateError> {
        let function = &self.function;
        self.accumulators
            .merge_namespaces_with(kr, key, sources, target, now_ms, |a, b| {
                function.merge(a, b)
            })
    }

    /// Drops every accumulator of the owned key groups.
    pub fn clear_all(&mut self) -> Result<(), StateError> {
        self.accumulators.clear_all()
    }

    /// Every stored accumulator of key group `kg` (for snapshots).
    pub fn iter_key_group(
        &self,
        kg: KeyGroup,
    ) -> Result<impl Iterator<Item = StateResult<(K, N, A::Acc)>> + '_, StateError> {
        self.accumulators.iter_key_group(kg)
    }

    /// Every stored accumulator of key group `kg` with its stored expiry.
    #[allow(clippy::type_complexity, reason = "the heap table's tuple, owned")]
    pub fn iter_key_group_with_expiry(
        &self,
        kg: KeyGroup,
    ) -> Result<impl Iterator<Item = StateResult<ExpiringEntry<K, N, A::Acc>>> + '_, StateError>
    {
        self.accumulators.iter_key_group_with_expiry(kg)
    }

    /// Incremental TTL cleanup, as [`RocksValueTable::cleanup_expired`].
    pub fn cleanup_expired(
        &mut self,
        now_ms: i64,
        entries_max: usize,
    ) -> Result<usize, StateError> {
        self.accumulators.cleanup_expired(now_ms, entries_max)
    }
}

impl<K, N, A: AggregateFunction> fmt::Debug for RocksAggregatingTable<K, N, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RocksAggregatingTable")
            .field("accumulators", &self.accumulators)
            .finish_non_exhaustive()
    }
}
