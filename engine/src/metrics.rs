//! Job metrics: per-core counters merged into a job summary at the end.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use hdrhistogram::Histogram;

/// Latency histograms hold nanoseconds from 1 ns to 1 hour at 3 significant digits.
const LATENCY_NS_MAX: u64 = 3_600_000_000_000;

fn new_latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_NS_MAX, 3).expect("constant histogram bounds are valid")
}

/// What one sink saw.
#[derive(Debug, Clone)]
pub struct SinkStats {
    /// Records written.
    pub records: u64,
    /// Order-independent checksum (wrapping sum of the stable hash of each
    /// record), or 0 when the sink does not checksum.
    pub checksum: u64,
    /// End-to-end latency in ns, from the creation of the input to the sink.
    pub latency_ns: Histogram<u64>,
}

impl Default for SinkStats {
    fn default() -> Self {
        Self {
            records: 0,
            checksum: 0,
            latency_ns: new_latency_histogram(),
        }
    }
}

impl SinkStats {
    fn merge(&mut self, other: &SinkStats) {
        self.records += other.records;
        self.checksum = self.checksum.wrapping_add(other.checksum);
        // Both histograms have the same bounds; saturate rather than fail.
        let _ = self.latency_ns.add(&other.latency_ns);
    }
}

/// Counters of one core, shared by its tasks (single-threaded).
#[derive(Debug, Default)]
pub(crate) struct CoreMetrics {
    source_records: Cell<u64>,
    late_records: Cell<u64>,
    remote_records_deserialized: Cell<u64>,
    remote_records_read_in_place: Cell<u64>,
    sinks: RefCell<BTreeMap<String, SinkStats>>,
}

impl CoreMetrics {
    pub(crate) fn add_source_records(&self, n: u64) {
        self.source_records.set(self.source_records.get() + n);
    }

    pub(crate) fn add_late_records(&self, n: u64) {
        self.late_records.set(self.late_records.get() + n);
    }

    pub(crate) fn add_remote_records_deserialized(&self, n: u64) {
        let c = &self.remote_records_deserialized;
        c.set(c.get() + n);
    }

    pub(crate) fn add_remote_records_read_in_place(&self, n: u64) {
        let c = &self.remote_records_read_in_place;
        c.set(c.get() + n);
    }

    /// A sink's records and checksum on this core so far.
    pub(crate) fn sink_totals(&self, name: &str) -> Option<(u64, u64)> {
        self.sinks
            .borrow()
            .get(name)
            .map(|s| (s.records, s.checksum))
    }

    pub(crate) fn with_sink<R>(&self, name: &str, f: impl FnOnce(&mut SinkStats) -> R) -> R {
        let mut sinks = self.sinks.borrow_mut();
        if !sinks.contains_key(name) {
            sinks.insert(name.to_string(), SinkStats::default());
        }
        match sinks.get_mut(name) {
            Some(s) => f(s),
            None => f(&mut SinkStats::default()),
        }
    }

    pub(crate) fn snapshot(&self) -> JobMetrics {
        JobMetrics {
            source_records: self.source_records.get(),
            late_records: self.late_records.get(),
            remote_records_deserialized: self.remote_records_deserialized.get(),
            remote_records_read_in_place: self.remote_records_read_in_place.get(),
            sinks: self.sinks.borrow().clone(),
            checkpoints: CheckpointMetrics::default(),
            ready_ns_max: 0,
        }
    }
}

/// The metrics of a finished job, merged over all cores.
#[derive(Debug, Clone, Default)]
pub struct JobMetrics {
    /// Records produced by all sources.
    pub source_records: u64,
    /// Records dropped or side-output as late by window operators.
    pub late_records: u64,
    /// Records that arrived from another process and were deserialized
    /// into owned values.
    pub remote_records_deserialized: u64,
    /// Records that arrived from another process and that an in-place
    /// operator read in their receive buffer (a record it kept is also
    /// counted as deserialized).
    pub remote_records_read_in_place: u64,
    /// Per sink name.
    pub sinks: BTreeMap<String, SinkStats>,
    /// Checkpoints and recoveries (all zero without checkpointing).
    pub checkpoints: CheckpointMetrics,
    /// The longest time any core of this process took from the start of
    /// the run until its tasks were built and ready for records: operator
    /// state restored, channels and links connected.
    pub ready_ns_max: u64,
}

/// What checkpointing did during a job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckpointMetrics {
    /// Checkpoints that completed (manifest durable, sinks committed).
    pub completed: u64,
    /// Checkpoints aborted (timeout, decline, failed upload, subsumed).
    pub aborted: u64,
    /// Times the job restarted from a checkpoint after a failure.
    pub restarts: u64,
    /// The newest completed checkpoint.
    pub last_completed_id: Option<u64>,
    /// Longest synchronous snapshot part of any task.
    pub sync_ns_max: u64,
    /// The longest synchronous part of any task in each checkpoint that
    /// was staged, in order (the newest [`CHECKPOINT_HISTORY_LEN`] kept): with
    /// tables that note their changes, a checkpoint's synchronous part
    /// follows what changed in its interval, not the state's size.
    pub sync_ns_by_checkpoint: Vec<u64>,
    /// Longest time any task spent aligning barriers.
    pub alignment_ns_max: u64,
    /// Longest time from trigger to durable manifest.
    pub duration_ms_max: u64,
    /// Bytes uploaded to checkpoint storage.
    pub uploaded_bytes: u64,
    /// The bytes each completed checkpoint uploaded, in order (the newest
    /// [`CHECKPOINT_HISTORY_LEN`] kept): an incremental checkpoint uploads
    /// only the files storage does not hold yet, so this follows the
    /// changes of its interval (and, with RocksDB, the compactions).
    pub uploaded_bytes_by_checkpoint: Vec<u64>,
    /// The checkpoint the last restart restored (none without restarts, or
    /// when no checkpoint had completed before the failure).
    pub restored_from: Option<u64>,
    /// Source records an earlier run produced before the savepoint this
    /// run started from (counted in `source_records`, but not by this
    /// run's cores, so throughput leaves them out).
    pub savepoint_source_records: u64,
    /// Table files the last restore of this process ingested whole into
    /// RocksDB instances of another key-group range (a rescale), rather
    /// than writing their entries one by one.
    pub restore_ingested_files: u64,
    /// Bytes of in-flight records (stored by an unaligned checkpoint) the
    /// last restore replayed before any new input.
    pub restored_in_flight_bytes: u64,
    /// How long the last restart took to bring the job back, in ms: from
    /// the restart (after `restart_delay_ms`) until every core had restored
    /// its state and was ready for records. Reading the checkpoint,
    /// fetching its files and rebuilding the state are all in it; the
    /// replay of the records after the checkpoint is not.
    pub recovery_ms: Option<u64>,
}

/// How many checkpoints the per-checkpoint series of [`CheckpointMetrics`]
/// keep.
pub const CHECKPOINT_HISTORY_LEN: usize = 4096;

/// Appends `values` to a per-checkpoint series, dropping the oldest beyond
/// [`CHECKPOINT_HISTORY_LEN`].
pub(crate) fn extend_history(history: &mut Vec<u64>, values: &[u64]) {
    history.extend_from_slice(values);
    let over = history.len().saturating_sub(CHECKPOINT_HISTORY_LEN);
    history.drain(..over);
}

impl CheckpointMetrics {
    /// Adds the checkpoints of a later attempt of the same run.
    pub fn add(&mut self, later: &CheckpointMetrics) {
        self.completed += later.completed;
        self.aborted += later.aborted;
        self.last_completed_id = later.last_completed_id.or(self.last_completed_id);
        self.sync_ns_max = self.sync_ns_max.max(later.sync_ns_max);
        extend_history(
            &mut self.sync_ns_by_checkpoint,
            &later.sync_ns_by_checkpoint,
        );
        extend_history(
            &mut self.uploaded_bytes_by_checkpoint,
            &later.uploaded_bytes_by_checkpoint,
        );
        self.alignment_ns_max = self.alignment_ns_max.max(later.alignment_ns_max);
        self.duration_ms_max = self.duration_ms_max.max(later.duration_ms_max);
        self.uploaded_bytes += later.uploaded_bytes;
    }
}

impl JobMetrics {
    /// Adds another share's metrics (another core's or another process's).
    pub fn merge(&mut self, other: &JobMetrics) {
        self.source_records += other.source_records;
        self.late_records += other.late_records;
        self.remote_records_deserialized += other.remote_records_deserialized;
        self.remote_records_read_in_place += other.remote_records_read_in_place;
        self.ready_ns_max = self.ready_ns_max.max(other.ready_ns_max);
        for (name, s) in &other.sinks {
            self.sinks.entry(name.clone()).or_default().merge(s);
        }
    }

    /// Records written by all sinks together.
    pub fn sink_records(&self) -> u64 {
        self.sinks.values().map(|s| s.records).sum()
    }

    /// The combined checksum of all sinks.
    pub fn sink_checksum(&self) -> u64 {
        self.sinks
            .values()
            .fold(0u64, |a, s| a.wrapping_add(s.checksum))
    }

    /// Latency over all sinks.
    pub fn latency_ns(&self) -> Histogram<u64> {
        let mut h = new_latency_histogram();
        for s in self.sinks.values() {
            let _ = h.add(&s.latency_ns);
        }
        h
    }
}

/// [`JobMetrics`] in a form that crosses processes: a worker sends its
/// share to the coordinator, which merges the shares of all workers.
#[derive(Debug, Clone, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct WireMetrics {
    /// Records the sources emitted.
    pub source_records: u64,
    /// Records dropped as late.
    pub late_records: u64,
    /// Records from other processes deserialized.
    pub remote_records_deserialized: u64,
    /// Records from other processes read in place.
    pub remote_records_read_in_place: u64,
    /// Per sink: name, records, checksum, and the recorded latency
    /// histogram as (value ns, count) pairs.
    pub sinks: Vec<WireSink>,
}

/// One sink's share: name, records, checksum, latency as (value ns, count).
pub type WireSink = (String, u64, u64, Vec<(u64, u64)>);

impl JobMetrics {
    /// This share's metrics, ready to cross a process boundary.
    pub fn to_wire(&self) -> WireMetrics {
        WireMetrics {
            source_records: self.source_records,
            late_records: self.late_records,
            remote_records_deserialized: self.remote_records_deserialized,
            remote_records_read_in_place: self.remote_records_read_in_place,
            sinks: self
                .sinks
                .iter()
                .map(|(name, s)| {
                    let latency = s
                        .latency_ns
                        .iter_recorded()
                        .map(|v| (v.value_iterated_to(), v.count_at_value()))
                        .collect();
                    (name.clone(), s.records, s.checksum, latency)
                })
                .collect(),
        }
    }

    /// Rebuilds metrics sent by [`JobMetrics::to_wire`]. Latency values
    /// beyond the histogram's range are clamped to it.
    pub fn from_wire(wire: &WireMetrics) -> JobMetrics {
        let sinks = wire
            .sinks
            .iter()
            .map(|(name, records, checksum, latency)| {
                let mut h = new_latency_histogram();
                for &(value, count) in latency {
                    h.saturating_record_n(value, count);
                }
                let stats = SinkStats {
                    records: *records,
                    checksum: *checksum,
                    latency_ns: h,
                };
                (name.clone(), stats)
            })
            .collect();
        JobMetrics {
            source_records: wire.source_records,
            late_records: wire.late_records,
            remote_records_deserialized: wire.remote_records_deserialized,
            remote_records_read_in_place: wire.remote_records_read_in_place,
            sinks,
            checkpoints: CheckpointMetrics::default(),
            ready_ns_max: 0,
        }
    }
}

#[cfg(test)]
mod wire_tests {
    use super::*;

    #[test]
    fn metrics_survive_the_wire() {
        let mut m = JobMetrics {
            source_records: 10,
            late_records: 2,
            remote_records_deserialized: 3,
            remote_records_read_in_place: 4,
            ..Default::default()
        };
        let mut s = SinkStats {
            records: 7,
            checksum: 0xdead_beef,
            ..Default::default()
        };
        for v in [1_000u64, 2_000, 2_000, 5_000_000] {
            s.latency_ns.record(v).unwrap();
        }
        m.sinks.insert("out".into(), s);
        let back = JobMetrics::from_wire(&m.to_wire());
        assert_eq!(back.source_records, 10);
        assert_eq!(back.late_records, 2);
        assert_eq!(back.remote_records_deserialized, 3);
        assert_eq!(back.remote_records_read_in_place, 4);
        assert_eq!(back.sink_records(), 7);
        assert_eq!(back.sink_checksum(), 0xdead_beef);
        let (a, b) = (m.latency_ns(), back.latency_ns());
        assert_eq!(a.len(), b.len());
        assert_eq!(a.value_at_quantile(0.5), b.value_at_quantile(0.5));
        assert_eq!(a.max(), b.max());
    }

    #[test]
    fn per_checkpoint_series_keep_the_newest_checkpoints_when_attempts_add_up() {
        let attempt = |from: u64, n: u64| CheckpointMetrics {
            uploaded_bytes: (from..from + n).sum(),
            uploaded_bytes_by_checkpoint: (from..from + n).collect(),
            sync_ns_by_checkpoint: (from..from + n).map(|b| b * 10).collect(),
            ..CheckpointMetrics::default()
        };
        let len = CHECKPOINT_HISTORY_LEN as u64;
        let mut run = attempt(0, len - 2);
        run.add(&attempt(len - 2, 5));
        assert_eq!(run.uploaded_bytes, (0..len + 3).sum::<u64>());
        let expected: Vec<u64> = (3..len + 3).collect();
        assert_eq!(run.uploaded_bytes_by_checkpoint, expected);
        assert_eq!(run.sync_ns_by_checkpoint.first(), Some(&30));
        assert_eq!(run.sync_ns_by_checkpoint.len(), CHECKPOINT_HISTORY_LEN);
    }
}
