//! What the endpoints took and turned away.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters shared by the endpoints of one engine (or kept apart: each
/// endpoint takes its own `Arc`).
#[derive(Debug, Default)]
pub struct IngestStats {
    batches_accepted: AtomicU64,
    records_accepted: AtomicU64,
    rejected_unauthenticated: AtomicU64,
    rejected_malformed: AtomicU64,
    rejected_oversized: AtomicU64,
    rejected_unavailable: AtomicU64,
    rolled_back: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct IngestStatsSnapshot {
    /// Batches acknowledged.
    pub batches_accepted: u64,
    /// Records in them.
    pub records_accepted: u64,
    /// Requests or connections without the right token.
    pub rejected_unauthenticated: u64,
    /// Batches with a line that is not a record, or broken frames.
    pub rejected_malformed: u64,
    /// Batches over the byte or record limit.
    pub rejected_oversized: u64,
    /// Batches that came when the engine took no more records.
    pub rejected_unavailable: u64,
    /// Batches a failure of the job rolled back before a checkpoint held
    /// them (checkpointed engines): answered with an error, to send again.
    pub rolled_back: u64,
}

/// Why a batch was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    Unauthenticated,
    Malformed,
    Oversized,
    Unavailable,
    NotDurable,
}

impl IngestStats {
    /// The counters now.
    pub fn snapshot(&self) -> IngestStatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        IngestStatsSnapshot {
            batches_accepted: get(&self.batches_accepted),
            records_accepted: get(&self.records_accepted),
            rejected_unauthenticated: get(&self.rejected_unauthenticated),
            rejected_malformed: get(&self.rejected_malformed),
            rejected_oversized: get(&self.rejected_oversized),
            rejected_unavailable: get(&self.rejected_unavailable),
            rolled_back: get(&self.rolled_back),
        }
    }

    pub(crate) fn accepted(&self, records: usize) {
        self.batches_accepted.fetch_add(1, Ordering::Relaxed);
        self.records_accepted
            .fetch_add(records as u64, Ordering::Relaxed);
    }

    pub(crate) fn refused(&self, why: Refusal) {
        let counter = match why {
            Refusal::Unauthenticated => &self.rejected_unauthenticated,
            Refusal::Malformed => &self.rejected_malformed,
            Refusal::Oversized => &self.rejected_oversized,
            Refusal::Unavailable => &self.rejected_unavailable,
            Refusal::NotDurable => &self.rolled_back,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
