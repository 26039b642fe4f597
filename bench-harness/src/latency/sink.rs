//! The latency sink: `now - created_ns` per record into a per-core histogram.

use std::marker::PhantomData;
use std::sync::Arc;

use hdrhistogram::Histogram;
use spate::sinks::Sink;
use spate::sources::SplitInfo;
use spate::time::Timestamp;
use spate::{Result, SpateError};

use super::clock::now_ns;
use super::shared::RunShared;

/// The histogram's range: 1 ns to 1 h.
const HIGHEST_NS: u64 = 3_600 * 1_000_000_000;

/// An empty latency histogram (1 ns..1 h, 3 significant digits).
pub fn new_histogram() -> Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, HIGHEST_NS, 3)
        .map_err(|e| SpateError::internal(format!("cannot create a latency histogram: {e}")))
}

/// Records the end-to-end latency of every record whose `created_ns` is
/// after the warm-up. Each core's instance keeps its own histogram and
/// hands it to the shared list at `finish()`: no lock per record.
pub struct LatencySink<V> {
    shared: Arc<RunShared>,
    warmup_ns: u64,
    /// `run start + warm-up`, read lazily: the sources set the start.
    cutoff_ns: Option<u64>,
    hist: Option<Histogram<u64>>,
    first_created: u64,
    last_created: u64,
    _v: PhantomData<fn() -> V>,
}

impl<V> LatencySink<V> {
    /// A sink discarding records created in the first `warmup_ns` of the run.
    pub fn new(shared: Arc<RunShared>, warmup_ns: u64) -> Self {
        Self {
            shared,
            warmup_ns,
            cutoff_ns: None,
            hist: None,
            first_created: u64::MAX,
            last_created: 0,
            _v: PhantomData,
        }
    }
}

impl<V> Clone for LatencySink<V> {
    fn clone(&self) -> Self {
        // Every core starts empty; only the shared results are shared.
        Self::new(self.shared.clone(), self.warmup_ns)
    }
}

impl<V: 'static> Sink<(u64, V, u64)> for LatencySink<V> {
    fn open(&mut self, _split: SplitInfo) -> Result<()> {
        self.hist = Some(new_histogram()?);
        Ok(())
    }

    #[inline]
    fn write(&mut self, value: (u64, V, u64), _ts: Timestamp) -> Result<()> {
        let now = now_ns();
        let created = value.2;
        let cutoff = match self.cutoff_ns {
            Some(c) => c,
            None => {
                // A record exists, so a source has started and set the start.
                let c = self.shared.run_start_ns().unwrap_or(0) + self.warmup_ns;
                self.cutoff_ns = Some(c);
                c
            }
        };
        if created < cutoff {
            return Ok(());
        }
        let Some(h) = self.hist.as_mut() else {
            return Err(SpateError::internal("latency sink written before open"));
        };
        let ns = now.saturating_sub(created).clamp(1, HIGHEST_NS);
        // In range by the clamp above; a failure would only lose one sample.
        let _ = h.record(ns);
        self.first_created = self.first_created.min(created);
        self.last_created = self.last_created.max(created);
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        if let Some(h) = self.hist.take() {
            self.shared
                .sink_finished(h, self.first_created, self.last_created);
        }
        Ok(())
    }
}
