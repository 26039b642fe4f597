//! Reducing state: values folded into one with a reduce function.

use std::fmt;
use std::hash::Hash;

use crate::error::StateError;
use crate::key_group::{KeyGroup, KeyGroupRange, KeyRef};
use crate::snapshot::ExpiringEntry;
use crate::ttl::StateTtl;
use crate::value::ValueTable;

/// The reduce function of a [`ReducingTable`].
pub type ReduceFn<V> = Box<dyn Fn(&V, &V) -> V>;

/// Reducing state (Flink's `ReducingState`): each added value is folded into
/// the stored one with `reduce(stored, added)`.
///
/// TTL applies to the folded value as a whole; every `add` restarts it.
pub struct ReducingTable<K, N, V> {
    values: ValueTable<K, N, V>,
    reduce: ReduceFn<V>,
}

impl<K, N, V> ReducingTable<K, N, V>
where
    K: Hash + Eq + Clone + 'static,
    N: Hash + Eq + Clone + 'static,
    V: Clone + 'static,
{
    /// An empty table for the key groups in `range`, folding with `reduce`.
    pub fn new(
        range: KeyGroupRange,
        ttl: Option<StateTtl>,
        reduce: impl Fn(&V, &V) -> V + 'static,
    ) -> Self {
        Self {
            values: ValueTable::new(range, ttl),
            reduce: Box::new(reduce),
        }
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
    /// none; one hash probe.
    #[inline]
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
    #[inline]
    pub fn get(&self, kr: KeyRef, key: &K, ns: &N, now_ms: i64) -> Result<Option<&V>, StateError> {
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

    /// Puts a value restored from a snapshot, as [`ValueTable::restore`].
    pub fn restore(
        &mut self,
        kr: KeyRef,
        entry: crate::snapshot::Restored<K, N, V>,
        now_ms: i64,
    ) -> Result<(), StateError> {
        self.values.restore(kr, entry, now_ms)
    }

    /// Number of stored (key, namespace) entries.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether no entry is stored.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Drops every entry and releases the memory.
    pub fn clear_all(&mut self) {
        self.values.clear_all();
    }

    /// Every stored entry of key group `kg` (for snapshots).
    pub fn iter_key_group(
        &self,
        kg: KeyGroup,
    ) -> Result<impl Iterator<Item = (&K, &N, &V)> + '_, StateError> {
        self.values.iter_key_group(kg)
    }

    /// The table of folded values.
    pub(crate) fn value_table(&self) -> &ValueTable<K, N, V> {
        &self.values
    }

    /// The table of folded values, mutably.
    pub(crate) fn value_table_mut(&mut self) -> &mut ValueTable<K, N, V> {
        &mut self.values
    }

    /// Every stored entry of key group `kg` with its expiry.
    pub fn iter_key_group_with_expiry(
        &self,
        kg: KeyGroup,
    ) -> Result<impl Iterator<Item = ExpiringEntry<'_, K, N, &V>> + '_, StateError> {
        self.values.iter_key_group_with_expiry(kg)
    }

    /// Incremental TTL cleanup, as [`ValueTable::cleanup_expired`].
    pub fn cleanup_expired(&mut self, now_ms: i64, entries_max: usize) -> usize {
        self.values.cleanup_expired(now_ms, entries_max)
    }

    /// Estimated bytes held, as [`ValueTable::approx_bytes`].
    pub fn approx_bytes(&self) -> usize {
        size_of::<Self>() + self.values.approx_bytes()
    }
}

impl<K, N, V> fmt::Debug for ReducingTable<K, N, V>
where
    K: Hash + Eq + Clone + 'static,
    N: Hash + Eq + Clone + 'static,
    V: Clone + 'static,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReducingTable")
            .field("range", &self.range())
            .field("ttl", &self.ttl())
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MP: u16 = 128;

    fn kr(k: u64) -> KeyRef {
        KeyRef::of(&k, MP)
    }

    fn max_table(ttl: Option<StateTtl>) -> ReducingTable<u64, u32, i64> {
        ReducingTable::new(KeyGroupRange::all(MP), ttl, |a: &i64, b| *a.max(b))
    }

    #[test]
    fn add_folds_values() {
        let mut t = max_table(None);
        assert_eq!(t.get(kr(1), &1, &0, 0).unwrap(), None);
        for v in [3, 9, -2, 7] {
            t.add(kr(1), &1, &0, v, 0).unwrap();
        }
        t.add(kr(2), &2, &0, -5, 0).unwrap();
        assert_eq!(t.get(kr(1), &1, &0, 0).unwrap(), Some(&9));
        assert_eq!(t.get(kr(2), &2, &0, 0).unwrap(), Some(&-5));
        t.clear(kr(1), &1, &0).unwrap();
        assert_eq!(t.get(kr(1), &1, &0, 0).unwrap(), None);
        assert_eq!(t.take(kr(2), &2, &0, 0).unwrap(), Some(-5));
        assert!(t.is_empty());
    }

    #[test]
    fn reduce_order_is_stored_then_added() {
        let mut t: ReducingTable<u64, (), String> =
            ReducingTable::new(KeyGroupRange::all(MP), None, |a, b| format!("{a}{b}"));
        for v in ["a", "b", "c"] {
            t.add(kr(1), &1, &(), v.to_owned(), 0).unwrap();
        }
        assert_eq!(
            t.get(kr(1), &1, &(), 0).unwrap().map(String::as_str),
            Some("abc")
        );
    }

    #[test]
    fn merge_namespaces_folds_into_target() {
        let mut t: ReducingTable<u64, u32, i64> =
            ReducingTable::new(KeyGroupRange::all(MP), None, |a, b| a + b);
        t.add(kr(1), &1, &1, 10, 0).unwrap();
        t.add(kr(1), &1, &2, 20, 0).unwrap();
        t.add(kr(1), &1, &3, 30, 0).unwrap();
        t.merge_namespaces(kr(1), &1, &[2, 3], &1, 0).unwrap();
        assert_eq!(t.get(kr(1), &1, &1, 0).unwrap(), Some(&60));
        assert_eq!(t.len(), 1);
        t.merge_namespaces(kr(1), &1, &[1], &9, 0).unwrap();
        assert_eq!(t.get(kr(1), &1, &9, 0).unwrap(), Some(&60));
        t.merge_namespaces(kr(1), &1, &[4, 5], &9, 0).unwrap();
        assert_eq!(t.get(kr(1), &1, &9, 0).unwrap(), Some(&60));
    }

    #[test]
    fn ttl_expired_value_restarts_the_fold() {
        let mut t = max_table(Some(StateTtl::new(100)));
        t.add(kr(1), &1, &0, 50, 0).unwrap();
        t.add(kr(1), &1, &0, 10, 150).unwrap();
        assert_eq!(t.get(kr(1), &1, &0, 150).unwrap(), Some(&10));
        assert_eq!(t.cleanup_expired(1_000, 10), 1);
        assert!(t.is_empty());
    }
}
