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
    /// Pin core `c` to `cpus[c]`; false when there are more cores than CPUs.
    pub(crate) pin_cores: bool,
    /// The CPUs this process may use, ascending (its affinity mask).
    pub(crate) cpus: Vec<usize>,
    pub(crate) io_memory_bytes: usize,
    pub(crate) spin_before_park_us: u64,
    pub(crate) latency_enabled: bool,
    /// The checkpoint hub of this run, when checkpointing is on.
    pub(crate) checkpoints: Option<std::sync::Arc<crate::checkpoint::CheckpointHub>>,
    /// Source positions this run restores.
    pub(crate) restore: Option<std::sync::Arc<crate::checkpoint::RestoredPositions>>,
    /// With `state.backend = rocksdb`: where keyed state goes.
    pub(crate) rocks: Option<RocksRun>,
    /// Where RocksDB instances go (`state.rocksdb_local_dir`, else the
    /// system temp dir): this run's own, and the old ones a rescaled
    /// restore opens to read state out of.
    pub(crate) rocks_local_dir: std::path::PathBuf,
    /// Whether heap tables note their changes when checkpoints run.
    pub(crate) capture_changes: bool,
    /// Set by the first source that stops ([`SourcePoll::Stopped`]): from
    /// then on an input that ends does not release the final watermark.
    ///
    /// [`SourcePoll::Stopped`]: crate::sources::SourcePoll::Stopped
    pub(crate) stopping: std::sync::Arc<std::sync::atomic::AtomicBool>,
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
    /// The run's backend, its instances under `local_dir`.
    fn from_config(config: &Config, local_dir: &std::path::Path) -> Self {
        static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if run == 0 {
            remove_dirs_of_dead_processes(local_dir, ROCKS_DIR_PREFIX);
        }
        let mib = |m: u32| m as usize * 1024 * 1024;
        let write_buffer_bytes = mib(config.state.rocksdb_write_buffer_mib);
        Self {
            options: spate_state::rocks::RocksOptions {
                block_cache_bytes: mib(config.state.rocksdb_block_cache_mib),
                write_buffer_bytes,
                memtable_bytes_max: (write_buffer_bytes / 4).max(1 << 20),
                compaction: match config.state.rocksdb_compaction {
                    crate::config::RocksCompactionKind::Level => {
                        spate_state::rocks::RocksCompaction::Leveled
                    }
                    crate::config::RocksCompactionKind::Universal => {
                        spate_state::rocks::RocksCompaction::Universal
                    }
                },
                ..Default::default()
            },
            root: local_dir.join(format!("{ROCKS_DIR_PREFIX}{}-{run}", std::process::id())),
        }
    }
}

/// `state.rocksdb_local_dir`, or the system temp dir when it is empty.
fn rocks_local_dir(config: &Config) -> std::path::PathBuf {
    match &config.state.rocksdb_local_dir {
        d if d.as_os_str().is_empty() => std::env::temp_dir(),
        d => d.clone(),
    }
}

/// Starts the name of every run's RocksDB directory, then `<pid>-<run>`.
const ROCKS_DIR_PREFIX: &str = "spate-rocksdb-";

/// Removes the directories `<prefix><pid>-...` in `dir` of processes that
/// no longer run: a process killed with `kill -9` cannot remove its own
/// instances, which may hold gigabytes. Only where `/proc` tells.
pub(crate) fn remove_dirs_of_dead_processes(dir: &std::path::Path, prefix: &str) {
    if !std::path::Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        if let Some(pid) = pid
            && pid != std::process::id()
            && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        {
            tracing::info!(
                "removing {}, left by process {pid}, which no longer runs",
                entry.path().display()
            );
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

impl RunSettings {
    pub(crate) fn from_config(config: &Config) -> Self {
        let cpus = crate::cpus::allowed();
        let available = std::thread::available_parallelism().map_or(1, |n| n.get());
        let cores = match config.runtime.cores {
            0 => available,
            n => n as usize,
        };
        let rocks_local_dir = rocks_local_dir(config);
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
            pin_cores: config.runtime.pin_cores && cores <= cpus.len(),
            cpus,
            io_memory_bytes: config.runtime.io_memory_kib as usize * 1024,
            spin_before_park_us: config.runtime.spin_before_park_us,
            latency_enabled: config.metrics.latency,
            checkpoints: None,
            restore: None,
            rocks: (config.state.backend == crate::config::StateBackendKind::RocksDb)
                .then(|| RocksRun::from_config(config, &rocks_local_dir)),
            rocks_local_dir,
            capture_changes: config.checkpoint.capture_changes,
            stopping: std::sync::Arc::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::remove_dirs_of_dead_processes;

    #[test]
    fn only_the_directories_of_processes_that_no_longer_run_are_removed() {
        let root = std::env::temp_dir().join(format!("spate-sweep-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        // Pid 0 is never a process in /proc; this process and pid 1 run.
        let dead = root.join("spate-x-0-1");
        let mine = root.join(format!("spate-x-{}-1", std::process::id()));
        let init = root.join("spate-x-1-1");
        let other = root.join("unrelated-0-1");
        for d in [&dead, &mine, &init, &other] {
            std::fs::create_dir_all(d).unwrap();
        }
        remove_dirs_of_dead_processes(&root, "spate-x-");
        assert!(!dead.exists());
        assert!(mine.exists() && init.exists() && other.exists());
        let _ = std::fs::remove_dir_all(&root);
    }
}
