//! The binary-heap `TimerQueue` that `spate_state::TimerQueue` replaced,
//! kept as it was but for its name and crate-private helpers replaced by
//! public equivalents, as the baseline of the `timers` bench.
// The bench drives only part of the API.
#![allow(dead_code)]

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::hash::Hash;

use hashbrown::HashTable;

use spate_state::{KeyGroup, KeyGroupRange, KeyRef, StateError, Timer, stable_hash};

/// `spate_state::hash::namespace_hash` (crate private there).
fn namespace_hash<N: Hash>(ns: &N) -> u64 {
    if size_of::<N>() == 0 {
        0
    } else {
        stable_hash(ns)
    }
}

/// `spate_state::hash::combine_hashes` (crate private there).
fn combine_hashes(key_hash: u64, ns_hash: u64) -> u64 {
    let mut h = key_hash ^ ns_hash.rotate_left(32).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

/// A registered timer and what orders it.
#[derive(Clone, Debug)]
struct TimerSlot<K, N> {
    timer: Timer<K, N>,
    ns_hash: u64,
    seq: u64,
}

/// Heap entry: the firing order is the derived order of the fields. `slot`
/// comes last and never decides, since `seq` is unique.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct HeapItem {
    timestamp_ms: i64,
    key_hash: u64,
    ns_hash: u64,
    seq: u64,
    slot: u32,
}

/// Deleted timers stay in the heap as tombstones until they surface; the
/// heap is compacted when tombstones outnumber live timers by this factor.
const TOMBSTONE_FACTOR: usize = 2;
/// ... and the heap holds more than this many items (small heaps are left be).
const COMPACT_MIN_ITEMS: usize = 1024;

/// A deduplicated priority queue of timers.
///
/// Timers fire in the order (timestamp, key hash, namespace hash,
/// registration order), so firing order is deterministic across runs.
/// Registering an existing (timestamp, key, namespace) timer again keeps the
/// one timer and its original place. Deletion is lazy, but [`len`](Self::len)
/// is exact and [`peek_ts`](Self::peek_ts) never reports a deleted timer.
#[derive(Clone)]
pub struct OldTimerQueue<K, N> {
    range: KeyGroupRange,
    heap: BinaryHeap<Reverse<HeapItem>>,
    slots: Vec<Option<TimerSlot<K, N>>>,
    free_slots: Vec<u32>,
    /// Live timers by (timestamp, key, namespace), as indices into `slots`.
    index: HashTable<u32>,
    next_seq: u64,
}

impl<K, N> OldTimerQueue<K, N>
where
    K: Hash + Eq + Clone + 'static,
    N: Hash + Eq + Clone + 'static,
{
    /// An empty queue for keys in the key groups of `range`.
    pub fn new(range: KeyGroupRange) -> Self {
        Self {
            range,
            heap: BinaryHeap::new(),
            slots: Vec::new(),
            free_slots: Vec::new(),
            index: HashTable::new(),
            next_seq: 0,
        }
    }

    /// The key groups whose timers this queue holds.
    pub fn range(&self) -> KeyGroupRange {
        self.range
    }

    #[inline]
    fn dedup_hash(timestamp_ms: i64, key_hash: u64, ns_hash: u64) -> u64 {
        combine_hashes(combine_hashes(key_hash, ns_hash), timestamp_ms as u64)
    }

    #[inline]
    fn slot_dedup_hash(slots: &[Option<TimerSlot<K, N>>], index: u32) -> u64 {
        slots
            .get(index as usize)
            .and_then(Option::as_ref)
            .map_or(0, |s| {
                Self::dedup_hash(s.timer.timestamp_ms, s.timer.key_ref.hash, s.ns_hash)
            })
    }

    #[inline]
    fn matches(
        slots: &[Option<TimerSlot<K, N>>],
        index: u32,
        timestamp_ms: i64,
        key: &K,
        ns: &N,
    ) -> bool {
        slots
            .get(index as usize)
            .and_then(Option::as_ref)
            .is_some_and(|s| {
                s.timer.timestamp_ms == timestamp_ms && s.timer.key == *key && s.timer.ns == *ns
            })
    }

    fn check_range(&self, kg: KeyGroup) -> Result<(), StateError> {
        if self.range.contains(kg) {
            Ok(())
        } else {
            Err(StateError::KeyGroupOutOfRange {
                key_group: kg,
                range: self.range,
            })
        }
    }

    /// Registers a timer; returns `false` if the same (timestamp, key,
    /// namespace) timer was already registered. The key and namespace are
    /// cloned only for a new timer.
    pub fn register(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        timestamp_ms: i64,
    ) -> Result<bool, StateError> {
        self.check_range(kr.key_group)?;
        let ns_hash = namespace_hash(ns);
        let hash = Self::dedup_hash(timestamp_ms, kr.hash, ns_hash);
        let slots = &self.slots;
        if self
            .index
            .find(hash, |&i| Self::matches(slots, i, timestamp_ms, key, ns))
            .is_some()
        {
            return Ok(false);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let slot = TimerSlot {
            timer: Timer {
                timestamp_ms,
                key_ref: kr,
                key: key.clone(),
                ns: ns.clone(),
            },
            ns_hash,
            seq,
        };
        let slot_index = match self.free_slots.pop() {
            Some(i) => {
                if let Some(free) = self.slots.get_mut(i as usize) {
                    *free = Some(slot);
                }
                i
            }
            None => {
                let i = u32::try_from(self.slots.len()).map_err(|_| StateError::Internal {
                    reason: "more than u32::MAX live timers".to_owned(),
                })?;
                self.slots.push(Some(slot));
                i
            }
        };
        self.heap.push(Reverse(HeapItem {
            timestamp_ms,
            key_hash: kr.hash,
            ns_hash,
            seq,
            slot: slot_index,
        }));
        let slots = &self.slots;
        self.index
            .insert_unique(hash, slot_index, |&i| Self::slot_dedup_hash(slots, i));
        Ok(true)
    }

    /// Deletes a timer; returns whether it was registered.
    pub fn delete(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        timestamp_ms: i64,
    ) -> Result<bool, StateError> {
        self.check_range(kr.key_group)?;
        let hash = Self::dedup_hash(timestamp_ms, kr.hash, namespace_hash(ns));
        let slots = &self.slots;
        let Ok(entry) = self
            .index
            .find_entry(hash, |&i| Self::matches(slots, i, timestamp_ms, key, ns))
        else {
            return Ok(false);
        };
        let (slot_index, _) = entry.remove();
        self.release(slot_index);
        self.drop_tombstones();
        Ok(true)
    }

    /// The timestamp of the next timer to fire.
    pub fn peek_ts(&self) -> Option<i64> {
        self.heap.peek().map(|Reverse(item)| item.timestamp_ms)
    }

    /// Removes and returns the next timer if it is due at `up_to_ts`
    /// (timestamp <= `up_to_ts`, as Flink fires timers up to the watermark).
    pub fn pop_due(&mut self, up_to_ts: i64) -> Option<Timer<K, N>> {
        loop {
            let Reverse(top) = *self.heap.peek()?;
            if top.timestamp_ms > up_to_ts {
                return None;
            }
            self.heap.pop();
            let Some(slot) = self.take_live(top) else {
                continue;
            };
            let hash = Self::dedup_hash(
                slot.timer.timestamp_ms,
                slot.timer.key_ref.hash,
                slot.ns_hash,
            );
            if let Ok(entry) = self.index.find_entry(hash, |&i| i == top.slot) {
                entry.remove();
            }
            self.free_slots.push(top.slot);
            self.drop_tombstones();
            return Some(slot.timer);
        }
    }

    /// Number of registered timers.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether no timer is registered.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Every registered timer, in no particular order (for snapshots).
    pub fn iter(&self) -> impl Iterator<Item = &Timer<K, N>> + '_ {
        self.slots.iter().flatten().map(|s| &s.timer)
    }

    /// The registered timers of key group `kg` (for snapshots).
    pub fn iter_key_group(
        &self,
        kg: KeyGroup,
    ) -> Result<impl Iterator<Item = &Timer<K, N>> + '_, StateError> {
        self.check_range(kg)?;
        Ok(self.iter().filter(move |t| t.key_ref.key_group == kg))
    }

    /// Drops every timer and releases the memory.
    pub fn clear_all(&mut self) {
        *self = Self::new(self.range);
    }

    /// Estimated bytes held (capacity based), not heap memory owned by keys
    /// or namespaces.
    pub fn approx_bytes(&self) -> usize {
        size_of::<Self>()
            + self.heap.capacity() * size_of::<Reverse<HeapItem>>()
            + self.slots.capacity() * size_of::<Option<TimerSlot<K, N>>>()
            + self.free_slots.capacity() * size_of::<u32>()
            + self.index.allocation_size()
    }

    /// Takes the slot a heap item points to, if the item is not a tombstone.
    fn take_live(&mut self, item: HeapItem) -> Option<TimerSlot<K, N>> {
        let cell = self.slots.get_mut(item.slot as usize)?;
        if cell.as_ref().is_some_and(|s| s.seq == item.seq) {
            cell.take()
        } else {
            None
        }
    }

    fn is_live(&self, item: &HeapItem) -> bool {
        self.slots
            .get(item.slot as usize)
            .and_then(Option::as_ref)
            .is_some_and(|s| s.seq == item.seq)
    }

    fn release(&mut self, slot_index: u32) {
        if let Some(cell) = self.slots.get_mut(slot_index as usize) {
            *cell = None;
            self.free_slots.push(slot_index);
        }
    }

    /// Restores the invariant that the heap's top is a live timer, and
    /// compacts the heap when tombstones pile up below it.
    fn drop_tombstones(&mut self) {
        while let Some(Reverse(top)) = self.heap.peek() {
            if self.is_live(top) {
                break;
            }
            self.heap.pop();
        }
        if self.heap.len() > COMPACT_MIN_ITEMS
            && self.heap.len() > TOMBSTONE_FACTOR * (self.index.len() + 1)
        {
            let slots = &self.slots;
            self.heap.retain(|Reverse(item)| {
                slots
                    .get(item.slot as usize)
                    .and_then(Option::as_ref)
                    .is_some_and(|s| s.seq == item.seq)
            });
        }
    }
}

impl<K, N> fmt::Debug for OldTimerQueue<K, N>
where
    K: Hash + Eq + Clone + 'static,
    N: Hash + Eq + Clone + 'static,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerQueue")
            .field("range", &self.range)
            .field("len", &self.len())
            .field("next_ts", &self.peek_ts())
            .finish_non_exhaustive()
    }
}
