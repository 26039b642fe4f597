//! Hot-path cost of keyed state on the RocksDB backend, and the synchronous
//! part of its checkpoint.
//!
//! `cargo bench -p spate-state --bench rocks_state` prints the checkpoint
//! timings, then runs the criterion benches (one instance with the default
//! memory bounds: 64 MiB block cache, 32 MiB write buffers).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use spate_state::rocks::{RocksBackend, RocksListTable, RocksOptions, RocksValueTable};
use spate_state::{KeyGroupRange, KeyRef, MAX_PARALLELISM_DEFAULT};

const MP: u16 = MAX_PARALLELISM_DEFAULT;
const BENCH_KEYS: u64 = 1_000_000;
/// Length of the pre-generated random access sequence (a power of two).
const ACCESSES: usize = 1 << 20;

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

fn keys(n: u64) -> Vec<(u64, KeyRef)> {
    (0..n).map(|i| (key(i), KeyRef::of(&key(i), MP))).collect()
}

/// Times `checkpoint()` after `updates` fresh updates, five times; prints
/// the median and the worst.
fn report_checkpoint(
    backend: &RocksBackend,
    table: &mut RocksValueTable<u64, (), u64>,
    dir: &std::path::Path,
) {
    let keys = keys(BENCH_KEYS);
    let accesses = random_indices(BENCH_KEYS, 1 << 16);
    for updates in [0usize, 10_000, 100_000] {
        let mut times: Vec<Duration> = Vec::new();
        for round in 0..5 {
            for i in 0..updates {
                let (k, kr) = &keys[accesses[i % accesses.len()]];
                table.update(*kr, k, &(), 0, increment).expect("update");
            }
            let started = Instant::now();
            let checkpoint = backend
                .checkpoint(dir.join(format!("chk-{updates}-{round}")))
                .expect("checkpoint");
            times.push(started.elapsed());
            black_box(checkpoint);
        }
        times.sort();
        println!(
            "checkpoint (flush + hard-link) after {updates:>6} updates, {BENCH_KEYS} keys: \
             median {:.2} ms, max {:.2} ms",
            times[2].as_secs_f64() * 1e3,
            times[4].as_secs_f64() * 1e3
        );
    }
}

/// Benches on `key_count` keys; the checkpoint report needs `BENCH_KEYS`.
fn bench_rocks(c: &mut Criterion, key_count: u64, run_checkpoints: bool) {
    let dir = tempfile::tempdir().expect("temp dir");
    let backend = RocksBackend::open(
        dir.path().join("db"),
        KeyGroupRange::all(MP),
        RocksOptions::default(),
    )
    .expect("open");
    let mut table: RocksValueTable<u64, (), u64> =
        RocksValueTable::open(&backend, "counts", None).expect("table");
    let keys = keys(key_count);
    for (k, kr) in &keys {
        table.put(*kr, *k, (), 0, 0).expect("put");
    }
    if run_checkpoints {
        report_checkpoint(&backend, &mut table, dir.path());
    }
    let accesses: Vec<(u64, KeyRef)> = random_indices(key_count, ACCESSES)
        .into_iter()
        .map(|i| keys[i])
        .collect();

    let mut group = c.benchmark_group("rocks_value_state_1m_keys_random");
    group.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    group.bench_function("update_rmw", |b| {
        b.iter(|| {
            let (k, kr) = &accesses[i & (ACCESSES - 1)];
            i += 1;
            table.update(*kr, k, &(), 0, increment)
        })
    });
    group.bench_function("get", |b| {
        b.iter(|| {
            let (k, kr) = &accesses[i & (ACCESSES - 1)];
            i += 1;
            table.get(*kr, k, &(), 0)
        })
    });
    group.bench_function("put", |b| {
        b.iter(|| {
            let (k, kr) = &accesses[i & (ACCESSES - 1)];
            i += 1;
            table.put(*kr, *k, (), i as u64, 0)
        })
    });
    group.finish();

    let mut lists: RocksListTable<u64, (), u64> =
        RocksListTable::open(&backend, "lists", None).expect("table");
    let mut group = c.benchmark_group("rocks_list_state_1m_keys_random");
    group.throughput(Throughput::Elements(1));
    group.bench_function("add_merge", |b| {
        b.iter(|| {
            let (k, kr) = &accesses[i & (ACCESSES - 1)];
            i += 1;
            lists.add(*kr, k, &(), i as u64, 0)
        })
    });
    group.finish();
    println!("memory: {:?}", backend.memory_usage());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` passes --bench; `cargo test --benches` does not, and
    // then only criterion's quick test mode runs.
    let full = args.iter().any(|a| a == "--bench");
    let mut criterion = Criterion::default().configure_from_args();
    // The quick test mode only checks that the benches run.
    let key_count = if full { BENCH_KEYS } else { 10_000 };
    bench_rocks(&mut criterion, key_count, full);
    criterion.final_summary();
}
