//! The key table: every configuration key with its type, default, range and meaning.
//!
//! This is the single source of truth. Adding a key is one entry here; the typed struct
//! field, default, parser, validation, error messages and `config explain` row follow.

use std::path::PathBuf;

use super::define::define_config;
use super::enums::{BackgroundPriority, CheckpointMode, RocksCompactionKind, StateBackendKind};

define_config! {
    /// Executors, threads and data exchange between operators.
    [runtime] RuntimeConfig {
        /// Executor cores (one executor thread per core); 0 = all available cores.
        cores: u32 = 0, range 0..=1024;
        /// Upper bound on operator parallelism; fixes the number of key groups, so it cannot change across restores.
        max_parallelism: u16 = 128, range 1..=32768;
        /// Records per exchange buffer; a buffer is flushed as soon as it is full.
        batch_records_max: u32 = 1024, range 1..=1_048_576;
        /// A partial buffer is flushed after this long even if the core never goes idle; 0 = flush after every record batch.
        buffer_timeout_ms: u64 = 5, range 0..=600_000;
        /// Flush partial buffers whenever an executor runs out of work.
        flush_on_idle: bool = true;
        /// Bounded depth, in buffers, of every exchange channel (backpressure sets in when full).
        channel_capacity_batches: u32 = 16, range 1..=65_536;
        /// Pin each executor thread to its own core.
        pin_cores: bool = true;
        /// io_uring registered-buffer memory per executor, in KiB.
        io_memory_kib: u32 = 1024, range 64..=1_048_576;
        /// How long an idle executor spins before parking; trades CPU for wake-up latency.
        spin_before_park_us: u64 = 0, range 0..=1_000_000;
    }

    /// Keyed operator state.
    [state] StateConfig {
        /// Where keyed state lives: `heap` (in memory) or `rocksdb` (on local disk).
        backend: StateBackendKind = StateBackendKind::Heap;
        /// RocksDB block cache size per executor, in MiB (rocksdb backend only).
        rocksdb_block_cache_mib: u32 = 256, range 8..=1_048_576;
        /// RocksDB memtable (write buffer) size, in MiB (rocksdb backend only).
        rocksdb_write_buffer_mib: u32 = 64, range 4..=65_536;
        /// RocksDB compaction: `level` (least space) or `universal` (smaller checkpoint uploads).
        rocksdb_compaction: RocksCompactionKind = RocksCompactionKind::Level;
        /// Directory of RocksDB's working files (the live instances, not the checkpoints); empty = the system's temporary directory.
        rocksdb_local_dir: PathBuf = PathBuf::new();
    }

    /// Fault tolerance via distributed snapshots.
    [checkpoint] CheckpointConfig {
        /// Time between checkpoint starts; 0 = checkpointing off.
        interval_ms: u64 = 0, range 0..=86_400_000;
        /// Barrier handling at tasks with several inputs: `aligned` (an input that delivered a barrier waits for the others) or `unaligned` (no input waits; the records the others deliver before their barrier are stored with the checkpoint). Both are exactly-once.
        mode: CheckpointMode = CheckpointMode::Aligned;
        /// A checkpoint not complete after this long is aborted.
        timeout_ms: u64 = 600_000, range 1..=86_400_000;
        /// Checkpoints allowed in flight at once.
        concurrent_max: u32 = 1, range 1..=64;
        /// Minimum pause between the end of one checkpoint and the start of the next.
        pause_min_ms: u64 = 0, range 0..=86_400_000;
        /// Directory checkpoints are written to (one subdirectory per job run).
        dir: PathBuf = PathBuf::from("./spate-checkpoints");
        /// Completed checkpoints kept; older ones are deleted with the files only they use.
        retained: u32 = 3, range 1..=1_000;
        /// Restarts from the last checkpoint after failures before the job gives up.
        restarts_max: u32 = 10, range 0..=1_000_000;
        /// Pause before each restart.
        restart_delay_ms: u64 = 200, range 0..=3_600_000;
        /// When every source has read all its input, take one final checkpoint before the job ends, so the output since the last checkpoint is committed and recovered like any other (Flink's checkpoints after tasks finish); `false` keeps that output in memory until the job ends.
        final_checkpoint: bool = true;
        /// Heap tables of keyed functions note which keys change, so the synchronous part captures only those; `false` captures whole tables (for comparison).
        capture_changes: bool = true;
        /// Scheduling of the threads that write and upload checkpoint files: `normal`, or `idle` (Linux SCHED_IDLE: they run only on a CPU the core threads leave free, so they never delay records; checkpoints then slow down, and may time out, while the cores are saturated).
        background_priority: BackgroundPriority = BackgroundPriority::Normal;
    }

    /// Metrics collection.
    [metrics] MetricsConfig {
        /// Record end-to-end latency histograms at sinks.
        latency: bool = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::value_type::{Scalar, ValueType};

    #[test]
    fn defaults_match_the_spec() {
        let config = Config::default();
        let r = &config.runtime;
        assert_eq!(r.cores, 0);
        assert_eq!(r.max_parallelism, 128);
        assert_eq!(r.batch_records_max, 1024);
        assert_eq!(r.buffer_timeout_ms, 5);
        assert!(r.flush_on_idle);
        assert_eq!(r.channel_capacity_batches, 16);
        assert!(r.pin_cores);
        assert_eq!(r.io_memory_kib, 1024);
        assert_eq!(r.spin_before_park_us, 0);
        let s = &config.state;
        assert_eq!(s.backend, StateBackendKind::Heap);
        assert_eq!(s.rocksdb_block_cache_mib, 256);
        assert_eq!(s.rocksdb_write_buffer_mib, 64);
        let c = &config.checkpoint;
        assert_eq!(c.interval_ms, 0);
        assert_eq!(c.mode, CheckpointMode::Aligned);
        assert_eq!(c.timeout_ms, 600_000);
        assert_eq!(c.concurrent_max, 1);
        assert_eq!(c.pause_min_ms, 0);
        assert_eq!(c.dir, PathBuf::from("./spate-checkpoints"));
        assert_eq!(c.retained, 3);
        assert_eq!(c.restarts_max, 10);
        assert_eq!(c.restart_delay_ms, 200);
        assert!(config.metrics.latency);
    }

    #[test]
    fn table_lists_every_key_once_in_order() {
        let keys: Vec<&str> = KEYS.iter().map(|k| k.key).collect();
        assert_eq!(
            keys,
            [
                "runtime.cores",
                "runtime.max_parallelism",
                "runtime.batch_records_max",
                "runtime.buffer_timeout_ms",
                "runtime.flush_on_idle",
                "runtime.channel_capacity_batches",
                "runtime.pin_cores",
                "runtime.io_memory_kib",
                "runtime.spin_before_park_us",
                "state.backend",
                "state.rocksdb_block_cache_mib",
                "state.rocksdb_write_buffer_mib",
                "state.rocksdb_compaction",
                "state.rocksdb_local_dir",
                "checkpoint.interval_ms",
                "checkpoint.mode",
                "checkpoint.timeout_ms",
                "checkpoint.concurrent_max",
                "checkpoint.pause_min_ms",
                "checkpoint.dir",
                "checkpoint.retained",
                "checkpoint.restarts_max",
                "checkpoint.restart_delay_ms",
                "checkpoint.final_checkpoint",
                "checkpoint.capture_changes",
                "checkpoint.background_priority",
                "metrics.latency",
            ]
        );
        assert_eq!(SECTIONS, ["runtime", "state", "checkpoint", "metrics"]);
        let grouped: Vec<&str> = SECTION_KEYS
            .iter()
            .flat_map(|(_, keys)| keys.iter().copied())
            .collect();
        assert_eq!(grouped, keys);
        let section_names: Vec<&str> = SECTION_KEYS.iter().map(|(section, _)| *section).collect();
        assert_eq!(section_names, SECTIONS);
        for def in KEYS {
            assert_eq!(def.key, format!("{}.{}", def.section, def.name));
            assert!(!def.doc.trim().is_empty(), "{} has no doc", def.key);
        }
    }

    #[test]
    fn ranges_fit_field_types_and_contain_defaults() {
        let defaults = Config::default();
        for def in KEYS {
            if let ValueType::UInt { min, max } = def.value_type {
                for bound in [min, max] {
                    let mut config = Config::default();
                    assert!(
                        (def.write)(&mut config, &Scalar::UInt(bound)),
                        "{}",
                        def.key
                    );
                    assert_eq!((def.read)(&config), Scalar::UInt(bound), "{}", def.key);
                }
                let Scalar::UInt(default) = (def.read)(&defaults) else {
                    panic!("{} default is not an integer", def.key)
                };
                assert!(
                    (min..=max).contains(&default),
                    "{} default out of range",
                    def.key
                );
            }
        }
    }

    #[test]
    fn every_key_round_trips_its_default() {
        let defaults = Config::default();
        for def in KEYS {
            let mut config = Config::default();
            assert!(
                (def.write)(&mut config, &(def.read)(&defaults)),
                "{}",
                def.key
            );
            assert_eq!(config, defaults, "{}", def.key);
        }
    }
}
