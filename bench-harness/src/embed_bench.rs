//! `spate bench embed`: the latency of an embedded engine, from
//! `Ingest::send` to the output callback, on a keyed stateful job (per key,
//! a running sum), at 50 % of the highest rate the engine sustains.
//!
//! First a saturation run: one sender thread sends as fast as `send`
//! lets it (backpressure sets the pace) for `max_seconds`; the records
//! delivered per second are the maximum sustainable rate. Then a paced run
//! at `rate_fraction` of it: the sender stamps each record with
//! [`now_ns`] just before `send`, on a fixed schedule, and the callback
//! records `now - stamp` into an HDR histogram. Records sent in the first
//! `warmup_frac` of the run are not measured. The sender's lag behind its
//! schedule tells whether the paced rate was sustained.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_lite::future::block_on;
use hdrhistogram::Histogram;
use serde::Serialize;
use spate::config::Config;
use spate::embed::{EmbedError, EngineBuilder, Ingest};
use spate::{DataStream, Result, SpateError};

use crate::latency::clock::now_ns;
use crate::latency::{LAG_LIMIT_MS, micros, new_histogram};

/// (key, value, the sender's stamp in ns): in and out of the job.
type Rec = (u64, u64, u64);

/// What to measure.
#[derive(Debug, Clone, Copy)]
pub struct EmbedBenchSpec {
    /// Distinct keys of the running sums.
    pub keys: u64,
    /// Length of the saturation run, s.
    pub max_seconds: f64,
    /// Length of the paced run, s.
    pub seconds: f64,
    /// Fraction of the maximum rate the paced run sends at.
    pub rate_fraction: f64,
    /// Fraction of the paced run not measured (warm-up).
    pub warmup_frac: f64,
    /// Capacity of the ingest queue, records.
    pub ingest_records_max: usize,
}

impl Default for EmbedBenchSpec {
    fn default() -> Self {
        Self {
            keys: 10_000,
            max_seconds: 3.0,
            seconds: 10.0,
            rate_fraction: 0.5,
            warmup_frac: 0.2,
            ingest_records_max: spate::embed::INGEST_RECORDS_MAX_DEFAULT,
        }
    }
}

/// The result of `spate bench embed`.
#[derive(Debug, Clone, Serialize)]
pub struct EmbedReport {
    /// The job's shape.
    pub job: &'static str,
    /// Executor cores of the engine (the sender is one more thread).
    pub cores: usize,
    /// `runtime.batch_records_max`.
    pub batch_records_max: u32,
    /// `runtime.flush_on_idle`.
    pub flush_on_idle: bool,
    /// `runtime.spin_before_park_us`.
    pub spin_before_park_us: u64,
    /// Distinct keys.
    pub keys: u64,
    /// Records per second delivered by the saturation run.
    pub max_rate_per_s: f64,
    /// Records sent in the saturation run.
    pub max_run_records: u64,
    /// Target rate of the paced run (records/s).
    pub target_rate: u64,
    /// Rate the paced run reached (records/s).
    pub achieved_rate: f64,
    /// The most the sender fell behind its schedule after the warm-up, ms.
    pub sender_max_lag_ms: f64,
    /// True when the lag stayed under the limit (the rate was sustained).
    pub sustained: bool,
    /// Paced run length, s.
    pub seconds: f64,
    /// Records measured (sent after the warm-up).
    pub count: u64,
    /// Median latency, µs.
    pub p50_us: f64,
    /// 99th percentile, µs.
    pub p99_us: f64,
    /// 99.9th percentile, µs.
    pub p999_us: f64,
    /// Maximum, µs.
    pub max_us: f64,
    /// Mean, µs.
    pub mean_us: f64,
}

impl EmbedReport {
    /// A readable summary.
    pub fn summary(&self) -> String {
        format!(
            "job             {}\n\
             cores           {} (+1 sender thread)\n\
             max rate        {:.0} records/s ({} records, backpressured sender)\n\
             paced at        {} records/s, achieved {:.0}, sender lag {:.2} ms ({})\n\
             latency         p50 {}  p99 {}  p99.9 {}  max {}  mean {}  ({} records)\n",
            self.job,
            self.cores,
            self.max_rate_per_s,
            self.max_run_records,
            self.target_rate,
            self.achieved_rate,
            self.sender_max_lag_ms,
            if self.sustained {
                "sustained"
            } else {
                "behind"
            },
            micros(self.p50_us),
            micros(self.p99_us),
            micros(self.p999_us),
            micros(self.max_us),
            micros(self.mean_us),
            self.count
        )
    }
}

const JOB: &str = "send → key_by(key) → running sum (reduce) → callback";

fn running_sums(input: DataStream<Rec>) -> DataStream<Rec> {
    input
        .key_by(|r: &Rec| r.0)
        .reduce(|acc: &Rec, r: &Rec| (r.0, acc.1.wrapping_add(r.1), r.2))
}

/// Spreads consecutive records over the keys.
fn key_of(i: u64, keys: u64) -> u64 {
    i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % keys.max(1)
}

/// Runs both phases.
pub fn run(spec: &EmbedBenchSpec, config: &Config) -> Result<EmbedReport> {
    if spec.seconds <= 0.0
        || spec.max_seconds <= 0.0
        || !(0.0..1.0).contains(&spec.warmup_frac)
        || !(spec.rate_fraction > 0.0 && spec.rate_fraction <= 1.0)
    {
        return Err(SpateError::invalid_job(
            "an embed benchmark needs seconds > 0, max seconds > 0, a warm-up fraction in \
             [0, 1) and a rate fraction in (0, 1]",
        ));
    }
    let _ = now_ns(); // Fixes the clock origin before any thread reads it.
    let (max_rate, max_records) = saturate(spec, config)?;
    let target = ((max_rate * spec.rate_fraction) as u64).max(1);
    let paced = paced(spec, config, target)?;
    let h = &paced.hist;
    let us = |ns: u64| ns as f64 / 1000.0;
    Ok(EmbedReport {
        job: JOB,
        cores: paced.cores,
        batch_records_max: config.runtime.batch_records_max,
        flush_on_idle: config.runtime.flush_on_idle,
        spin_before_park_us: config.runtime.spin_before_park_us,
        keys: spec.keys,
        max_rate_per_s: max_rate,
        max_run_records: max_records,
        target_rate: target,
        achieved_rate: paced.achieved_rate,
        sender_max_lag_ms: paced.max_lag_ns as f64 / 1e6,
        sustained: (paced.max_lag_ns as f64 / 1e6) < LAG_LIMIT_MS,
        seconds: spec.seconds,
        count: h.len(),
        p50_us: us(h.value_at_quantile(0.50)),
        p99_us: us(h.value_at_quantile(0.99)),
        p999_us: us(h.value_at_quantile(0.999)),
        max_us: us(h.max()),
        mean_us: h.mean() / 1000.0,
    })
}

fn embed_err(e: EmbedError) -> SpateError {
    match e {
        EmbedError::Job(e) => e,
        other => SpateError::Runtime {
            core: 0,
            reason: other.to_string(),
        },
    }
}

/// Sends as fast as backpressure allows; returns (records/s, records).
fn saturate(spec: &EmbedBenchSpec, config: &Config) -> Result<(f64, u64)> {
    let delivered = Arc::new(AtomicU64::new(0));
    let counter = delivered.clone();
    let engine = EngineBuilder::new("embed bench: saturation")
        .config(config.clone())
        .ingest_records_max(spec.ingest_records_max)
        .start_with_callback(running_sums, move |_r: Rec| {
            counter.fetch_add(1, Ordering::Relaxed);
        })
        .map_err(embed_err)?;
    let ingest = engine.ingest();
    let start = Instant::now();
    let sent = block_on(async {
        let mut i = 0u64;
        while start.elapsed().as_secs_f64() < spec.max_seconds {
            // Check the clock once per 256 records, not per record.
            for _ in 0..256 {
                ingest.send((key_of(i, spec.keys), i, 0)).await?;
                i += 1;
            }
        }
        Ok::<u64, EmbedError>(i)
    })
    .map_err(embed_err)?;
    block_on(engine.shutdown()).map_err(embed_err)?;
    let wall_s = start.elapsed().as_secs_f64();
    let got = delivered.load(Ordering::Relaxed);
    if got != sent {
        return Err(SpateError::internal(format!(
            "the saturation run sent {sent} records and got {got} results"
        )));
    }
    Ok((sent as f64 / wall_s, sent))
}

struct Paced {
    hist: Histogram<u64>,
    achieved_rate: f64,
    max_lag_ns: u64,
    cores: usize,
}

/// Sends at `rate` records/s on a fixed schedule and measures each record.
fn paced(spec: &EmbedBenchSpec, config: &Config, rate: u64) -> Result<Paced> {
    let hist = Arc::new(Mutex::new(new_histogram()?));
    let recorder = hist.clone();
    // Records stamped before this are the warm-up; set once sending starts.
    let cutoff = Arc::new(AtomicU64::new(u64::MAX));
    let cutoff_cb = cutoff.clone();
    let engine = EngineBuilder::new("embed bench: paced")
        .config(config.clone())
        .ingest_records_max(spec.ingest_records_max)
        .start_with_callback(running_sums, move |r: Rec| {
            let now = now_ns();
            if r.2 >= cutoff_cb.load(Ordering::Relaxed) {
                let mut h = recorder.lock().unwrap_or_else(|p| p.into_inner());
                let _ = h.record(now.saturating_sub(r.2).max(1));
            }
        })
        .map_err(embed_err)?;
    let ingest = engine.ingest();
    let total = ((rate as f64) * spec.seconds) as u64;
    let start_ns = now_ns();
    let warmup_ns = (spec.seconds * spec.warmup_frac * 1e9) as u64;
    cutoff.store(start_ns + warmup_ns, Ordering::Relaxed);
    let max_lag_ns = send_paced(&ingest, spec.keys, rate, total, start_ns, warmup_ns)?;
    let sent_s = (now_ns() - start_ns) as f64 / 1e9;
    let result = block_on(engine.shutdown()).map_err(embed_err)?;
    let hist = std::mem::replace(
        &mut *hist.lock().unwrap_or_else(|p| p.into_inner()),
        new_histogram()?,
    );
    Ok(Paced {
        hist,
        achieved_rate: total as f64 / sent_s,
        max_lag_ns,
        cores: result.cores,
    })
}

/// Sends `total` records, record `i` due at `start + i / rate`; returns the
/// sender's largest lag behind schedule after the warm-up.
fn send_paced(
    ingest: &Ingest<Rec>,
    keys: u64,
    rate: u64,
    total: u64,
    start_ns: u64,
    warmup_ns: u64,
) -> Result<u64> {
    let mut max_lag_ns = 0u64;
    for i in 0..total {
        let due = start_ns + (i as u128 * 1_000_000_000 / rate as u128) as u64;
        let mut now = now_ns();
        while now < due {
            std::hint::spin_loop();
            now = now_ns();
        }
        if now - start_ns >= warmup_ns {
            max_lag_ns = max_lag_ns.max(now - due);
        }
        let rec = (key_of(i, keys), i, now);
        if let Err(rejected) = ingest.try_send(rec) {
            // Saturated: wait for room, as a service would.
            block_on(ingest.send(rejected.into_record())).map_err(embed_err)?;
        }
    }
    Ok(max_lag_ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_spread_over_the_range() {
        let keys = 100;
        let mut seen = vec![0u32; keys as usize];
        for i in 0..10_000 {
            seen[key_of(i, keys) as usize] += 1;
        }
        assert!(seen.iter().all(|&n| n > 50), "{seen:?}");
    }

    #[test]
    fn a_short_run_measures_every_paced_record() {
        let mut config = Config::default();
        config.runtime.cores = 1;
        config.runtime.io_memory_kib = 256;
        config.runtime.pin_cores = false;
        let spec = EmbedBenchSpec {
            keys: 10,
            max_seconds: 0.2,
            seconds: 0.3,
            rate_fraction: 0.01,
            warmup_frac: 0.0,
            ingest_records_max: 256,
        };
        let r = run(&spec, &config).expect("bench runs");
        assert!(r.max_rate_per_s > 1000.0, "{}", r.max_rate_per_s);
        assert_eq!(r.target_rate, (r.max_rate_per_s * 0.01) as u64);
        // Every paced record is measured (no warm-up).
        assert_eq!(r.count, (r.target_rate as f64 * 0.3) as u64);
        assert!(r.p50_us > 0.0 && r.p50_us <= r.p99_us && r.p99_us <= r.max_us);
    }
}
