//! What the sources and sinks of one run share across cores.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hdrhistogram::Histogram;

/// Counters and histograms of one latency run, shared by every core.
#[derive(Debug)]
pub struct RunShared {
    /// The earliest source start (`now_ns`), `u64::MAX` before any.
    run_start_ns: AtomicU64,
    source_emitted: AtomicU64,
    source_max_lag_ns: AtomicU64,
    source_end_ns: AtomicU64,
    first_created_ns: AtomicU64,
    last_created_ns: AtomicU64,
    /// One histogram per sink instance (core), handed over at `finish()`.
    pub hists: Arc<Mutex<Vec<Histogram<u64>>>>,
}

impl Default for RunShared {
    fn default() -> Self {
        Self {
            run_start_ns: AtomicU64::new(u64::MAX),
            source_emitted: AtomicU64::new(0),
            source_max_lag_ns: AtomicU64::new(0),
            source_end_ns: AtomicU64::new(0),
            first_created_ns: AtomicU64::new(u64::MAX),
            last_created_ns: AtomicU64::new(0),
            hists: Arc::new(Mutex::new(Vec::new())),
        }
    }
}

/// The totals of a finished run.
#[derive(Debug, Clone)]
pub struct RunTotals {
    /// The sinks' histograms merged (ns), records created after the warm-up.
    pub hist: Histogram<u64>,
    /// Records emitted by all sources.
    pub source_emitted: u64,
    /// The most any source was behind its schedule after the warm-up, ns.
    pub source_max_lag_ns: u64,
    /// From the first source start to the last source end, ns.
    pub source_span_ns: u64,
    /// Span of the measured records' creation stamps, ns.
    pub created_span_ns: u64,
}

impl RunShared {
    pub(crate) fn source_started(&self, now: u64) {
        self.run_start_ns.fetch_min(now, Ordering::Relaxed);
    }

    /// The first source start, if any source has started.
    pub(crate) fn run_start_ns(&self) -> Option<u64> {
        let v = self.run_start_ns.load(Ordering::Relaxed);
        (v != u64::MAX).then_some(v)
    }

    pub(crate) fn source_finished(&self, emitted: u64, max_lag_ns: u64, end_ns: u64) {
        self.source_emitted.fetch_add(emitted, Ordering::Relaxed);
        self.source_max_lag_ns
            .fetch_max(max_lag_ns, Ordering::Relaxed);
        self.source_end_ns.fetch_max(end_ns, Ordering::Relaxed);
    }

    pub(crate) fn sink_finished(&self, hist: Histogram<u64>, first: u64, last: u64) {
        self.first_created_ns.fetch_min(first, Ordering::Relaxed);
        self.last_created_ns.fetch_max(last, Ordering::Relaxed);
        let mut hists = match self.hists.lock() {
            Ok(h) => h,
            // A panicking core cannot leave a half-pushed Vec; keep going.
            Err(poisoned) => poisoned.into_inner(),
        };
        hists.push(hist);
    }

    /// Merges what the cores handed over.
    pub fn totals(&self) -> spate::Result<RunTotals> {
        let mut hist = super::sink::new_histogram()?;
        let hists = match self.hists.lock() {
            Ok(h) => h,
            Err(poisoned) => poisoned.into_inner(),
        };
        for h in hists.iter() {
            hist.add(h).map_err(|e| {
                spate::SpateError::internal(format!("cannot merge latency histograms: {e}"))
            })?;
        }
        let first = self.first_created_ns.load(Ordering::Relaxed);
        let last = self.last_created_ns.load(Ordering::Relaxed);
        let start = self.run_start_ns().unwrap_or(0);
        Ok(RunTotals {
            hist,
            source_emitted: self.source_emitted.load(Ordering::Relaxed),
            source_max_lag_ns: self.source_max_lag_ns.load(Ordering::Relaxed),
            source_span_ns: self
                .source_end_ns
                .load(Ordering::Relaxed)
                .saturating_sub(start),
            created_span_ns: last.saturating_sub(first),
        })
    }
}
