//! Per-key partial results of window slices, for the sliced window operator.

use std::collections::BTreeSet;

use std::hash::Hash;

use hashbrown::HashTable;
use smallvec::SmallVec;
use spate_state::canonical::{parse_stored_value, stored_value};
use spate_state::codec::{CodecError, StateKeyParts, encode_state_key};
use spate_state::{CanonicalEntry, KeyRef, StateData, stable_hash};

use crate::error::{Result, SpateError};
use crate::time::Timestamp;

/// Slices kept inline in a key's entry: a key's records mostly fall in one
/// slice (q5's auctions live for well under a slide), and an inline slice
/// saves an allocation per key and a cache miss per access. One, not two:
/// with a `u64` key and count the entry is then 32 bytes, two to a cache
/// line and never straddling one, where two slices made it 56 bytes and most
/// new keys cost three cache misses instead of two.
const INLINE_SLICES: usize = 1;

/// One key's partial results, by slice start, oldest first. The key's hash
/// is not stored (it would grow the entry by a quarter): it is recomputed
/// when the table grows, which is rare.
pub(crate) struct KeySlices<K, P> {
    pub(crate) key: K,
    pub(crate) slices: SmallVec<[(Timestamp, P); INLINE_SLICES]>,
}

impl<K, P> KeySlices<K, P> {
    /// The partial results of the slices starting in `[start, end)`, oldest first.
    pub(crate) fn within(&self, start: Timestamp, end: Timestamp) -> impl Iterator<Item = &P> {
        let from = self.slices.partition_point(|(s, _)| *s < start);
        self.slices[from..]
            .iter()
            .take_while(move |(s, _)| *s < end)
            .map(|(_, p)| p)
    }
}

/// The partial results of every key and slice of one operator subtask: one
/// entry per key (one hash probe per record), and the set of slice starts
/// that hold data for any key, which decides the windows to fire.
pub(crate) struct SliceStore<K, P> {
    keys: HashTable<KeySlices<K, P>>,
    live: BTreeSet<Timestamp>,
    /// The slice last added to `live`: records mostly hit the newest slice,
    /// so this skips the ordered-set lookup.
    last_live: Option<Timestamp>,
}

impl<K: Eq + Hash, P> SliceStore<K, P> {
    /// The hash of an entry's key, recomputed when the table grows.
    fn rehash(e: &KeySlices<K, P>) -> u64 {
        stable_hash(&e.key)
    }

    pub(crate) fn new() -> Self {
        Self {
            keys: HashTable::new(),
            live: BTreeSet::new(),
            last_live: None,
        }
    }

    /// Folds `value` into the key's slice `slice`: `add`s it to the slice's
    /// partial result, or `create`s one from it. Returns the key's slices.
    pub(crate) fn update<V>(
        &mut self,
        kr: KeyRef,
        key: &K,
        slice: Timestamp,
        value: V,
        create: impl FnOnce(V) -> P,
        add: impl FnOnce(&mut P, V),
    ) -> &KeySlices<K, P>
    where
        K: Clone,
    {
        if self.last_live != Some(slice) {
            self.live.insert(slice);
            self.last_live = Some(slice);
        }
        let entry = self
            .keys
            .entry(kr.hash, |e| e.key == *key, Self::rehash)
            .or_insert_with(|| KeySlices {
                key: key.clone(),
                slices: SmallVec::new(),
            })
            .into_mut();
        let slices = &mut entry.slices;
        // Records come mostly in time order: look at the newest slice first.
        match slices.last_mut() {
            Some((s, p)) if *s == slice => add(p, value),
            Some((s, _)) if *s > slice => match slices.binary_search_by_key(&slice, |(s, _)| *s) {
                Ok(at) => add(&mut slices[at].1, value),
                Err(at) => slices.insert(at, (slice, create(value))),
            },
            _ => slices.push((slice, create(value))),
        }
        entry
    }

    /// The key's slices, if it has data.
    pub(crate) fn get(&self, kr: KeyRef, key: &K) -> Option<&KeySlices<K, P>> {
        self.keys.find(kr.hash, |e| e.key == *key)
    }

    /// Every key's slices, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &KeySlices<K, P>> {
        self.keys.iter()
    }

    /// The slice starts that hold data, oldest first.
    pub(crate) fn live_slices(&self) -> impl Iterator<Item = Timestamp> + '_ {
        self.live.iter().copied()
    }

    /// Drops the slices that start before `start`, and the keys left
    /// without any.
    pub(crate) fn expire_before(&mut self, start: Timestamp) {
        if self.live.first().is_none_or(|first| *first >= start) {
            return;
        }
        self.live = self.live.split_off(&start);
        self.last_live = None;
        self.keys.retain(|e| {
            let keep_from = e.slices.partition_point(|(s, _)| *s < start);
            e.slices.drain(..keep_from);
            !e.slices.is_empty()
        });
    }

    /// Every (key, slice) partial result in the canonical form: stored key
    /// `kg | key | slice start`, stored value the partial result.
    pub(crate) fn export(&self, state: &str, max_parallelism: u16) -> Result<Vec<CanonicalEntry>>
    where
        K: StateData,
        P: StateData,
    {
        let codec = |e: CodecError| SpateError::from(e.in_state(state));
        let mut out = Vec::new();
        for e in self.keys.iter() {
            let kg = KeyRef::of(&e.key, max_parallelism).key_group;
            for (slice, p) in &e.slices {
                let key = encode_state_key(kg, &e.key, slice).map_err(codec)?;
                out.push((key, stored_value(p).map_err(codec)?));
            }
        }
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Adds the partial results of [`export`](Self::export)ed entries.
    pub(crate) fn import(&mut self, state: &str, entries: &[CanonicalEntry]) -> Result<()>
    where
        K: StateData + Hash + Clone,
        P: StateData,
    {
        let codec = |e: CodecError| SpateError::from(e.in_state(state));
        for (key, value) in entries {
            let parts = StateKeyParts::parse(key).map_err(codec)?;
            let k: K = parts.decode_key().map_err(codec)?;
            let slice: Timestamp = parts.decode_namespace().map_err(codec)?;
            let (p, _) = parse_stored_value::<P>(value).map_err(codec)?;
            let hash = stable_hash(&k);
            self.live.insert(slice);
            let entry = self
                .keys
                .entry(hash, |e| e.key == k, Self::rehash)
                .or_insert_with(|| KeySlices {
                    key: k.clone(),
                    slices: SmallVec::new(),
                })
                .into_mut();
            match entry.slices.binary_search_by_key(&slice, |(s, _)| *s) {
                Ok(at) => entry.slices[at].1 = p,
                Err(at) => entry.slices.insert(at, (slice, p)),
            }
        }
        self.last_live = None;
        Ok(())
    }

    /// Number of keys with data.
    #[cfg(test)]
    pub(crate) fn keys_len(&self) -> usize {
        self.keys.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kr(key: u64) -> KeyRef {
        KeyRef::of(&key, 128)
    }

    fn count(store: &mut SliceStore<u64, u64>, key: u64, slice: i64) {
        store.update(kr(key), &key, slice, (), |()| 1, |c, ()| *c += 1);
    }

    fn slices_of(store: &SliceStore<u64, u64>, key: u64) -> Vec<(i64, u64)> {
        store
            .iter()
            .find(|e| e.key == key)
            .map(|e| e.slices.to_vec())
            .unwrap_or_default()
    }

    #[test]
    fn out_of_order_updates_keep_slices_sorted() {
        let mut store = SliceStore::new();
        for slice in [20, 10, 20, 30, 0, 10, 30] {
            count(&mut store, 7, slice);
        }
        count(&mut store, 8, 10);
        assert_eq!(
            slices_of(&store, 7),
            vec![(0, 1), (10, 2), (20, 2), (30, 2)]
        );
        assert_eq!(slices_of(&store, 8), vec![(10, 1)]);
        assert_eq!(store.live_slices().collect::<Vec<_>>(), vec![0, 10, 20, 30]);
        let e = store
            .iter()
            .find(|e| e.key == 7)
            .map(|e| e.within(10, 30).copied().collect::<Vec<_>>());
        assert_eq!(e, Some(vec![2, 2]));
    }

    #[test]
    fn an_integer_key_with_a_count_takes_half_a_cache_line() {
        // Two entries per 64-byte line, none straddling two: the table walk
        // and each new key's cache misses depend on it.
        assert_eq!(std::mem::size_of::<KeySlices<u64, u64>>(), 32);
    }

    #[test]
    fn a_key_with_more_slices_than_fit_inline_keeps_them_all_in_order() {
        let mut store = SliceStore::new();
        for slice in [30, 10, 20, 0] {
            count(&mut store, 5, slice);
        }
        assert_eq!(
            slices_of(&store, 5),
            vec![(0, 1), (10, 1), (20, 1), (30, 1)]
        );
        store.expire_before(20);
        assert_eq!(slices_of(&store, 5), vec![(20, 1), (30, 1)]);
        assert!(store.get(kr(5), &5).is_some());
        assert!(store.get(kr(6), &6).is_none());
    }

    #[test]
    fn expiry_drops_old_slices_and_empty_keys() {
        let mut store = SliceStore::new();
        count(&mut store, 1, 0);
        count(&mut store, 1, 10);
        count(&mut store, 2, 0);
        store.expire_before(10);
        assert_eq!(store.keys_len(), 1);
        assert_eq!(slices_of(&store, 1), vec![(10, 1)]);
        assert_eq!(store.live_slices().collect::<Vec<_>>(), vec![10]);
        // A slice added again after expiry is live again.
        count(&mut store, 2, 20);
        assert_eq!(store.live_slices().collect::<Vec<_>>(), vec![10, 20]);
    }
}
