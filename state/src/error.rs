//! The crate's error type.

use crate::key_group::{KeyGroup, KeyGroupRange};

/// What can go wrong when touching keyed state.
///
/// Every variant but [`StateError::Internal`] is an operational error the
/// caller can act on; `Internal` means this crate broke one of its own
/// invariants.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// A key was routed to a subtask that does not own its key group: the
    /// engine's routing and the table's range disagree.
    #[error("key group {key_group} is outside the owned range {range}")]
    KeyGroupOutOfRange {
        /// The key group that was asked for.
        key_group: KeyGroup,
        /// The key groups this table or timer queue owns.
        range: KeyGroupRange,
    },
    /// A max parallelism outside `1..=max`.
    #[error("max parallelism {value} is invalid: it must lie in 1..={max}")]
    InvalidMaxParallelism {
        /// The rejected value.
        value: u32,
        /// The largest accepted value.
        max: u16,
    },
    /// A key-group range whose bounds are reversed or exceed the limit.
    #[error("key group range [{start}, {end}) is invalid: need start <= end <= {max}")]
    InvalidRange {
        /// Requested first key group.
        start: KeyGroup,
        /// Requested end (exclusive).
        end: KeyGroup,
        /// The largest accepted end.
        max: u16,
    },
    /// Stored bytes (from disk or a checkpoint) that do not decode, or a
    /// value that does not encode.
    #[error("state `{state}`: bad {part} at byte {offset}: {reason}")]
    Codec {
        /// The state (column family) the bytes belong to.
        state: String,
        /// Which part of the entry.
        part: crate::codec::DataPart,
        /// Offset of the part or bad byte in the stored key or value.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// The storage under a backend (RocksDB, its files) failed.
    #[error("{operation} failed on {}: {reason}", path.display())]
    Storage {
        /// What was being done (`open`, `put`, `checkpoint`...).
        operation: &'static str,
        /// The instance, checkpoint or file directory involved.
        path: std::path::PathBuf,
        /// The storage's error message.
        reason: String,
    },
    /// A checkpoint file (SST or manifest) whose bytes are damaged: a CRC
    /// mismatch, bad magic, a truncated block, out-of-order keys.
    #[error("corrupt checkpoint file {file} at byte {offset}: {reason}")]
    CorruptFile {
        /// The file or object name.
        file: String,
        /// Byte offset in the file where the damage was found.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// An entry that an SST writer refuses (out of order, too large, no
    /// key-group prefix): a bug in the caller, caught before it is stored.
    #[error("SST {file}: entry {entry} rejected: {reason}")]
    InvalidSstEntry {
        /// The file being written.
        file: String,
        /// Index of the rejected entry (0-based).
        entry: u64,
        /// Why it was rejected.
        reason: String,
    },
    /// Recovery found no checkpoint whose manifest and files all validate.
    #[error("no usable checkpoint in {location}: {}", no_usable_details(rejected))]
    NoUsableCheckpoint {
        /// The checkpoint storage that was searched.
        location: String,
        /// One line per rejected checkpoint, saying which file was bad and why.
        rejected: Vec<String>,
    },
    /// The checkpoint uploader's queue is full: the checkpoint is refused
    /// rather than blocking the caller.
    #[error("checkpoint upload queue is full ({capacity} checkpoints pending)")]
    UploadQueueFull {
        /// The queue's capacity.
        capacity: usize,
    },
    /// A setting (an environment variable, a config value) is unusable.
    #[error("{key} is invalid: {reason}")]
    InvalidConfig {
        /// The setting.
        key: &'static str,
        /// Why.
        reason: String,
    },
    /// A broken internal invariant: a bug in this crate.
    #[error("internal state error (bug): {reason}")]
    Internal {
        /// What invariant broke.
        reason: String,
    },
}

fn no_usable_details(rejected: &[String]) -> String {
    if rejected.is_empty() {
        "it holds no checkpoint manifest".to_string()
    } else {
        format!("every checkpoint was rejected: {}", rejected.join("; "))
    }
}
