//! Functions that combine the records of one input batch (SQL's
//! mini-batch aggregation) emit at the batch's end: before the watermark
//! that follows those records goes on, and before the input ends, so
//! nothing they hold is lost or overtaken by a watermark, on 1 and 2 cores.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use spate::config::Config;
use spate::keyed::KeyedContext;
use spate::operators::keyed_process::KeyedProcessFunction;
use spate::operators::process::{Context, ProcessFunction};
use spate::sinks::CollectSink;
use spate::time::WatermarkStrategy;
use spate::{Job, Result};

const RECORDS: i64 = 2_000;
const KEYS: u64 = 7;

fn config(cores: u32) -> Config {
    let mut c = Config::default();
    c.runtime.cores = cores;
    c.runtime.io_memory_kib = 256;
    c.runtime.batch_records_max = 16;
    c
}

/// `(key, ts)` records, 10 ms apart, with ascending timestamps.
fn records() -> Vec<(u64, i64)> {
    (0..RECORDS).map(|i| (i as u64 % KEYS, i * 10)).collect()
}

/// A batch's record count and its earliest timestamp.
#[derive(Clone, Default)]
struct BatchCount {
    count: u64,
    earliest: Option<i64>,
}

impl ProcessFunction<(u64, i64), (u64, i64)> for BatchCount {
    fn process_element(&mut self, (_, ts): (u64, i64), _: &mut Context<'_, (u64, i64)>) {
        self.count += 1;
        self.earliest = Some(self.earliest.map_or(ts, |e| e.min(ts)));
    }

    fn on_batch_end(&mut self, ctx: &mut Context<'_, (u64, i64)>) {
        if let Some(earliest) = self.earliest.take() {
            ctx.collect((std::mem::take(&mut self.count), earliest));
        }
    }
}

/// Per key, the sum of the timestamps of a batch's records, emitted once
/// per key and batch with the key's earliest timestamp in the batch.
#[derive(Clone, Default)]
struct KeySums {
    held: BTreeMap<u64, (i64, i64, u64)>,
}

impl KeyedProcessFunction<u64, (u64, i64), (u64, i64, i64, u64)> for KeySums {
    fn process_element(
        &mut self,
        (key, ts): (u64, i64),
        _: &mut KeyedContext<'_, u64, (u64, i64, i64, u64)>,
    ) -> Result<()> {
        let e = self.held.entry(key).or_insert((0, ts, 0));
        e.0 += ts;
        e.1 = e.1.min(ts);
        e.2 += 1;
        Ok(())
    }

    fn take_deferred_keys(&mut self, keys: &mut Vec<u64>) {
        keys.extend(self.held.keys().copied());
    }

    fn flush_key(&mut self, ctx: &mut KeyedContext<'_, u64, (u64, i64, i64, u64)>) -> Result<()> {
        let key = *ctx.key();
        let (sum, earliest, n) = self
            .held
            .remove(&key)
            .ok_or_else(|| spate::SpateError::internal("flushed a key not held"))?;
        ctx.collect((key, sum, earliest, n));
        Ok(())
    }
}

/// Passes records on, failing the job if one arrives after a watermark
/// that already passed its earliest timestamp.
fn not_overtaken<T: Clone + Send + Sync + 'static>(
    earliest: impl Fn(&T) -> i64 + Clone + Send + Sync + 'static,
) -> impl FnMut(T, &mut Context<'_, T>) + Clone + Send + Sync + 'static {
    move |x: T, ctx: &mut Context<'_, T>| {
        if earliest(&x) <= ctx.current_watermark() {
            ctx.fail(spate::SpateError::internal(format!(
                "a batch's output with a record at {} came after watermark {}",
                earliest(&x),
                ctx.current_watermark()
            )));
        }
        ctx.collect(x);
    }
}

#[test]
fn a_batch_combining_function_emits_before_the_watermark_and_the_end() {
    for cores in [1, 2] {
        let out = CollectSink::new();
        let job = Job::builder("batch counts");
        job.from_collection(records())
            .assign_timestamps_and_watermarks(WatermarkStrategy::monotonous(|r: &(u64, i64)| r.1))
            .process(BatchCount::default())
            .process(not_overtaken(|b: &(u64, i64)| b.1))
            .sink("counts", out.clone());
        job.build().unwrap().run(&config(cores)).unwrap();
        let batches = out.take();
        let total: u64 = batches.iter().map(|b| b.0).sum();
        assert_eq!(
            total, RECORDS as u64,
            "{cores} cores: every record counted once"
        );
        assert!(
            batches.len() as i64 * 4 <= RECORDS,
            "{cores} cores: records were combined per batch ({} batches)",
            batches.len()
        );
    }
}

#[test]
fn a_keyed_function_flushes_each_held_key_before_the_watermark_and_the_end() {
    let mut want: BTreeMap<u64, (i64, u64)> = BTreeMap::new();
    for (k, ts) in records() {
        let e = want.entry(k).or_default();
        e.0 += ts;
        e.1 += 1;
    }
    for cores in [1, 2] {
        let out = CollectSink::new();
        let job = Job::builder("key sums");
        job.from_collection(records())
            .assign_timestamps_and_watermarks(WatermarkStrategy::monotonous(|r: &(u64, i64)| r.1))
            .key_by(|r: &(u64, i64)| r.0)
            .process(KeySums::default())
            .process(not_overtaken(|s: &(u64, i64, i64, u64)| s.2))
            .sink("sums", out.clone());
        job.build().unwrap().run(&config(cores)).unwrap();
        let flushed = out.take();
        let mut got: BTreeMap<u64, (i64, u64)> = BTreeMap::new();
        for (k, sum, _, n) in &flushed {
            let e = got.entry(*k).or_default();
            e.0 += sum;
            e.1 += n;
        }
        assert_eq!(got, want, "{cores} cores: every record in its key's sums");
        assert!(
            (flushed.len() as i64) < RECORDS,
            "{cores} cores: keys were held over several records ({} flushes)",
            flushed.len()
        );
    }
}
