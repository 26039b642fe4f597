//! Capturing only what changed: a chain of captured deltas, applied in
//! order, always equals the table's whole canonical export at the moment
//! each capture started, even though captures are encoded in slices while
//! writes go on (copy-on-write). Random writes, removals, clears, TTL
//! cleanups, capture starts and capture slices on value, list, map and
//! reducing tables.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use proptest::prelude::*;
use spate_state::canonical::{export_all, sort_delta};
use spate_state::{
    CanonicalState, DeltaEntry, KeyGroupRange, KeyRef, ListTable, MapTable, ReducingTable,
    StateTtl, TtlUpdate, ValueTable,
};

const MAX_PAR: u16 = 8;

fn kr(k: u64) -> KeyRef {
    KeyRef::of(&k, MAX_PAR)
}

fn range() -> KeyGroupRange {
    KeyGroupRange::all(MAX_PAR)
}

#[derive(Debug, Clone)]
enum Op {
    Write {
        key: u64,
        sub: u8,
        value: u32,
    },
    Remove {
        key: u64,
        sub: u8,
    },
    Clear {
        key: u64,
    },
    Cleanup {
        now_ms: i64,
    },
    /// Completes the capture in progress, if any, and starts the next.
    Capture,
    /// Encodes a slice of the capture in progress.
    Slice {
        budget: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..24u64, 0..4u8, any::<u32>()).prop_map(|(key, sub, value)| Op::Write { key, sub, value }),
        2 => (0..24u64, 0..4u8).prop_map(|(key, sub)| Op::Remove { key, sub }),
        1 => (0..24u64).prop_map(|key| Op::Clear { key }),
        1 => (0..400i64).prop_map(|now_ms| Op::Cleanup { now_ms }),
        2 => Just(Op::Capture),
        3 => (0..6usize).prop_map(|budget| Op::Slice { budget }),
    ]
}

/// What the restore of a chain of deltas holds.
#[derive(Default)]
struct Chain(BTreeMap<Vec<u8>, Vec<u8>>);

impl Chain {
    fn apply(&mut self, mut delta: Vec<DeltaEntry>) {
        sort_delta(&mut delta);
        assert!(
            delta.windows(2).all(|w| w[0].0 < w[1].0),
            "a delta is sorted with each key once"
        );
        for (k, v) in delta {
            match v {
                Some(v) => self.0.insert(k, v),
                None => self.0.remove(&k),
            };
        }
    }

    fn capture(&mut self, table: &mut dyn CanonicalState) {
        let mut delta = Vec::new();
        table.export_changes("s", &mut delta).unwrap();
        self.apply(delta);
    }

    fn check(&self, table: &dyn CanonicalState) {
        assert_eq!(
            self.0,
            whole(table),
            "the chain of deltas differs from the table"
        );
    }
}

fn whole(table: &dyn CanonicalState) -> BTreeMap<Vec<u8>, Vec<u8>> {
    export_all(table, "s").unwrap().into_iter().collect()
}

/// A capture in progress: what it encoded so far, and the table as it was
/// when the capture started.
struct InProgress {
    delta: Vec<DeltaEntry>,
    at_start: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl InProgress {
    fn start(table: &mut dyn CanonicalState) -> Self {
        let at_start = whole(table);
        table.start_capture("s").unwrap();
        Self {
            delta: Vec::new(),
            at_start,
        }
    }

    /// Encodes up to `budget`; when the capture is complete, applies it to
    /// `chain`, which must then equal the table at the start.
    fn slice(&mut self, table: &mut dyn CanonicalState, budget: usize, chain: &mut Chain) -> bool {
        let mut budget = budget;
        let done = table
            .continue_capture("s", &mut budget, &mut self.delta)
            .unwrap();
        if done {
            chain.apply(std::mem::take(&mut self.delta));
            assert_eq!(
                chain.0, self.at_start,
                "the capture differs from the table at its start"
            );
            assert!(!table.capturing());
        }
        done
    }
}

/// Runs `ops` on `table` through `apply`, starting a capture at each
/// `Capture`, encoding it in `Slice`s, completing it at the next `Capture`
/// and at the end, and checks each completed capture against the table at
/// its start.
fn run<T: CanonicalState>(mut table: T, ops: &[Op], mut apply: impl FnMut(&mut T, &Op, i64)) {
    assert!(table.track_changes());
    let mut chain = Chain::default();
    let mut capture: Option<InProgress> = None;
    for (i, op) in ops.iter().enumerate() {
        match op {
            Op::Capture => {
                if let Some(mut c) = capture.take() {
                    assert!(c.slice(&mut table, usize::MAX, &mut chain));
                }
                capture = Some(InProgress::start(&mut table));
            }
            Op::Slice { budget } => {
                if let Some(c) = capture.as_mut()
                    && c.slice(&mut table, *budget, &mut chain)
                {
                    capture = None;
                }
            }
            _ => apply(&mut table, op, i as i64),
        }
    }
    if let Some(mut c) = capture.take() {
        assert!(c.slice(&mut table, usize::MAX, &mut chain));
    }
    chain.capture(&mut table);
    chain.check(&table);
    let mut empty = Vec::new();
    table.export_changes("s", &mut empty).unwrap();
    assert!(empty.is_empty(), "nothing changed since: {empty:?}");
}

fn ttl() -> Option<StateTtl> {
    Some(StateTtl::new(150))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn value_deltas_add_up_to_the_table(ops in prop::collection::vec(op(), 0..120), with_ttl: bool) {
        let t: ValueTable<u64, u8, u32> = ValueTable::new(range(), with_ttl.then(ttl).flatten());
        run(t, &ops, |t, op, now| match *op {
            Op::Write { key, sub, value } => t.put(kr(key), key, sub, value, now).unwrap(),
            Op::Remove { key, sub } => { t.remove(kr(key), &key, &sub, now).unwrap(); }
            Op::Clear { key } => {
                for sub in 0..4 { t.remove_namespace_for_key(kr(key), &key, &sub).unwrap(); }
            }
            Op::Cleanup { now_ms } => { t.cleanup_expired(now_ms, 7); }
            Op::Capture | Op::Slice { .. } => {}
        });
    }

    #[test]
    fn list_deltas_add_up_to_the_table(ops in prop::collection::vec(op(), 0..120), with_ttl: bool) {
        let t: ListTable<u64, u8, u32> = ListTable::new(range(), with_ttl.then(ttl).flatten());
        run(t, &ops, |t, op, now| match *op {
            Op::Write { key, sub, value } => t.add(kr(key), &key, &sub, value, now).unwrap(),
            Op::Remove { key, sub } => t.clear(kr(key), &key, &sub).unwrap(),
            Op::Clear { key } => {
                t.update(kr(key), &key, &0, [key as u32], now).unwrap();
            }
            Op::Cleanup { now_ms } => { t.cleanup_expired(now_ms, 7); }
            Op::Capture | Op::Slice { .. } => {}
        });
    }

    #[test]
    fn map_deltas_add_up_to_the_table(ops in prop::collection::vec(op(), 0..120), with_ttl: bool) {
        let t: MapTable<u64, (), u8, u32> = MapTable::new(range(), with_ttl.then(ttl).flatten());
        run(t, &ops, |t, op, now| match *op {
            Op::Write { key, sub, value } => t.put(kr(key), &key, &(), sub, value, now).unwrap(),
            Op::Remove { key, sub } => { t.remove(kr(key), &key, &(), &sub, now).unwrap(); }
            Op::Clear { key } => t.clear(kr(key), &key, &()).unwrap(),
            Op::Cleanup { now_ms } => { t.cleanup_expired(now_ms, 7); }
            Op::Capture | Op::Slice { .. } => {}
        });
    }

    #[test]
    fn reducing_deltas_add_up_to_the_table(ops in prop::collection::vec(op(), 0..120)) {
        let t: ReducingTable<u64, u8, u32> =
            ReducingTable::new(range(), None, |a: &u32, b: &u32| a.wrapping_add(*b));
        run(t, &ops, |t, op, now| match *op {
            Op::Write { key, sub, value } => t.add(kr(key), &key, &sub, value, now).unwrap(),
            Op::Remove { key, sub } => t.clear(kr(key), &key, &sub).unwrap(),
            Op::Clear { .. } => t.clear_all(),
            Op::Cleanup { now_ms } => { t.cleanup_expired(now_ms, 7); }
            Op::Capture | Op::Slice { .. } => {}
        });
    }
}

#[test]
fn a_capture_holds_only_the_changed_entries() {
    let mut t: ValueTable<u64, (), u64> = ValueTable::new(range(), None);
    assert!(CanonicalState::track_changes(&mut t));
    for k in 0..1_000u64 {
        t.put(kr(k), k, (), k, 0).unwrap();
    }
    let mut first = Vec::new();
    t.export_changes("s", &mut first).unwrap();
    assert_eq!(first.len(), 1_000, "everything is new at first");
    for k in 0..10u64 {
        t.put(kr(k), k, (), k + 1, 0).unwrap();
    }
    t.remove(kr(500), &500, &(), 0).unwrap();
    let mut second = Vec::new();
    t.export_changes("s", &mut second).unwrap();
    assert_eq!(second.len(), 11, "10 changed values and one tombstone");
    assert_eq!(second.iter().filter(|(_, v)| v.is_none()).count(), 1);
}

#[test]
fn reads_that_restart_the_ttl_keep_captures_whole() {
    let ttl = StateTtl::new(100).with_update(TtlUpdate::OnReadAndWrite);
    let mut t: ValueTable<u64, (), u64> = ValueTable::new(range(), Some(ttl));
    assert!(!CanonicalState::track_changes(&mut t));
    assert!(!CanonicalState::tracks_changes(&t));
}
