//! What one task contributes to a checkpoint, and the operators that
//! contribute to it.

use crate::error::Result;

/// Identifies a task of the job: the node at the head of its chain and the
/// subtask (core) it runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskKey {
    /// The chain's head node in the job graph.
    pub node: usize,
    /// The global subtask index.
    pub subtask: u32,
}

/// A source split's position after the records before the barrier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitOffset {
    /// The split, as the source names it.
    pub split: String,
    /// The encoded position ([`Source::offset`](crate::sources::Source::offset)).
    pub offset: Vec<u8>,
}

/// A sink transaction that is pre-committed (durable, not yet visible).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkTransaction {
    /// The sink's node in the job graph.
    pub sink_node: usize,
    /// The checkpoint that pre-committed it.
    pub checkpoint_id: u64,
    /// The sink's encoding of the transaction (e.g. the files to publish).
    pub handle: Vec<u8>,
}

/// A sink's counts at the checkpoint, so the job's summary after a
/// recovery counts each committed record once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkCounter {
    /// The sink's name.
    pub sink: String,
    /// Records written before the barrier in this run.
    pub records: u64,
    /// Their order-independent checksum.
    pub checksum: u64,
}

/// One task's part of a checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskSnapshot {
    /// Positions of the source splits the task reads (source tasks only).
    pub source_offsets: Vec<SplitOffset>,
    /// Every transaction of the task's sinks not known to be committed;
    /// completing the checkpoint commits them all.
    pub sink_transactions: Vec<SinkTransaction>,
    /// Counts of the task's sinks.
    pub sink_counters: Vec<SinkCounter>,
    /// Records the task's source produced before the barrier in this run.
    pub source_records: u64,
    /// The keyed state of the task's operators.
    pub states: Vec<super::operator_state::CapturedState>,
    /// Small values of the task's operators (their watermarks), by name.
    pub operator_values: std::collections::BTreeMap<String, i64>,
}

/// An operator with something to put into checkpoints. Called on the
/// task's core when the task is aligned on a barrier: everything before
/// the barrier has been processed, nothing after it.
pub(crate) trait SnapshotParticipant {
    /// Adds this operator's part of checkpoint `id` to `out`. Only cheap
    /// work may happen here (capturing, not writing out).
    fn snapshot(&self, id: u64, completed_id: u64, out: &mut TaskSnapshot) -> Result<()>;
    /// Encodes more of checkpoint `id`'s captures that `snapshot` started
    /// (copy-on-write: they hold the state at the barrier while records
    /// after it are processed), spending at most `budget`; true once
    /// complete. Called between record batches, so only bounded work.
    fn continue_snapshot(
        &self,
        id: u64,
        budget: &mut usize,
        out: &mut TaskSnapshot,
    ) -> Result<bool> {
        let _ = (id, budget, out);
        Ok(true)
    }
    /// The input ended and the job will finish: pre-commit the rest; the
    /// transactions are committed once the whole job has succeeded.
    fn finish(&self, out: &mut TaskSnapshot) -> Result<()>;
}
