//! Reducing state on RocksDB: values folded into one with a reduce function.

use super::{ExpiringEntry, StateResult};
use std::fmt;

use super::db::RocksBackend;
use super::value::RocksValueTable;
use crate::codec::StateData;
use crate::error::StateError;
use crate::key_group::{KeyGroup, KeyGroupRange, KeyRef};
use crate::reducing::ReduceFn;
use crate::ttl::StateTtl;

/// Reducing state (Flink's `ReducingState`) in a RocksDB column family: the
/// counterpart of [`ReducingTable`](crate::ReducingTable). Each `add` reads,
/// folds with `reduce(stored, added)` and writes back; TTL applies to the
/// folded value.
pub struct RocksReducingTable<K, N, V> {
    values: RocksValueTable<K, N, V>,
    reduce: ReduceFn<V>,
}

impl<K, N, V> RocksReducingTable<K, N, V>
where
    K: StateData,
    N: StateData,
    V: StateData,
{
    /// The table of state `name` in `backend`, folding with `reduce`.
    pub fn open(
        backend: &RocksBackend,
        name: &str,
        ttl: Option<StateTtl>,
        reduce: impl Fn(&V, &V) -> V + 'static,
    ) -> Result<Self, StateError> {
        Ok(Self {
            values: RocksValueTable::open(backend, name, ttl)?,
            reduce: Box::new(reduce),
        })
    }

    /// The column family, for the canonical form.
    pub(crate) fn state_cf(&self) -> &super::state_cf::StateCf {
        self.values.state_cf()
    }

    /// The state's name.
    pub fn name(&self) -> &str {
        self.values.name()
    }

    /// The key groups this table holds.
    pub fn range(&self) -> KeyGroupRange {
        self.values.range()
    }

    /// The TTL configuration, if any.
    pub fn ttl(&self) -> Option<StateTtl> {
        self.values.ttl()
    }

    /// Folds `value` into the value of (key, ns), or stores it if there is
    /// none.
    pub fn add(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        value: V,
        now_ms: i64,
    ) -> Result<(), StateError> {
        let reduce = &self.reduce;
        self.values
            .update(kr, key, ns, now_ms, |current| match current {
                Some(acc) => {
                    *acc = reduce(acc, &value);
                    None
                }
                None => Some(value),
            })
    }

    /// The folded value of (key, ns), if visible.
    pub fn get(&self, kr: KeyRef, key: &K, ns: &N, now_ms: i64) -> Result<Option<V>, StateError> {
        self.values.get(kr, key, ns, now_ms)
    }

    /// Removes the folded value of (key, ns), returning it if visible.
    pub fn take(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        now_ms: i64,
    ) -> Result<Option<V>, StateError> {
        self.values.remove(kr, key, ns, now_ms)
    }

    /// Removes the folded value of (key, ns).
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
        self.values.remove_namespace_for_key(kr, key, ns)
    }

    /// Removes the values of `sources` and folds them into `target`
    /// (session-window merging; Flink's order).
    pub fn merge_namespaces(
        &mut self,
        kr: KeyRef,
        key: &K,
        sources: &[N],
        target: &N,
        now_ms: i64,
    ) -> Result<(), StateError> {
        let reduce = &self.reduce;
        self.values
            .merge_namespaces_with(kr, key, sources, target, now_ms, |a, b| reduce(&a, &b))
    }

    /// Drops every entry of the owned key groups.
    pub fn clear_all(&mut self) -> Result<(), StateError> {
        self.values.clear_all()
    }

    /// Every stored entry of key group `kg` (for snapshots).
    pub fn iter_key_group(
        &self,
        kg: KeyGroup,
    ) -> Result<impl Iterator<Item = StateResult<(K, N, V)>> + '_, StateError> {
        self.values.iter_key_group(kg)
    }

    /// Every stored entry of key group `kg` with its stored expiry.
    pub fn iter_key_group_with_expiry(
        &self,
        kg: KeyGroup,
    ) -> Result<impl Iterator<Item = StateResult<ExpiringEntry<K, N, V>>> + '_, StateError> {
        self.values.iter_key_group_with_expiry(kg)
    }

    /// Incremental TTL cleanup, as [`RocksValueTable::cleanup_expired`].
    pub fn cleanup_expired(
        &mut self,
        now_ms: i64,
        entries_max: usize,
    ) -> Result<usize, StateError> {
        self.values.cleanup_expired(now_ms, entries_max)
    }
}

impl<K, N, V> fmt::Debug for RocksReducingTable<K, N, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RocksReducingTable")
            .field("values", &self.values)
            .finish_non_exhaustive()
    }
}
