//! End-to-end latency per record, measured the way the Flink latency peer
//! (`shared/peers/flink/latency`) measures it, so the numbers compare side
//! by side.
//!
//! A paced source ([`PacedSource`], Spate's `RateLimiter`) stamps every
//! record with the process-wide monotonic clock ([`clock::now_ns`]) when it
//! emits it; the sink ([`LatencySink`]) records `now - created` per record
//! into a per-core HDR histogram. Records created in the first 20 % of the
//! run are discarded (warm-up). The source lag is the most any source fell
//! behind its schedule after the warm-up: tens of ms mean the rate is not
//! sustainable. [`find_max`] searches the highest sustainable rate.

pub mod clock;
mod jobs;
mod report;
mod shared;
mod sink;
mod source;

use std::sync::Arc;
use std::time::Instant;

use spate::Result;
use spate::config::Config;

pub use jobs::LatencyQuery;
pub use report::{LatencyReport, micros};
pub use shared::{RunShared, RunTotals};
pub use sink::{LatencySink, new_histogram};
pub use source::{KEYS, LatencyRecord, PacedSource};

/// The peer's warm-up: the first 20 % of the run.
pub const WARMUP_FRAC: f64 = 0.2;

/// The source lag above which a rate counts as not sustainable, ms.
pub const LAG_LIMIT_MS: f64 = 20.0;

/// One latency run.
#[derive(Debug, Clone, Copy)]
pub struct LatencySpec {
    /// Which job.
    pub query: LatencyQuery,
    /// Records per second over all cores.
    pub rate_per_s: u64,
    /// Run length in seconds.
    pub seconds: f64,
    /// Fraction of the run discarded as warm-up.
    pub warmup_frac: f64,
}

impl LatencySpec {
    /// A run of `query` at `rate_per_s` for `seconds`, with the peer's warm-up.
    pub fn new(query: LatencyQuery, rate_per_s: u64, seconds: f64) -> Self {
        Self {
            query,
            rate_per_s,
            seconds,
            warmup_frac: WARMUP_FRAC,
        }
    }
}

/// Runs the job once and measures it.
pub fn run(spec: &LatencySpec, config: &Config) -> Result<LatencyReport> {
    if spec.rate_per_s == 0 || spec.seconds <= 0.0 || !(0.0..1.0).contains(&spec.warmup_frac) {
        return Err(spate::SpateError::invalid_job(
            "a latency run needs a rate > 0, seconds > 0 and a warm-up fraction in [0, 1)",
        ));
    }
    let params = jobs::JobParams {
        query: spec.query,
        rate_per_s: spec.rate_per_s,
        seconds: spec.seconds,
        warmup_s: spec.seconds * spec.warmup_frac,
    };
    // Fix the clock origin before any core reads it.
    let _ = clock::now_ns();
    let shared = Arc::new(RunShared::default());
    let job = jobs::build(params, &shared)?;
    let start = Instant::now();
    let result = job.run(config)?;
    let wall_s = start.elapsed().as_secs_f64();
    let totals = shared.totals()?;
    Ok(LatencyReport::new(
        params,
        config,
        result.cores,
        result.metrics.checkpoints.completed,
        &totals,
        wall_s,
    ))
}

/// How [`find_max`] searches.
#[derive(Debug, Clone, Copy)]
pub struct FindMaxSpec {
    /// Which job.
    pub query: LatencyQuery,
    /// The first rate tried; doubled until one is not sustained.
    pub start_rate: u64,
    /// Seconds per probe run.
    pub probe_seconds: f64,
    /// Bisection steps between the last sustained and the first failed rate.
    pub bisect_steps: u32,
    /// The lag that fails a probe, ms.
    pub lag_limit_ms: f64,
}

impl FindMaxSpec {
    /// Doubling from 1 M/s, 3 s probes, 4 bisection steps, 20 ms lag limit.
    pub fn new(query: LatencyQuery) -> Self {
        Self {
            query,
            start_rate: 1_000_000,
            probe_seconds: 3.0,
            bisect_steps: 4,
            lag_limit_ms: LAG_LIMIT_MS,
        }
    }
}

/// The rates [`find_max`] tried and what it found.
#[derive(Debug, Clone)]
pub struct FindMax {
    /// Every probe, in order.
    pub probes: Vec<LatencyReport>,
    /// The highest rate that was sustained (0 if none was).
    pub max_rate: u64,
}

/// The lowest rate [`find_max`] tries before giving up.
const RATE_FLOOR: u64 = 1_000;
/// The highest rate [`find_max`] tries: no engine on one machine gets close.
const RATE_CEILING: u64 = 1 << 34;

/// Finds the highest sustainable rate: doubles from `start_rate` until a
/// probe is not sustained (or halves until one is), then bisects. `probe`
/// runs one spec; `run` with a config in production, a model in tests.
pub fn find_max(
    spec: &FindMaxSpec,
    mut probe: impl FnMut(&LatencySpec) -> Result<LatencyReport>,
) -> Result<FindMax> {
    let mut probes = Vec::new();
    let mut try_rate = |rate: u64, probes: &mut Vec<LatencyReport>| -> Result<bool> {
        let r = probe(&LatencySpec::new(spec.query, rate, spec.probe_seconds))?;
        let ok = r.sustained(spec.lag_limit_ms);
        probes.push(r);
        Ok(ok)
    };
    let mut rate = spec.start_rate.clamp(RATE_FLOOR, RATE_CEILING);
    let (mut good, mut bad) = if try_rate(rate, &mut probes)? {
        loop {
            let next = rate.saturating_mul(2);
            if next > RATE_CEILING {
                return Ok(FindMax {
                    probes,
                    max_rate: rate,
                });
            }
            if !try_rate(next, &mut probes)? {
                break (rate, next);
            }
            rate = next;
        }
    } else {
        loop {
            let next = rate / 2;
            if next < RATE_FLOOR {
                return Ok(FindMax {
                    probes,
                    max_rate: 0,
                });
            }
            if try_rate(next, &mut probes)? {
                break (next, rate);
            }
            rate = next;
        }
    };
    for _ in 0..spec.bisect_steps {
        let mid = good + (bad - good) / 2;
        if mid <= good || mid >= bad {
            break;
        }
        if try_rate(mid, &mut probes)? {
            good = mid;
        } else {
            bad = mid;
        }
    }
    Ok(FindMax {
        probes,
        max_rate: good,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::shared::RunTotals;

    /// A report as a probe of an engine that sustains up to `cap` records/s.
    fn modelled(spec: &LatencySpec, cap: u64) -> LatencyReport {
        let mut hist = new_histogram().unwrap();
        hist.record(10_000).unwrap();
        let totals = RunTotals {
            hist,
            source_emitted: 1,
            source_max_lag_ns: if spec.rate_per_s <= cap {
                1_000_000
            } else {
                500_000_000
            },
            source_span_ns: 1,
            created_span_ns: 1,
        };
        let p = jobs::JobParams {
            query: spec.query,
            rate_per_s: spec.rate_per_s,
            seconds: spec.seconds,
            warmup_s: 0.0,
        };
        LatencyReport::new(p, &Config::default(), 2, 0, &totals, 1.0)
    }

    #[test]
    fn find_max_doubles_then_bisects() {
        let spec = FindMaxSpec::new(LatencyQuery::Q1);
        let found = find_max(&spec, |s| Ok(modelled(s, 5_300_000))).unwrap();
        // 1, 2, 4 M pass, 8 M fails; bisecting 4..8 M four times.
        assert_eq!(found.probes.len(), 4 + 4);
        assert!(found.max_rate <= 5_300_000 && found.max_rate >= 5_000_000);
        assert_eq!(found.max_rate, 5_250_000);
    }

    #[test]
    fn find_max_halves_when_the_start_fails() {
        let spec = FindMaxSpec::new(LatencyQuery::Keyed);
        let found = find_max(&spec, |s| Ok(modelled(s, 300_000))).unwrap();
        assert!(
            found.max_rate <= 300_000 && found.max_rate >= 250_000,
            "{}",
            found.max_rate
        );
    }

    #[test]
    fn find_max_reports_zero_when_nothing_is_sustained() {
        let spec = FindMaxSpec::new(LatencyQuery::Q1);
        let found = find_max(&spec, |s| Ok(modelled(s, 0))).unwrap();
        assert_eq!(found.max_rate, 0);
    }
}
