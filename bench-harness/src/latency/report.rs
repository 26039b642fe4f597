//! The result of a latency run: readable summary and the peer's JSON fields.

use serde::Serialize;
use spate::config::Config;

use super::jobs::{JobParams, LatencyQuery};
use super::shared::RunTotals;
use crate::report::human;

/// One latency run. Field names follow the Flink peer's JSON line, so the
/// peer's `table.py` reads both.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyReport {
    /// Always `spate`.
    pub engine: &'static str,
    /// `q1` or `keyed`.
    pub query: LatencyQuery,
    /// The state backend that ran (`state.backend`).
    pub state: &'static str,
    /// Checkpoint interval that ran (`checkpoint.interval_ms`; 0 = off).
    pub checkpoint_ms: u64,
    /// Checkpoints that completed during the run.
    pub checkpoints_completed: u64,
    /// `runtime.buffer_timeout_ms`.
    pub buffer_timeout_ms: u64,
    /// `runtime.batch_records_max`.
    pub batch_records_max: u32,
    /// `runtime.flush_on_idle`.
    pub flush_on_idle: bool,
    /// `runtime.spin_before_park_us`.
    pub spin_before_park_us: u64,
    /// Cores (the peer's parallelism).
    pub parallelism: usize,
    /// Target records/s over all cores.
    pub target_rate: u64,
    /// Run length, s.
    pub seconds: f64,
    /// Discarded warm-up, s.
    pub warmup_s: f64,
    /// Records measured (created after the warm-up).
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
    /// Measured records / span of their creation stamps.
    pub achieved_rate: f64,
    /// Records all sources emitted.
    pub source_emitted: u64,
    /// Emitted records / source run time.
    pub source_rate: f64,
    /// The most a source fell behind its schedule after the warm-up, ms.
    pub source_max_lag_ms: f64,
    /// Wall time of the job, s.
    pub job_wall_s: f64,
}

impl LatencyReport {
    pub(crate) fn new(
        p: JobParams,
        config: &Config,
        cores: usize,
        checkpoints_completed: u64,
        t: &RunTotals,
        wall_s: f64,
    ) -> Self {
        let h = &t.hist;
        let count = h.len();
        let us = |ns: u64| ns as f64 / 1000.0;
        let q = |p: f64| {
            if count == 0 {
                f64::NAN
            } else {
                us(h.value_at_quantile(p))
            }
        };
        let r = &config.runtime;
        Self {
            engine: "spate",
            query: p.query,
            state: config.state.backend.name(),
            checkpoint_ms: config.checkpoint.interval_ms,
            checkpoints_completed,
            buffer_timeout_ms: r.buffer_timeout_ms,
            batch_records_max: r.batch_records_max,
            flush_on_idle: r.flush_on_idle,
            spin_before_park_us: r.spin_before_park_us,
            parallelism: cores,
            target_rate: p.rate_per_s,
            seconds: p.seconds,
            warmup_s: p.warmup_s,
            count,
            p50_us: q(0.5),
            p99_us: q(0.99),
            p999_us: q(0.999),
            max_us: if count == 0 { f64::NAN } else { us(h.max()) },
            mean_us: if count == 0 {
                f64::NAN
            } else {
                h.mean() / 1000.0
            },
            achieved_rate: if count > 1 && t.created_span_ns > 0 {
                count as f64 / (t.created_span_ns as f64 / 1e9)
            } else {
                f64::NAN
            },
            source_emitted: t.source_emitted,
            source_rate: if t.source_span_ns > 0 {
                t.source_emitted as f64 / (t.source_span_ns as f64 / 1e9)
            } else {
                f64::NAN
            },
            source_max_lag_ms: t.source_max_lag_ns as f64 / 1e6,
            job_wall_s: wall_s,
        }
    }

    /// The readable summary.
    pub fn summary(&self) -> String {
        format!(
            "query           {} ({})\n\
             cores           {}\n\
             exchange        batch {} · buffer timeout {} ms · flush on idle {} · spin {} µs\n\
             target          {} events/s for {:.0} s (first {:.1} s discarded)\n\
             achieved        {} events/s, {} records measured\n\
             latency         p50 {} · p99 {} · p99.9 {} · max {} (mean {})\n\
             source lag      {:.2} ms (most behind schedule after warm-up)\n",
            self.query.name(),
            self.query.shape(),
            self.parallelism,
            self.batch_records_max,
            self.buffer_timeout_ms,
            if self.flush_on_idle { "on" } else { "off" },
            self.spin_before_park_us,
            human(self.target_rate as f64),
            self.seconds,
            self.warmup_s,
            human(self.achieved_rate),
            self.count,
            micros(self.p50_us),
            micros(self.p99_us),
            micros(self.p999_us),
            micros(self.max_us),
            micros(self.mean_us),
            self.source_max_lag_ms,
        )
    }

    /// True when the source kept its schedule: lag under `lag_limit_ms`
    /// and records measured.
    pub fn sustained(&self, lag_limit_ms: f64) -> bool {
        self.count > 0 && self.source_max_lag_ms < lag_limit_ms
    }
}

/// `12 µs`, `1.25 ms`, `-` for no value.
pub fn micros(us: f64) -> String {
    if us.is_nan() {
        "-".into()
    } else if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else if us >= 10.0 {
        format!("{us:.0} µs")
    } else {
        format!("{us:.1} µs")
    }
}
