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
    /// A broken internal invariant: a bug in this crate.
    #[error("internal state error (bug): {reason}")]
    Internal {
        /// What invariant broke.
        reason: String,
    },
}
