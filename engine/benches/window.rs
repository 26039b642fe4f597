//! The window operator on one core: a count per key over 1 M records with
//! 10 K keys, in tumbling 1 s and sliding 10 s / 2 s event-time windows.
//! Each iteration runs the whole job (source, watermarks, windows, firing).

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use spate::config::Config;
use spate::sinks::BlackholeSink;
use spate::sources::GeneratorSource;
use spate::time::WatermarkStrategy;
use spate::window::{Count, SlidingEventTimeWindows, TumblingEventTimeWindows, WindowAssigner};
use spate::{DataStream, Job};

/// Records per job run.
const RECORDS: u64 = 1_000_000;
/// Distinct keys.
const KEYS: u64 = 10_000;
/// Records per event-time second: 1 M records span 10 s, so a key has about
/// 10 records per 1 s window and 100 K tumbling windows fire per run.
const PER_SECOND: u64 = 100_000;

fn config() -> Config {
    let mut c = Config::default();
    c.runtime.cores = 1;
    c.runtime.io_memory_kib = 256;
    c
}

/// `(key, event time ms)`, in order, keys spread by a multiplicative hash.
fn events(job: &spate::JobBuilder) -> DataStream<(u64, i64)> {
    job.source("gen", |split| {
        Ok(GeneratorSource::new(
            |n: u64| {
                let key = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) % KEYS;
                (key, (n * 1000 / PER_SECOND) as i64)
            },
            Some(RECORDS),
            split,
        ))
    })
    .assign_timestamps_and_watermarks(WatermarkStrategy::bounded_out_of_orderness(
        0,
        |e: &(u64, i64)| e.1,
    ))
}

fn run_job<A>(assigner: A, config: &Config)
where
    A: WindowAssigner<(u64, i64)> + Clone + Send + Sync + 'static,
{
    let job = Job::builder("window bench");
    events(&job)
        .key_by(|e: &(u64, i64)| e.0)
        .window(assigner)
        .aggregate(Count::new())
        .sink("out", BlackholeSink);
    // A bench has no caller to return an error to; stop loudly.
    if let Err(e) = job.build().and_then(|j| j.run(config)) {
        panic!("the window bench job failed: {e}");
    }
}

fn windows(c: &mut Criterion) {
    let cfg = config();
    let mut group = c.benchmark_group("window_count_1_core");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(4));
    group.throughput(Throughput::Elements(RECORDS));
    group.bench_with_input(BenchmarkId::new("tumbling", "1s"), &cfg, |b, cfg| {
        b.iter(|| run_job(TumblingEventTimeWindows::of(1_000), cfg))
    });
    group.bench_with_input(BenchmarkId::new("sliding", "10s_2s"), &cfg, |b, cfg| {
        b.iter(|| run_job(SlidingEventTimeWindows::of(10_000, 2_000), cfg))
    });
    group.finish();
}

criterion_group!(benches, windows);
criterion_main!(benches);
