//! Map state: a user map `UK -> UV` per (key, namespace).
//!
//! As in Flink, TTL applies per user entry. User maps hash with the stable
//! hasher, so their iteration order is reproducible across runs.

use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

use hashbrown::hash_table::Entry;

use crate::canonical::map_slot_delta;
use crate::changes::{SlotEncoder, UserKeyMemo, reads_restart_ttl};
use crate::codec::StateData;
use crate::dispatch::{ByTtl, by_ttl, by_ttl_wrap, capture_methods};
use crate::error::StateError;
use crate::hash::StableBuildHasher;
use crate::key_group::{KeyGroup, KeyGroupRange, KeyRef};
use crate::snapshot::ExpiringEntry;
use crate::store::{KeyGroupedStore, Slot, Swept};
use crate::ttl::{NoTtl, StateTtl, TtlPolicy, WithTtl};

type UserMap<UK, C> = hashbrown::HashMap<UK, C, StableBuildHasher>;

/// The map table for one TTL policy.
#[derive(Clone)]
pub(crate) struct MapCore<K, N, UK, UV, M: TtlPolicy> {
    store: KeyGroupedStore<K, N, UserMap<UK, M::Stored<UV>>>,
    policy: M,
}

impl<K, N, UK, UV, M> MapCore<K, N, UK, UV, M>
where
    K: Hash + Eq + Clone,
    N: Hash + Eq + Clone,
    UK: Hash + Eq + Clone,
    M: TtlPolicy,
{
    fn new(range: KeyGroupRange, policy: M) -> Self {
        Self {
            store: KeyGroupedStore::new(range),
            policy,
        }
    }

    fn get(
        &self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        uk: &UK,
        now_ms: i64,
    ) -> Result<Option<&UV>, StateError> {
        Ok(self
            .store
            .find(kr, key, ns)?
            .and_then(|slot| slot.cell.get(uk))
            .and_then(|c| self.policy.read(c, now_ms)))
    }

    fn get_mut(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        uk: &UK,
        now_ms: i64,
    ) -> Result<Option<&mut UV>, StateError> {
        let policy = self.policy;
        let Some(mut occupied) = self.store.find_entry(kr, key, ns)? else {
            return Ok(None);
        };
        let visible = match occupied.get().cell.get(uk) {
            None => return Ok(None),
            Some(c) => policy.is_visible(c, now_ms),
        };
        if !visible {
            occupied.get_mut().cell.remove(uk);
            if occupied.get().cell.is_empty() {
                occupied.remove();
            }
            return Ok(None);
        }
        Ok(occupied.into_mut().cell.get_mut(uk).map(|c| {
            policy.touch_write(c, now_ms);
            M::value_mut(c)
        }))
    }

    /// Puts a user entry restored from a snapshot, keeping its expiry.
    fn restore(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        (uk, uv, expires_at_ms): (UK, UV, Option<i64>),
        now_ms: i64,
    ) -> Result<(), StateError> {
        let cell = self.policy.wrap_at(uv, expires_at_ms, now_ms);
        match self.store.restore_entry(kr, key, ns)? {
            Entry::Occupied(mut occupied) => {
                occupied.get_mut().cell.insert(uk, cell);
            }
            Entry::Vacant(vacant) => {
                let mut map = UserMap::with_hasher(StableBuildHasher);
                map.insert(uk, cell);
                vacant.insert(Slot {
                    key: key.clone(),
                    ns: ns.clone(),
                    cell: map,
                });
            }
        }
        Ok(())
    }

    fn put_all(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        entries: impl IntoIterator<Item = (UK, UV)>,
        now_ms: i64,
    ) -> Result<(), StateError> {
        let policy = self.policy;
        let mut wrapped = entries
            .into_iter()
            .map(|(uk, uv)| (uk, policy.wrap(uv, now_ms)))
            .peekable();
        match self.store.entry(kr, key, ns)? {
            Entry::Occupied(mut occupied) => occupied.get_mut().cell.extend(wrapped),
            Entry::Vacant(vacant) => {
                if wrapped.peek().is_some() {
                    let mut map = UserMap::with_hasher(StableBuildHasher);
                    map.extend(wrapped);
                    vacant.insert(Slot {
                        key: key.clone(),
                        ns: ns.clone(),
                        cell: map,
                    });
                }
            }
        }
        Ok(())
    }

    fn remove(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        uk: &UK,
        now_ms: i64,
    ) -> Result<Option<UV>, StateError> {
        let Some(mut occupied) = self.store.find_entry(kr, key, ns)? else {
            return Ok(None);
        };
        let removed = occupied.get_mut().cell.remove(uk);
        if occupied.get().cell.is_empty() {
            occupied.remove();
        }
        let policy = self.policy;
        Ok(removed
            .filter(|c| policy.is_visible(c, now_ms))
            .map(M::into_value))
    }

    fn iter<'a>(
        &'a self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        now_ms: i64,
    ) -> Result<impl Iterator<Item = (&'a UK, &'a UV)> + use<'a, K, N, UK, UV, M>, StateError> {
        let policy = self.policy;
        Ok(self
            .store
            .find(kr, key, ns)?
            .into_iter()
            .flat_map(|slot| slot.cell.iter())
            .filter_map(move |(uk, c)| policy.read(c, now_ms).map(|uv| (uk, uv))))
    }

    fn is_empty(&self, kr: KeyRef, key: &K, ns: &N, now_ms: i64) -> Result<bool, StateError> {
        let policy = self.policy;
        Ok(match self.store.find(kr, key, ns)? {
            None => true,
            // No TTL restart: asking whether a map is empty reads no value.
            Some(slot) => !slot.cell.values().any(|c| policy.is_visible(c, now_ms)),
        })
    }

    fn iter_key_group(
        &self,
        kg: KeyGroup,
    ) -> Result<impl Iterator<Item = ExpiringEntry<'_, K, N, (&UK, &UV)>>, StateError> {
        Ok(self.store.iter_group(kg)?.flat_map(|slot| {
            slot.cell
                .iter()
                .map(move |(uk, c)| (&slot.key, &slot.ns, (uk, M::value(c)), M::expires_at_ms(c)))
        }))
    }

    fn cleanup_expired(&mut self, now_ms: i64, entries_max: usize) -> usize {
        if !M::EXPIRES {
            return 0;
        }
        let policy = self.policy;
        self.store.sweep(entries_max, |slot| {
            let before = slot.cell.len();
            slot.cell.retain(|_, c| !policy.is_expired(c, now_ms));
            Swept {
                removed: before - slot.cell.len(),
                keep: !slot.cell.is_empty(),
            }
        })
    }

    fn approx_bytes(&self) -> usize {
        let maps: usize = self
            .store
            .iter_all()
            .map(|slot| slot.cell.allocation_size())
            .sum();
        self.store.approx_bytes() + maps
    }
}

impl<K, N, UK, UV, M> MapCore<K, N, UK, UV, M>
where
    K: StateData + Hash + Eq + Clone + 'static,
    N: StateData + Hash + Eq + Clone + 'static,
    UK: StateData + Hash + Eq + Clone + 'static,
    UV: StateData + 'static,
    M: TtlPolicy + 'static,
{
    /// Writes a slot out for a capture: an entry per user key (the user
    /// keys removed are tombstoned through the memo).
    fn slot_encoder(&self) -> SlotEncoder<K, N, UserMap<UK, M::Stored<UV>>> {
        Arc::new(|kg, key, ns, slot, out| {
            let entries = slot.into_iter().flat_map(|s| {
                s.cell
                    .iter()
                    .map(|(uk, c)| (uk, M::value(c), M::expires_at_ms(c)))
            });
            map_slot_delta(kg, key, ns, entries, out)
        })
    }
}

/// The two representations of the public table.
type Repr<K, N, UK, UV> = ByTtl<MapCore<K, N, UK, UV, NoTtl>, MapCore<K, N, UK, UV, WithTtl>>;

/// Map state (Flink's `MapState`): a map `UK -> UV` per (key, namespace) for
/// the key groups of one subtask. A map whose last entry is removed is
/// dropped.
///
/// With TTL each user entry expires on its own, as in Flink. Key-group and
/// cleanup behaviour is that of [`ValueTable`](crate::ValueTable).
#[derive(Clone)]
pub struct MapTable<K, N, UK, UV> {
    inner: Repr<K, N, UK, UV>,
}

impl<K, N, UK, UV> MapTable<K, N, UK, UV>
where
    K: Hash + Eq + Clone + 'static,
    N: Hash + Eq + Clone + 'static,
    UK: Hash + Eq + Clone + 'static,
    UV: Clone + 'static,
{
    /// An empty table for the key groups in `range`.
    pub fn new(range: KeyGroupRange, ttl: Option<StateTtl>) -> Self {
        let inner = match ttl {
            None => ByTtl::Plain(MapCore::new(range, NoTtl)),
            Some(ttl) => ByTtl::Ttl(MapCore::new(range, WithTtl::new(ttl))),
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

    /// The value of user key `uk` in the map of (key, ns), if visible.
    #[inline]
    pub fn get(
        &self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        uk: &UK,
        now_ms: i64,
    ) -> Result<Option<&UV>, StateError> {
        by_ttl!(&self.inner, core => core.get(kr, key, ns, uk, now_ms))
    }

    /// The value of `uk` for in-place modification; counts as a write.
    #[inline]
    pub fn get_mut(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        uk: &UK,
        now_ms: i64,
    ) -> Result<Option<&mut UV>, StateError> {
        by_ttl!(&mut self.inner, core => core.get_mut(kr, key, ns, uk, now_ms))
    }

    /// Whether `uk` has a visible value.
    pub fn contains(
        &self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        uk: &UK,
        now_ms: i64,
    ) -> Result<bool, StateError> {
        Ok(self.get(kr, key, ns, uk, now_ms)?.is_some())
    }

    /// Sets `uk` to `uv` in the map of (key, ns).
    #[inline]
    pub fn put(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        uk: UK,
        uv: UV,
        now_ms: i64,
    ) -> Result<(), StateError> {
        self.put_all(kr, key, ns, [(uk, uv)], now_ms)
    }

    /// Puts a user entry `(uk, uv, expiry)` restored from a snapshot into
    /// the map of (key, ns), its expiry as stored.
    pub fn restore(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        entry: (UK, UV, Option<i64>),
        now_ms: i64,
    ) -> Result<(), StateError> {
        by_ttl!(&mut self.inner, core => core.restore(kr, key, ns, entry, now_ms))
    }

    /// Sets every (uk, uv) of `entries`.
    pub fn put_all(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        entries: impl IntoIterator<Item = (UK, UV)>,
        now_ms: i64,
    ) -> Result<(), StateError> {
        by_ttl!(&mut self.inner, core => core.put_all(kr, key, ns, entries, now_ms))
    }

    /// Removes `uk`, returning its value if it was visible.
    pub fn remove(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        uk: &UK,
        now_ms: i64,
    ) -> Result<Option<UV>, StateError> {
        by_ttl!(&mut self.inner, core => core.remove(kr, key, ns, uk, now_ms))
    }

    /// The visible entries of the map of (key, ns), in an order that is
    /// deterministic for a given history of operations.
    pub fn iter<'a>(
        &'a self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        now_ms: i64,
    ) -> Result<impl Iterator<Item = (&'a UK, &'a UV)> + use<'a, K, N, UK, UV>, StateError> {
        Ok(by_ttl_wrap!(&self.inner, core => core.iter(kr, key, ns, now_ms)?))
    }

    /// Whether the map of (key, ns) has no visible entry.
    pub fn is_empty(&self, kr: KeyRef, key: &K, ns: &N, now_ms: i64) -> Result<bool, StateError> {
        by_ttl!(&self.inner, core => core.is_empty(kr, key, ns, now_ms))
    }

    /// Removes the whole map of (key, ns).
    pub fn clear(&mut self, kr: KeyRef, key: &K, ns: &N) -> Result<(), StateError> {
        self.remove_namespace_for_key(kr, key, ns).map(drop)
    }

    /// Drops the map of (key, ns); returns whether one was stored.
    pub fn remove_namespace_for_key(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
    ) -> Result<bool, StateError> {
        by_ttl!(&mut self.inner, core => Ok(core.store.remove(kr, key, ns)?.is_some()))
    }

    /// Number of stored (key, namespace) maps.
    #[allow(
        clippy::len_without_is_empty,
        reason = "is_empty asks about one (key, namespace) map, as Flink's MapState::isEmpty"
    )]
    pub fn len(&self) -> usize {
        by_ttl!(&self.inner, core => core.store.len())
    }

    /// Whether the table stores no map at all.
    pub fn is_table_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every map and releases the memory.
    pub fn clear_all(&mut self) {
        by_ttl!(&mut self.inner, core => core.store.clear_all());
    }

    /// Every stored user entry of key group `kg` as (key, ns, (uk, uv)), the
    /// entries of one map consecutively (for snapshots).
    pub fn iter_key_group(
        &self,
        kg: KeyGroup,
    ) -> Result<impl Iterator<Item = (&K, &N, (&UK, &UV))> + '_, StateError> {
        Ok(self
            .iter_key_group_with_expiry(kg)?
            .map(|(k, n, e, _)| (k, n, e)))
    }

    /// Like [`iter_key_group`](Self::iter_key_group), with each user entry's
    /// expiry time (`None` without TTL).
    pub fn iter_key_group_with_expiry(
        &self,
        kg: KeyGroup,
    ) -> Result<impl Iterator<Item = ExpiringEntry<'_, K, N, (&UK, &UV)>> + '_, StateError> {
        Ok(by_ttl_wrap!(&self.inner, core => core.iter_key_group(kg)?))
    }

    /// Starts noting changed maps, as
    /// [`ValueTable::track_changes`](crate::ValueTable::track_changes).
    /// `user_keys` is called with each user key a map held before its first
    /// change in a period, so a capture can write tombstones for the user
    /// keys removed since.
    pub fn track_changes(&mut self, user_keys: UserKeyMemo<K, N, UK>) -> bool
    where
        K: StateData,
        N: StateData,
        UK: StateData,
        UV: StateData,
    {
        if reads_restart_ttl(self.ttl()) {
            return false;
        }
        by_ttl!(&mut self.inner, core => {
            let user_keys = user_keys.clone();
            let encode = core.slot_encoder();
            core.store.track_changes(
                Some(Arc::new(move |kg, slot, out| {
                    for uk in slot.cell.keys() {
                        user_keys(kg, &slot.key, &slot.ns, uk, out);
                    }
                })),
                encode,
            );
        });
        true
    }

    /// Whether changes are noted.
    pub fn tracks_changes(&self) -> bool {
        by_ttl!(&self.inner, core => core.store.tracks_changes())
    }

    capture_methods!();

    /// Examines up to `entries_max` maps, resuming where the previous call
    /// stopped, drops their expired entries and any map left empty; returns
    /// the number of user entries removed.
    pub fn cleanup_expired(&mut self, now_ms: i64, entries_max: usize) -> usize {
        by_ttl!(&mut self.inner, core => core.cleanup_expired(now_ms, entries_max))
    }

    /// Estimated bytes held: table capacity plus user-map capacity, not heap
    /// memory owned by keys or values. Walks every map.
    pub fn approx_bytes(&self) -> usize {
        size_of::<Self>() + by_ttl!(&self.inner, core => core.approx_bytes())
    }
}

impl<K, N, UK, UV> fmt::Debug for MapTable<K, N, UK, UV>
where
    K: Hash + Eq + Clone + 'static,
    N: Hash + Eq + Clone + 'static,
    UK: Hash + Eq + Clone + 'static,
    UV: Clone + 'static,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapTable")
            .field("range", &self.range())
            .field("ttl", &self.ttl())
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ttl::TtlUpdate;

    const MP: u16 = 128;

    fn kr(k: u64) -> KeyRef {
        KeyRef::of(&k, MP)
    }

    fn table(ttl: Option<StateTtl>) -> MapTable<u64, (), String, u32> {
        MapTable::new(KeyGroupRange::all(MP), ttl)
    }

    fn s(v: &str) -> String {
        v.to_owned()
    }

    fn entries(t: &MapTable<u64, (), String, u32>, k: u64, now: i64) -> Vec<(String, u32)> {
        let mut v: Vec<_> = t
            .iter(kr(k), &k, &(), now)
            .unwrap()
            .map(|(uk, uv)| (uk.clone(), *uv))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn put_get_remove_contains_iter() {
        let mut t = table(None);
        assert!(t.is_empty(kr(1), &1, &(), 0).unwrap());
        t.put(kr(1), &1, &(), s("a"), 1, 0).unwrap();
        t.put_all(kr(1), &1, &(), [(s("b"), 2), (s("c"), 3)], 0)
            .unwrap();
        t.put(kr(1), &1, &(), s("a"), 10, 0).unwrap();
        t.put(kr(2), &2, &(), s("a"), 99, 0).unwrap();
        assert_eq!(t.get(kr(1), &1, &(), &s("a"), 0).unwrap(), Some(&10));
        assert!(t.contains(kr(1), &1, &(), &s("b"), 0).unwrap());
        assert!(!t.contains(kr(1), &1, &(), &s("z"), 0).unwrap());
        assert_eq!(entries(&t, 1, 0), [(s("a"), 10), (s("b"), 2), (s("c"), 3)]);
        assert_eq!(t.remove(kr(1), &1, &(), &s("b"), 0).unwrap(), Some(2));
        assert_eq!(t.remove(kr(1), &1, &(), &s("b"), 0).unwrap(), None);
        if let Some(v) = t.get_mut(kr(1), &1, &(), &s("c"), 0).unwrap() {
            *v += 1;
        }
        assert_eq!(t.get(kr(1), &1, &(), &s("c"), 0).unwrap(), Some(&4));
        assert_eq!(t.len(), 2);
        t.remove(kr(2), &2, &(), &s("a"), 0).unwrap();
        assert_eq!(t.len(), 1, "a map emptied by remove is dropped");
        t.clear(kr(1), &1, &()).unwrap();
        assert!(t.is_table_empty());
    }

    #[test]
    fn ttl_is_per_user_entry() {
        let mut t = table(Some(StateTtl::new(100)));
        t.put(kr(1), &1, &(), s("old"), 1, 0).unwrap();
        t.put(kr(1), &1, &(), s("new"), 2, 60).unwrap();
        assert_eq!(entries(&t, 1, 99), [(s("new"), 2), (s("old"), 1)]);
        assert_eq!(entries(&t, 1, 100), [(s("new"), 2)]);
        assert_eq!(t.get(kr(1), &1, &(), &s("old"), 100).unwrap(), None);
        assert!(!t.is_empty(kr(1), &1, &(), 159).unwrap());
        assert!(t.is_empty(kr(1), &1, &(), 160).unwrap());
        assert_eq!(t.get_mut(kr(1), &1, &(), &s("old"), 100).unwrap(), None);
        assert_eq!(t.cleanup_expired(200, 10), 1);
        assert!(t.is_table_empty());
    }

    #[test]
    fn ttl_on_read_and_write_extends_read_entries() {
        let mut t = table(Some(
            StateTtl::new(100).with_update(TtlUpdate::OnReadAndWrite),
        ));
        t.put(kr(1), &1, &(), s("a"), 1, 0).unwrap();
        t.put(kr(1), &1, &(), s("b"), 2, 0).unwrap();
        assert_eq!(t.get(kr(1), &1, &(), &s("a"), 90).unwrap(), Some(&1));
        assert_eq!(entries(&t, 1, 150), [(s("a"), 1)]);
    }

    #[test]
    fn iteration_order_is_deterministic() {
        let build = || {
            let mut t = table(None);
            for i in 0..100u32 {
                t.put(kr(1), &1, &(), i.to_string(), i, 0).unwrap();
            }
            t.iter(kr(1), &1, &(), 0)
                .unwrap()
                .map(|(_, v)| *v)
                .collect::<Vec<_>>()
        };
        assert_eq!(build(), build());
    }

    #[test]
    fn iter_key_group_flattens_entries() {
        let mut t = table(None);
        t.put_all(kr(4), &4, &(), [(s("x"), 1), (s("y"), 2)], 0)
            .unwrap();
        let mut got: Vec<_> = t
            .iter_key_group(kr(4).key_group)
            .unwrap()
            .map(|(k, _, (uk, uv))| (*k, uk.clone(), *uv))
            .collect();
        got.sort();
        assert_eq!(got, vec![(4, s("x"), 1), (4, s("y"), 2)]);
    }
}
