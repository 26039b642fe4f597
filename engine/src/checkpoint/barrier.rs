//! The checkpoint barrier: the marker that cuts every stream into the part
//! before checkpoint `id` and the part after it.

/// Checkpoint barrier `id`. Sources inject it between two records; every
/// channel carries it in its place among the records (aligned mode), so the
/// state a task snapshots when it has seen barrier `id` on all its inputs
/// reflects exactly the records before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CheckpointBarrier {
    /// The checkpoint number; increases by one per triggered checkpoint.
    pub id: u64,
    /// Wall-clock time the coordinator triggered it (Unix ms), for metrics.
    pub triggered_at_ms: u64,
}
