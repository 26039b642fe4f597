//! Every heap table writes its entries in the canonical form and reads
//! them back: values, TTL expiry and timer order survive, and a snapshot
//! taken with one key-group split restores into another (rescaling).

#![allow(clippy::unwrap_used)]

use spate_state::canonical::export_all;
use spate_state::{
    AggregateFunction, AggregatingTable, CanonicalEntry, CanonicalState, KeyGroupRange, KeyRef,
    ListTable, MapTable, StateError, StateTtl, TimerQueue, ValueTable, codec::StateKeyParts,
};

const MAX_PAR: u16 = 16;

fn kr(k: u64) -> KeyRef {
    KeyRef::of(&k, MAX_PAR)
}

fn all() -> KeyGroupRange {
    KeyGroupRange::all(MAX_PAR)
}

/// The two halves of the key groups, as two subtasks would own them.
fn halves() -> [KeyGroupRange; 2] {
    [
        KeyGroupRange::new(0, MAX_PAR / 2).unwrap(),
        KeyGroupRange::new(MAX_PAR / 2, MAX_PAR).unwrap(),
    ]
}

/// The entries of `entries` in key groups `range`.
fn within(entries: &[CanonicalEntry], range: KeyGroupRange) -> Vec<CanonicalEntry> {
    entries
        .iter()
        .filter(|(k, _)| range.contains(StateKeyParts::parse(k).unwrap().key_group))
        .cloned()
        .collect()
}

#[test]
fn value_state_round_trips_with_its_expiry_into_two_subtasks() {
    let ttl = StateTtl::new(1_000);
    let mut t: ValueTable<u64, (), String> = ValueTable::new(all(), Some(ttl));
    for k in 0..100u64 {
        t.put(kr(k), k, (), format!("v{k}"), k as i64).unwrap();
    }
    let entries = export_all(&t, "names").unwrap();
    assert_eq!(entries.len(), 100);
    assert!(entries.windows(2).all(|w| w[0].0 < w[1].0), "sorted by key");
    for range in halves() {
        let mut part: ValueTable<u64, (), String> = ValueTable::new(range, Some(ttl));
        part.import("names", &within(&entries, range), 0).unwrap();
        for k in 0..100u64 {
            let r = kr(k);
            if !range.contains(r.key_group) {
                continue;
            }
            // Written at k ms with a 1 s TTL: visible before k + 1000 only.
            assert_eq!(
                part.get(r, &k, &(), 999 + k as i64).unwrap(),
                Some(&format!("v{k}"))
            );
            assert_eq!(part.get(r, &k, &(), 1_000 + k as i64).unwrap(), None);
        }
    }
}

#[test]
fn list_and_map_state_round_trip() {
    let mut list: ListTable<u64, u32, i32> = ListTable::new(all(), None);
    let mut map: MapTable<u64, (), String, u64> = MapTable::new(all(), None);
    for k in 0..20u64 {
        for i in 0..(k as i32 % 4) {
            list.add(kr(k), &k, &7, i * 10, 0).unwrap();
        }
        map.put(kr(k), &k, &(), format!("a{k}"), k, 0).unwrap();
        map.put(kr(k), &k, &(), format!("b{k}"), k + 1, 0).unwrap();
    }
    let lists = export_all(&list, "list").unwrap();
    let maps = export_all(&map, "map").unwrap();
    assert_eq!(maps.len(), 40, "one entry per user key");
    let mut list2: ListTable<u64, u32, i32> = ListTable::new(all(), None);
    let mut map2: MapTable<u64, (), String, u64> = MapTable::new(all(), None);
    list2.import("list", &lists, 0).unwrap();
    map2.import("map", &maps, 0).unwrap();
    for k in 0..20u64 {
        let got: Vec<i32> = list2.get(kr(k), &k, &7, 0).unwrap().copied().collect();
        let want: Vec<i32> = (0..(k as i32 % 4)).map(|i| i * 10).collect();
        assert_eq!(got, want, "list of key {k} keeps its order");
        assert_eq!(
            map2.get(kr(k), &k, &(), &format!("b{k}"), 0).unwrap(),
            Some(&(k + 1))
        );
    }
    assert_eq!(export_all(&list2, "list").unwrap(), lists);
    assert_eq!(export_all(&map2, "map").unwrap(), maps);
}

#[derive(Clone)]
struct Avg;

impl AggregateFunction for Avg {
    type In = u64;
    type Acc = (u64, u64);
    type Out = u64;
    fn create_accumulator(&self) -> (u64, u64) {
        (0, 0)
    }
    fn add(&self, value: u64, acc: &mut (u64, u64)) {
        acc.0 += value;
        acc.1 += 1;
    }
    fn get_result(&self, acc: &(u64, u64)) -> u64 {
        acc.0 / acc.1.max(1)
    }
    fn merge(&self, a: (u64, u64), b: (u64, u64)) -> (u64, u64) {
        (a.0 + b.0, a.1 + b.1)
    }
}

#[test]
fn aggregating_state_restores_its_accumulators() {
    let mut t: AggregatingTable<u64, (), Avg> = AggregatingTable::new(all(), None, Avg);
    for k in 0..10u64 {
        t.add(kr(k), &k, &(), 10, 0).unwrap();
        t.add(kr(k), &k, &(), 20 + k, 0).unwrap();
    }
    let entries = export_all(&t, "avg").unwrap();
    let mut t2: AggregatingTable<u64, (), Avg> = AggregatingTable::new(all(), None, Avg);
    t2.import("avg", &entries, 0).unwrap();
    for k in 0..10u64 {
        // The accumulator, not only the result, came back: adding goes on.
        t2.add(kr(k), &k, &(), 30 - k, 0).unwrap();
        assert_eq!(t2.get(kr(k), &k, &(), 0).unwrap(), Some(20));
    }
}

#[test]
fn timers_fire_in_their_original_order_after_a_restore() {
    let mut q: TimerQueue<u64, u32> = TimerQueue::new(all());
    // Registered out of key order, several due at the same time.
    for k in [9u64, 3, 7, 1, 5] {
        q.register(kr(k), &k, &0, 100).unwrap();
        q.register(kr(k), &k, &1, 50 + k as i64).unwrap();
    }
    let entries = export_all(&q, "timers").unwrap();
    let mut q2: TimerQueue<u64, u32> = TimerQueue::new(all());
    q2.import("timers", &entries, 0).unwrap();
    let drain = |q: &mut TimerQueue<u64, u32>| {
        std::iter::from_fn(|| q.pop_due(i64::MAX).map(|t| (t.timestamp_ms, t.key, t.ns)))
            .collect::<Vec<_>>()
    };
    let want = drain(&mut q);
    assert_eq!(want.len(), 10);
    assert_eq!(drain(&mut q2), want);
}

#[test]
fn a_damaged_entry_is_an_error_naming_the_state() {
    let mut t: ValueTable<u64, (), u64> = ValueTable::new(all(), None);
    t.put(kr(1), 1, (), 11, 0).unwrap();
    let mut entries = export_all(&t, "counts").unwrap();
    entries[0].1.truncate(1);
    let mut t2: ValueTable<u64, (), u64> = ValueTable::new(all(), None);
    let err = t2.import("counts", &entries, 0).unwrap_err();
    assert!(
        matches!(&err, StateError::Codec { state, .. } if state == "counts"),
        "{err}"
    );
    entries[0].0.truncate(3);
    let err = t2.import("counts", &entries, 0).unwrap_err();
    assert!(err.to_string().contains("counts"), "{err}");
}

#[test]
fn entries_outside_the_tables_key_groups_are_refused() {
    let mut t: ValueTable<u64, (), u64> = ValueTable::new(all(), None);
    for k in 0..50 {
        t.put(kr(k), k, (), k, 0).unwrap();
    }
    let entries = export_all(&t, "counts").unwrap();
    let [left, _] = halves();
    let mut part: ValueTable<u64, (), u64> = ValueTable::new(left, None);
    assert!(part.import("counts", &entries, 0).is_err());
}
