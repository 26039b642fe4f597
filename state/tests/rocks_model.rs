//! Model-based tests of the RocksDB tables: the same random operations run
//! against a heap table (the model) and its RocksDB counterpart must give
//! the same results, errors (key groups outside the range) and final
//! contents, with and without TTL, time advancing between operations.

#![allow(clippy::unwrap_used)]

#[path = "support/rocks.rs"]
mod rocks_support;

use std::fmt::Debug;

use proptest::prelude::*;
use rocks_support::TempBackend;
use spate_state::rocks::{
    RocksAggregatingTable, RocksListTable, RocksMapTable, RocksReducingTable, RocksValueTable,
};
use spate_state::{
    AggregateFunction, AggregatingTable, KeyGroupRange, KeyRef, ListTable, MapTable, ReducingTable,
    StateError, StateTtl, TtlUpdate, TtlVisibility, ValueTable, key_group_range_for_subtask,
};

/// One random operation; each table interprets `kind` as one of its own
/// operations, with the other fields as arguments.
#[derive(Clone, Debug)]
struct Op {
    kind: u8,
    key: u64,
    ns: u8,
    value: u32,
    values: Vec<u32>,
    sources: Vec<u8>,
}

fn op(keys: u64) -> impl Strategy<Value = Op> {
    (
        any::<u8>(),
        0..keys,
        0u8..3,
        any::<u32>(),
        prop::collection::vec(any::<u32>(), 0..4),
        prop::collection::vec(0u8..3, 0..3),
    )
        .prop_map(|(kind, key, ns, value, values, sources)| Op {
            kind,
            key,
            ns,
            value,
            values,
            sources,
        })
}

fn ttl() -> impl Strategy<Value = Option<StateTtl>> {
    prop_oneof![
        1 => Just(None),
        3 => (1u64..40, any::<bool>(), any::<bool>()).prop_map(|(ms, on_read, show)| {
            let update = if on_read { TtlUpdate::OnReadAndWrite } else { TtlUpdate::OnCreateAndWrite };
            let visibility = if show {
                TtlVisibility::ReturnExpiredIfNotCleanedUp
            } else {
                TtlVisibility::NeverReturnExpired
            };
            Some(StateTtl::new(ms).with_update(update).with_visibility(visibility))
        }),
    ]
}

/// A max parallelism and the key groups of one of its subtasks.
fn subtask() -> impl Strategy<Value = (u16, KeyGroupRange)> {
    (prop_oneof![Just(1u16), Just(7), Just(128)], 1usize..4)
        .prop_flat_map(|(mp, par)| (Just(mp), Just(par), 0..par))
        .prop_map(|(mp, par, index)| (mp, key_group_range_for_subtask(mp, par, index)))
}

/// What the harnesses share: the max parallelism and the clock.
struct World {
    mp: u16,
    now_ms: i64,
}

impl World {
    fn new((mp, _): (u16, KeyGroupRange)) -> Self {
        Self { mp, now_ms: 0 }
    }

    fn kr(&self, key: u64) -> KeyRef {
        KeyRef::of(&key, self.mp)
    }

    /// Time moves on by 0..8 ms after each operation.
    fn tick(&mut self, op: &Op) {
        self.now_ms += i64::from(op.value % 8);
    }

    /// A cleanup examines every entry. Which expired entries a partial
    /// sweep removes depends on storage order, and that shows (in
    /// `remove_namespace_for_key`, in snapshots), so the model only compares
    /// full sweeps; `rocks_ttl.rs` tests the resuming partial sweep.
    const CLEANUP_ALL: usize = 1 << 20;
}

/// Asserts that both results agree (values, or the same error).
fn same<T: PartialEq + Debug>(op: &Op, heap: Result<T, StateError>, rocks: Result<T, StateError>) {
    assert_eq!(heap, rocks, "diverged on {op:?}");
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

fn increment(c: Option<&mut u32>) -> Option<u32> {
    match c {
        Some(c) => {
            *c = c.wrapping_add(1);
            None
        }
        None => Some(1),
    }
}

fn check_value(subtask: (u16, KeyGroupRange), ttl: Option<StateTtl>, ops: &[Op]) {
    let range = subtask.1;
    let db = TempBackend::new(range);
    let mut w = World::new(subtask);
    let mut heap: ValueTable<u64, u8, u32> = ValueTable::new(range, ttl);
    let mut rocks: RocksValueTable<u64, u8, u32> =
        RocksValueTable::open(&db.backend, "value", ttl).unwrap();
    for op in ops {
        let (k, n, v, now) = (op.key, op.ns, op.value, w.now_ms);
        let kr = w.kr(k);
        match op.kind % 9 {
            0 | 1 => same(op, heap.put(kr, k, n, v, now), rocks.put(kr, k, n, v, now)),
            2 => same(
                op,
                heap.get(kr, &k, &n, now).map(|v| v.copied()),
                rocks.get(kr, &k, &n, now),
            ),
            3 => same(
                op,
                heap.contains(kr, &k, &n, now),
                rocks.contains(kr, &k, &n, now),
            ),
            4 => same(
                op,
                heap.remove(kr, &k, &n, now),
                rocks.remove(kr, &k, &n, now),
            ),
            5 | 6 => same(
                op,
                heap.update(kr, &k, &n, now, increment),
                rocks.update(kr, &k, &n, now, increment),
            ),
            7 => same(
                op,
                heap.remove_namespace_for_key(kr, &k, &n),
                rocks.remove_namespace_for_key(kr, &k, &n),
            ),
            _ => {
                let removed = heap.cleanup_expired(now, World::CLEANUP_ALL);
                let rocks_removed = rocks.cleanup_expired(now, World::CLEANUP_ALL);
                assert_eq!(Ok(removed), rocks_removed, "{op:?}");
            }
        }
        w.tick(op);
    }
    for kg in range.iter() {
        let h: Vec<_> = heap
            .iter_key_group_with_expiry(kg)
            .unwrap()
            .map(|(k, n, v, e)| (*k, *n, *v, e))
            .collect();
        let r: Vec<_> = rocks
            .iter_key_group_with_expiry(kg)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(sorted(h), sorted(r), "key group {kg}");
    }
    rocks.clear_all().unwrap();
    heap.clear_all();
    assert!(
        range
            .iter()
            .all(|kg| rocks.iter_key_group(kg).unwrap().next().is_none())
    );
}

fn check_list(subtask: (u16, KeyGroupRange), ttl: Option<StateTtl>, ops: &[Op]) {
    let range = subtask.1;
    let db = TempBackend::new(range);
    let mut w = World::new(subtask);
    let mut heap: ListTable<u64, u8, u32> = ListTable::new(range, ttl);
    let mut rocks: RocksListTable<u64, u8, u32> =
        RocksListTable::open(&db.backend, "list", ttl).unwrap();
    for op in ops {
        let (k, n, v, now) = (op.key, op.ns, op.value, w.now_ms);
        let kr = w.kr(k);
        let many = op.values.clone();
        match op.kind % 10 {
            0 | 1 => same(
                op,
                heap.add(kr, &k, &n, v, now),
                rocks.add(kr, &k, &n, v, now),
            ),
            2 => same(
                op,
                heap.add_all(kr, &k, &n, many.clone(), now),
                rocks.add_all(kr, &k, &n, many, now),
            ),
            3 | 4 => same(
                op,
                heap.get(kr, &k, &n, now).map(|it| it.copied().collect()),
                rocks.get(kr, &k, &n, now),
            ),
            5 => same(
                op,
                heap.update(kr, &k, &n, many.clone(), now),
                rocks.update(kr, &k, &n, many, now),
            ),
            6 => same(op, heap.take(kr, &k, &n, now), rocks.take(kr, &k, &n, now)),
            7 => same(
                op,
                heap.remove_namespace_for_key(kr, &k, &n),
                rocks.remove_namespace_for_key(kr, &k, &n),
            ),
            8 => same(
                op,
                heap.merge_namespaces(kr, &k, &op.sources, &n, now),
                rocks.merge_namespaces(kr, &k, &op.sources, &n, now),
            ),
            _ => {
                let removed = heap.cleanup_expired(now, World::CLEANUP_ALL);
                let rocks_removed = rocks.cleanup_expired(now, World::CLEANUP_ALL);
                assert_eq!(Ok(removed), rocks_removed, "{op:?}");
            }
        }
        w.tick(op);
    }
    for kg in range.iter() {
        let mut h: Vec<_> = heap
            .iter_key_group_with_expiry(kg)
            .unwrap()
            .map(|(k, n, v, e)| (*k, *n, *v, e))
            .collect();
        let mut r: Vec<_> = rocks
            .iter_key_group_with_expiry(kg)
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        // Stable sorts by list: element order within a list must agree.
        h.sort_by_key(|e| (e.0, e.1));
        r.sort_by_key(|e| (e.0, e.1));
        assert_eq!(h, r, "key group {kg}");
    }
}

fn check_map(subtask: (u16, KeyGroupRange), ttl: Option<StateTtl>, ops: &[Op]) {
    let range = subtask.1;
    let db = TempBackend::new(range);
    let mut w = World::new(subtask);
    let mut heap: MapTable<u64, u8, u16, u32> = MapTable::new(range, ttl);
    let mut rocks: RocksMapTable<u64, u8, u16, u32> =
        RocksMapTable::open(&db.backend, "map", ttl).unwrap();
    for op in ops {
        let (k, n, v, now) = (op.key, op.ns, op.value, w.now_ms);
        let kr = w.kr(k);
        let uk = (v % 6) as u16;
        match op.kind % 11 {
            0 | 1 => same(
                op,
                heap.put(kr, &k, &n, uk, v, now),
                rocks.put(kr, &k, &n, uk, v, now),
            ),
            2 => {
                let entries: Vec<(u16, u32)> =
                    op.values.iter().map(|&x| ((x % 6) as u16, x)).collect();
                same(
                    op,
                    heap.put_all(kr, &k, &n, entries.clone(), now),
                    rocks.put_all(kr, &k, &n, entries, now),
                )
            }
            3 => same(
                op,
                heap.get(kr, &k, &n, &uk, now).map(|v| v.copied()),
                rocks.get(kr, &k, &n, &uk, now),
            ),
            4 => same(
                op,
                heap.contains(kr, &k, &n, &uk, now),
                rocks.contains(kr, &k, &n, &uk, now),
            ),
            5 => same(
                op,
                heap.remove(kr, &k, &n, &uk, now),
                rocks.remove(kr, &k, &n, &uk, now),
            ),
            6 => same(
                op,
                heap.iter(kr, &k, &n, now)
                    .map(|it| sorted(it.map(|(a, b)| (*a, *b)).collect())),
                rocks.iter(kr, &k, &n, now).map(|it| sorted(it.collect())),
            ),
            7 => same(
                op,
                heap.is_empty(kr, &k, &n, now),
                rocks.is_empty(kr, &k, &n, now),
            ),
            8 => same(op, heap.clear(kr, &k, &n), rocks.clear(kr, &k, &n)),
            9 => same(
                op,
                heap.remove_namespace_for_key(kr, &k, &n),
                rocks.remove_namespace_for_key(kr, &k, &n),
            ),
            _ => {
                let removed = heap.cleanup_expired(now, World::CLEANUP_ALL);
                let rocks_removed = rocks.cleanup_expired(now, World::CLEANUP_ALL);
                assert_eq!(Ok(removed), rocks_removed, "{op:?}");
            }
        }
        w.tick(op);
    }
    for kg in range.iter() {
        let h: Vec<_> = heap
            .iter_key_group_with_expiry(kg)
            .unwrap()
            .map(|(k, n, (uk, uv), e)| (*k, *n, *uk, *uv, e))
            .collect();
        let r: Vec<_> = rocks
            .iter_key_group_with_expiry(kg)
            .unwrap()
            .map(|e| e.map(|(k, n, (uk, uv), e)| (k, n, uk, uv, e)))
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(sorted(h), sorted(r), "key group {kg}");
    }
}

fn check_reducing(subtask: (u16, KeyGroupRange), ttl: Option<StateTtl>, ops: &[Op]) {
    let range = subtask.1;
    let db = TempBackend::new(range);
    let mut w = World::new(subtask);
    // Not commutative, so the fold order is checked too.
    let reduce = |a: &u32, b: &u32| a.wrapping_mul(31).wrapping_add(*b);
    let mut heap: ReducingTable<u64, u8, u32> = ReducingTable::new(range, ttl, reduce);
    let mut rocks: RocksReducingTable<u64, u8, u32> =
        RocksReducingTable::open(&db.backend, "reducing", ttl, reduce).unwrap();
    for op in ops {
        let (k, n, v, now) = (op.key, op.ns, op.value, w.now_ms);
        let kr = w.kr(k);
        match op.kind % 7 {
            0 | 1 => same(
                op,
                heap.add(kr, &k, &n, v, now),
                rocks.add(kr, &k, &n, v, now),
            ),
            2 => same(
                op,
                heap.get(kr, &k, &n, now).map(|v| v.copied()),
                rocks.get(kr, &k, &n, now),
            ),
            3 => same(op, heap.take(kr, &k, &n, now), rocks.take(kr, &k, &n, now)),
            4 => same(op, heap.clear(kr, &k, &n), rocks.clear(kr, &k, &n)),
            5 => same(
                op,
                heap.merge_namespaces(kr, &k, &op.sources, &n, now),
                rocks.merge_namespaces(kr, &k, &op.sources, &n, now),
            ),
            _ => {
                let removed = heap.cleanup_expired(now, World::CLEANUP_ALL);
                let rocks_removed = rocks.cleanup_expired(now, World::CLEANUP_ALL);
                assert_eq!(Ok(removed), rocks_removed, "{op:?}");
            }
        }
        w.tick(op);
    }
    for kg in range.iter() {
        let h: Vec<_> = heap
            .iter_key_group_with_expiry(kg)
            .unwrap()
            .map(|(k, n, v, e)| (*k, *n, *v, e))
            .collect();
        let r: Vec<_> = rocks
            .iter_key_group_with_expiry(kg)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(sorted(h), sorted(r), "key group {kg}");
    }
}

/// (count, sum) of the added values.
struct CountSum;

impl AggregateFunction for CountSum {
    type In = u32;
    type Acc = (u64, u64);
    type Out = u64;

    fn create_accumulator(&self) -> (u64, u64) {
        (0, 0)
    }
    fn add(&self, value: u32, acc: &mut (u64, u64)) {
        acc.0 += 1;
        acc.1 += u64::from(value);
    }
    fn get_result(&self, acc: &(u64, u64)) -> u64 {
        acc.1.checked_div(acc.0).unwrap_or(0)
    }
    fn merge(&self, a: (u64, u64), b: (u64, u64)) -> (u64, u64) {
        (a.0 + b.0, a.1 + b.1)
    }
}

fn check_aggregating(subtask: (u16, KeyGroupRange), ttl: Option<StateTtl>, ops: &[Op]) {
    let range = subtask.1;
    let db = TempBackend::new(range);
    let mut w = World::new(subtask);
    let mut heap: AggregatingTable<u64, u8, CountSum> = AggregatingTable::new(range, ttl, CountSum);
    let mut rocks: RocksAggregatingTable<u64, u8, CountSum> =
        RocksAggregatingTable::open(&db.backend, "aggregating", ttl, CountSum).unwrap();
    for op in ops {
        let (k, n, v, now) = (op.key, op.ns, op.value, w.now_ms);
        let kr = w.kr(k);
        let acc = (u64::from(v % 5), u64::from(v));
        match op.kind % 8 {
            0 | 1 => same(
                op,
                heap.add(kr, &k, &n, v, now),
                rocks.add(kr, &k, &n, v, now),
            ),
            2 => same(op, heap.get(kr, &k, &n, now), rocks.get(kr, &k, &n, now)),
            3 => same(
                op,
                heap.get_accumulator(kr, &k, &n, now).map(|a| a.copied()),
                rocks.get_accumulator(kr, &k, &n, now),
            ),
            4 => same(
                op,
                heap.put_accumulator(kr, k, n, acc, now),
                rocks.put_accumulator(kr, k, n, acc, now),
            ),
            5 => same(
                op,
                heap.take_accumulator(kr, &k, &n, now),
                rocks.take_accumulator(kr, &k, &n, now),
            ),
            6 => same(
                op,
                heap.merge_namespaces(kr, &k, &op.sources, &n, now),
                rocks.merge_namespaces(kr, &k, &op.sources, &n, now),
            ),
            _ => {
                let removed = heap.cleanup_expired(now, World::CLEANUP_ALL);
                let rocks_removed = rocks.cleanup_expired(now, World::CLEANUP_ALL);
                assert_eq!(Ok(removed), rocks_removed, "{op:?}");
            }
        }
        w.tick(op);
    }
    for kg in range.iter() {
        let h: Vec<_> = heap
            .iter_key_group_with_expiry(kg)
            .unwrap()
            .map(|(k, n, a, e)| (*k, *n, *a, e))
            .collect();
        let r: Vec<_> = rocks
            .iter_key_group_with_expiry(kg)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(sorted(h), sorted(r), "key group {kg}");
    }
}

proptest! {
    // Each case opens a RocksDB instance (tens of ms), so fewer cases than
    // the heap model tests, each with a long operation sequence.
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn value_table_matches_heap(subtask in subtask(), ttl in ttl(), ops in prop::collection::vec(op(40), 1..300)) {
        check_value(subtask, ttl, &ops);
    }

    #[test]
    fn list_table_matches_heap(subtask in subtask(), ttl in ttl(), ops in prop::collection::vec(op(24), 1..300)) {
        check_list(subtask, ttl, &ops);
    }

    #[test]
    fn map_table_matches_heap(subtask in subtask(), ttl in ttl(), ops in prop::collection::vec(op(24), 1..300)) {
        check_map(subtask, ttl, &ops);
    }

    #[test]
    fn reducing_table_matches_heap(subtask in subtask(), ttl in ttl(), ops in prop::collection::vec(op(24), 1..300)) {
        check_reducing(subtask, ttl, &ops);
    }

    #[test]
    fn aggregating_table_matches_heap(subtask in subtask(), ttl in ttl(), ops in prop::collection::vec(op(24), 1..300)) {
        check_aggregating(subtask, ttl, &ops);
    }
}
