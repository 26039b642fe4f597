//! Smoke test of the latency benchmark: a short paced run measures about
//! the expected number of records and a sensible median. Not a timing test.

#![allow(clippy::unwrap_used)]

use spate::config::Config;
use spate_bench::latency::{self, LatencyQuery, LatencySpec};

fn one_core() -> Config {
    let mut c = Config::default();
    c.runtime.cores = 1;
    c.runtime.io_memory_kib = 256;
    c
}

fn smoke(query: LatencyQuery) {
    let spec = LatencySpec::new(query, 20_000, 1.0);
    let r = latency::run(&spec, &one_core()).unwrap();
    // Records created after the 20 % warm-up: 80 % of 20 K.
    let expected = 20_000.0 * (1.0 - spec.warmup_frac);
    let count = r.count as f64;
    assert!(
        (count - expected).abs() <= 0.1 * expected,
        "measured {count} records, expected about {expected}: {r:?}"
    );
    assert_eq!(r.source_emitted, 20_000, "{r:?}");
    assert!(r.p50_us.is_finite() && r.p50_us > 0.0, "{r:?}");
    assert!(r.p99_us >= r.p50_us && r.max_us >= r.p99_us, "{r:?}");
}

#[test]
fn q1_one_second_at_20k_per_s() {
    smoke(LatencyQuery::Q1);
}

#[test]
fn keyed_one_second_at_20k_per_s() {
    smoke(LatencyQuery::Keyed);
}
