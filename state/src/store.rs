//! Key-group partitioned hash storage shared by every state table.
//!
//! One `hashbrown::HashTable` per owned key group, so a key group can be
//! snapshotted, dropped or handed to another subtask on its own. Lookups use
//! the caller's precomputed [`KeyRef`] hash; the key is hashed again only
//! when a table grows (storing the hash per entry would cost 8 bytes a key).

use std::hash::Hash;

use hashbrown::HashTable;
use hashbrown::hash_table::{Entry, Iter, OccupiedEntry};

use crate::canonical::DeltaEntry;
use crate::changes::{ChangeTracker, Memo, SlotEncoder, encode_slot};
use crate::error::StateError;
use crate::hash::{slot_hash, stable_hash};
use crate::key_group::{KeyGroup, KeyGroupRange, KeyRef};

/// One (key, namespace) entry and what the table keeps for it.
#[derive(Clone, Debug)]
pub(crate) struct Slot<K, N, C> {
    pub(crate) key: K,
    pub(crate) ns: N,
    pub(crate) cell: C,
}

/// What a sweep visitor decided about one slot.
pub(crate) struct Swept {
    /// Values removed from the slot (or the slot's one value).
    pub(crate) removed: usize,
    /// Whether the slot stays.
    pub(crate) keep: bool,
}

/// Where the incremental sweep resumes: bucket indices stay valid across
/// removals and only move when a table grows, after which the sweep merely
/// revisits or skips some entries once.
#[derive(Clone, Copy, Debug, Default)]
struct SweepCursor {
    group: usize,
    bucket: usize,
}

/// A capture passes this many empty buckets for the cost of encoding one
/// slot (a control byte each).
const EMPTY_BUCKETS_PER_SLOT: usize = 16;

/// A sweep scans at most this many buckets per examined-entry budget, so
/// that a sparse table (after mass expiry) still bounds the work per call.
const SWEEP_BUCKETS_PER_ENTRY: usize = 8;

/// A range check passed but no table exists: the store was built wrong.
#[cold]
fn missing_group(range: KeyGroupRange, kg: KeyGroup) -> StateError {
    StateError::Internal {
        reason: format!("no table for key group {kg} in {range}"),
    }
}

/// One key group's table and the change tracker, borrowed apart.
type GroupAndTracker<'a, K, N, C> = (
    &'a mut HashTable<Slot<K, N, C>>,
    Option<&'a mut ChangeTracker<K, N, C>>,
);

/// A found slot that can be modified or removed in place.
pub(crate) type Occupied<'a, K, N, C> = OccupiedEntry<'a, Slot<K, N, C>>;

/// Per-key-group hash tables of [`Slot`]s.
#[derive(Clone, Debug)]
pub(crate) struct KeyGroupedStore<K, N, C> {
    range: KeyGroupRange,
    groups: Box<[HashTable<Slot<K, N, C>>]>,
    cursor: SweepCursor,
    /// Present when checkpoints capture only what changed.
    changes: Option<Box<ChangeTracker<K, N, C>>>,
}

impl<K, N, C> KeyGroupedStore<K, N, C>
where
    K: Hash + Eq + Clone,
    N: Hash + Eq + Clone,
{
    pub(crate) fn new(range: KeyGroupRange) -> Self {
        Self {
            range,
            groups: (0..range.len()).map(|_| HashTable::new()).collect(),
            cursor: SweepCursor::default(),
            changes: None,
        }
    }

    /// From now on, notes every slot a mutable access touches; `memo`
    /// records what a slot held before its first change in a period, and
    /// `encode` writes a slot out for a capture.
    pub(crate) fn track_changes(
        &mut self,
        memo: Option<Memo<K, N, C>>,
        encode: SlotEncoder<K, N, C>,
    ) {
        self.changes = Some(Box::new(ChangeTracker::new(memo, encode)));
    }

    /// Whether changes are tracked.
    pub(crate) fn tracks_changes(&self) -> bool {
        self.changes.is_some()
    }

    /// Whether a capture is in progress.
    pub(crate) fn capturing(&self) -> bool {
        self.changes.as_ref().is_some_and(|t| t.capture.is_some())
    }

    /// Starts capturing the slots touched since the previous capture (at
    /// the first after a restore, every slot): O(1) but for that one.
    /// Finish it with [`continue_capture`](Self::continue_capture) before
    /// starting another.
    pub(crate) fn start_capture(&mut self) -> Result<(), StateError> {
        let Some(t) = self.changes.as_deref_mut() else {
            return Err(StateError::Internal {
                reason: "a capture of changes started on a table that does not note them".into(),
            });
        };
        let everything = t.everything();
        let Some(capture) = t.start_capture() else {
            return Err(StateError::Internal {
                reason: "a capture started before the previous one was finished".into(),
            });
        };
        if everything {
            for (kg, group) in self.range.iter().zip(self.groups.iter()) {
                for slot in group {
                    let entry = (kg, slot.key.clone(), slot.ns.clone());
                    capture.pending.insert_unique(
                        ChangeTracker::<K, N, C>::rehash(&entry),
                        entry,
                        ChangeTracker::<K, N, C>::rehash,
                    );
                }
            }
        }
        Ok(())
    }

    /// Encodes slots of the capture in progress into `out`, spending at
    /// most `budget`: one per slot encoded and one per
    /// [`EMPTY_BUCKETS_PER_SLOT`] empty buckets passed (the budget is
    /// reduced by what was spent). True when the capture is complete, or
    /// none was in progress; `state` names the state in errors.
    pub(crate) fn continue_capture(
        &mut self,
        state: &str,
        budget: &mut usize,
        out: &mut Vec<DeltaEntry>,
    ) -> Result<bool, StateError> {
        let Some(t) = self.changes.as_deref_mut() else {
            return Ok(true);
        };
        let Some(c) = t.capture.as_deref_mut() else {
            return Ok(true);
        };
        out.append(&mut c.out);
        let buckets = c.pending.num_buckets();
        while *budget > 0 && c.bucket < buckets {
            if c.pending.is_empty() {
                c.bucket = buckets;
                break;
            }
            let bucket = c.bucket;
            c.bucket += 1;
            let Some((kg, key, ns)) = c.pending.get_bucket(bucket) else {
                if bucket % EMPTY_BUCKETS_PER_SLOT == 0 {
                    *budget -= 1;
                }
                continue;
            };
            *budget -= 1;
            let kg = *kg;
            let slot = match self.range.offset_of(kg).map(|o| self.groups.get(o)) {
                Ok(Some(group)) => {
                    let hash = slot_hash(stable_hash(key), ns);
                    group.find(hash, |s| s.key == *key && s.ns == *ns)
                }
                _ => return Err(missing_group(self.range, kg)),
            };
            encode_slot(&t.encode, &mut c.error, kg, key, ns, slot, out);
        }
        if c.bucket < buckets {
            return Ok(false);
        }
        let Some(done) = t.capture.take() else {
            return Ok(true);
        };
        out.extend(done.out);
        out.extend(done.before.into_iter().map(|k| (k, None)));
        match done.error {
            Some(e) => Err(e.in_state(state)),
            None => Ok(true),
        }
    }

    /// The table of key group `kg` and the change tracker, borrowed apart.
    #[inline]
    fn parts_mut(&mut self, kg: KeyGroup) -> Result<GroupAndTracker<'_, K, N, C>, StateError> {
        let range = self.range;
        let offset = range.offset_of(kg)?;
        let group = self
            .groups
            .get_mut(offset)
            .ok_or_else(|| missing_group(range, kg))?;
        Ok((group, self.changes.as_deref_mut()))
    }

    /// The group of `kr` with (key, ns) noted as changing.
    #[inline]
    fn group_for_change(
        &mut self,
        kr: KeyRef,
        hash: u64,
        key: &K,
        ns: &N,
    ) -> Result<&mut HashTable<Slot<K, N, C>>, StateError> {
        let (group, changes) = self.parts_mut(kr.key_group)?;
        if let Some(t) = changes {
            t.note(hash, kr.key_group, key, ns, || {
                group.find(hash, |s| s.key == *key && s.ns == *ns)
            });
        }
        Ok(group)
    }

    pub(crate) fn range(&self) -> KeyGroupRange {
        self.range
    }

    /// Recomputes a slot's hash when its table grows.
    #[inline]
    fn rehash(slot: &Slot<K, N, C>) -> u64 {
        slot_hash(stable_hash(&slot.key), &slot.ns)
    }

    #[inline]
    fn group(&self, kg: KeyGroup) -> Result<&HashTable<Slot<K, N, C>>, StateError> {
        let offset = self.range.offset_of(kg)?;
        self.groups
            .get(offset)
            .ok_or_else(|| missing_group(self.range, kg))
    }

    /// The slot of (key, ns), if stored (expired or not).
    #[inline]
    pub(crate) fn find(
        &self,
        kr: KeyRef,
        key: &K,
        ns: &N,
    ) -> Result<Option<&Slot<K, N, C>>, StateError> {
        let hash = slot_hash(kr.hash, ns);
        Ok(self
            .group(kr.key_group)?
            .find(hash, |s| s.key == *key && s.ns == *ns))
    }

    /// The slot of (key, ns) as an entry that can be modified or removed.
    #[inline]
    pub(crate) fn find_entry(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
    ) -> Result<Option<Occupied<'_, K, N, C>>, StateError> {
        let hash = slot_hash(kr.hash, ns);
        Ok(self
            .group_for_change(kr, hash, key, ns)?
            .find_entry(hash, |s| s.key == *key && s.ns == *ns)
            .ok())
    }

    /// Like [`entry`](Self::entry), for a slot restored from a snapshot:
    /// a restore into a table with nothing noted makes its next capture
    /// the whole table rather than noting each restored key.
    pub(crate) fn restore_entry(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
    ) -> Result<Entry<'_, Slot<K, N, C>>, StateError> {
        if let Some(t) = self.changes.as_deref_mut() {
            t.restoring();
        }
        self.entry(kr, key, ns)
    }

    /// The slot of (key, ns), or the place to insert it: one probe either way.
    #[inline]
    pub(crate) fn entry(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
    ) -> Result<Entry<'_, Slot<K, N, C>>, StateError> {
        let hash = slot_hash(kr.hash, ns);
        let group = self.group_for_change(kr, hash, key, ns)?;
        // A KeyRef of another key would land the entry where a later
        // rehash cannot find it; too costly to check in release builds.
        debug_assert_eq!(kr.hash, stable_hash(key), "KeyRef does not match key");
        Ok(group.entry(hash, |s| s.key == *key && s.ns == *ns, Self::rehash))
    }

    /// Removes the slot of (key, ns).
    #[inline]
    pub(crate) fn remove(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
    ) -> Result<Option<Slot<K, N, C>>, StateError> {
        Ok(self.find_entry(kr, key, ns)?.map(|e| e.remove().0))
    }

    /// Number of slots.
    pub(crate) fn len(&self) -> usize {
        self.groups.iter().map(HashTable::len).sum()
    }

    /// Drops every slot and releases the tables' memory.
    pub(crate) fn clear_all(&mut self) {
        if let Some(t) = self.changes.as_deref_mut() {
            for (kg, group) in self.range.iter().zip(self.groups.iter()) {
                for slot in group {
                    t.note(Self::rehash(slot), kg, &slot.key, &slot.ns, || Some(slot));
                }
            }
        }
        for group in self.groups.iter_mut() {
            *group = HashTable::new();
        }
        self.cursor = SweepCursor::default();
    }

    /// Bytes held by the tables themselves (slot arrays and control bytes),
    /// excluding heap memory owned by keys and values.
    pub(crate) fn approx_bytes(&self) -> usize {
        size_of::<Self>()
            + self.groups.len() * size_of::<HashTable<Slot<K, N, C>>>()
            + self
                .groups
                .iter()
                .map(HashTable::allocation_size)
                .sum::<usize>()
            + self.changes.as_ref().map_or(0, |t| t.approx_bytes())
    }

    /// The slots of one key group, in no particular order.
    pub(crate) fn iter_group(&self, kg: KeyGroup) -> Result<Iter<'_, Slot<K, N, C>>, StateError> {
        Ok(self.group(kg)?.iter())
    }

    /// Every slot of every key group.
    pub(crate) fn iter_all(&self) -> impl Iterator<Item = &Slot<K, N, C>> {
        self.groups.iter().flat_map(HashTable::iter)
    }

    /// Visits up to `entries_max` slots, resuming where the previous sweep
    /// stopped and wrapping around, and removes those the visitor drops.
    /// Returns the sum of the visitor's `removed` counts.
    pub(crate) fn sweep(
        &mut self,
        entries_max: usize,
        mut visit: impl FnMut(&mut Slot<K, N, C>) -> Swept,
    ) -> usize {
        let group_count = self.groups.len();
        if group_count == 0 || entries_max == 0 {
            return 0;
        }
        let bucket_budget = entries_max.saturating_mul(SWEEP_BUCKETS_PER_ENTRY);
        let (mut examined, mut scanned, mut removed, mut groups_passed) = (0, 0, 0, 0);
        while examined < entries_max && scanned < bucket_budget {
            let SweepCursor { group, bucket } = self.cursor;
            let Some(table) = self.groups.get_mut(group) else {
                self.cursor = SweepCursor::default();
                continue;
            };
            if table.is_empty() || bucket >= table.num_buckets() {
                self.cursor = SweepCursor {
                    group: (group + 1) % group_count,
                    bucket: 0,
                };
                groups_passed += 1;
                // One full round per call at most: never revisit a slot.
                if groups_passed > group_count {
                    break;
                }
                continue;
            }
            self.cursor.bucket += 1;
            scanned += 1;
            if let Ok(mut occupied) = table.get_bucket_entry(bucket) {
                examined += 1;
                let kg = self.range.start + group as KeyGroup;
                let noted = note_swept(self.changes.as_deref_mut(), kg, occupied.get());
                let swept = visit(occupied.get_mut());
                removed += swept.removed;
                if let (Some(t), Some((hash, mark))) = (self.changes.as_deref_mut(), noted)
                    && swept.removed == 0
                    && swept.keep
                {
                    // The visit changed nothing: not a change after all.
                    let slot = occupied.get();
                    t.forget(hash, &slot.key, &slot.ns, mark);
                }
                if !swept.keep {
                    occupied.remove();
                }
            }
        }
        removed
    }
}

/// Notes a slot a sweep is about to visit, unless it is noted already;
/// returns its hash and the memo mark to take the note back with.
fn note_swept<K, N, C>(
    changes: Option<&mut ChangeTracker<K, N, C>>,
    kg: KeyGroup,
    slot: &Slot<K, N, C>,
) -> Option<(u64, usize)>
where
    K: Hash + Eq + Clone,
    N: Hash + Eq + Clone,
{
    let t = changes?;
    let hash = slot_hash(stable_hash(&slot.key), &slot.ns);
    let mark = t.mark();
    t.note(hash, kg, &slot.key, &slot.ns, || Some(slot))
        .then_some((hash, mark))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kr(k: u64) -> KeyRef {
        KeyRef::of(&k, 8)
    }

    fn store_with(keys: u64) -> KeyGroupedStore<u64, (), u64> {
        let mut s = KeyGroupedStore::new(KeyGroupRange::all(8));
        for k in 0..keys {
            match s.entry(kr(k), &k, &()).unwrap() {
                Entry::Vacant(v) => {
                    v.insert(Slot {
                        key: k,
                        ns: (),
                        cell: k,
                    });
                }
                Entry::Occupied(_) => panic!("duplicate"),
            }
        }
        s
    }

    fn put(s: &mut KeyGroupedStore<u64, (), u64>, k: u64, v: u64) {
        let entry = s.entry(kr(k), &k, &()).unwrap();
        set(entry, k, v);
    }

    fn restore(s: &mut KeyGroupedStore<u64, (), u64>, k: u64, v: u64) {
        let entry = s.restore_entry(kr(k), &k, &()).unwrap();
        set(entry, k, v);
    }

    fn set(entry: Entry<'_, Slot<u64, (), u64>>, k: u64, v: u64) {
        match entry {
            Entry::Vacant(e) => {
                e.insert(Slot {
                    key: k,
                    ns: (),
                    cell: v,
                });
            }
            Entry::Occupied(mut e) => e.get_mut().cell = v,
        }
    }

    /// Writes a slot as its key's bytes and its value's, or a tombstone.
    fn encoder() -> SlotEncoder<u64, (), u64> {
        std::sync::Arc::new(|_, key, (), slot, out| {
            let value = slot.map(|s| s.cell.to_be_bytes().to_vec());
            out.push((key.to_be_bytes().to_vec(), value));
            Ok(())
        })
    }

    fn key_of(entry: &DeltaEntry) -> u64 {
        u64::from_be_bytes(entry.0.as_slice().try_into().unwrap())
    }

    /// A whole capture, with its entries as (key, value) sorted by key.
    fn capture(s: &mut KeyGroupedStore<u64, (), u64>) -> Vec<(u64, Option<u64>)> {
        s.start_capture().unwrap();
        let mut out = Vec::new();
        let mut unlimited = usize::MAX;
        assert!(s.continue_capture("s", &mut unlimited, &mut out).unwrap());
        let mut entries: Vec<(u64, Option<u64>)> = out
            .iter()
            .map(|e| {
                let v =
                    e.1.as_ref()
                        .map(|v| u64::from_be_bytes(v.as_slice().try_into().unwrap()));
                (key_of(e), v)
            })
            .collect();
        entries.sort_unstable();
        entries
    }

    fn sorted_keys(s: &mut KeyGroupedStore<u64, (), u64>) -> Vec<u64> {
        capture(s).into_iter().map(|(k, _)| k).collect()
    }

    #[test]
    fn a_restore_notes_nothing_and_the_next_capture_is_every_slot() {
        let mut s = KeyGroupedStore::new(KeyGroupRange::all(8));
        s.track_changes(None, encoder());
        let empty = s.approx_bytes();
        for k in 0..5_000u64 {
            restore(&mut s, k, k);
        }
        s.remove(kr(7), &7, &()).unwrap();
        // Only the tables grew: no restored key was noted.
        let tables: usize = s.groups.iter().map(HashTable::allocation_size).sum();
        assert_eq!(s.approx_bytes(), empty + tables);
        let first = sorted_keys(&mut s);
        assert_eq!(first, (0..5_000u64).filter(|&k| k != 7).collect::<Vec<_>>());
        put(&mut s, 42, 0);
        put(&mut s, 4_999, 1);
        s.remove(kr(3), &3, &()).unwrap();
        assert_eq!(sorted_keys(&mut s), vec![3, 42, 4_999]);
        assert!(sorted_keys(&mut s).is_empty());
    }

    #[test]
    fn records_into_a_fresh_table_are_noted_so_its_first_capture_lists_only_them() {
        let mut s = KeyGroupedStore::new(KeyGroupRange::all(8));
        s.track_changes(None, encoder());
        for k in 0..100u64 {
            put(&mut s, k, k);
        }
        s.remove(kr(7), &7, &()).unwrap();
        // Noted, not listed from the table: the removed key is a tombstone.
        let mut want: Vec<(u64, Option<u64>)> = (0..100u64).map(|k| (k, Some(k))).collect();
        want[7].1 = None;
        assert_eq!(capture(&mut s), want);
        // A restore after the table was captured, with nothing noted since,
        // makes the next capture the whole table.
        restore(&mut s, 500, 5);
        let mut want: Vec<u64> = (0..100u64).filter(|&k| k != 7).collect();
        want.push(500);
        assert_eq!(sorted_keys(&mut s), want);
        // With changes noted already, a restored key is noted like them.
        put(&mut s, 1, 0);
        restore(&mut s, 600, 6);
        assert_eq!(sorted_keys(&mut s), vec![1, 600]);
    }

    #[test]
    fn a_capture_in_slices_holds_the_state_it_started_with() {
        let mut s = KeyGroupedStore::new(KeyGroupRange::all(8));
        s.track_changes(None, encoder());
        for k in 0..1_000u64 {
            put(&mut s, k, k);
        }
        capture(&mut s);
        for k in 0..1_000u64 {
            put(&mut s, k, k + 1);
        }
        s.start_capture().unwrap();
        assert!(s.capturing());
        assert!(s.start_capture().is_err(), "one capture at a time");
        // Changes after the start: copied before they land, or not seen.
        let mut out = Vec::new();
        let mut slice = 64;
        assert!(!s.continue_capture("s", &mut slice, &mut out).unwrap());
        assert_eq!(slice, 0, "the slice spends its budget");
        for k in 0..500u64 {
            put(&mut s, k, 0);
        }
        s.remove(kr(999), &999, &()).unwrap();
        put(&mut s, 5_000, 1);
        while !s.continue_capture("s", &mut 64, &mut out).unwrap() {}
        assert!(!s.capturing());
        let mut got: Vec<(u64, Option<u64>)> = out
            .iter()
            .map(|e| {
                (
                    key_of(e),
                    e.1.as_ref()
                        .map(|v| u64::from_be_bytes(v.as_slice().try_into().unwrap())),
                )
            })
            .collect();
        got.sort_unstable();
        let want: Vec<(u64, Option<u64>)> = (0..1_000u64).map(|k| (k, Some(k + 1))).collect();
        assert_eq!(got, want);
        // The next capture holds what changed after the previous started.
        let next = capture(&mut s);
        let mut want: Vec<(u64, Option<u64>)> = (0..500u64).map(|k| (k, Some(0))).collect();
        want.push((999, None));
        want.push((5_000, Some(1)));
        assert_eq!(next, want);
    }

    #[test]
    fn finds_after_growth_rehash() {
        let s = store_with(10_000);
        assert_eq!(s.len(), 10_000);
        for k in 0..10_000u64 {
            assert_eq!(s.find(kr(k), &k, &()).unwrap().map(|s| s.cell), Some(k));
        }
        assert!(s.find(kr(10_001), &10_001, &()).unwrap().is_none());
    }

    #[test]
    fn out_of_range_key_group_is_an_error() {
        let mut s: KeyGroupedStore<u64, (), u64> =
            KeyGroupedStore::new(KeyGroupRange::new(0, 4).unwrap());
        let far = KeyRef {
            hash: 1,
            key_group: 6,
        };
        let err = s.find(far, &1, &()).unwrap_err();
        assert!(matches!(
            err,
            StateError::KeyGroupOutOfRange { key_group: 6, .. }
        ));
        assert!(s.entry(far, &1, &()).is_err());
        assert!(s.iter_group(4).is_err());
    }

    #[test]
    fn sweep_bounds_work_and_eventually_visits_everything() {
        let mut s = store_with(1_000);
        let mut seen = std::collections::HashSet::new();
        let mut calls = 0;
        while seen.len() < 1_000 {
            let mut visited = 0;
            s.sweep(50, |slot| {
                visited += 1;
                seen.insert(slot.key);
                Swept {
                    removed: 0,
                    keep: true,
                }
            });
            assert!(visited <= 50, "visited {visited}");
            calls += 1;
            assert!(calls < 100, "sweep makes no progress");
        }
    }

    #[test]
    fn sweep_removes_dropped_slots() {
        let mut s = store_with(1_000);
        let mut removed = 0;
        for _ in 0..200 {
            removed += s.sweep(100, |slot| Swept {
                removed: usize::from(slot.key % 2 == 0),
                keep: slot.key % 2 == 1,
            });
        }
        assert_eq!(removed, 500);
        assert_eq!(s.len(), 500);
        assert!(s.iter_all().all(|slot| slot.key % 2 == 1));
    }

    #[test]
    fn clear_all_releases_memory() {
        let mut s = store_with(1_000);
        let full = s.approx_bytes();
        s.clear_all();
        assert_eq!(s.len(), 0);
        assert!(
            s.approx_bytes() < full / 10,
            "{} vs {full}",
            s.approx_bytes()
        );
    }
}
