//! Hot-path cost of keyed value state, and its memory per key.
//!
//! `cargo bench -p spate-state --bench state_update` prints bytes per key
//! for 10 M keys, then runs the criterion benches;
//! `... -- --bytes-per-key` prints only the memory figures.

#[path = "../tests/support/counting_alloc.rs"]
mod counting_alloc;

use std::hint::black_box;
use std::time::Instant;

use counting_alloc::CountingAlloc;
use criterion::{BatchSize, Criterion, Throughput};
use spate_state::{KeyGroupRange, KeyRef, MAX_PARALLELISM_DEFAULT, ValueTable};

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc::new();

const MP: u16 = MAX_PARALLELISM_DEFAULT;
const BENCH_KEYS: u64 = 1_000_000;
const MEMORY_KEYS: u64 = 10_000_000;
/// Length of the pre-generated random access sequence (a power of two).
const ACCESSES: usize = 1 << 22;

/// Distinct, well-spread u64 keys (an odd multiplier is a bijection).
fn key(i: u64) -> u64 {
    i.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// xorshift64*: a dependency-free, reproducible access pattern.
fn random_indices(n: u64, len: usize) -> Vec<usize> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..len)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_f491_4f6c_dd1d) % n) as usize
        })
        .collect()
}

fn increment(count: Option<&mut u64>) -> Option<u64> {
    match count {
        Some(c) => {
            *c += 1;
            None
        }
        None => Some(1),
    }
}

fn table_with(keys: &[(u64, KeyRef)]) -> ValueTable<u64, (), u64> {
    let mut table = ValueTable::new(KeyGroupRange::all(MP), None);
    for (k, kr) in keys {
        table.put(*kr, *k, (), 0, 0).expect("key group in range");
    }
    table
}

fn resident_bytes() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Builds a 10 M key count table and prints its memory per key three ways.
fn report_bytes_per_key(keys: u64) {
    let rss_before = resident_bytes();
    let live_before = ALLOC.live_bytes();
    let started = Instant::now();
    let mut table: ValueTable<u64, (), u64> = ValueTable::new(KeyGroupRange::all(MP), None);
    for i in 0..keys {
        let k = key(i);
        table
            .update(KeyRef::of(&k, MP), &k, &(), 0, increment)
            .expect("key group in range");
    }
    let elapsed = started.elapsed();
    let live = ALLOC.live_bytes() - live_before;
    let per_key = |bytes: usize| bytes as f64 / keys as f64;
    println!("bytes-per-key: ValueTable<u64, (), u64>, {keys} keys, {MP} key groups, no TTL");
    println!(
        "  approx_bytes     {:6.1} B/key",
        per_key(table.approx_bytes())
    );
    println!("  allocator live   {:6.1} B/key", per_key(live));
    if let (Some(before), Some(after)) = (rss_before, resident_bytes()) {
        println!(
            "  RSS growth       {:6.1} B/key",
            per_key(after.saturating_sub(before))
        );
    }
    println!(
        "  build (hash + insert, growing) {:.1} ns/key",
        elapsed.as_nanos() as f64 / keys as f64
    );
    black_box(&table);
}

fn bench_value_update(c: &mut Criterion) {
    let keys: Vec<(u64, KeyRef)> = (0..BENCH_KEYS)
        .map(|i| (key(i), KeyRef::of(&key(i), MP)))
        .collect();
    // The access sequence is read sequentially, like records off a channel,
    // so the only random memory traffic is the table's own.
    let accesses: Vec<(u64, KeyRef)> = random_indices(BENCH_KEYS, ACCESSES)
        .into_iter()
        .map(|i| keys[i])
        .collect();
    let mut group = c.benchmark_group("value_state_1m_keys_random");
    group.throughput(Throughput::Elements(1));

    let mut table = table_with(&keys);
    let mut i = 0usize;
    group.bench_function("update_rmw_precomputed_keyref", |b| {
        b.iter(|| {
            let (k, kr) = &accesses[i & (ACCESSES - 1)];
            i += 1;
            table.update(*kr, k, &(), 0, increment)
        })
    });
    group.bench_function("get_or_insert_increment", |b| {
        b.iter(|| {
            let (k, kr) = &accesses[i & (ACCESSES - 1)];
            i += 1;
            table
                .get_or_insert_with(*kr, k, &(), 0, || 0)
                .map(|c| *c += 1)
        })
    });
    group.bench_function("hash_keyref_and_update_rmw", |b| {
        b.iter(|| {
            let k = accesses[i & (ACCESSES - 1)].0;
            i += 1;
            table.update(KeyRef::of(&k, MP), &k, &(), 0, increment)
        })
    });
    group.bench_function("get", |b| {
        b.iter(|| {
            let (k, kr) = &accesses[i & (ACCESSES - 1)];
            i += 1;
            table.get(*kr, k, &(), 0).map(|v| v.copied())
        })
    });
    group.finish();

    // Cache-resident working set: the cost of the code path itself.
    let mut group = c.benchmark_group("value_state_4k_keys_random");
    group.throughput(Throughput::Elements(1));
    let hot_keys = &keys[..4096];
    let hot_accesses: Vec<(u64, KeyRef)> = random_indices(4096, ACCESSES)
        .into_iter()
        .map(|i| hot_keys[i])
        .collect();
    let mut hot = table_with(hot_keys);
    group.bench_function("update_rmw_precomputed_keyref", |b| {
        b.iter(|| {
            let (k, kr) = &hot_accesses[i & (ACCESSES - 1)];
            i += 1;
            hot.update(*kr, k, &(), 0, increment)
        })
    });
    group.finish();

    let mut group = c.benchmark_group("value_state_build");
    group.sample_size(10);
    group.throughput(Throughput::Elements(BENCH_KEYS));
    group.bench_function("insert_1m_keys", |b| {
        b.iter_batched(|| (), |()| table_with(&keys), BatchSize::PerIteration)
    });
    group.finish();
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let memory_only = args.iter().any(|a| a == "--bytes-per-key");
    // `cargo bench` passes --bench; `cargo test --benches` does not, and
    // then only criterion's quick test mode runs.
    if memory_only || args.iter().any(|a| a == "--bench") {
        report_bytes_per_key(MEMORY_KEYS);
    }
    if memory_only {
        return;
    }
    let mut criterion = Criterion::default().configure_from_args();
    bench_value_update(&mut criterion);
    criterion.final_summary();
}
