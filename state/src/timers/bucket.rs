//! The timers of one timestamp.
//!
//! A bucket is *open* until its timestamp becomes due: its timers sit in a
//! vector in registration order (so the timers of keys that register early
//! and often stay close together), found by a linear scan while there are
//! few and through a compact hash index after that. When the timestamp is
//! due the vector is sorted, once, into firing order and the index dropped;
//! lookups then binary-search the sorted run, and timers registered for the
//! timestamp after that (from a firing callback, say) go to a small ordered
//! side map.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use hashbrown::HashTable;

use super::Timer;
use crate::error::StateError;
use crate::hash::combine_hashes;

/// Timers an open bucket holds before it indexes them.
pub(super) const SMALL_MAX: usize = 8;
/// Marks a timer deleted from a sorted run (the top bit of its `seq`).
const TOMBSTONE: u64 = 1 << 63;
/// Registration numbers stay below the tombstone bit.
pub(super) const SEQ_LIMIT: u64 = TOMBSTONE;
/// A sorted run is compacted when its tombstones outnumber its live timers
/// by this factor ...
const TOMBSTONE_FACTOR: usize = 2;
/// ... and there are at least this many of them.
const COMPACT_MIN_TOMBSTONES: usize = 1024;
/// Estimated bytes a `BTreeMap` holds per entry, as a multiple of the
/// entry: its nodes are at least about half full.
pub(super) const BTREE_SLACK: usize = 2;

/// Firing order of the timers of one timestamp: (key hash, namespace hash,
/// registration order). Unique, since `seq` is.
pub(super) type Order = (u64, u64, u64);

/// A registered timer and what orders it.
#[derive(Clone, Debug)]
pub(super) struct TimerSlot<K, N> {
    pub(super) timer: Timer<K, N>,
    pub(super) ns_hash: u64,
    /// Registration order; [`TOMBSTONE`] is set once deleted from a run.
    pub(super) seq: u64,
}

impl<K, N> TimerSlot<K, N> {
    #[inline]
    fn order(&self) -> Order {
        (self.timer.key_ref.hash, self.ns_hash, self.seq & !TOMBSTONE)
    }

    #[inline]
    fn hashes(&self) -> (u64, u64) {
        (self.timer.key_ref.hash, self.ns_hash)
    }

    #[inline]
    fn is_tombstone(&self) -> bool {
        self.seq & TOMBSTONE != 0
    }

    #[inline]
    fn short_hash(&self) -> u32 {
        short_hash(self.timer.key_ref.hash, self.ns_hash)
    }
}

impl<K: Eq, N: Eq> TimerSlot<K, N> {
    /// Whether this is the timer of `key` in `ns` (the timestamp is the
    /// bucket's). The key hash goes first, as it is cheap and almost always
    /// decides. The namespace hash is not compared: equal namespaces have
    /// equal hashes, and a found timer usually is the one sought, so
    /// skipping it spares a load (the slot's tail can sit on another cache
    /// line).
    #[inline]
    fn is(&self, key_hash: u64, key: &K, ns: &N) -> bool {
        self.timer.key_ref.hash == key_hash && self.timer.key == *key && self.timer.ns == *ns
    }
}

/// The 32 hash bits an index entry keeps of a (key, namespace) pair.
#[inline]
fn short_hash(key_hash: u64, ns_hash: u64) -> u32 {
    (combine_hashes(key_hash, ns_hash) >> 32) as u32
}

/// The index's hash of a short hash: an odd multiple, so the low bits (the
/// table slot) and the top bits (hashbrown's tag) both vary, and growing
/// the index rehashes without touching the timers.
#[inline]
fn index_hash(short: u32) -> u64 {
    u64::from(short).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Where an open bucket keeps a timer, and its short hash.
#[derive(Clone, Copy, Debug)]
struct IndexEntry {
    at: u32,
    short: u32,
}

impl IndexEntry {
    #[inline]
    fn hash(&self) -> u64 {
        index_hash(self.short)
    }
}

/// The live timers of one timestamp; never empty while in a queue.
#[derive(Clone)]
pub(super) enum Bucket<K, N> {
    /// Not due yet.
    Open(OpenBucket<K, N>),
    /// Firing: sorted once the timestamp became due.
    Sorted(Box<SortedBucket<K, N>>),
}

/// A bucket not due yet.
#[derive(Clone)]
pub(super) struct OpenBucket<K, N> {
    /// The timers, in registration order but for deletions (which move the
    /// last timer into the gap).
    timers: Vec<TimerSlot<K, N>>,
    /// Every timer by its (key, namespace) hash, once there are more than
    /// [`SMALL_MAX`].
    index: Option<Box<HashTable<IndexEntry>>>,
}

/// A bucket being fired.
#[derive(Clone)]
pub(super) struct SortedBucket<K, N> {
    /// Descending [`Order`], so the next timer to fire is the last one and
    /// pops in O(1). Deleted timers stay as tombstones until they surface.
    run: Vec<TimerSlot<K, N>>,
    /// Tombstones in `run`.
    tombstones: usize,
    /// Timers registered after sorting.
    late: BTreeMap<Order, TimerSlot<K, N>>,
}

fn too_many_timers() -> StateError {
    StateError::Internal {
        reason: "more than u32::MAX timers share a timestamp".to_owned(),
    }
}

impl<K: Eq, N: Eq> OpenBucket<K, N> {
    /// Position of the timer of `key` in `ns`.
    #[inline]
    fn find(&self, key_hash: u64, ns_hash: u64, key: &K, ns: &N) -> Option<usize> {
        let Some(index) = &self.index else {
            return self.timers.iter().position(|s| s.is(key_hash, key, ns));
        };
        let short = short_hash(key_hash, ns_hash);
        index
            .find(index_hash(short), |e| {
                e.short == short
                    && self
                        .timers
                        .get(e.at as usize)
                        .is_some_and(|s| s.is(key_hash, key, ns))
            })
            .map(|e| e.at as usize)
    }

    /// Appends `slot`, which must not be here yet; returns its position.
    fn push(&mut self, slot: TimerSlot<K, N>) -> Result<usize, StateError> {
        let at = self.timers.len();
        let entry = IndexEntry {
            at: u32::try_from(at).map_err(|_| too_many_timers())?,
            short: slot.short_hash(),
        };
        self.timers.push(slot);
        match &mut self.index {
            Some(index) => {
                index.insert_unique(entry.hash(), entry, IndexEntry::hash);
            }
            None if self.timers.len() > SMALL_MAX => {
                let mut index = HashTable::with_capacity(2 * self.timers.len());
                for (at, slot) in self.timers.iter().enumerate() {
                    let entry = IndexEntry {
                        at: u32::try_from(at).map_err(|_| too_many_timers())?,
                        short: slot.short_hash(),
                    };
                    index.insert_unique(entry.hash(), entry, IndexEntry::hash);
                }
                self.index = Some(Box::new(index));
            }
            None => {}
        }
        Ok(at)
    }

    /// Removes the timer at `at`, moving the last timer into its place.
    fn remove(&mut self, at: usize) {
        let Some(slot) = self.timers.get(at) else {
            return;
        };
        let last = self.timers.len() - 1;
        if let Some(index) = &mut self.index {
            let short = slot.short_hash();
            if let Ok(entry) = index.find_entry(index_hash(short), |e| e.at as usize == at) {
                entry.remove();
            }
            if let Some(moved) = self.timers.get(last).filter(|_| last != at) {
                let short = moved.short_hash();
                if let Some(entry) = index.find_mut(index_hash(short), |e| e.at as usize == last) {
                    entry.at = at as u32;
                }
            }
        }
        self.timers.swap_remove(at);
    }
}

impl<K: Eq, N: Eq> Bucket<K, N> {
    /// A bucket holding one timer.
    pub(super) fn new(slot: TimerSlot<K, N>) -> Self {
        // Exactly one slot: most timestamps may never get a second timer.
        Self::Open(OpenBucket {
            timers: vec![slot],
            index: None,
        })
    }

    /// Adds the timer `make` builds unless the timer of `key` in `ns` is
    /// already here; returns whether it was added, and where the timer sits
    /// (for [`holds_at`](Self::holds_at)) when that is cheap to know.
    pub(super) fn insert_if_absent(
        &mut self,
        key_hash: u64,
        ns_hash: u64,
        key: &K,
        ns: &N,
        make: impl FnOnce() -> TimerSlot<K, N>,
    ) -> Result<(bool, Option<usize>), StateError> {
        match self {
            Self::Open(open) => match open.find(key_hash, ns_hash, key, ns) {
                Some(at) => Ok((false, Some(at))),
                None => Ok((true, Some(open.push(make())?))),
            },
            Self::Sorted(sorted) => {
                if let Some(at) = sorted.run_position(key_hash, ns_hash, key, ns) {
                    return Ok((false, Some(at)));
                }
                if sorted.late_order(key_hash, ns_hash, key, ns).is_some() {
                    return Ok((false, None));
                }
                let slot = make();
                sorted.late.insert(slot.order(), slot);
                Ok((true, None))
            }
        }
    }

    /// Whether the timer of `key` in `ns` is at `at`, a position
    /// [`insert_if_absent`](Self::insert_if_absent) gave (perhaps before
    /// timers moved: the timer there is checked).
    #[inline]
    pub(super) fn holds_at(&self, at: usize, key_hash: u64, key: &K, ns: &N) -> bool {
        let slot = match self {
            Self::Open(open) => open.timers.get(at),
            Self::Sorted(sorted) => sorted.run.get(at).filter(|s| !s.is_tombstone()),
        };
        slot.is_some_and(|s| s.is(key_hash, key, ns))
    }

    /// Deletes the timer of `key` in `ns`; returns whether it was here.
    pub(super) fn delete(&mut self, key_hash: u64, ns_hash: u64, key: &K, ns: &N) -> bool {
        match self {
            Self::Open(open) => match open.find(key_hash, ns_hash, key, ns) {
                Some(at) => {
                    open.remove(at);
                    true
                }
                None => false,
            },
            Self::Sorted(sorted) => sorted.delete(key_hash, ns_hash, key, ns),
        }
    }
}

impl<K, N> Bucket<K, N> {
    /// Number of live timers.
    pub(super) fn len(&self) -> usize {
        match self {
            Self::Open(open) => open.timers.len(),
            Self::Sorted(sorted) => sorted.run.len() - sorted.tombstones + sorted.late.len(),
        }
    }

    /// Timers stored, tombstones included.
    #[cfg(test)]
    pub(super) fn stored(&self) -> usize {
        match self {
            Self::Sorted(sorted) => sorted.run.len() + sorted.late.len(),
            Self::Open(_) => self.len(),
        }
    }

    /// Whether no live timer is left.
    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes and returns the first timer in firing order, sorting the
    /// bucket first if it is not sorted yet.
    pub(super) fn pop_first(&mut self) -> Option<TimerSlot<K, N>> {
        match self {
            Self::Open(open) if open.timers.len() == 1 => open.timers.pop(),
            Self::Open(open) => {
                let mut run = std::mem::take(&mut open.timers);
                run.sort_unstable_by_key(|s| Reverse(s.order()));
                let mut sorted = SortedBucket {
                    run,
                    tombstones: 0,
                    late: BTreeMap::new(),
                };
                let first = sorted.pop_first();
                *self = Self::Sorted(Box::new(sorted));
                first
            }
            Self::Sorted(sorted) => sorted.pop_first(),
        }
    }

    /// The live timers, in no particular order.
    pub(super) fn iter(&self) -> impl Iterator<Item = &TimerSlot<K, N>> + '_ {
        let (open, sorted) = match self {
            Self::Open(open) => (Some(open), None),
            Self::Sorted(sorted) => (None, Some(sorted)),
        };
        open.into_iter()
            .flat_map(|o| o.timers.iter())
            .chain(sorted.into_iter().flat_map(|s| {
                s.run
                    .iter()
                    .filter(|slot| !slot.is_tombstone())
                    .chain(s.late.values())
            }))
    }

    /// Estimated bytes the bucket owns on the heap (capacity based).
    pub(super) fn heap_bytes(&self) -> usize {
        let slot = size_of::<TimerSlot<K, N>>();
        match self {
            Self::Open(open) => {
                open.timers.capacity() * slot
                    + open.index.as_ref().map_or(0, |index| {
                        size_of::<HashTable<IndexEntry>>() + index.allocation_size()
                    })
            }
            Self::Sorted(sorted) => {
                size_of::<SortedBucket<K, N>>()
                    + sorted.run.capacity() * slot
                    + sorted.late.len() * BTREE_SLACK * (size_of::<Order>() + slot)
            }
        }
    }
}

impl<K: Eq, N: Eq> SortedBucket<K, N> {
    /// Index in `run` of the live timer of `key` in `ns`.
    fn run_position(&self, key_hash: u64, ns_hash: u64, key: &K, ns: &N) -> Option<usize> {
        let start = self
            .run
            .partition_point(|s| s.hashes() > (key_hash, ns_hash));
        self.run
            .iter()
            .enumerate()
            .skip(start)
            .take_while(|(_, s)| s.hashes() == (key_hash, ns_hash))
            .find(|(_, s)| !s.is_tombstone() && s.is(key_hash, key, ns))
            .map(|(i, _)| i)
    }

    /// Order (the key in `late`) of the late timer of `key` in `ns`.
    fn late_order(&self, key_hash: u64, ns_hash: u64, key: &K, ns: &N) -> Option<Order> {
        if self.late.is_empty() {
            return None;
        }
        self.late
            .range((key_hash, ns_hash, 0)..=(key_hash, ns_hash, u64::MAX))
            .find(|(_, s)| s.is(key_hash, key, ns))
            .map(|(order, _)| *order)
    }

    fn delete(&mut self, key_hash: u64, ns_hash: u64, key: &K, ns: &N) -> bool {
        if let Some(i) = self.run_position(key_hash, ns_hash, key, ns) {
            if let Some(slot) = self.run.get_mut(i) {
                slot.seq |= TOMBSTONE;
                self.tombstones += 1;
            }
            self.compact();
            return true;
        }
        match self.late_order(key_hash, ns_hash, key, ns) {
            Some(order) => self.late.remove(&order).is_some(),
            None => false,
        }
    }

    /// Drops the run's tombstones once they outnumber its live timers.
    fn compact(&mut self) {
        let live = self.run.len() - self.tombstones;
        if self.tombstones >= COMPACT_MIN_TOMBSTONES && self.tombstones > TOMBSTONE_FACTOR * live {
            self.run.retain(|s| !s.is_tombstone());
            self.tombstones = 0;
        }
    }
}

impl<K, N> SortedBucket<K, N> {
    fn pop_first(&mut self) -> Option<TimerSlot<K, N>> {
        while self.run.last().is_some_and(TimerSlot::is_tombstone) {
            self.run.pop();
            self.tombstones -= 1;
        }
        let late_first = match (self.run.last(), self.late.first_key_value()) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(next), Some((late, _))) => *late < next.order(),
        };
        if late_first {
            self.late.pop_first().map(|(_, slot)| slot)
        } else {
            self.run.pop()
        }
    }
}
