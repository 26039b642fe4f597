//! Configuration of one RocksDB instance and its memory bounds.

use rocksdb::{
    BlockBasedIndexType, BlockBasedOptions, Cache, DBCompactionStyle, DBCompressionType,
    LruCacheOptions, Options, UniversalCompactOptions, WriteBufferManager,
};

use super::stored::{LIST_MERGE_OPERATOR, concat_records};

/// Settings of one RocksDB instance (the engine opens one per keyed operator subtask).
///
/// Memory of the instance is bounded by one LRU cache of
/// `block_cache_bytes + write_buffer_bytes`: data, index and filter blocks
/// live in it, and memtables are charged to it by a write-buffer manager
/// that flushes once they reach `write_buffer_bytes`. Iterators pinning
/// blocks and RocksDB's own small structures come on top.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RocksOptions {
    /// Block-cache budget for data, index and filter blocks.
    pub block_cache_bytes: usize,
    /// Memtable budget of all column families together.
    pub write_buffer_bytes: usize,
    /// Largest memtable of one column family.
    pub memtable_bytes_max: usize,
    /// Background flush and compaction threads of the instance.
    pub background_jobs: u32,
    /// Whether writes go to a write-ahead log. Off by default: recovery
    /// restores the last checkpoint, which is flushed to SST files, so a WAL
    /// would only cost write bandwidth (Flink makes the same choice).
    pub write_ahead_log: bool,
    /// How table files are compacted, which decides what a checkpoint uploads.
    pub compaction: RocksCompaction,
}

/// How an instance compacts its table files. Every compaction output is a
/// new file that the next checkpoint uploads, so the style sets the upload
/// volume of incremental checkpoints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum RocksCompaction {
    /// Leveled, with dynamic level sizes: the least space and the fastest
    /// reads. A state smaller than the base level compacts its level-0
    /// files straight into the last level, so with keys changed at random
    /// every fourth flush rewrites (and uploads) the whole state.
    #[default]
    Leveled,
    /// Universal (tiered): flushed files merge with runs of similar size,
    /// and the whole state is rewritten only when the newer runs reach
    /// the size of the oldest, so most checkpoints upload little more than
    /// their flush. Space is bounded at twice the live state.
    Universal,
}

/// Universal compaction rewrites everything once the newer runs add up to
/// this share of the oldest: at most 2x the live state on disk and in the
/// retained checkpoints.
const UNIVERSAL_SIZE_AMPLIFICATION_PERCENT: i32 = 100;

impl Default for RocksOptions {
    fn default() -> Self {
        Self {
            block_cache_bytes: 64 << 20,
            write_buffer_bytes: 32 << 20,
            memtable_bytes_max: 8 << 20,
            background_jobs: 2,
            write_ahead_log: false,
            compaction: RocksCompaction::Leveled,
        }
    }
}

/// What an instance uses of its memory budget now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryUsage {
    /// Bytes held by the shared cache (blocks and charged memtables).
    pub cache_bytes: usize,
    /// Cache capacity: the instance's bound.
    pub cache_capacity_bytes: usize,
    /// Bytes of memtables counted by the write-buffer manager.
    pub write_buffer_bytes: usize,
}

/// The memory budget of the RocksDB instances of one core: one LRU cache
/// for blocks and memtables, and the write-buffer manager that charges the
/// memtables to it. Cheap to clone (a shared handle).
#[derive(Clone)]
pub struct RocksMemory {
    inner: std::sync::Arc<Memory>,
}

impl RocksMemory {
    /// A budget of `block_cache_bytes + write_buffer_bytes` of `options`.
    pub fn new(options: &RocksOptions) -> Self {
        Self {
            inner: std::sync::Arc::new(Memory::new(options)),
        }
    }

    /// What the instances sharing the budget hold now.
    pub fn usage(&self) -> MemoryUsage {
        self.inner.usage()
    }

    pub(crate) fn shared(&self) -> std::sync::Arc<Memory> {
        self.inner.clone()
    }
}

impl std::fmt::Debug for RocksMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksMemory")
            .field("capacity_bytes", &self.inner.capacity_bytes)
            .finish_non_exhaustive()
    }
}

/// The shared memory objects of one budget.
pub(crate) struct Memory {
    pub(crate) cache: Cache,
    pub(crate) write_buffers: WriteBufferManager,
    pub(crate) capacity_bytes: usize,
}

impl Memory {
    pub(crate) fn new(options: &RocksOptions) -> Self {
        let capacity_bytes = options
            .block_cache_bytes
            .saturating_add(options.write_buffer_bytes);
        let mut lru = LruCacheOptions::default();
        lru.set_capacity(capacity_bytes);
        // One core's instances use the cache (plus their flush and
        // compaction threads), so there is little contention to spread.
        // Few shards keep each shard large: a block larger than its shard
        // is evicted as soon as it is released, and read again next time.
        lru.set_num_shard_bits(CACHE_SHARD_BITS);
        let cache = Cache::new_lru_cache_opts(&lru);
        // No stall: a full budget triggers flushes, it does not block the
        // core's only thread.
        let write_buffers = WriteBufferManager::new_write_buffer_manager_with_cache(
            options.write_buffer_bytes,
            false,
            cache.clone(),
        );
        Self {
            cache,
            write_buffers,
            capacity_bytes,
        }
    }

    pub(crate) fn usage(&self) -> MemoryUsage {
        MemoryUsage {
            cache_bytes: self.cache.get_usage(),
            cache_capacity_bytes: self.capacity_bytes,
            write_buffer_bytes: self.write_buffers.get_usage(),
        }
    }
}

/// log2 of the block cache's shards.
const CACHE_SHARD_BITS: i32 = 2;

/// Size of one partition of a table file's index and filter.
const METADATA_BLOCK_BYTES: usize = 4 << 10;

/// Size at which an instance starts a new MANIFEST file.
const MANIFEST_BYTES_MAX: usize = 4 << 20;

/// Options of the instance itself (its default column family included).
pub(crate) fn db_options(options: &RocksOptions, memory: &Memory) -> Options {
    let mut db = column_family_options(options, memory);
    db.create_if_missing(true);
    db.set_max_background_jobs(i32::try_from(options.background_jobs).unwrap_or(i32::MAX));
    db.set_write_buffer_manager(&memory.write_buffers);
    // RocksDB's info log would grow without bound in the instance directory.
    db.set_keep_log_file_num(2);
    db.set_max_log_file_size(1 << 20);
    // Every checkpoint uploads the MANIFEST: rolling it over early keeps
    // that upload small.
    db.set_max_manifest_file_size(MANIFEST_BYTES_MAX);
    db
}

/// Options of every state column family. All share them, so a restored
/// instance can reopen its column families without knowing their state
/// types (the list merge operator is harmless where nothing merges).
pub(crate) fn column_family_options(options: &RocksOptions, memory: &Memory) -> Options {
    let mut table = BlockBasedOptions::default();
    table.set_block_cache(&memory.cache);
    // Index and filter blocks count against the cache, keeping the bound.
    table.set_cache_index_and_filter_blocks(true);
    table.set_cache_index_and_filter_blocks_with_high_priority(true);
    table.set_pin_l0_filter_and_index_blocks_in_cache(true);
    table.set_bloom_filter(10.0, false);
    // Partitioned: a large table file's filter is megabytes. Whole, a
    // state larger than the cache evicts it and every lookup reads it
    // back and checksums it (measured: 95% of a core at 10 M keys). In
    // 4 KiB partitions behind a small pinned top level, a lookup reads
    // one partition.
    table.set_index_type(BlockBasedIndexType::TwoLevelIndexSearch);
    table.set_partition_filters(true);
    table.set_metadata_block_size(METADATA_BLOCK_BYTES);
    table.set_pin_top_level_index_and_filter(true);

    let mut cf = Options::default();
    cf.set_block_based_table_factory(&table);
    cf.set_compression_type(DBCompressionType::Lz4);
    cf.set_bottommost_compression_type(DBCompressionType::Lz4);
    cf.set_write_buffer_size(
        options
            .memtable_bytes_max
            .min(options.write_buffer_bytes.max(1)),
    );
    cf.set_max_write_buffer_number(2);
    match options.compaction {
        RocksCompaction::Leveled => cf.set_level_compaction_dynamic_level_bytes(true),
        RocksCompaction::Universal => {
            let mut universal = UniversalCompactOptions::default();
            universal.set_max_size_amplification_percent(UNIVERSAL_SIZE_AMPLIFICATION_PERCENT);
            cf.set_compaction_style(DBCompactionStyle::Universal);
            cf.set_universal_compaction_options(&universal);
        }
    }
    cf.set_merge_operator_associative(LIST_MERGE_OPERATOR, concat_records);
    cf
}
