//! Keyed state and timers as user functions see them: handles with an
//! implicit current key, as in Flink.

mod context;
mod handles;
mod registry;
mod timers;

pub use context::{KeyedContext, OpenContext};
pub use handles::{AggregatingState, ListState, MapState, ReducingState, ValueState};
pub use registry::StateRegistry;
pub(crate) use timers::KeyedTimers;

pub use spate_state::{AggregateFunction, StateTtl, TtlUpdate, TtlVisibility};

use spate_state::KeyRef;

/// The key a keyed function is currently processing, for state access.
pub trait KeyScope<K> {
    /// The current key, its hash and key group, processing time in ms (for
    /// TTL), and the operator's state tables.
    fn parts(&mut self) -> (&K, KeyRef, i64, &mut StateRegistry);
}
