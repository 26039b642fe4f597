//! Model-based test of `TimerQueue`: under random registrations, deletions
//! and firings it must behave like an ordered set of (timestamp, key hash,
//! namespace hash, registration number) plus a set of live timers, the
//! semantics of the binary-heap queue it replaced.

use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;
use spate_state::{KeyGroupRange, KeyRef, TimerQueue, key_group_of_hash, stable_hash};

const MP: u16 = 16;

#[derive(Clone, Debug)]
enum Op {
    Register(u64, u8, i64),
    Delete(u64, u8, i64),
    /// Register the last registered or deleted timer again.
    RepeatLast,
    /// Fire one timer due at the bound.
    PopOne(i64),
    /// Fire every timer due at the bound.
    PopAll(i64),
    ClearAll,
}

fn op(keys: u64, timestamps: i64) -> impl Strategy<Value = Op> {
    let k = 0..keys;
    let ns = 0u8..3;
    let ts = 0..timestamps;
    prop_oneof![
        12 => (k.clone(), ns.clone(), ts.clone()).prop_map(|(k, n, t)| Op::Register(k, n, t)),
        3 => (k, ns, ts.clone()).prop_map(|(k, n, t)| Op::Delete(k, n, t)),
        4 => Just(Op::RepeatLast),
        4 => ts.clone().prop_map(Op::PopOne),
        1 => ts.prop_map(Op::PopAll),
        1 => Just(Op::ClearAll),
    ]
}

/// Keys share hashes in groups of `collide`, so equal timestamps, key
/// hashes and namespace hashes (order by registration alone) are common.
fn key_ref(key: u64, collide: u64) -> KeyRef {
    let hash = stable_hash(&(key / collide));
    KeyRef {
        hash,
        key_group: key_group_of_hash(hash, MP),
    }
}

/// The reference: firing order and the live timers.
#[derive(Default)]
struct Model {
    order: BTreeMap<(i64, u64, u64, u64), (u64, u8)>,
    live: HashMap<(i64, u64, u8), u64>,
    seq: u64,
}

impl Model {
    fn register(&mut self, kr: KeyRef, k: u64, ns: u8, ts: i64) -> bool {
        if self.live.contains_key(&(ts, k, ns)) {
            return false;
        }
        self.order
            .insert((ts, kr.hash, stable_hash(&ns), self.seq), (k, ns));
        self.live.insert((ts, k, ns), self.seq);
        self.seq += 1;
        true
    }

    fn delete(&mut self, kr: KeyRef, k: u64, ns: u8, ts: i64) -> bool {
        let Some(seq) = self.live.remove(&(ts, k, ns)) else {
            return false;
        };
        self.order.remove(&(ts, kr.hash, stable_hash(&ns), seq));
        true
    }

    fn pop_due(&mut self, up_to: i64) -> Option<(i64, u64, u8)> {
        let (&o, _) = self.order.first_key_value()?;
        if o.0 > up_to {
            return None;
        }
        let (k, ns) = self.order.remove(&o)?;
        self.live.remove(&(o.0, k, ns));
        Some((o.0, k, ns))
    }
}

fn check(ops: &[Op], collide: u64) -> Result<(), TestCaseError> {
    let mut q: TimerQueue<u64, u8> = TimerQueue::new(KeyGroupRange::all(MP));
    let mut m = Model::default();
    let pop = |q: &mut TimerQueue<u64, u8>, up_to| {
        q.pop_due(up_to).map(|t| {
            assert_eq!(t.key_ref, key_ref(t.key, collide));
            (t.timestamp_ms, t.key, t.ns)
        })
    };
    let mut last = (0, 0, 0);
    for (step, op) in ops.iter().enumerate() {
        let op = match *op {
            Op::RepeatLast => Op::Register(last.0, last.1, last.2),
            ref op => op.clone(),
        };
        match op {
            Op::Register(k, ns, ts) | Op::Delete(k, ns, ts) => last = (k, ns, ts),
            _ => {}
        }
        match op {
            Op::RepeatLast => {}
            Op::Register(k, ns, ts) => {
                let kr = key_ref(k, collide);
                prop_assert_eq!(
                    q.register(kr, &k, &ns, ts).ok(),
                    Some(m.register(kr, k, ns, ts)),
                    "step {} {:?}",
                    step,
                    op
                );
            }
            Op::Delete(k, ns, ts) => {
                let kr = key_ref(k, collide);
                prop_assert_eq!(
                    q.delete(kr, &k, &ns, ts).ok(),
                    Some(m.delete(kr, k, ns, ts)),
                    "step {} {:?}",
                    step,
                    op
                );
            }
            Op::PopOne(up_to) => {
                prop_assert_eq!(pop(&mut q, up_to), m.pop_due(up_to), "step {}", step);
            }
            Op::PopAll(up_to) => loop {
                let fired = pop(&mut q, up_to);
                prop_assert_eq!(fired, m.pop_due(up_to), "step {}", step);
                if fired.is_none() {
                    break;
                }
            },
            Op::ClearAll => {
                q.clear_all();
                m.order.clear();
                m.live.clear();
            }
        }
        prop_assert_eq!(q.len(), m.live.len(), "step {}", step);
        prop_assert_eq!(q.is_empty(), m.live.is_empty());
        prop_assert_eq!(
            q.peek_ts(),
            m.order.first_key_value().map(|(o, _)| o.0),
            "step {}",
            step
        );
    }
    let mut listed: Vec<_> = (0..MP)
        .flat_map(|kg| {
            q.iter_key_group(kg)
                .into_iter()
                .flatten()
                .map(|t| (t.timestamp_ms, t.key, t.ns))
        })
        .collect();
    listed.sort_unstable();
    let mut expected: Vec<_> = m.live.keys().copied().collect();
    expected.sort_unstable();
    prop_assert_eq!(listed, expected);
    // Whatever is left fires in the model's order.
    loop {
        let fired = pop(&mut q, i64::MAX);
        prop_assert_eq!(fired, m.pop_due(i64::MAX));
        if fired.is_none() {
            break;
        }
    }
    prop_assert!(q.is_empty());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Few timestamps, many keys: buckets grow past the small size and are
    /// registered into while they fire.
    #[test]
    fn matches_model_few_timestamps(ops in prop::collection::vec(op(40, 4), 1..600)) {
        check(&ops, 1)?;
    }

    /// Colliding key hashes: ties broken by registration order alone.
    #[test]
    fn matches_model_with_hash_collisions(ops in prop::collection::vec(op(24, 3), 1..400)) {
        check(&ops, 6)?;
    }

    /// Many timestamps, few timers each.
    #[test]
    fn matches_model_many_timestamps(ops in prop::collection::vec(op(6, 64), 1..300)) {
        check(&ops, 1)?;
    }
}
