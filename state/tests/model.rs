//! Model-based tests: the tables must behave like `std::collections::HashMap`
//! models under random operation sequences, including key groups outside
//! the table's range.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::hash::Hash;

use proptest::prelude::*;
use spate_state::{
    KeyGroupRange, KeyRef, MapTable, StateError, StateTtl, ValueTable, key_group_of_hash,
    key_group_range_for_subtask, stable_hash,
};

#[derive(Clone, Debug)]
enum ValueOp {
    Put(u64, u8, u32),
    Get(u64, u8),
    GetMut(u64, u8, u32),
    Remove(u64, u8),
    Increment(u64, u8),
    GetOrInsert(u64, u8, u32),
    RemoveNamespace(u64, u8),
    ClearAll,
}

fn value_op(keys: u64) -> impl Strategy<Value = ValueOp> {
    let k = 0..keys;
    let ns = 0u8..4;
    prop_oneof![
        4 => (k.clone(), ns.clone(), any::<u32>()).prop_map(|(k, n, v)| ValueOp::Put(k, n, v)),
        3 => (k.clone(), ns.clone()).prop_map(|(k, n)| ValueOp::Get(k, n)),
        2 => (k.clone(), ns.clone(), any::<u32>()).prop_map(|(k, n, v)| ValueOp::GetMut(k, n, v)),
        2 => (k.clone(), ns.clone()).prop_map(|(k, n)| ValueOp::Remove(k, n)),
        4 => (k.clone(), ns.clone()).prop_map(|(k, n)| ValueOp::Increment(k, n)),
        2 => (k.clone(), ns.clone(), any::<u32>()).prop_map(|(k, n, v)| ValueOp::GetOrInsert(k, n, v)),
        1 => (k, ns).prop_map(|(k, n)| ValueOp::RemoveNamespace(k, n)),
        1 => Just(ValueOp::ClearAll),
    ]
}

/// A table for subtask `index` of `parallelism` and a model of what it holds.
struct Harness<N> {
    mp: u16,
    range: KeyGroupRange,
    table: ValueTable<u64, N, u32>,
    model: HashMap<(u64, N), u32>,
}

impl<N: Hash + Eq + Clone + std::fmt::Debug + 'static> Harness<N> {
    fn new(mp: u16, parallelism: usize, index: usize) -> Self {
        let range = key_group_range_for_subtask(mp, parallelism, index);
        Self {
            mp,
            range,
            table: ValueTable::new(range, None),
            model: HashMap::new(),
        }
    }

    /// Runs `op` against the table; `None` when the key is not owned (the
    /// call must then fail with `KeyGroupOutOfRange` and change nothing).
    fn check<T: PartialEq + std::fmt::Debug>(
        &self,
        kr: KeyRef,
        got: Result<T, StateError>,
        expected: impl FnOnce() -> T,
    ) -> Option<()> {
        if self.range.contains(kr.key_group) {
            assert_eq!(got, Ok(expected()));
            Some(())
        } else {
            assert_eq!(
                got,
                Err(StateError::KeyGroupOutOfRange {
                    key_group: kr.key_group,
                    range: self.range
                })
            );
            None
        }
    }

    fn apply(&mut self, op: &ValueOp, ns_of: impl Fn(u8) -> N) {
        let kr = |k: u64| KeyRef::of(&k, self.mp);
        match *op {
            ValueOp::Put(k, n, v) => {
                let r = self.table.put(kr(k), k, ns_of(n), v, 0);
                if self.check(kr(k), r, || ()).is_some() {
                    self.model.insert((k, ns_of(n)), v);
                }
            }
            ValueOp::Get(k, n) => {
                let got = self.table.get(kr(k), &k, &ns_of(n), 0).map(|v| v.copied());
                let model = self.model.get(&(k, ns_of(n))).copied();
                self.check(kr(k), got, || model);
            }
            ValueOp::GetMut(k, n, v) => {
                let got = self.table.get_mut(kr(k), &k, &ns_of(n), 0).map(|slot| {
                    slot.map(|s| {
                        let old = *s;
                        *s = v;
                        old
                    })
                });
                let old = self.model.get(&(k, ns_of(n))).copied();
                if self.check(kr(k), got, || old).is_some() && old.is_some() {
                    self.model.insert((k, ns_of(n)), v);
                }
            }
            ValueOp::Remove(k, n) => {
                let got = self.table.remove(kr(k), &k, &ns_of(n), 0);
                let old = self.model.get(&(k, ns_of(n))).copied();
                if self.check(kr(k), got, || old).is_some() {
                    self.model.remove(&(k, ns_of(n)));
                }
            }
            ValueOp::Increment(k, n) => {
                let got = self.table.update(kr(k), &k, &ns_of(n), 0, |c| match c {
                    Some(c) => {
                        *c = c.wrapping_add(1);
                        None
                    }
                    None => Some(1),
                });
                if self.check(kr(k), got, || ()).is_some() {
                    let e = self.model.entry((k, ns_of(n))).or_insert(0);
                    *e = e.wrapping_add(1);
                }
            }
            ValueOp::GetOrInsert(k, n, v) => {
                let got = self
                    .table
                    .get_or_insert_with(kr(k), &k, &ns_of(n), 0, || v)
                    .map(|s| *s);
                let expected = *self.model.get(&(k, ns_of(n))).unwrap_or(&v);
                if self.check(kr(k), got, || expected).is_some() {
                    self.model.insert((k, ns_of(n)), expected);
                }
            }
            ValueOp::RemoveNamespace(k, n) => {
                let got = self.table.remove_namespace_for_key(kr(k), &k, &ns_of(n));
                let existed = self.model.contains_key(&(k, ns_of(n)));
                if self.check(kr(k), got, || existed).is_some() {
                    self.model.remove(&(k, ns_of(n)));
                }
            }
            ValueOp::ClearAll => {
                self.table.clear_all();
                self.model.clear();
            }
        }
        assert_eq!(self.table.len(), self.model.len());
    }

    fn assert_contents(&self) {
        let mut seen = HashMap::new();
        for kg in self.range.iter() {
            for (k, n, v) in self.table.iter_key_group(kg).expect("owned key group") {
                assert_eq!(KeyRef::of(k, self.mp).key_group, kg);
                assert!(
                    seen.insert((*k, n.clone()), *v).is_none(),
                    "duplicate entry"
                );
            }
        }
        assert_eq!(seen, self.model);
    }
}

fn subtask() -> impl Strategy<Value = (u16, usize, usize)> {
    (prop_oneof![Just(1u16), Just(7), Just(128)], 1usize..4)
        .prop_flat_map(|(mp, par)| (Just(mp), Just(par), 0..par))
}

proptest! {
    #[test]
    fn value_table_matches_model_with_namespaces(
        (mp, par, index) in subtask(),
        ops in prop::collection::vec(value_op(48), 1..400),
    ) {
        let mut h = Harness::<u8>::new(mp, par, index);
        for op in &ops {
            h.apply(op, |n| n);
        }
        h.assert_contents();
    }

    #[test]
    fn value_table_matches_model_without_namespaces(
        (mp, par, index) in subtask(),
        ops in prop::collection::vec(value_op(2_000), 1..600),
    ) {
        let mut h = Harness::<()>::new(mp, par, index);
        for op in &ops {
            h.apply(op, |_| ());
        }
        h.assert_contents();
    }
}

#[derive(Clone, Debug)]
enum TtlOp {
    Advance(i64),
    Put(u64, u32),
    Get(u64),
    Increment(u64),
    Remove(u64),
    Cleanup(usize),
}

fn ttl_op() -> impl Strategy<Value = TtlOp> {
    let k = 0u64..32;
    prop_oneof![
        2 => (0i64..60).prop_map(TtlOp::Advance),
        3 => (k.clone(), any::<u32>()).prop_map(|(k, v)| TtlOp::Put(k, v)),
        3 => k.clone().prop_map(TtlOp::Get),
        3 => k.clone().prop_map(TtlOp::Increment),
        1 => k.prop_map(TtlOp::Remove),
        1 => (0usize..20).prop_map(TtlOp::Cleanup),
    ]
}

proptest! {
    /// NeverReturnExpired + OnCreateAndWrite against a model of
    /// (value, expires_at): visible iff expires_at > now.
    #[test]
    fn ttl_value_table_matches_model(ops in prop::collection::vec(ttl_op(), 1..400)) {
        const TTL_MS: i64 = 100;
        let range = KeyGroupRange::all(16);
        let mut table: ValueTable<u64, (), u32> = ValueTable::new(range, Some(StateTtl::new(100)));
        let mut model: HashMap<u64, (u32, i64)> = HashMap::new();
        let mut now = 0i64;
        let kr = |k: u64| KeyRef::of(&k, 16);
        let visible = |m: &HashMap<u64, (u32, i64)>, k: u64, now: i64| {
            m.get(&k).filter(|(_, exp)| *exp > now).map(|(v, _)| *v)
        };
        for op in &ops {
            match *op {
                TtlOp::Advance(d) => now += d,
                TtlOp::Put(k, v) => {
                    table.put(kr(k), k, (), v, now).unwrap();
                    model.insert(k, (v, now + TTL_MS));
                }
                TtlOp::Get(k) => {
                    prop_assert_eq!(table.get(kr(k), &k, &(), now).unwrap().copied(), visible(&model, k, now));
                }
                TtlOp::Increment(k) => {
                    table.update(kr(k), &k, &(), now, |c| match c {
                        Some(c) => { *c = c.wrapping_add(1); None }
                        None => Some(1),
                    }).unwrap();
                    let next = visible(&model, k, now).map_or(1, |v| v.wrapping_add(1));
                    model.insert(k, (next, now + TTL_MS));
                }
                TtlOp::Remove(k) => {
                    prop_assert_eq!(table.remove(kr(k), &k, &(), now).unwrap(), visible(&model, k, now));
                    model.remove(&k);
                }
                TtlOp::Cleanup(budget) => {
                    let removed = table.cleanup_expired(now, budget);
                    prop_assert!(removed <= budget);
                }
            }
            prop_assert!(table.len() <= model.len());
        }
        for k in 0..32u64 {
            prop_assert_eq!(table.get(kr(k), &k, &(), now).unwrap().copied(), visible(&model, k, now));
        }
    }
}

#[derive(Clone, Debug)]
enum MapOp {
    Put(u64, u8, u16, u32),
    Get(u64, u8, u16),
    Contains(u64, u8, u16),
    Remove(u64, u8, u16),
    Iter(u64, u8),
    IsEmpty(u64, u8),
    Clear(u64, u8),
}

fn map_op() -> impl Strategy<Value = MapOp> {
    let k = 0u64..24;
    let ns = 0u8..3;
    let uk = 0u16..12;
    prop_oneof![
        4 => (k.clone(), ns.clone(), uk.clone(), any::<u32>()).prop_map(|(k, n, u, v)| MapOp::Put(k, n, u, v)),
        2 => (k.clone(), ns.clone(), uk.clone()).prop_map(|(k, n, u)| MapOp::Get(k, n, u)),
        1 => (k.clone(), ns.clone(), uk.clone()).prop_map(|(k, n, u)| MapOp::Contains(k, n, u)),
        3 => (k.clone(), ns.clone(), uk).prop_map(|(k, n, u)| MapOp::Remove(k, n, u)),
        1 => (k.clone(), ns.clone()).prop_map(|(k, n)| MapOp::Iter(k, n)),
        1 => (k.clone(), ns.clone()).prop_map(|(k, n)| MapOp::IsEmpty(k, n)),
        1 => (k, ns).prop_map(|(k, n)| MapOp::Clear(k, n)),
    ]
}

fn check_map_ops<N: Hash + Eq + Clone + std::fmt::Debug + 'static>(
    ops: &[MapOp],
    ns_of: impl Fn(u8) -> N,
) {
    let mp = 32u16;
    let range = KeyGroupRange::all(mp);
    let mut table: MapTable<u64, N, u16, u32> = MapTable::new(range, None);
    let mut model: HashMap<(u64, N), HashMap<u16, u32>> = HashMap::new();
    let kr = |k: u64| KeyRef::of(&k, mp);
    for op in ops {
        match *op {
            MapOp::Put(k, n, uk, uv) => {
                table
                    .put(kr(k), &k, &ns_of(n), uk, uv, 0)
                    .expect("key group in range");
                model.entry((k, ns_of(n))).or_default().insert(uk, uv);
            }
            MapOp::Get(k, n, uk) => {
                let expected = model.get(&(k, ns_of(n))).and_then(|m| m.get(&uk));
                assert_eq!(
                    table
                        .get(kr(k), &k, &ns_of(n), &uk, 0)
                        .expect("key group in range"),
                    expected
                );
            }
            MapOp::Contains(k, n, uk) => {
                let expected = model
                    .get(&(k, ns_of(n)))
                    .is_some_and(|m| m.contains_key(&uk));
                assert_eq!(
                    table
                        .contains(kr(k), &k, &ns_of(n), &uk, 0)
                        .expect("key group in range"),
                    expected
                );
            }
            MapOp::Remove(k, n, uk) => {
                let expected = model.get_mut(&(k, ns_of(n))).and_then(|m| m.remove(&uk));
                if model.get(&(k, ns_of(n))).is_some_and(HashMap::is_empty) {
                    model.remove(&(k, ns_of(n)));
                }
                assert_eq!(
                    table
                        .remove(kr(k), &k, &ns_of(n), &uk, 0)
                        .expect("key group in range"),
                    expected
                );
            }
            MapOp::Iter(k, n) => {
                let got: HashMap<u16, u32> = table
                    .iter(kr(k), &k, &ns_of(n), 0)
                    .expect("key group in range")
                    .map(|(uk, uv)| (*uk, *uv))
                    .collect();
                let expected = model.get(&(k, ns_of(n))).cloned().unwrap_or_default();
                assert_eq!(got, expected);
            }
            MapOp::IsEmpty(k, n) => {
                let expected = !model.contains_key(&(k, ns_of(n)));
                assert_eq!(
                    table
                        .is_empty(kr(k), &k, &ns_of(n), 0)
                        .expect("key group in range"),
                    expected
                );
            }
            MapOp::Clear(k, n) => {
                table
                    .clear(kr(k), &k, &ns_of(n))
                    .expect("key group in range");
                model.remove(&(k, ns_of(n)));
            }
        }
        assert_eq!(table.len(), model.len());
    }
    let mut flat = HashMap::new();
    for kg in range.iter() {
        for (k, n, (uk, uv)) in table.iter_key_group(kg).expect("key group in range") {
            assert!(flat.insert((*k, n.clone(), *uk), *uv).is_none());
        }
    }
    let expected: HashMap<_, _> = model
        .iter()
        .flat_map(|((k, n), m)| m.iter().map(move |(uk, uv)| ((*k, n.clone(), *uk), *uv)))
        .collect();
    assert_eq!(flat, expected);
}

proptest! {
    #[test]
    fn map_table_matches_model_with_namespaces(ops in prop::collection::vec(map_op(), 1..400)) {
        check_map_ops(&ops, |n| n);
    }

    #[test]
    fn map_table_matches_model_without_namespaces(ops in prop::collection::vec(map_op(), 1..400)) {
        check_map_ops(&ops, |_| ());
    }
}

proptest! {
    // Even an ideal random hash exceeds a 1.3 max/min ratio for about 0.2%
    // of starts (the bound is ~3.5 sigma at both ends), so the starts are
    // drawn from a fixed seed: deterministic in CI, still 64 arbitrary
    // starts a changed hash function must pass.
    #![proptest_config(ProptestConfig {
        cases: 64,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x005e_ed0f_5a7e),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// 100k sequential keys from a random start spread over 128 key groups
    /// with a max/min ratio below 1.3.
    #[test]
    fn stable_hash_balances_sequential_keys(start in any::<u64>()) {
        let mut counts = [0u32; 128];
        for i in 0..100_000u64 {
            let key = start.wrapping_add(i);
            counts[usize::from(key_group_of_hash(stable_hash(&key), 128))] += 1;
        }
        let min = counts.iter().copied().min().unwrap_or(0);
        let max = counts.iter().copied().max().unwrap_or(0);
        prop_assert!(min > 0);
        prop_assert!(f64::from(max) / f64::from(min) < 1.3, "min {} max {}", min, max);
    }
}
