//! Timer queues (Flink's `InternalTimerService`): one for event time, one
//! for processing time, per keyed operator subtask.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fmt;
use std::hash::Hash;

use crate::error::StateError;
use crate::hash::namespace_hash;
use crate::key_group::{KeyGroup, KeyGroupRange, KeyRef};

mod bucket;

use bucket::{BTREE_SLACK, Bucket, SEQ_LIMIT, TimerSlot};

/// A timer: fire for `key` in namespace `ns` at `timestamp_ms`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timer<K, N> {
    /// When the timer is due.
    pub timestamp_ms: i64,
    /// The key's hash and key group, so firing needs no rehash.
    pub key_ref: KeyRef,
    /// The key the timer belongs to.
    pub key: K,
    /// The namespace (window) the timer belongs to.
    pub ns: N,
}

/// A deduplicated priority queue of timers.
///
/// Timers fire in the order (timestamp, key hash, namespace hash,
/// registration order), so firing order is deterministic across runs.
/// Registering an existing (timestamp, key, namespace) timer again keeps the
/// one timer and its original place. [`len`](Self::len) is exact and
/// [`peek_ts`](Self::peek_ts) never reports a deleted timer.
///
/// Timers are bucketed by timestamp, which suits the window case, where
/// millions of timers share a few timestamps (window ends): registering
/// costs an ordered-map lookup among the distinct timestamps and one hash
/// probe into the bucket, and once a timestamp is due its timers are sorted
/// once and then fired in O(1) each, instead of each paying an O(log n)
/// priority-queue pop.
#[derive(Clone)]
pub struct TimerQueue<K, N> {
    range: KeyGroupRange,
    /// The live timers by timestamp; every bucket holds at least one.
    buckets: BTreeMap<i64, Bucket<K, N>>,
    /// Live timers over all buckets.
    len: usize,
    next_seq: u64,
    /// Where the last timer registered (or found registered) sits: its
    /// timestamp and its position in its bucket. A hint only, checked
    /// against the full (timestamp, key, namespace) before use; it makes the
    /// common immediate re-registration (a window's trigger timer, then its
    /// cleanup timer at the same time) skip hashing and probing.
    last: Option<(i64, usize)>,
}

impl<K, N> TimerQueue<K, N>
where
    K: Hash + Eq + Clone + 'static,
    N: Hash + Eq + Clone + 'static,
{
    /// An empty queue for keys in the key groups of `range`.
    pub fn new(range: KeyGroupRange) -> Self {
        Self {
            range,
            buckets: BTreeMap::new(),
            len: 0,
            next_seq: 0,
            last: None,
        }
    }

    /// The key groups whose timers this queue holds.
    pub fn range(&self) -> KeyGroupRange {
        self.range
    }

    fn check_range(&self, kg: KeyGroup) -> Result<(), StateError> {
        self.range.offset_of(kg).map(drop)
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
        if let Some((ts, at)) = self.last
            && ts == timestamp_ms
            && self
                .buckets
                .get(&ts)
                .is_some_and(|b| b.holds_at(at, kr.hash, key, ns))
        {
            return Ok(false);
        }
        let seq = self.next_seq;
        if seq >= SEQ_LIMIT {
            return Err(StateError::Internal {
                reason: "timer registration counter exhausted".to_owned(),
            });
        }
        let ns_hash = namespace_hash(ns);
        let make = || TimerSlot {
            timer: Timer {
                timestamp_ms,
                key_ref: kr,
                key: key.clone(),
                ns: ns.clone(),
            },
            ns_hash,
            seq,
        };
        let (added, at) = match self.buckets.entry(timestamp_ms) {
            Entry::Vacant(vacant) => {
                vacant.insert(Bucket::new(make()));
                (true, Some(0))
            }
            Entry::Occupied(mut bucket) => bucket
                .get_mut()
                .insert_if_absent(kr.hash, ns_hash, key, ns, make)?,
        };
        self.last = at.map(|at| (timestamp_ms, at));
        if added {
            self.next_seq += 1;
            self.len += 1;
        }
        Ok(added)
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
        let Entry::Occupied(mut bucket) = self.buckets.entry(timestamp_ms) else {
            return Ok(false);
        };
        if !bucket
            .get_mut()
            .delete(kr.hash, namespace_hash(ns), key, ns)
        {
            return Ok(false);
        }
        if bucket.get().is_empty() {
            bucket.remove();
        }
        self.len -= 1;
        Ok(true)
    }

    /// The timestamp of the next timer to fire.
    pub fn peek_ts(&self) -> Option<i64> {
        self.buckets.first_key_value().map(|(ts, _)| *ts)
    }

    /// Removes and returns the next timer if it is due at `up_to_ts`
    /// (timestamp <= `up_to_ts`, as Flink fires timers up to the watermark).
    pub fn pop_due(&mut self, up_to_ts: i64) -> Option<Timer<K, N>> {
        loop {
            let mut bucket = self.buckets.first_entry()?;
            if *bucket.key() > up_to_ts {
                return None;
            }
            let slot = bucket.get_mut().pop_first();
            if bucket.get().is_empty() {
                bucket.remove();
            }
            // Buckets are never empty, so a bucket always yields a timer.
            if let Some(slot) = slot {
                self.len -= 1;
                return Some(slot.timer);
            }
        }
    }

    /// Number of registered timers.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no timer is registered.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every registered timer, in no particular order (for snapshots).
    pub fn iter(&self) -> impl Iterator<Item = &Timer<K, N>> + '_ {
        self.buckets
            .values()
            .flat_map(Bucket::iter)
            .map(|slot| &slot.timer)
    }

    /// Every registered timer with its registration number (timers due at
    /// the same time fire in that order), for snapshots.
    pub fn iter_with_order(&self) -> impl Iterator<Item = (&Timer<K, N>, u64)> + '_ {
        self.buckets
            .values()
            .flat_map(Bucket::iter)
            .map(|slot| (&slot.timer, slot.seq & (SEQ_LIMIT - 1)))
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
    /// or namespaces. Walks the buckets: O(distinct timestamps).
    pub fn approx_bytes(&self) -> usize {
        let per_bucket = BTREE_SLACK * (size_of::<i64>() + size_of::<Bucket<K, N>>());
        size_of::<Self>()
            + self
                .buckets
                .values()
                .map(|b| per_bucket + b.heap_bytes())
                .sum::<usize>()
    }
}

impl<K, N> fmt::Debug for TimerQueue<K, N>
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

#[cfg(test)]
mod tests {
    use super::bucket::SMALL_MAX;
    use super::*;

    const MP: u16 = 128;

    fn kr(k: u64) -> KeyRef {
        KeyRef::of(&k, MP)
    }

    fn queue() -> TimerQueue<u64, u32> {
        TimerQueue::new(KeyGroupRange::all(MP))
    }

    fn drain(q: &mut TimerQueue<u64, u32>, up_to: i64) -> Vec<(i64, u64, u32)> {
        std::iter::from_fn(|| q.pop_due(up_to))
            .map(|t| (t.timestamp_ms, t.key, t.ns))
            .collect()
    }

    #[test]
    fn fires_in_timestamp_order_up_to_inclusive_bound() {
        let mut q = queue();
        for (k, ts) in [(1u64, 30i64), (2, 10), (3, 20), (4, 40)] {
            assert!(q.register(kr(k), &k, &0, ts).unwrap());
        }
        assert_eq!(q.peek_ts(), Some(10));
        assert_eq!(drain(&mut q, 30), vec![(10, 2, 0), (20, 3, 0), (30, 1, 0)]);
        assert_eq!(q.pop_due(39), None);
        assert_eq!(q.len(), 1);
        assert_eq!(drain(&mut q, i64::MAX), vec![(40, 4, 0)]);
        assert!(q.is_empty());
        assert_eq!(q.peek_ts(), None);
    }

    #[test]
    fn equal_timestamps_fire_by_key_hash_then_ns_hash() {
        let mut q = queue();
        let keys: Vec<u64> = (0..50).collect();
        for &k in keys.iter().rev() {
            for ns in [3u32, 1, 2] {
                q.register(kr(k), &k, &ns, 100).unwrap();
            }
        }
        let fired = drain(&mut q, 100);
        let mut expected: Vec<_> = keys
            .iter()
            .flat_map(|&k| [1u32, 2, 3].map(|ns| (100, k, ns)))
            .collect();
        expected.sort_by_key(|&(_, k, ns)| (kr(k).hash, namespace_hash(&ns)));
        assert_eq!(fired, expected);
    }

    #[test]
    fn full_ties_fire_in_registration_order() {
        // A unit namespace and the same key hash leave only registration
        // order: use keys that are distinct but share a KeyRef on purpose.
        let mut q: TimerQueue<&str, ()> = TimerQueue::new(KeyGroupRange::all(MP));
        let shared = KeyRef {
            hash: 42,
            key_group: 0,
        };
        for key in ["c", "a", "b"] {
            q.register(shared, &key, &(), 5).unwrap();
        }
        let order: Vec<_> = std::iter::from_fn(|| q.pop_due(5)).map(|t| t.key).collect();
        assert_eq!(order, ["c", "a", "b"]);
    }

    #[test]
    fn duplicate_registration_keeps_one_timer() {
        let mut q = queue();
        assert!(q.register(kr(1), &1, &7, 10).unwrap());
        assert!(!q.register(kr(1), &1, &7, 10).unwrap());
        assert!(q.register(kr(1), &1, &8, 10).unwrap());
        assert!(q.register(kr(1), &1, &7, 11).unwrap());
        assert_eq!(q.len(), 3);
        assert_eq!(drain(&mut q, 100).len(), 3);
        // Once fired, the same timer can be registered again.
        assert!(q.register(kr(1), &1, &7, 10).unwrap());
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn delete_is_exact_and_never_fires() {
        let mut q = queue();
        for ts in 0..10 {
            q.register(kr(1), &1, &0, ts).unwrap();
        }
        assert!(q.delete(kr(1), &1, &0, 0).unwrap());
        assert!(q.delete(kr(1), &1, &0, 5).unwrap());
        assert!(!q.delete(kr(1), &1, &0, 5).unwrap());
        assert!(!q.delete(kr(2), &2, &0, 1).unwrap());
        assert_eq!(q.len(), 8);
        assert_eq!(q.peek_ts(), Some(1), "peek skips the deleted head");
        let fired: Vec<_> = drain(&mut q, 100).into_iter().map(|t| t.0).collect();
        assert_eq!(fired, vec![1, 2, 3, 4, 6, 7, 8, 9]);
    }

    #[test]
    fn reregistering_a_deleted_timer_fires_once_in_new_order() {
        let mut q = queue();
        q.register(kr(1), &1, &0, 10).unwrap();
        q.register(kr(2), &2, &0, 10).unwrap();
        q.delete(kr(1), &1, &0, 10).unwrap();
        q.register(kr(1), &1, &0, 10).unwrap();
        assert_eq!(q.len(), 2);
        let fired = drain(&mut q, 10);
        assert_eq!(fired.len(), 2, "the tombstone must not fire: {fired:?}");
    }

    #[test]
    fn deleted_timers_release_their_buckets() {
        let mut q = queue();
        for round in 0..20i64 {
            for k in 0..1_000u64 {
                q.register(kr(k), &k, &0, 1_000 + round).unwrap();
            }
            for k in 0..1_000u64 {
                q.delete(kr(k), &k, &0, 1_000 + round).unwrap();
            }
        }
        q.register(kr(1), &1, &0, 5).unwrap();
        assert_eq!(q.len(), 1);
        assert_eq!(q.buckets.len(), 1);
        assert_eq!(drain(&mut q, i64::MAX), vec![(5, 1, 0)]);
        assert!(q.buckets.is_empty());
    }

    #[test]
    fn out_of_range_key_group_is_an_error() {
        let range = KeyGroupRange::new(0, 1).unwrap();
        let mut q: TimerQueue<u64, u32> = TimerQueue::new(range);
        let k = (0..).find(|k| kr(*k).key_group != 0).unwrap();
        assert!(matches!(
            q.register(kr(k), &k, &0, 1),
            Err(StateError::KeyGroupOutOfRange { .. })
        ));
        assert!(q.delete(kr(k), &k, &0, 1).is_err());
        assert!(q.iter_key_group(3).is_err());
    }

    #[test]
    fn iter_key_group_lists_live_timers() {
        let mut q = queue();
        for k in 0..200u64 {
            q.register(kr(k), &k, &0, 1).unwrap();
        }
        q.delete(kr(0), &0, &0, 1).unwrap();
        let total: usize = (0..MP)
            .map(|kg| q.iter_key_group(kg).unwrap().count())
            .sum();
        assert_eq!(total, 199);
        let kg = kr(5).key_group;
        assert!(
            q.iter_key_group(kg)
                .unwrap()
                .all(|t| t.key_ref.key_group == kg)
        );
        assert!(q.approx_bytes() > 199 * size_of::<Timer<u64, u32>>());
        q.clear_all();
        assert!(q.is_empty());
        assert_eq!(q.peek_ts(), None);
    }

    /// Timer sizes that cover each bucket shape: small, hashed, and their
    /// thresholds.
    const SIZES: [usize; 6] = [1, 2, SMALL_MAX, SMALL_MAX + 1, 3 * SMALL_MAX, 500];

    #[test]
    fn ordering_within_a_timestamp_for_every_bucket_shape() {
        for n in SIZES {
            let mut q = queue();
            let mut expected = Vec::new();
            // Scrambled registration order, two namespaces per key, and
            // neighbouring timestamps to keep apart.
            for i in 0..n as u64 {
                let k = (i * 7_919) % (n as u64);
                for ns in [2u32, 1] {
                    assert!(q.register(kr(k), &k, &ns, 50).unwrap());
                    expected.push((50, k, ns));
                }
                q.register(kr(k), &k, &0, 49 + 2 * (k as i64 % 2)).unwrap();
            }
            assert_eq!(q.len(), 3 * n);
            let _ = drain(&mut q, 49);
            expected.sort_by_key(|&(_, k, ns)| (kr(k).hash, namespace_hash(&ns)));
            assert_eq!(drain(&mut q, 50), expected, "{n} keys");
            assert!(q.iter().all(|t| t.timestamp_ms == 51));
        }
    }

    /// A tiny reference: the firing order the old binary heap produced.
    #[derive(Default)]
    struct Model {
        live: std::collections::BTreeMap<(i64, u64, u64, u64), (u64, u32)>,
        seq: u64,
    }

    impl Model {
        fn register(&mut self, k: u64, ns: u32, ts: i64) -> bool {
            let exists = self.live.iter().any(|(o, v)| o.0 == ts && *v == (k, ns));
            if !exists {
                self.live
                    .insert((ts, kr(k).hash, namespace_hash(&ns), self.seq), (k, ns));
                self.seq += 1;
            }
            !exists
        }

        fn pop_due(&mut self, up_to: i64) -> Option<(i64, u64, u32)> {
            let (&o, _) = self.live.first_key_value()?;
            if o.0 > up_to {
                return None;
            }
            self.live.remove(&o).map(|(k, ns)| (o.0, k, ns))
        }
    }

    #[test]
    fn registrations_while_firing_keep_the_global_order() {
        for n in SIZES {
            let mut q = queue();
            let mut m = Model::default();
            for k in 0..n as u64 {
                assert!(q.register(kr(k), &k, &0, 10).unwrap());
                m.register(k, 0, 10);
            }
            let mut fired = 0;
            while let Some(t) = q.pop_due(10) {
                assert_eq!(Some((t.timestamp_ms, t.key, t.ns)), m.pop_due(10));
                fired += 1;
                // As a firing callback would: the same timer again, another
                // namespace of the key, another key, and a timer in the past.
                if fired < 3 * n {
                    for (k, ns, ts) in [
                        (t.key, t.ns, 10),
                        (t.key, t.ns + 1, 10),
                        (t.key + 1_000, 0, 10),
                        (t.key + 2_000, 0, 9),
                    ] {
                        if ns < 3 {
                            assert_eq!(
                                q.register(kr(k), &k, &ns, ts).unwrap(),
                                m.register(k, ns, ts)
                            );
                        }
                    }
                }
                assert_eq!(q.len(), m.live.len());
                assert_eq!(q.peek_ts(), m.live.first_key_value().map(|(o, _)| o.0));
            }
            assert_eq!(m.pop_due(10), None);
            assert!(q.is_empty());
        }
    }

    #[test]
    fn dedup_is_per_timestamp_in_every_bucket_shape() {
        for n in SIZES {
            let mut q = queue();
            for ts in [1i64, 2, 3] {
                for k in 0..n as u64 {
                    assert!(q.register(kr(k), &k, &0, ts).unwrap());
                }
            }
            // Timestamp 1 firing (sorted), 2 and 3 still waiting.
            assert_eq!(q.pop_due(1).map(|t| t.timestamp_ms), Some(1));
            let mut fresh = 0;
            for ts in [1i64, 2, 3] {
                for k in 0..n as u64 {
                    fresh += usize::from(q.register(kr(k), &k, &0, ts).unwrap());
                }
            }
            assert_eq!(fresh, 1, "only the fired timer is new again");
            assert_eq!(q.len(), 3 * n);
            let count =
                |q: &TimerQueue<u64, u32>, ts| q.iter().filter(|t| t.timestamp_ms == ts).count();
            assert_eq!((count(&q, 1), count(&q, 2), count(&q, 3)), (n, n, n));
            let fired = drain(&mut q, 3);
            assert_eq!(fired.len(), 3 * n);
            assert!(fired.windows(2).all(|w| w[0].0 <= w[1].0));
        }
    }

    /// Registers `a`, `b`, `c` with one shared key hash at 5 (so only
    /// registration order tells them apart) after `pad` other timers there,
    /// and fires the first of those if `firing`.
    fn full_ties(pad: usize, firing: bool) -> TimerQueue<&'static str, ()> {
        let mut q = TimerQueue::new(KeyGroupRange::all(MP));
        let shared = KeyRef {
            hash: u64::MAX / 2,
            key_group: 0,
        };
        for i in 0..pad as u64 {
            let pad_ref = KeyRef {
                hash: i,
                key_group: 0,
            };
            q.register(pad_ref, &"pad", &(), 5).unwrap();
        }
        for key in ["a", "b", "c"] {
            q.register(shared, &key, &(), 5).unwrap();
        }
        if firing {
            assert_eq!(q.pop_due(5).map(|t| t.key), Some("pad"));
        }
        q
    }

    #[test]
    fn delete_then_reregister_moves_the_timer_to_the_back_of_its_ties() {
        let shared = KeyRef {
            hash: u64::MAX / 2,
            key_group: 0,
        };
        for (pad, firing) in [
            (0, false),
            (1, true),
            (SMALL_MAX, false),
            (40, false),
            (40, true),
        ] {
            let mut q = full_ties(pad, firing);
            let len = q.len();
            assert!(q.delete(shared, &"a", &(), 5).unwrap());
            assert!(!q.delete(shared, &"a", &(), 5).unwrap());
            assert_eq!(q.len(), len - 1);
            assert!(q.register(shared, &"a", &(), 5).unwrap());
            assert!(!q.register(shared, &"a", &(), 5).unwrap());
            assert_eq!(q.len(), len);
            let keys: Vec<_> = std::iter::from_fn(|| q.pop_due(5))
                .map(|t| t.key)
                .filter(|k| *k != "pad")
                .collect();
            assert_eq!(keys, ["b", "c", "a"], "pad {pad}, firing {firing}");
        }
    }

    #[test]
    fn peek_never_reports_a_deleted_timer() {
        for n in SIZES {
            let mut q = queue();
            for k in 0..n as u64 {
                q.register(kr(k), &k, &0, 10).unwrap();
                q.register(kr(k), &k, &0, 20).unwrap();
            }
            q.register(kr(0), &0, &0, 30).unwrap();
            // Firing 10 has begun: delete the rest of it from the sorted run.
            let first = q.pop_due(10).unwrap();
            for k in 0..n as u64 {
                assert_eq!(q.delete(kr(k), &k, &0, 10).unwrap(), k != first.key);
            }
            assert_eq!(q.peek_ts(), Some(20), "{n} keys");
            assert_eq!(q.pop_due(15), None);
            // Waiting bucket 20: delete all of it.
            for k in 0..n as u64 {
                assert!(q.delete(kr(k), &k, &0, 20).unwrap());
            }
            assert_eq!(q.peek_ts(), Some(30));
            assert_eq!(q.len(), 1);
            assert!(q.delete(kr(0), &0, &0, 30).unwrap());
            assert_eq!(q.peek_ts(), None);
            assert!(q.is_empty());
            assert_eq!(q.pop_due(i64::MAX), None);
        }
    }

    #[test]
    fn sorted_bucket_tombstones_are_compacted() {
        let mut q = queue();
        for k in 0..5_000u64 {
            q.register(kr(k), &k, &0, 1).unwrap();
        }
        let first = q.pop_due(1).unwrap();
        let mut live = 0;
        for k in 0..5_000u64 {
            if k != first.key && !k.is_multiple_of(10) && !q.delete(kr(k), &k, &0, 1).unwrap() {
                live += 1;
            }
        }
        assert_eq!(live, 0);
        assert_eq!(
            q.len(),
            5_000 / 10 - usize::from(first.key.is_multiple_of(10))
        );
        let bucket = q.buckets.get(&1).unwrap();
        assert!(bucket.stored() < 2 * 1_024, "stored {}", bucket.stored());
        let len = q.len();
        let fired = drain(&mut q, 1);
        assert_eq!(fired.len(), len);
        assert!(fired.iter().all(|t| t.1.is_multiple_of(10)));
        assert!(fired.windows(2).all(|w| kr(w[0].1).hash < kr(w[1].1).hash));
    }

    #[test]
    fn a_stale_position_hint_is_never_trusted() {
        let mut q = queue();
        for k in 0..3u64 {
            q.register(kr(k), &k, &0, 7).unwrap();
        }
        // The hint points at key 2; deleting key 0 moves key 2 into its place
        // and deleting key 2 leaves the hinted position empty or taken.
        assert!(!q.register(kr(2), &2, &0, 7).unwrap());
        assert!(q.delete(kr(0), &0, &0, 7).unwrap());
        assert!(!q.register(kr(2), &2, &0, 7).unwrap());
        assert!(q.delete(kr(2), &2, &0, 7).unwrap());
        assert!(q.register(kr(2), &2, &0, 7).unwrap());
        assert!(!q.register(kr(2), &2, &0, 7).unwrap());
        // Fired, then registered again: new each time.
        assert_eq!(q.len(), 2);
        assert_eq!(drain(&mut q, 7).len(), 2);
        assert!(q.register(kr(2), &2, &0, 7).unwrap());
        assert!(!q.register(kr(2), &2, &0, 7).unwrap());
        // Same key, other namespace or time, at a hinted position.
        assert!(q.register(kr(2), &2, &1, 7).unwrap());
        assert!(q.register(kr(2), &2, &1, 8).unwrap());
        assert_eq!(q.len(), 3);
    }
}
