//! Throughput of a keyed exchange between two cores, through the public
//! API: generator → key_by → no-op keyed map → blackhole, for three batch
//! sizes. Each iteration runs the whole job (executor start included, a
//! few ms against ~100 ms of work).

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use spate::Job;
use spate::config::Config;
use spate::keyed::KeyedContext;
use spate::operators::keyed_process::KeyedProcessFunction;
use spate::sinks::BlackholeSink;
use spate::sources::GeneratorSource;

/// Records per job run.
const RECORDS: u64 = 2_000_000;
/// Distinct keys.
const KEYS: u64 = 10_000;

/// Passes every record on: the cheapest operator behind a keyed exchange.
#[derive(Clone)]
struct PassThrough;

impl KeyedProcessFunction<u64, (u64, u64), (u64, u64)> for PassThrough {
    fn process_element(
        &mut self,
        value: (u64, u64),
        ctx: &mut KeyedContext<'_, u64, (u64, u64)>,
    ) -> spate::Result<()> {
        ctx.collect(value);
        Ok(())
    }
}

fn config(batch: u32) -> Config {
    let mut c = Config::default();
    c.runtime.cores = 2;
    c.runtime.batch_records_max = batch;
    // Small registered-buffer memory: the bench does no I/O, and it must fit
    // a default `ulimit -l`.
    c.runtime.io_memory_kib = 256;
    c
}

fn run_job(config: &Config) {
    let job = Job::builder("exchange bench");
    job.source("gen", |split| {
        Ok(GeneratorSource::new(
            |n| (n % KEYS, n),
            Some(RECORDS),
            split,
        ))
    })
    .key_by(|r: &(u64, u64)| r.0)
    .process(PassThrough)
    .sink("out", BlackholeSink);
    // A bench has no caller to return an error to; stop loudly.
    match job.build().and_then(|j| j.run(config)) {
        Ok(r) => assert_eq!(r.metrics.sink_records(), RECORDS, "records lost"),
        Err(e) => panic!("the exchange bench job failed: {e}"),
    }
}

fn keyed_exchange(c: &mut Criterion) {
    let mut group = c.benchmark_group("keyed_exchange_2_cores");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(4));
    group.throughput(Throughput::Elements(RECORDS));
    for batch in [64u32, 1024, 4096] {
        let cfg = config(batch);
        group.bench_with_input(BenchmarkId::new("batch", batch), &cfg, |b, cfg| {
            b.iter(|| run_job(cfg))
        });
    }
    group.finish();
}

criterion_group!(benches, keyed_exchange);
criterion_main!(benches);
