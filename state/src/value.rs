//! Value state: one value per (key, namespace).

use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

use hashbrown::hash_table::Entry;

use crate::canonical::value_slot_delta;
use crate::changes::{SlotEncoder, reads_restart_ttl};
use crate::codec::StateData;
use crate::dispatch::{ByTtl, by_ttl, by_ttl_wrap, capture_methods};
use crate::error::StateError;
use crate::key_group::{KeyGroup, KeyGroupRange, KeyRef};
use crate::snapshot::{ExpiringEntry, Restored};
use crate::store::{KeyGroupedStore, Slot, Swept};
use crate::ttl::{NoTtl, StateTtl, TtlPolicy, WithTtl};

/// The value table for one TTL policy.
#[derive(Clone)]
pub(crate) struct ValueCore<K, N, V, M: TtlPolicy> {
    store: KeyGroupedStore<K, N, M::Stored<V>>,
    policy: M,
}

impl<K, N, V, M> ValueCore<K, N, V, M>
where
    K: Hash + Eq + Clone,
    N: Hash + Eq + Clone,
    M: TtlPolicy,
{
    fn new(range: KeyGroupRange, policy: M) -> Self {
        Self {
            store: KeyGroupedStore::new(range),
            policy,
        }
    }

    #[inline]
    fn get(&self, kr: KeyRef, key: &K, ns: &N, now_ms: i64) -> Result<Option<&V>, StateError> {
        Ok(self
            .store
            .find(kr, key, ns)?
            .and_then(|slot| self.policy.read(&slot.cell, now_ms)))
    }

    #[inline]
    fn get_mut(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        now_ms: i64,
    ) -> Result<Option<&mut V>, StateError> {
        let policy = self.policy;
        let Some(occupied) = self.store.find_entry(kr, key, ns)? else {
            return Ok(None);
        };
        if !policy.is_visible(&occupied.get().cell, now_ms) {
            occupied.remove();
            return Ok(None);
        }
        let slot = occupied.into_mut();
        policy.touch_write(&slot.cell, now_ms);
        Ok(Some(M::value_mut(&mut slot.cell)))
    }

    #[inline]
    fn put(&mut self, kr: KeyRef, key: K, ns: N, value: V, now_ms: i64) -> Result<(), StateError> {
        let cell = self.policy.wrap(value, now_ms);
        match self.store.entry(kr, &key, &ns)? {
            Entry::Occupied(mut occupied) => occupied.get_mut().cell = cell,
            Entry::Vacant(vacant) => {
                vacant.insert(Slot { key, ns, cell });
            }
        }
        Ok(())
    }

    /// Puts a value restored from a snapshot, keeping its stored expiry.
    fn restore(
        &mut self,
        kr: KeyRef,
        entry: Restored<K, N, V>,
        now_ms: i64,
    ) -> Result<(), StateError> {
        let (key, ns, value, expires_at_ms) = entry;
        let cell = self.policy.wrap_at(value, expires_at_ms, now_ms);
        match self.store.restore_entry(kr, &key, &ns)? {
            Entry::Occupied(mut occupied) => occupied.get_mut().cell = cell,
            Entry::Vacant(vacant) => {
                vacant.insert(Slot { key, ns, cell });
            }
        }
        Ok(())
    }

    #[inline]
    fn remove(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        now_ms: i64,
    ) -> Result<Option<V>, StateError> {
        let policy = self.policy;
        Ok(self
            .store
            .remove(kr, key, ns)?
            .filter(|slot| policy.is_visible(&slot.cell, now_ms))
            .map(|slot| M::into_value(slot.cell)))
    }

    #[inline]
    fn update(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        now_ms: i64,
        f: impl FnOnce(Option<&mut V>) -> Option<V>,
    ) -> Result<(), StateError> {
        let policy = self.policy;
        match self.store.entry(kr, key, ns)? {
            Entry::Occupied(mut occupied) => {
                let slot = occupied.get_mut();
                let current = policy
                    .is_visible(&slot.cell, now_ms)
                    .then(|| M::value_mut(&mut slot.cell));
                let existed = current.is_some();
                match f(current) {
                    Some(value) => slot.cell = policy.wrap(value, now_ms),
                    None if existed => policy.touch_write(&slot.cell, now_ms),
                    // An expired value the closure chose not to replace.
                    None => {
                        occupied.remove();
                    }
                }
            }
            Entry::Vacant(vacant) => {
                if let Some(value) = f(None) {
                    vacant.insert(Slot {
                        key: key.clone(),
                        ns: ns.clone(),
                        cell: policy.wrap(value, now_ms),
                    });
                }
            }
        }
        Ok(())
    }

    #[inline]
    fn get_or_insert_with(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        now_ms: i64,
        default: impl FnOnce() -> V,
    ) -> Result<&mut V, StateError> {
        let policy = self.policy;
        let slot = match self.store.entry(kr, key, ns)? {
            Entry::Occupied(occupied) => {
                let slot = occupied.into_mut();
                if policy.is_visible(&slot.cell, now_ms) {
                    policy.touch_write(&slot.cell, now_ms);
                } else {
                    slot.cell = policy.wrap(default(), now_ms);
                }
                slot
            }
            Entry::Vacant(vacant) => vacant
                .insert(Slot {
                    key: key.clone(),
                    ns: ns.clone(),
                    cell: policy.wrap(default(), now_ms),
                })
                .into_mut(),
        };
        Ok(M::value_mut(&mut slot.cell))
    }

    fn remove_namespace_for_key(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
    ) -> Result<bool, StateError> {
        Ok(self.store.remove(kr, key, ns)?.is_some())
    }

    fn merge_namespaces(
        &mut self,
        kr: KeyRef,
        key: &K,
        sources: &[N],
        target: &N,
        now_ms: i64,
        mut merge: impl FnMut(V, V) -> V,
    ) -> Result<(), StateError> {
        // Flink's order: fold the sources in order, then merge(target, folded).
        let mut merged: Option<V> = None;
        for source in sources {
            if let Some(value) = self.remove(kr, key, source, now_ms)? {
                merged = Some(match merged {
                    Some(acc) => merge(acc, value),
                    None => value,
                });
            }
        }
        let Some(merged) = merged else {
            return Ok(());
        };
        let combined = match self.remove(kr, key, target, now_ms)? {
            Some(existing) => merge(existing, merged),
            None => merged,
        };
        self.put(kr, key.clone(), target.clone(), combined, now_ms)
    }

    fn iter_key_group(
        &self,
        kg: KeyGroup,
    ) -> Result<impl Iterator<Item = ExpiringEntry<'_, K, N, &V>>, StateError> {
        Ok(self.store.iter_group(kg)?.map(|slot| {
            (
                &slot.key,
                &slot.ns,
                M::value(&slot.cell),
                M::expires_at_ms(&slot.cell),
            )
        }))
    }

    fn cleanup_expired(&mut self, now_ms: i64, entries_max: usize) -> usize {
        if !M::EXPIRES {
            return 0;
        }
        let policy = self.policy;
        self.store.sweep(entries_max, |slot| {
            let expired = policy.is_expired(&slot.cell, now_ms);
            Swept {
                removed: usize::from(expired),
                keep: !expired,
            }
        })
    }
}

impl<K, N, V, M> ValueCore<K, N, V, M>
where
    K: StateData + Hash + Eq + Clone + 'static,
    N: StateData + Hash + Eq + Clone + 'static,
    V: StateData + 'static,
    M: TtlPolicy + 'static,
{
    /// Writes a slot out for a capture: its value, or a tombstone.
    fn slot_encoder(&self) -> SlotEncoder<K, N, M::Stored<V>> {
        Arc::new(|kg, key, ns, slot, out| {
            let value = slot.map(|s| (M::value(&s.cell), M::expires_at_ms(&s.cell)));
            value_slot_delta(kg, key, ns, value, out)
        })
    }
}

/// The two representations of the public table.
type Repr<K, N, V> = ByTtl<ValueCore<K, N, V, NoTtl>, ValueCore<K, N, V, WithTtl>>;

/// Value state (Flink's `ValueState`): at most one `V` per (key, namespace)
/// for the key groups of one subtask.
///
/// Each key's [`KeyRef`] must be computed with the same max parallelism as
/// the table's range and passed along with the key; a key group outside the
/// range yields [`StateError::KeyGroupOutOfRange`]. Reads through `&self`
/// never remove anything; accesses through `&mut self` drop the expired
/// entries they meet, and [`cleanup_expired`](Self::cleanup_expired) sweeps
/// the rest.
#[derive(Clone)]
pub struct ValueTable<K, N, V> {
    inner: Repr<K, N, V>,
}

impl<K, N, V> ValueTable<K, N, V>
where
    K: Hash + Eq + Clone + 'static,
    N: Hash + Eq + Clone + 'static,
    V: Clone + 'static,
{
    /// An empty table for the key groups in `range`; with `ttl`, each value
    /// also carries its expiry (8 bytes), without it nothing extra is stored.
    pub fn new(range: KeyGroupRange, ttl: Option<StateTtl>) -> Self {
        let inner = match ttl {
            None => ByTtl::Plain(ValueCore::new(range, NoTtl)),
            Some(ttl) => ByTtl::Ttl(ValueCore::new(range, WithTtl::new(ttl))),
        };
        Self { inner }
    }

    /// The key groups this table holds.
    pub fn range(&self) -> KeyGroupRange {
        by_ttl!(&self.inner, core => core.store.range())
    }

    /// The TTL configuration, if any.
    pub fn ttl(&self) -> Option<StateTtl> {
        by_ttl!(&self.inner, core => core.policy.config())
    }

    /// The value of (key, ns), if present and visible. With
    /// [`TtlUpdate::OnReadAndWrite`](crate::TtlUpdate) this restarts its TTL.
    #[inline]
    pub fn get(&self, kr: KeyRef, key: &K, ns: &N, now_ms: i64) -> Result<Option<&V>, StateError> {
        by_ttl!(&self.inner, core => core.get(kr, key, ns, now_ms))
    }

    /// The value of (key, ns) for in-place modification. Counts as a write:
    /// it restarts the TTL. An expired, invisible value is removed.
    #[inline]
    pub fn get_mut(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        now_ms: i64,
    ) -> Result<Option<&mut V>, StateError> {
        by_ttl!(&mut self.inner, core => core.get_mut(kr, key, ns, now_ms))
    }

    /// Whether (key, ns) has a visible value.
    pub fn contains(&self, kr: KeyRef, key: &K, ns: &N, now_ms: i64) -> Result<bool, StateError> {
        Ok(self.get(kr, key, ns, now_ms)?.is_some())
    }

    /// Sets the value of (key, ns).
    #[inline]
    pub fn put(
        &mut self,
        kr: KeyRef,
        key: K,
        ns: N,
        value: V,
        now_ms: i64,
    ) -> Result<(), StateError> {
        by_ttl!(&mut self.inner, core => core.put(kr, key, ns, value, now_ms))
    }

    /// Removes (key, ns), returning its value if it was visible.
    pub fn remove(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        now_ms: i64,
    ) -> Result<Option<V>, StateError> {
        by_ttl!(&mut self.inner, core => core.remove(kr, key, ns, now_ms))
    }

    /// Read-modify-write with a single hash probe.
    ///
    /// `f` gets the visible value (or `None`) and may change it in place.
    /// If it returns `Some(v)`, `v` becomes the value; if it returns `None`,
    /// an existing value is kept (as modified) and an absent one stays
    /// absent. Either way a present value counts as written (TTL restarts).
    /// Use [`remove`](Self::remove) to delete. The key and namespace are
    /// cloned only when a new entry is inserted.
    #[inline]
    pub fn update(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        now_ms: i64,
        f: impl FnOnce(Option<&mut V>) -> Option<V>,
    ) -> Result<(), StateError> {
        by_ttl!(&mut self.inner, core => core.update(kr, key, ns, now_ms, f))
    }

    /// The value of (key, ns), inserting `default()` first if there is no
    /// visible one; one hash probe. Counts as a write (TTL restarts).
    #[inline]
    pub fn get_or_insert_with(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        now_ms: i64,
        default: impl FnOnce() -> V,
    ) -> Result<&mut V, StateError> {
        by_ttl!(&mut self.inner, core => core.get_or_insert_with(kr, key, ns, now_ms, default))
    }

    /// Drops (key, ns) whether expired or not; returns whether it existed.
    pub fn remove_namespace_for_key(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
    ) -> Result<bool, StateError> {
        by_ttl!(&mut self.inner, core => core.remove_namespace_for_key(kr, key, ns))
    }

    /// Removes the values of `sources` and folds them with `merge` into
    /// `target` (Flink's order: sources in order, then `merge(target, folded)`).
    pub(crate) fn merge_namespaces_with(
        &mut self,
        kr: KeyRef,
        key: &K,
        sources: &[N],
        target: &N,
        now_ms: i64,
        merge: impl FnMut(V, V) -> V,
    ) -> Result<(), StateError> {
        by_ttl!(&mut self.inner, core => core.merge_namespaces(kr, key, sources, target, now_ms, merge))
    }

    /// Number of stored (key, namespace) entries, expired ones not yet
    /// cleaned up included.
    pub fn len(&self) -> usize {
        by_ttl!(&self.inner, core => core.store.len())
    }

    /// Whether no entry is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every entry and releases the memory.
    pub fn clear_all(&mut self) {
        by_ttl!(&mut self.inner, core => core.store.clear_all());
    }

    /// Puts an entry restored from a snapshot: `(key, namespace, value,
    /// expiry)`, the expiry as stored (`None` when stored without TTL).
    pub fn restore(
        &mut self,
        kr: KeyRef,
        entry: Restored<K, N, V>,
        now_ms: i64,
    ) -> Result<(), StateError> {
        by_ttl!(&mut self.inner, core => core.restore(kr, entry, now_ms))
    }

    /// Every stored entry of key group `kg`, expired ones not yet cleaned up
    /// included, in no particular order (for snapshots).
    pub fn iter_key_group(
        &self,
        kg: KeyGroup,
    ) -> Result<impl Iterator<Item = (&K, &N, &V)> + '_, StateError> {
        Ok(self
            .iter_key_group_with_expiry(kg)?
            .map(|(k, n, v, _)| (k, n, v)))
    }

    /// Like [`iter_key_group`](Self::iter_key_group), with each entry's
    /// expiry time (`None` without TTL), so snapshots can keep TTLs.
    pub fn iter_key_group_with_expiry(
        &self,
        kg: KeyGroup,
    ) -> Result<impl Iterator<Item = ExpiringEntry<'_, K, N, &V>> + '_, StateError> {
        Ok(by_ttl_wrap!(&self.inner, core => core.iter_key_group(kg)?))
    }

    /// This table, for code shared with the tables built on it.
    pub(crate) fn value_table(&self) -> &Self {
        self
    }

    /// This table, mutably.
    pub(crate) fn value_table_mut(&mut self) -> &mut Self {
        self
    }

    /// Starts noting changed entries, so a checkpoint can capture only
    /// those. Refused (false) when reads restart the TTL: a read changes
    /// the expiry without a mutable access, so it would go unnoticed.
    pub fn track_changes(&mut self) -> bool
    where
        K: StateData,
        N: StateData,
        V: StateData,
    {
        if reads_restart_ttl(self.ttl()) {
            return false;
        }
        by_ttl!(&mut self.inner, core => {
            let encode = core.slot_encoder();
            core.store.track_changes(None, encode);
        });
        true
    }

    /// Whether changes are noted.
    pub fn tracks_changes(&self) -> bool {
        by_ttl!(&self.inner, core => core.store.tracks_changes())
    }

    capture_methods!();

    /// Examines up to `entries_max` entries, resuming where the previous call
    /// stopped, and removes the expired ones; returns how many it removed.
    /// Without TTL it returns 0 at once.
    pub fn cleanup_expired(&mut self, now_ms: i64, entries_max: usize) -> usize {
        by_ttl!(&mut self.inner, core => core.cleanup_expired(now_ms, entries_max))
    }

    /// Estimated bytes held: table capacity (including free slots and control
    /// bytes), not heap memory owned by keys or values.
    pub fn approx_bytes(&self) -> usize {
        size_of::<Self>() + by_ttl!(&self.inner, core => core.store.approx_bytes())
    }
}

impl<K, N, V> fmt::Debug for ValueTable<K, N, V>
where
    K: Hash + Eq + Clone + 'static,
    N: Hash + Eq + Clone + 'static,
    V: Clone + 'static,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValueTable")
            .field("range", &self.range())
            .field("ttl", &self.ttl())
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key_group::MAX_PARALLELISM_DEFAULT;
    use crate::ttl::{TtlUpdate, TtlVisibility};

    const MP: u16 = MAX_PARALLELISM_DEFAULT;

    fn kr(k: u64) -> KeyRef {
        KeyRef::of(&k, MP)
    }

    fn table(ttl: Option<StateTtl>) -> ValueTable<u64, (), u64> {
        ValueTable::new(KeyGroupRange::all(MP), ttl)
    }

    #[test]
    fn put_get_remove() {
        let mut t = table(None);
        assert_eq!(t.get(kr(1), &1, &(), 0).unwrap(), None);
        t.put(kr(1), 1, (), 10, 0).unwrap();
        t.put(kr(2), 2, (), 20, 0).unwrap();
        t.put(kr(1), 1, (), 11, 0).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t.get(kr(1), &1, &(), 0).unwrap(), Some(&11));
        assert!(t.contains(kr(2), &2, &(), 0).unwrap());
        assert_eq!(t.remove(kr(1), &1, &(), 0).unwrap(), Some(11));
        assert_eq!(t.remove(kr(1), &1, &(), 0).unwrap(), None);
        assert_eq!(t.len(), 1);
        t.clear_all();
        assert!(t.is_empty());
    }

    #[test]
    fn update_is_read_modify_write() {
        let mut t = table(None);
        let count = |c: Option<&mut u64>| match c {
            Some(c) => {
                *c += 1;
                None
            }
            None => Some(1),
        };
        for _ in 0..3 {
            t.update(kr(5), &5, &(), 0, count).unwrap();
        }
        assert_eq!(t.get(kr(5), &5, &(), 0).unwrap(), Some(&3));
        t.update(kr(5), &5, &(), 0, |_| Some(100)).unwrap();
        assert_eq!(t.get(kr(5), &5, &(), 0).unwrap(), Some(&100));
        // None on an absent value inserts nothing.
        t.update(kr(6), &6, &(), 0, |_| None).unwrap();
        assert_eq!(t.len(), 1);
        *t.get_or_insert_with(kr(6), &6, &(), 0, || 40).unwrap() += 2;
        *t.get_or_insert_with(kr(6), &6, &(), 0, || 0).unwrap() += 2;
        assert_eq!(t.get(kr(6), &6, &(), 0).unwrap(), Some(&44));
        if let Some(v) = t.get_mut(kr(6), &6, &(), 0).unwrap() {
            *v = 7;
        }
        assert_eq!(t.get(kr(6), &6, &(), 0).unwrap(), Some(&7));
    }

    #[test]
    fn namespaces_are_independent() {
        let mut t: ValueTable<String, u32, &str> = ValueTable::new(KeyGroupRange::all(MP), None);
        let key = "user-1".to_owned();
        let r = KeyRef::of(&key, MP);
        t.put(r, key.clone(), 1, "a", 0).unwrap();
        t.put(r, key.clone(), 2, "b", 0).unwrap();
        assert_eq!(t.get(r, &key, &1, 0).unwrap(), Some(&"a"));
        assert_eq!(t.get(r, &key, &2, 0).unwrap(), Some(&"b"));
        assert_eq!(t.get(r, &key, &3, 0).unwrap(), None);
        assert!(t.remove_namespace_for_key(r, &key, &1).unwrap());
        assert!(!t.remove_namespace_for_key(r, &key, &1).unwrap());
        assert_eq!(t.get(r, &key, &2, 0).unwrap(), Some(&"b"));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn key_group_outside_range_is_an_error_not_a_panic() {
        let range = KeyGroupRange::new(0, 64).unwrap();
        let mut t: ValueTable<u64, (), u64> = ValueTable::new(range, None);
        let k = (0..).find(|k| kr(*k).key_group >= 64).unwrap();
        let expected = StateError::KeyGroupOutOfRange {
            key_group: kr(k).key_group,
            range,
        };
        assert_eq!(t.put(kr(k), k, (), 1, 0), Err(expected.clone()));
        assert_eq!(t.get(kr(k), &k, &(), 0), Err(expected.clone()));
        assert_eq!(
            t.update(kr(k), &k, &(), 0, |_| Some(1)),
            Err(expected.clone())
        );
        assert_eq!(t.remove(kr(k), &k, &(), 0), Err(expected));
        assert!(t.iter_key_group(64).is_err());
    }

    #[test]
    fn iter_key_group_yields_exactly_that_group() {
        let mut t = table(None);
        for k in 0..1_000u64 {
            t.put(kr(k), k, (), k * 2, 0).unwrap();
        }
        let mut total = 0;
        for kg in 0..MP {
            for (k, (), v) in t.iter_key_group(kg).unwrap() {
                assert_eq!(kr(*k).key_group, kg);
                assert_eq!(*v, k * 2);
                total += 1;
            }
        }
        assert_eq!(total, 1_000);
    }

    #[test]
    fn ttl_expired_values_are_invisible() {
        let mut t = table(Some(StateTtl::new(100)));
        t.put(kr(1), 1, (), 10, 1_000).unwrap();
        assert_eq!(t.get(kr(1), &1, &(), 1_099).unwrap(), Some(&10));
        assert_eq!(t.get(kr(1), &1, &(), 1_100).unwrap(), None);
        // Still stored until touched mutably or swept.
        assert_eq!(t.len(), 1);
        assert_eq!(t.get_mut(kr(1), &1, &(), 1_100).unwrap(), None);
        assert_eq!(t.len(), 0, "mutable access removes the expired entry");

        t.put(kr(2), 2, (), 20, 0).unwrap();
        assert_eq!(t.remove(kr(2), &2, &(), 500).unwrap(), None);
        t.put(kr(3), 3, (), 30, 0).unwrap();
        // An expired value is not handed to update: the count restarts.
        t.update(kr(3), &3, &(), 500, |c| match c {
            Some(c) => {
                *c += 1;
                None
            }
            None => Some(1),
        })
        .unwrap();
        assert_eq!(t.get(kr(3), &3, &(), 500).unwrap(), Some(&1));
        assert_eq!(
            *t.get_or_insert_with(kr(3), &3, &(), 10_000, || 0).unwrap(),
            0
        );
    }

    #[test]
    fn ttl_writes_restart_but_reads_do_not_on_create_and_write() {
        let mut t = table(Some(StateTtl::new(100)));
        t.put(kr(1), 1, (), 1, 0).unwrap();
        assert!(t.get(kr(1), &1, &(), 90).unwrap().is_some());
        assert_eq!(t.get(kr(1), &1, &(), 100).unwrap(), None);

        t.put(kr(2), 2, (), 1, 0).unwrap();
        t.update(kr(2), &2, &(), 90, |v| v.map(|v| *v + 1)).unwrap();
        assert_eq!(t.get(kr(2), &2, &(), 180).unwrap(), Some(&2));
        assert_eq!(t.get(kr(2), &2, &(), 190).unwrap(), None);
    }

    #[test]
    fn ttl_on_read_and_write_extends_on_read() {
        let ttl = StateTtl::new(100).with_update(TtlUpdate::OnReadAndWrite);
        let mut t = table(Some(ttl));
        t.put(kr(1), 1, (), 1, 0).unwrap();
        for now in [90, 180, 270] {
            assert_eq!(t.get(kr(1), &1, &(), now).unwrap(), Some(&1), "at {now}");
        }
        assert_eq!(t.get(kr(1), &1, &(), 370).unwrap(), None);
    }

    #[test]
    fn ttl_return_expired_if_not_cleaned_up() {
        let ttl = StateTtl::new(100).with_visibility(TtlVisibility::ReturnExpiredIfNotCleanedUp);
        let mut t = table(Some(ttl));
        t.put(kr(1), 1, (), 1, 0).unwrap();
        assert_eq!(t.get(kr(1), &1, &(), 500).unwrap(), Some(&1));
        assert_eq!(t.cleanup_expired(500, 10), 1);
        assert_eq!(t.get(kr(1), &1, &(), 500).unwrap(), None);
    }

    #[test]
    fn cleanup_expired_bounds_its_work() {
        let mut t = table(Some(StateTtl::new(100)));
        for k in 0..1_000u64 {
            // Odd keys live much longer.
            let now = if k % 2 == 0 { 0 } else { 10_000 };
            t.put(kr(k), k, (), k, now).unwrap();
        }
        let mut removed_total = 0;
        let mut calls = 0;
        while removed_total < 500 {
            let removed = t.cleanup_expired(1_000, 64);
            assert!(removed <= 64, "removed {removed} with a budget of 64");
            removed_total += removed;
            calls += 1;
            assert!(calls < 200, "cleanup makes no progress");
        }
        assert_eq!(removed_total, 500);
        assert_eq!(t.len(), 500);
        assert!(
            calls >= 1_000 / 64,
            "{calls} calls cannot have examined 1000 entries"
        );
        for k in (1..1_000u64).step_by(2) {
            assert_eq!(t.get(kr(k), &k, &(), 1_000).unwrap(), Some(&k));
        }
        assert_eq!(t.cleanup_expired(1_000, 0), 0);
    }

    #[test]
    fn no_ttl_cleanup_is_free_and_entries_carry_no_timestamp() {
        let mut t = table(None);
        t.put(kr(1), 1, (), 1, 0).unwrap();
        assert_eq!(t.cleanup_expired(i64::MAX, 100), 0);
        assert_eq!(t.get(kr(1), &1, &(), i64::MAX).unwrap(), Some(&1));
        assert_eq!(size_of::<Slot<u64, (), u64>>(), 16);
        let expiries: Vec<_> = (0..MP)
            .flat_map(|kg| t.iter_key_group_with_expiry(kg).unwrap().map(|e| e.3))
            .collect();
        assert_eq!(expiries, vec![None]);
    }

    #[test]
    fn snapshot_iteration_reports_expiry() {
        let mut t = table(Some(StateTtl::new(100)));
        t.put(kr(1), 1, (), 1, 50).unwrap();
        let kg = kr(1).key_group;
        let entries: Vec<_> = t.iter_key_group_with_expiry(kg).unwrap().collect();
        assert_eq!(entries, vec![(&1, &(), &1, Some(150))]);
    }

    #[test]
    fn approx_bytes_grows_with_entries() {
        let mut t = table(None);
        let empty = t.approx_bytes();
        for k in 0..10_000u64 {
            t.put(kr(k), k, (), k, 0).unwrap();
        }
        let full = t.approx_bytes();
        // 16-byte slots plus control bytes, at most half the buckets free.
        assert!(full > empty + 10_000 * 17, "{full}");
        assert!(full < empty + 10_000 * 17 * 3, "{full}");
    }
}
