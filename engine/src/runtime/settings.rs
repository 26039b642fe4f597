//! Runtime settings derived from the configuration.

use super::task::FlushPolicy;
use crate::config::Config;

/// What the runtime needs to know to start a job.
#[derive(Debug, Clone)]
pub(crate) struct RunSettings {
    /// Executors (cores) of this process.
    pub(crate) cores: usize,
    /// Global index of this process's first subtask: core `c` runs subtask
    /// `subtask_offset + c`. Zero unless the job spans several processes.
    pub(crate) subtask_offset: usize,
    /// Subtasks of every chain across all processes (the job's parallelism).
    pub(crate) parallelism: usize,
    pub(crate) max_parallelism: u16,
    pub(crate) flush: FlushPolicy,
    pub(crate) channel_capacity_batches: usize,
    pub(crate) pin_cores: bool,
    pub(crate) io_memory_bytes: usize,
    pub(crate) spin_before_park_us: u64,
    pub(crate) latency_enabled: bool,
    /// The checkpoint hub of this run, when checkpointing is on.
    pub(crate) checkpoints: Option<std::sync::Arc<crate::checkpoint::CheckpointHub>>,
    /// Source positions this run restores.
    pub(crate) restore: Option<std::sync::Arc<crate::checkpoint::RestoredPositions>>,
    /// With `state.backend = rocksdb`: where keyed state goes.
    pub(crate) rocks: Option<RocksRun>,
    /// Whether heap tables note their changes when checkpoints run.
    pub(crate) capture_changes: bool,
}

/// The RocksDB backend of one run: each core opens one instance in its own
/// subdirectory of `root`, which the run removes when it ends (the state
/// that must survive is in the checkpoints).
#[derive(Debug, Clone)]
pub(crate) struct RocksRun {
    pub(crate) options: spate_state::rocks::RocksOptions,
    pub(crate) root: std::path::PathBuf,
}

impl RocksRun {
    fn from_config(config: &Config) -> Self {
        static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mib = |m: u32| m as usize * 1024 * 1024;
        let write_buffer_bytes = mib(config.state.rocksdb_write_buffer_mib);
        Self {
            options: spate_state::rocks::RocksOptions {
                block_cache_bytes: mib(config.state.rocksdb_block_cache_mib),
                write_buffer_bytes,
                memtable_bytes_max: (write_buffer_bytes / 4).max(1 << 20),
                ..Default::default()
            },
            root: std::env::temp_dir().join(format!("spate-rocksdb-{}-{run}", std::process::id())),
        }
    }
}

impl RunSettings {
    pub(crate) fn from_config(config: &Config) -> Self {
        let available = std::thread::available_parallelism().map_or(1, |n| n.get());
        let cores = match config.runtime.cores {
            0 => available,
            n => n as usize,
        };
        Self {
            cores,
            subtask_offset: 0,
            parallelism: cores,
            max_parallelism: config.runtime.max_parallelism,
            flush: FlushPolicy {
                batch_records_max: config.runtime.batch_records_max as usize,
                buffer_timeout_ms: config.runtime.buffer_timeout_ms,
                flush_on_idle: config.runtime.flush_on_idle,
            },
            channel_capacity_batches: config.runtime.channel_capacity_batches as usize,
            // Pinning more executors than CPUs would stack them on the same CPU.
            pin_cores: config.runtime.pin_cores && cores <= available,
            io_memory_bytes: config.runtime.io_memory_kib as usize * 1024,
            spin_before_park_us: config.runtime.spin_before_park_us,
            latency_enabled: config.metrics.latency,
            checkpoints: None,
            restore: None,
            rocks: (config.state.backend == crate::config::StateBackendKind::RocksDb)
                .then(|| RocksRun::from_config(config)),
            capture_changes: config.checkpoint.capture_changes,
        }
    }
}
