//! List state: an append-mostly list of values per (key, namespace).
//!
//! As in Flink, TTL applies per element: each appended element expires on
//! its own.

use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

use hashbrown::hash_table::Entry;

use crate::canonical::list_slot_delta;
use crate::changes::{SlotEncoder, reads_restart_ttl};
use crate::codec::StateData;
use crate::dispatch::{ByTtl, by_ttl, by_ttl_wrap, capture_methods};
use crate::error::StateError;
use crate::key_group::{KeyGroup, KeyGroupRange, KeyRef};
use crate::snapshot::ExpiringEntry;
use crate::store::{KeyGroupedStore, Slot, Swept};
use crate::ttl::{NoTtl, StateTtl, TtlPolicy, WithTtl};

/// The list table for one TTL policy.
#[derive(Clone)]
pub(crate) struct ListCore<K, N, V, M: TtlPolicy> {
    store: KeyGroupedStore<K, N, Vec<M::Stored<V>>>,
    policy: M,
}

impl<K, N, V, M> ListCore<K, N, V, M>
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

    fn get<'a>(
        &'a self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        now_ms: i64,
    ) -> Result<impl Iterator<Item = &'a V> + use<'a, K, N, V, M>, StateError> {
        let cells = match self.store.find(kr, key, ns)? {
            Some(slot) => slot.cell.as_slice(),
            None => &[],
        };
        let policy = self.policy;
        Ok(cells.iter().filter_map(move |c| policy.read(c, now_ms)))
    }

    /// Appends `values` to the list of (key, ns), creating it if needed; an
    /// empty `values` creates nothing.
    fn add_all(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        values: impl IntoIterator<Item = V>,
        now_ms: i64,
    ) -> Result<(), StateError> {
        let policy = self.policy;
        let mut wrapped = values
            .into_iter()
            .map(|v| policy.wrap(v, now_ms))
            .peekable();
        match self.store.entry(kr, key, ns)? {
            Entry::Occupied(mut occupied) => occupied.get_mut().cell.extend(wrapped),
            Entry::Vacant(vacant) => {
                if wrapped.peek().is_some() {
                    vacant.insert(Slot {
                        key: key.clone(),
                        ns: ns.clone(),
                        cell: wrapped.collect(),
                    });
                }
            }
        }
        Ok(())
    }

    fn add(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        value: V,
        now_ms: i64,
    ) -> Result<(), StateError> {
        let cell = self.policy.wrap(value, now_ms);
        match self.store.entry(kr, key, ns)? {
            Entry::Occupied(mut occupied) => occupied.get_mut().cell.push(cell),
            Entry::Vacant(vacant) => {
                vacant.insert(Slot {
                    key: key.clone(),
                    ns: ns.clone(),
                    cell: vec![cell],
                });
            }
        }
        Ok(())
    }

    /// Appends elements restored from a snapshot, keeping their expiry.
    fn restore(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        values: Vec<(V, Option<i64>)>,
        now_ms: i64,
    ) -> Result<(), StateError> {
        let policy = self.policy;
        let cells = values
            .into_iter()
            .map(|(v, at)| policy.wrap_at(v, at, now_ms));
        match self.store.restore_entry(kr, key, ns)? {
            Entry::Occupied(mut occupied) => occupied.get_mut().cell.extend(cells),
            Entry::Vacant(vacant) => {
                let cell: Vec<_> = cells.collect();
                if !cell.is_empty() {
                    vacant.insert(Slot {
                        key: key.clone(),
                        ns: ns.clone(),
                        cell,
                    });
                }
            }
        }
        Ok(())
    }

    fn update(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        values: impl IntoIterator<Item = V>,
        now_ms: i64,
    ) -> Result<(), StateError> {
        let policy = self.policy;
        let cells: Vec<_> = values.into_iter().map(|v| policy.wrap(v, now_ms)).collect();
        if cells.is_empty() {
            self.store.remove(kr, key, ns)?;
            return Ok(());
        }
        match self.store.entry(kr, key, ns)? {
            Entry::Occupied(mut occupied) => occupied.get_mut().cell = cells,
            Entry::Vacant(vacant) => {
                vacant.insert(Slot {
                    key: key.clone(),
                    ns: ns.clone(),
                    cell: cells,
                });
            }
        }
        Ok(())
    }

    fn take(&mut self, kr: KeyRef, key: &K, ns: &N, now_ms: i64) -> Result<Vec<V>, StateError> {
        let policy = self.policy;
        Ok(match self.store.remove(kr, key, ns)? {
            Some(slot) => slot
                .cell
                .into_iter()
                .filter(|c| policy.is_visible(c, now_ms))
                .map(M::into_value)
                .collect(),
            None => Vec::new(),
        })
    }

    fn merge_namespaces(
        &mut self,
        kr: KeyRef,
        key: &K,
        sources: &[N],
        target: &N,
        now_ms: i64,
    ) -> Result<(), StateError> {
        let policy = self.policy;
        // Elements keep their own expiry when they move to the target.
        let mut merged = Vec::new();
        for source in sources {
            if let Some(slot) = self.store.remove(kr, key, source)? {
                merged.extend(
                    slot.cell
                        .into_iter()
                        .filter(|c| policy.is_visible(c, now_ms)),
                );
            }
        }
        if merged.is_empty() {
            return Ok(());
        }
        match self.store.entry(kr, key, target)? {
            Entry::Occupied(mut occupied) => occupied.get_mut().cell.append(&mut merged),
            Entry::Vacant(vacant) => {
                vacant.insert(Slot {
                    key: key.clone(),
                    ns: target.clone(),
                    cell: merged,
                });
            }
        }
        Ok(())
    }

    fn iter_key_group(
        &self,
        kg: KeyGroup,
    ) -> Result<impl Iterator<Item = ExpiringEntry<'_, K, N, &V>>, StateError> {
        Ok(self.store.iter_group(kg)?.flat_map(|slot| {
            slot.cell
                .iter()
                .map(move |c| (&slot.key, &slot.ns, M::value(c), M::expires_at_ms(c)))
        }))
    }

    fn cleanup_expired(&mut self, now_ms: i64, entries_max: usize) -> usize {
        if !M::EXPIRES {
            return 0;
        }
        let policy = self.policy;
        self.store.sweep(entries_max, |slot| {
            let before = slot.cell.len();
            slot.cell.retain(|c| !policy.is_expired(c, now_ms));
            Swept {
                removed: before - slot.cell.len(),
                keep: !slot.cell.is_empty(),
            }
        })
    }

    fn approx_bytes(&self) -> usize {
        let elements: usize = self
            .store
            .iter_all()
            .map(|slot| slot.cell.capacity() * size_of::<M::Stored<V>>())
            .sum();
        self.store.approx_bytes() + elements
    }
}

impl<K, N, V, M> ListCore<K, N, V, M>
where
    K: StateData + Hash + Eq + Clone + 'static,
    N: StateData + Hash + Eq + Clone + 'static,
    V: StateData + 'static,
    M: TtlPolicy + 'static,
{
    /// Writes a slot out for a capture: its list, or a tombstone.
    fn slot_encoder(&self) -> SlotEncoder<K, N, Vec<M::Stored<V>>> {
        Arc::new(|kg, key, ns, slot, out| {
            let elements = slot
                .into_iter()
                .flat_map(|s| s.cell.iter().map(|c| (M::value(c), M::expires_at_ms(c))));
            list_slot_delta(kg, key, ns, elements, out)
        })
    }
}

/// The two representations of the public table.
type Repr<K, N, V> = ByTtl<ListCore<K, N, V, NoTtl>, ListCore<K, N, V, WithTtl>>;

/// List state (Flink's `ListState`): a list of `V` per (key, namespace) for
/// the key groups of one subtask. An empty list is not stored.
///
/// With TTL each element expires on its own, as in Flink. Key-group and
/// cleanup behaviour is that of [`ValueTable`](crate::ValueTable).
#[derive(Clone)]
pub struct ListTable<K, N, V> {
    inner: Repr<K, N, V>,
}

impl<K, N, V> ListTable<K, N, V>
where
    K: Hash + Eq + Clone + 'static,
    N: Hash + Eq + Clone + 'static,
    V: Clone + 'static,
{
    /// An empty table for the key groups in `range`.
    pub fn new(range: KeyGroupRange, ttl: Option<StateTtl>) -> Self {
        let inner = match ttl {
            None => ByTtl::Plain(ListCore::new(range, NoTtl)),
            Some(ttl) => ByTtl::Ttl(ListCore::new(range, WithTtl::new(ttl))),
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

    /// The visible elements of (key, ns) in insertion order; empty if none.
    pub fn get<'a>(
        &'a self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        now_ms: i64,
    ) -> Result<impl Iterator<Item = &'a V> + use<'a, K, N, V>, StateError> {
        Ok(by_ttl_wrap!(&self.inner, core => core.get(kr, key, ns, now_ms)?))
    }

    /// Appends one element.
    #[inline]
    pub fn add(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        value: V,
        now_ms: i64,
    ) -> Result<(), StateError> {
        by_ttl!(&mut self.inner, core => core.add(kr, key, ns, value, now_ms))
    }

    /// Appends every element of `values`.
    pub fn add_all(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        values: impl IntoIterator<Item = V>,
        now_ms: i64,
    ) -> Result<(), StateError> {
        by_ttl!(&mut self.inner, core => core.add_all(kr, key, ns, values, now_ms))
    }

    /// Replaces the list with `values`; an empty `values` clears it.
    pub fn update(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        values: impl IntoIterator<Item = V>,
        now_ms: i64,
    ) -> Result<(), StateError> {
        by_ttl!(&mut self.inner, core => core.update(kr, key, ns, values, now_ms))
    }

    /// Removes the list and returns its visible elements (window firing with
    /// purge reads and clears in one probe).
    pub fn take(&mut self, kr: KeyRef, key: &K, ns: &N, now_ms: i64) -> Result<Vec<V>, StateError> {
        by_ttl!(&mut self.inner, core => core.take(kr, key, ns, now_ms))
    }

    /// Removes the list of (key, ns).
    pub fn clear(&mut self, kr: KeyRef, key: &K, ns: &N) -> Result<(), StateError> {
        self.remove_namespace_for_key(kr, key, ns).map(drop)
    }

    /// Drops the list of (key, ns); returns whether one was stored.
    pub fn remove_namespace_for_key(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
    ) -> Result<bool, StateError> {
        by_ttl!(&mut self.inner, core => Ok(core.store.remove(kr, key, ns)?.is_some()))
    }

    /// Moves the visible elements of every `sources` list, in order, to the
    /// end of the `target` list (session-window merging).
    pub fn merge_namespaces(
        &mut self,
        kr: KeyRef,
        key: &K,
        sources: &[N],
        target: &N,
        now_ms: i64,
    ) -> Result<(), StateError> {
        by_ttl!(&mut self.inner, core => core.merge_namespaces(kr, key, sources, target, now_ms))
    }

    /// Number of stored (key, namespace) lists.
    pub fn len(&self) -> usize {
        by_ttl!(&self.inner, core => core.store.len())
    }

    /// Whether no list is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every list and releases the memory.
    pub fn clear_all(&mut self) {
        by_ttl!(&mut self.inner, core => core.store.clear_all());
    }

    /// Appends elements restored from a snapshot to the list of (key, ns),
    /// each with its expiry as stored.
    pub fn restore(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        values: Vec<(V, Option<i64>)>,
        now_ms: i64,
    ) -> Result<(), StateError> {
        by_ttl!(&mut self.inner, core => core.restore(kr, key, ns, values, now_ms))
    }

    /// Every stored element of key group `kg` as (key, ns, element), the
    /// elements of one list consecutively and in order (for snapshots).
    pub fn iter_key_group(
        &self,
        kg: KeyGroup,
    ) -> Result<impl Iterator<Item = (&K, &N, &V)> + '_, StateError> {
        Ok(self
            .iter_key_group_with_expiry(kg)?
            .map(|(k, n, v, _)| (k, n, v)))
    }

    /// Like [`iter_key_group`](Self::iter_key_group), with each element's
    /// expiry time (`None` without TTL).
    pub fn iter_key_group_with_expiry(
        &self,
        kg: KeyGroup,
    ) -> Result<impl Iterator<Item = ExpiringEntry<'_, K, N, &V>> + '_, StateError> {
        Ok(by_ttl_wrap!(&self.inner, core => core.iter_key_group(kg)?))
    }

    /// Starts noting changed lists, as
    /// [`ValueTable::track_changes`](crate::ValueTable::track_changes).
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

    /// Examines up to `entries_max` lists, resuming where the previous call
    /// stopped, drops their expired elements (and lists left empty); returns
    /// the number of elements removed.
    pub fn cleanup_expired(&mut self, now_ms: i64, entries_max: usize) -> usize {
        by_ttl!(&mut self.inner, core => core.cleanup_expired(now_ms, entries_max))
    }

    /// Estimated bytes held: table capacity plus list buffers, not heap
    /// memory owned by keys or elements. Walks every list.
    pub fn approx_bytes(&self) -> usize {
        size_of::<Self>() + by_ttl!(&self.inner, core => core.approx_bytes())
    }
}

impl<K, N, V> fmt::Debug for ListTable<K, N, V>
where
    K: Hash + Eq + Clone + 'static,
    N: Hash + Eq + Clone + 'static,
    V: Clone + 'static,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListTable")
            .field("range", &self.range())
            .field("ttl", &self.ttl())
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ttl::{TtlUpdate, TtlVisibility};

    const MP: u16 = 128;

    fn kr(k: u64) -> KeyRef {
        KeyRef::of(&k, MP)
    }

    fn table(ttl: Option<StateTtl>) -> ListTable<u64, u32, String> {
        ListTable::new(KeyGroupRange::all(MP), ttl)
    }

    fn list(t: &ListTable<u64, u32, String>, k: u64, ns: u32, now: i64) -> Vec<String> {
        t.get(kr(k), &k, &ns, now).unwrap().cloned().collect()
    }

    fn s(v: &str) -> String {
        v.to_owned()
    }

    #[test]
    fn add_get_update_clear() {
        let mut t = table(None);
        assert!(list(&t, 1, 0, 0).is_empty());
        t.add(kr(1), &1, &0, s("a"), 0).unwrap();
        t.add_all(kr(1), &1, &0, [s("b"), s("c")], 0).unwrap();
        t.add(kr(1), &1, &9, s("other-ns"), 0).unwrap();
        assert_eq!(list(&t, 1, 0, 0), ["a", "b", "c"]);
        assert_eq!(list(&t, 1, 9, 0), ["other-ns"]);
        t.update(kr(1), &1, &0, [s("z")], 0).unwrap();
        assert_eq!(list(&t, 1, 0, 0), ["z"]);
        t.update(kr(1), &1, &0, Vec::new(), 0).unwrap();
        assert_eq!(t.len(), 1, "an empty update removes the list");
        t.add_all(kr(2), &2, &0, Vec::new(), 0).unwrap();
        assert_eq!(t.len(), 1, "an empty add_all creates nothing");
        t.clear(kr(1), &1, &9).unwrap();
        assert!(t.is_empty());
    }

    #[test]
    fn take_returns_and_removes() {
        let mut t = table(None);
        t.add_all(kr(3), &3, &1, [s("x"), s("y")], 0).unwrap();
        assert_eq!(t.take(kr(3), &3, &1, 0).unwrap(), ["x", "y"]);
        assert!(t.take(kr(3), &3, &1, 0).unwrap().is_empty());
        assert!(t.is_empty());
    }

    #[test]
    fn merge_namespaces_appends_sources_in_order() {
        let mut t = table(None);
        t.add(kr(1), &1, &10, s("t"), 0).unwrap();
        t.add(kr(1), &1, &11, s("a"), 0).unwrap();
        t.add(kr(1), &1, &12, s("b"), 0).unwrap();
        t.merge_namespaces(kr(1), &1, &[11, 12, 13], &10, 0)
            .unwrap();
        assert_eq!(list(&t, 1, 10, 0), ["t", "a", "b"]);
        assert_eq!(t.len(), 1);
        // Into an absent target.
        t.add(kr(1), &1, &20, s("c"), 0).unwrap();
        t.merge_namespaces(kr(1), &1, &[20, 10], &30, 0).unwrap();
        assert_eq!(list(&t, 1, 30, 0), ["c", "t", "a", "b"]);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn ttl_is_per_element() {
        let mut t = table(Some(StateTtl::new(100)));
        t.add(kr(1), &1, &0, s("old"), 0).unwrap();
        t.add(kr(1), &1, &0, s("new"), 50).unwrap();
        assert_eq!(list(&t, 1, 0, 99), ["old", "new"]);
        assert_eq!(list(&t, 1, 0, 100), ["new"]);
        assert!(list(&t, 1, 0, 150).is_empty());
        assert_eq!(t.cleanup_expired(120, 10), 1);
        assert_eq!(t.len(), 1);
        assert_eq!(t.cleanup_expired(150, 10), 1);
        assert!(t.is_empty(), "a list emptied by cleanup is dropped");
    }

    #[test]
    fn ttl_on_read_and_write_extends_elements_read() {
        let ttl = StateTtl::new(100).with_update(TtlUpdate::OnReadAndWrite);
        let mut t = table(Some(ttl));
        t.add(kr(1), &1, &0, s("a"), 0).unwrap();
        assert_eq!(list(&t, 1, 0, 90), ["a"]);
        assert_eq!(list(&t, 1, 0, 180), ["a"]);
        assert!(list(&t, 1, 0, 280).is_empty());
    }

    #[test]
    fn ttl_return_expired_and_merge_drops_invisible() {
        let ttl = StateTtl::new(100).with_visibility(TtlVisibility::ReturnExpiredIfNotCleanedUp);
        let mut t = table(Some(ttl));
        t.add(kr(1), &1, &0, s("a"), 0).unwrap();
        assert_eq!(list(&t, 1, 0, 500), ["a"]);

        let mut strict = table(Some(StateTtl::new(100)));
        strict.add(kr(1), &1, &1, s("dead"), 0).unwrap();
        strict.add(kr(1), &1, &2, s("live"), 200).unwrap();
        strict
            .merge_namespaces(kr(1), &1, &[1, 2], &3, 250)
            .unwrap();
        assert_eq!(list(&strict, 1, 3, 250), ["live"]);
        assert_eq!(strict.len(), 1);
    }

    #[test]
    fn iter_key_group_flattens_lists_in_order() {
        let mut t = table(None);
        t.add_all(kr(7), &7, &1, [s("a"), s("b")], 0).unwrap();
        let got: Vec<_> = t
            .iter_key_group(kr(7).key_group)
            .unwrap()
            .map(|(k, n, v)| (*k, *n, v.clone()))
            .collect();
        assert_eq!(got, vec![(7, 1, s("a")), (7, 1, s("b"))]);
    }

    #[test]
    fn approx_bytes_counts_list_buffers() {
        let mut t = table(None);
        t.add(kr(1), &1, &0, s("a"), 0).unwrap();
        let one = t.approx_bytes();
        t.add_all(kr(1), &1, &0, (0..1_000).map(|i| i.to_string()), 0)
            .unwrap();
        assert!(t.approx_bytes() >= one + 1_000 * size_of::<String>());
    }
}
