//! Keyed state for Spate: the heap backend (Flink's `HeapKeyedStateBackend`
//! counterpart), key groups and timers.
//!
//! Keyed state is partitioned into key groups. A key's [`stable_hash`] picks
//! its key group, each operator subtask owns a contiguous
//! [`KeyGroupRange`], and every table stores only the key groups of its
//! subtask, one hash table per key group, so state can be snapshotted and
//! redistributed per key group when a job is rescaled.
//!
//! The engine computes a [`KeyRef`] (hash + key group) once per record and
//! passes it, with the key, a namespace (`()` for plain keyed state, a window
//! for window state) and its clock's `now_ms`, to every call. This crate has
//! no clock and no notion of a "current key".
//!
//! ```
//! use spate_state::{KeyRef, StateTtl, TimerQueue, ValueTable};
//! use spate_state::{key_group_range_for_subtask, subtask_for_key_group};
//!
//! let (max_parallelism, parallelism) = (128, 4);
//! let key = 42u64;
//! // Once per record: routing and every state access use the same KeyRef.
//! let kr = KeyRef::of(&key, max_parallelism);
//! let subtask = subtask_for_key_group(kr.key_group, max_parallelism, parallelism);
//! let range = key_group_range_for_subtask(max_parallelism, parallelism, subtask);
//!
//! let mut counts: ValueTable<u64, (), u64> = ValueTable::new(range, None);
//! for now_ms in 0..3 {
//!     counts.update(kr, &key, &(), now_ms, |count| match count {
//!         Some(count) => { *count += 1; None }
//!         None => Some(1),
//!     })?;
//! }
//! assert_eq!(counts.get(kr, &key, &(), 3)?, Some(&3));
//!
//! // Values expire 1 s after their last write.
//! let mut last_seen: ValueTable<u64, (), i64> = ValueTable::new(range, Some(StateTtl::new(1_000)));
//! last_seen.put(kr, key, (), 7, 0)?;
//! assert_eq!(last_seen.get(kr, &key, &(), 1_000)?, None);
//!
//! let mut timers: TimerQueue<u64, ()> = TimerQueue::new(range);
//! timers.register(kr, &key, &(), 500)?;
//! assert_eq!(timers.pop_due(499), None);
//! assert_eq!(timers.pop_due(500).map(|t| t.key), Some(42));
//! # Ok::<(), spate_state::StateError>(())
//! ```
//!
//! Modules:
//! - [`key_group`] — key groups, ranges, Flink's assignment formulas, [`KeyRef`].
//! - [`hash`] — the deterministic [`stable_hash`].
//! - [`checksum_hash`] — the faster, non-persisted hash of output checksums.
//! - [`ttl`] — [`StateTtl`] with Flink's update and visibility semantics.
//! - [`value`], [`list`], [`map`], [`reducing`], [`aggregating`] — the state
//!   tables, one per declared state per subtask.
//! - [`timers`] — [`TimerQueue`], the deduplicated event/processing-time
//!   timer service.
//! - [`snapshot`] — what per-key-group iteration (checkpoints) yields.
//! - [`canonical`] — every table's entries as sorted (stored key, stored
//!   value) pairs, the backend-independent form of snapshots.
//! - [`checkpoint`] — checkpoint SST files, manifests, storage (local
//!   directory, S3), upload, retention and recovery selection.
//! - [`codec`] — rkyv serialization of keys, namespaces and values
//!   ([`StateData`]) and the byte layout of stored keys.
//! - [`rocks`] — the RocksDB backend: one instance per keyed operator subtask, the same
//!   tables on column families, checkpoint and rescaling primitives.
//! - [`error`] — [`StateError`].
//!
//! Internals: `store` holds the per-key-group hash tables shared by all
//! tables, `dispatch` picks between the TTL-free and TTL representation of a
//! table (values without TTL carry no timestamp).

#![deny(missing_docs)]

pub mod changes;
mod delta_order;
mod dispatch;
mod store;

pub mod aggregating;
pub mod canonical;
pub mod checkpoint;
pub mod checksum_hash;
pub mod codec;
pub mod crash_point;
pub mod error;
pub mod hash;
pub mod key_group;
pub mod list;
pub mod map;
pub mod reducing;
pub mod rocks;
pub mod snapshot;
pub mod timers;
pub mod ttl;
pub mod value;

pub use aggregating::{AggregateFunction, AggregatingTable};
pub use canonical::{CanonicalEntry, CanonicalState, DeltaEntry};
pub use checksum_hash::{ChecksumHasher, checksum_hash};
pub use codec::StateData;
pub use error::StateError;
pub use hash::{StableBuildHasher, StableHasher, stable_hash};
pub use key_group::{
    KeyGroup, KeyGroupRange, KeyRef, MAX_PARALLELISM_DEFAULT, MAX_PARALLELISM_LIMIT,
    key_group_of_hash, key_group_range_for_subtask, subtask_for_key_group,
    validate_max_parallelism,
};
pub use list::ListTable;
pub use map::MapTable;
pub use reducing::{ReduceFn, ReducingTable};
pub use snapshot::ExpiringEntry;
pub use timers::{Timer, TimerQueue};
pub use ttl::{StateTtl, TtlUpdate, TtlVisibility};
pub use value::ValueTable;
