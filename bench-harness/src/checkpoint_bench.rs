//! Checkpoint cost with large keyed state (heap or RocksDB): a keyed count over `keys`
//! keys is loaded first, then `churn_percent` of the keys change in each
//! checkpoint interval. Reports the synchronous part (the first checkpoint,
//! which holds the whole loaded state, apart from the later ones), the
//! bytes uploaded per checkpoint and the bytes the checkpoint directory
//! retains at the end, against the live state's size. With `fail_at_end`,
//! the job fails once when the churn is over and recovers from its last
//! checkpoint: the time that takes is the recovery figure.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use spate::config::Config;
use spate::sinks::BlackholeSink;
use spate::sources::{RateLimiter, Source, SourceCollector, SourcePoll, SplitInfo};
use spate::{Job, Result, SpateError};

use crate::state_bench::Count;

/// What to run.
#[derive(Debug, Clone, Copy)]
pub struct CheckpointSpec {
    /// Distinct keys in state.
    pub keys: u64,
    /// Share of the keys that change per checkpoint interval, in percent.
    pub churn_percent: f64,
    /// Checkpoint intervals to run after the load.
    pub intervals: u64,
    /// Fail the job once at the end of the churn, so it recovers from its
    /// last checkpoint (and the recovery is timed).
    pub fail_at_end: bool,
}

/// The result of [`run`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckpointCost {
    /// Distinct keys in state.
    pub keys: u64,
    /// Updates per checkpoint interval after the load.
    pub updates_per_interval: u64,
    /// Checkpoints completed.
    pub completed: u64,
    /// Longest synchronous part of any task, over all checkpoints (those
    /// during the load capture the keys loaded since the one before), µs.
    pub sync_us_max: f64,
    /// The longest synchronous part of each checkpoint, in order, µs.
    pub sync_us_by_checkpoint: Vec<f64>,
    /// The median over the last half of the churn intervals' checkpoints
    /// (well after the load, in steady churn), µs.
    pub sync_us_p50_churn: f64,
    /// The longest over the same checkpoints, µs.
    pub sync_us_max_churn: f64,
    /// Longest time from trigger to durable manifest, ms.
    pub duration_ms_max: u64,
    /// Bytes uploaded over the run.
    pub uploaded_bytes: u64,
    /// The bytes each completed checkpoint uploaded, in order.
    pub uploaded_bytes_by_checkpoint: Vec<u64>,
    /// The median upload over the last half of the churn intervals'
    /// checkpoints, in percent of the state as stored.
    pub uploaded_percent_p50_churn: f64,
    /// The largest upload over the same checkpoints, in percent of the
    /// state as stored (a compaction's new files go up whole).
    pub uploaded_percent_max_churn: f64,
    /// Bytes the checkpoint directory holds at the end.
    pub retained_bytes: u64,
    /// The state backend (`heap` or `rocksdb`).
    pub backend: String,
    /// Bytes the newest checkpoint references: the state as stored.
    pub state_bytes: u64,
    /// For each retained checkpoint, oldest first: the bytes it added, in
    /// percent of the bytes it references (its incremental size).
    pub added_percent_retained: Vec<f64>,
    /// With `fail_at_end`: from the restart until every core had restored
    /// the last checkpoint's state and was ready for records, ms.
    pub recovery_ms: Option<u64>,
    /// The checkpoint the recovery restored.
    pub restored_from: Option<u64>,
    /// The bytes of the checkpoint the recovery restored (none when
    /// retention deleted it before the end: raise `checkpoint.retained`).
    pub restored_bytes: Option<u64>,
    /// Wall time, seconds.
    pub wall_s: f64,
}

/// The churn's pace goes in steps of this many microseconds (a step's
/// updates go at once). This benchmark measures checkpoints, not record
/// latency: a wake-up per update (every 20 µs at 50 000 updates/s per
/// split) costs the cores more than the updates and starves the
/// checkpoint's background work of CPU on a small machine.
const CHURN_STEP_US: u64 = 1000;

/// One split of the churn source: its share of the keys once, unpaced,
/// then updates of pseudo-random keys at the churn rate.
struct ChurnSource {
    keys: u64,
    load: u64,
    total: u64,
    next: u64,
    split: SplitInfo,
    pace: Option<RateLimiter>,
    updates_per_s: f64,
    /// Set while a failure at the end of the churn is still to come; shared
    /// by the splits and kept over the restart.
    fail_armed: Option<Arc<AtomicBool>>,
}

impl ChurnSource {
    fn key(&self, n: u64) -> u64 {
        if n < self.load {
            n * self.split.count as u64 + self.split.index as u64
        } else {
            // splitmix64: updates spread over all keys.
            let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)) % self.keys
        }
    }
}

impl Source for ChurnSource {
    type Item = u64;

    fn poll(&mut self, out: &mut SourceCollector<'_, u64>, count_max: usize) -> Result<SourcePoll> {
        if self.next >= self.total {
            if let Some(armed) = &self.fail_armed
                && armed.swap(false, Ordering::SeqCst)
            {
                return Err(SpateError::Operator {
                    operator: "churn".into(),
                    reason: "failure injected at the end of the churn (--fail-at-end)".into(),
                });
            }
            return Ok(SourcePoll::Exhausted);
        }
        let mut n = (count_max as u64).min(self.total - self.next);
        if self.next >= self.load {
            let pace = self
                .pace
                .get_or_insert_with(|| RateLimiter::new(self.updates_per_s));
            n = n.min(pace.due(count_max) as u64);
            if n == 0 {
                return Ok(SourcePoll::Pending {
                    retry_after_us: pace.wait_us().max(CHURN_STEP_US),
                });
            }
            pace.emitted(n as usize);
        } else {
            n = n.min(self.load - self.next);
        }
        for _ in 0..n {
            out.collect(self.key(self.next));
            self.next += 1;
        }
        Ok(SourcePoll::Ready)
    }

    fn offset(&self) -> Option<Vec<u8>> {
        Some(spate::sources::encode_offset(&[self.next]))
    }

    fn seek(&mut self, offset: &[u8]) -> Result<()> {
        let [next] = spate::sources::decode_offset::<1>("churn", offset)?;
        self.next = next;
        Ok(())
    }
}

/// Loads the keys, then churns them for `spec.intervals` checkpoint
/// intervals of `config`'s `checkpoint.interval_ms`.
pub fn run(spec: CheckpointSpec, config: &Config) -> Result<CheckpointCost> {
    let interval_ms = config.checkpoint.interval_ms;
    if interval_ms == 0 {
        return Err(SpateError::invalid_job(
            "the checkpoint benchmark needs checkpoints: set checkpoint.interval_ms above 0",
        ));
    }
    let keys = spec.keys.max(1);
    let per_interval = ((keys as f64 * spec.churn_percent / 100.0).round() as u64).max(1);
    let armed = spec.fail_at_end.then(|| Arc::new(AtomicBool::new(true)));
    let job = Job::builder("checkpoint cost");
    job.source("churn", move |split: SplitInfo| {
        let splits = split.count.max(1) as u64;
        let load = keys / splits + u64::from((split.index as u64) < keys % splits);
        let updates = per_interval * spec.intervals / splits;
        Ok(ChurnSource {
            keys,
            load,
            total: load + updates,
            next: 0,
            split,
            pace: None,
            updates_per_s: per_interval as f64 * 1000.0 / interval_ms as f64 / splits as f64,
            fail_armed: armed.clone(),
        })
    })
    .key_by(|k: &u64| *k)
    .process(Count::default())
    .sink("counts", BlackholeSink);
    let result = job.build()?.run(config)?;
    let c = &result.metrics.checkpoints;
    let retained = retained_manifests(result.checkpoint_dir.as_deref());
    let by_checkpoint: Vec<f64> = c
        .sync_ns_by_checkpoint
        .iter()
        .map(|&ns| ns as f64 / 1000.0)
        .collect();
    let churn = last_half_sorted(&by_checkpoint, spec.intervals);
    let state_bytes = retained.last().map_or(0, |m| m.referenced_bytes());
    let uploaded_percent: Vec<f64> = c
        .uploaded_bytes_by_checkpoint
        .iter()
        .map(|&b| 100.0 * b as f64 / state_bytes.max(1) as f64)
        .collect();
    let uploads = last_half_sorted(&uploaded_percent, spec.intervals);
    Ok(CheckpointCost {
        keys,
        updates_per_interval: per_interval,
        completed: c.completed,
        sync_us_max: c.sync_ns_max as f64 / 1000.0,
        sync_us_by_checkpoint: by_checkpoint.clone(),
        sync_us_p50_churn: median(&churn),
        sync_us_max_churn: churn.last().copied().unwrap_or(0.0),
        duration_ms_max: c.duration_ms_max,
        uploaded_bytes: c.uploaded_bytes,
        uploaded_bytes_by_checkpoint: c.uploaded_bytes_by_checkpoint.clone(),
        uploaded_percent_p50_churn: median(&uploads),
        uploaded_percent_max_churn: uploads.last().copied().unwrap_or(0.0),
        retained_bytes: result.checkpoint_dir.as_deref().map_or(0, dir_bytes),
        backend: match config.state.backend {
            spate::config::StateBackendKind::RocksDb => "rocksdb",
            _ => "heap",
        }
        .to_owned(),
        state_bytes,
        added_percent_retained: retained
            .iter()
            .map(|m| 100.0 * m.added_bytes() as f64 / m.referenced_bytes().max(1) as f64)
            .collect(),
        recovery_ms: c.recovery_ms,
        restored_from: c.restored_from,
        restored_bytes: c.restored_from.and_then(|id| {
            retained
                .iter()
                .find(|m| m.checkpoint_id == id)
                .map(|m| m.referenced_bytes())
        }),
        wall_s: result.wall.as_secs_f64(),
    })
}

/// The last `intervals / 2` values of a per-checkpoint series (one
/// checkpoint per churn interval: these run well after the load, however
/// many intervals the load took; at 10 M keys in RocksDB, most of the run),
/// sorted.
fn last_half_sorted(series: &[f64], intervals: u64) -> Vec<f64> {
    let skip = series.len().saturating_sub((intervals as usize / 2).max(1));
    let mut tail = series[skip..].to_vec();
    tail.sort_by(f64::total_cmp);
    tail
}

/// The median of sorted values; 0 for none.
fn median(sorted: &[f64]) -> f64 {
    sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
}

/// The checkpoints the run's directory retains, oldest first.
fn retained_manifests(dir: Option<&Path>) -> Vec<spate_state::checkpoint::Manifest> {
    let Some(storage) = dir.and_then(|d| spate_state::checkpoint::LocalDirStorage::new(d).ok())
    else {
        return Vec::new();
    };
    spate_state::checkpoint::read_manifests(&storage)
        .map(|all| all.into_iter().filter_map(|m| m.manifest.ok()).collect())
        .unwrap_or_default()
}

/// Bytes of the files under `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
