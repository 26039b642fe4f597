//! Memory per key of a TTL-free `ValueTable<u64, (), u64>` of counts: the
//! engine's budget is 64 bytes per key, measured here both by the table's
//! own estimate and by a counting global allocator.
//!
//! This binary holds a single test so that no concurrent test perturbs the
//! allocation counter.

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::CountingAlloc;
use spate_state::{KeyGroupRange, KeyRef, MAX_PARALLELISM_DEFAULT, ValueTable};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

const KEYS: u64 = 1_000_000;
const BUDGET_BYTES_PER_KEY: f64 = 64.0;

#[test]
fn one_million_counts_fit_in_64_bytes_per_key() {
    let mp = MAX_PARALLELISM_DEFAULT;
    // Spread keys (odd multiplier: a bijection) rather than 0..n.
    let keys: Vec<(u64, KeyRef)> = (0..KEYS)
        .map(|i| {
            let k = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            (k, KeyRef::of(&k, mp))
        })
        .collect();

    let before = ALLOC.live_bytes();
    let mut table: ValueTable<u64, (), u64> = ValueTable::new(KeyGroupRange::all(mp), None);
    for (k, kr) in &keys {
        // Two increments per key: the second is the read-modify-write path.
        for _ in 0..2 {
            table
                .update(*kr, k, &(), 0, |c| match c {
                    Some(c) => {
                        *c += 1;
                        None
                    }
                    None => Some(1),
                })
                .expect("key group in range");
        }
    }
    let live = ALLOC.live_bytes() - before;

    assert_eq!(table.len() as u64, KEYS);
    let groups_used = (0..mp)
        .filter(|kg| {
            table
                .iter_key_group(*kg)
                .map(|mut it| it.next().is_some())
                .unwrap_or(false)
        })
        .count();
    assert_eq!(
        groups_used,
        usize::from(mp),
        "keys must spread over all key groups"
    );
    for (k, kr) in keys.iter().step_by(997) {
        assert_eq!(table.get(*kr, k, &(), 0).expect("in range"), Some(&2));
    }

    let estimated_per_key = table.approx_bytes() as f64 / KEYS as f64;
    let live_per_key = live as f64 / KEYS as f64;
    println!(
        "ValueTable<u64, (), u64>, {KEYS} keys over {mp} key groups: \
         approx_bytes {estimated_per_key:.1} B/key, allocator live {live_per_key:.1} B/key"
    );
    assert!(
        estimated_per_key < BUDGET_BYTES_PER_KEY,
        "approx_bytes: {estimated_per_key:.1} B/key"
    );
    assert!(
        live_per_key < BUDGET_BYTES_PER_KEY,
        "allocated: {live_per_key:.1} B/key"
    );
    // The estimate must track reality, or memory accounting is useless.
    let ratio = estimated_per_key / live_per_key;
    assert!((0.9..1.1).contains(&ratio), "estimate/real = {ratio:.3}");
}
