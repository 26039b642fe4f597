//! The RocksDB keyed-state backend, for state larger than memory.
//!
//! One [`RocksBackend`] (one RocksDB instance) holds the keyed states of
//! one operator subtask, one column family per declared state, so its
//! checkpoint is exactly that task's view at a barrier. Memory is bounded
//! by a [`RocksMemory`], which the instances of a core share: one LRU
//! block cache holds data, index and filter blocks, and the memtables are
//! charged to it through a write-buffer manager. Only LZ4 is compiled in
//! and configured.
//!
//! Stored keys follow [`crate::codec`]: key group, key, namespace (and, for
//! map state, the user key), so a key-group range is one contiguous byte
//! range per column family. That makes the rescaling primitives cheap:
//! [`RocksBackend::export_key_groups`] writes one range into SST files,
//! [`RocksBackend::ingest`] links them into another instance and
//! [`RocksBackend::drop_key_groups`] is a `delete_range`.
//!
//! The tables ([`RocksValueTable`], [`RocksListTable`], [`RocksMapTable`],
//! [`RocksReducingTable`], [`RocksAggregatingTable`]) have the operations
//! and TTL semantics of their heap counterparts, but return owned values and
//! report storage and decoding failures as [`StateError`](crate::StateError).
//! With TTL, a stored value starts with its expiry (see `stored`).
//!
//! ```
//! use spate_state::rocks::{RocksBackend, RocksOptions, RocksValueTable};
//! use spate_state::{KeyGroupRange, KeyRef};
//!
//! let dir = std::env::temp_dir().join(format!("spate-rocks-doc-{}", std::process::id()));
//! let backend = RocksBackend::open(&dir, KeyGroupRange::all(128), RocksOptions::default())?;
//! let mut counts: RocksValueTable<u64, (), u64> = RocksValueTable::open(&backend, "counts", None)?;
//! let kr = KeyRef::of(&7u64, 128);
//! counts.update(kr, &7, &(), 0, |c| match c {
//!     Some(c) => { *c += 1; None }
//!     None => Some(1),
//! })?;
//! assert_eq!(counts.get(kr, &7, &(), 0)?, Some(1));
//! # drop(counts);
//! # drop(backend);
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), spate_state::StateError>(())
//! ```

mod aggregating;
mod canonical;
mod db;
mod list;
mod map;
mod options;
mod reducing;
mod snapshot;
mod state_cf;
pub(crate) mod stored;
mod ttl;
mod value;

/// One stored entry with its expiry (`None` without TTL), as snapshots and
/// rescaling read a key group.
pub type ExpiringEntry<K, N, V> = (K, N, V, Option<i64>);

/// A table's fallible reads, each item decoded on its own.
pub type StateResult<T> = Result<T, crate::StateError>;

/// The types a table stores, owning none of them, so the table stays
/// `Send` and `Sync` whatever they are.
type Types<T> = std::marker::PhantomData<fn() -> T>;

pub use aggregating::RocksAggregatingTable;
pub use db::RocksBackend;
pub use list::RocksListTable;
pub use map::RocksMapTable;
pub use options::{MemoryUsage, RocksCompaction, RocksMemory, RocksOptions};
pub use reducing::RocksReducingTable;
pub use snapshot::{CheckpointFile, ExportedSst, FileKind, RocksCheckpoint};
pub use value::RocksValueTable;
