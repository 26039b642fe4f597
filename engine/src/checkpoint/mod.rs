//! Exactly-once checkpoints: Chandy-Lamport barriers injected at the
//! sources, aligned at every task with several inputs, snapshots taken on
//! each core between two messages, and a coordinator that completes a
//! checkpoint once every task acknowledged it.
//!
//! The control logic is pure state machines ([`CheckpointCoordinator`],
//! `BarrierAligner`); the driver thread (`driver`) and the tasks
//! (`runtime::task_checkpoint`) do the I/O. Completing checkpoint `n`
//! writes its manifest (source positions, sink transactions, counters)
//! atomically through `spate_state::checkpoint`, then commits the sinks'
//! pre-committed transactions: output is exactly-once end to end with a
//! transactional sink such as [`TwoPhaseFileSink`](crate::sinks::TwoPhaseFileSink).
//! After a failure the job restarts from the newest valid checkpoint
//! (`recovery`).

mod aligner;
mod barrier;
mod coordinator;
mod driver;
mod end_of_input;
mod hub;
mod in_flight;
mod incremental;
mod location;
mod operator_state;
mod placed;
mod recovery;
mod restore;
mod rocks_instance;
mod savepoint;
mod snapshot;
mod staging;
mod unaligned;

pub(crate) use aligner::{Alignment, BarrierAligner};
pub use barrier::CheckpointBarrier;
pub use coordinator::{CheckpointCoordinator, CoordinatorSettings, Decision};
pub(crate) use hub::{CheckpointHub, TaskEvent};
pub(crate) use in_flight::{
    IN_FLIGHT_STATE, InFlightBatch, batches as in_flight_batches, captured as in_flight_state,
};
pub use location::{open_storage, path_safe};
pub use operator_state::{Captured, CapturedState};
pub(crate) use operator_state::{
    RestoredOperator, StateSink, StatefulOperator, restore_operator, stateful_op, take_part,
};
pub(crate) use placed::run_placed_with_checkpoints;
pub use placed::{
    CheckpointCommand, CheckpointReport, FinalCommit, FinalCommitSlot, PlacedCheckpoints,
};
pub(crate) use recovery::{run_with_checkpoints, uncheckpointable};
pub(crate) use restore::{RestoredPositions, SourceRestore};
pub use rocks_instance::RocksCapture;
pub(crate) use rocks_instance::{RocksInstance, open_operator_instance};
pub use savepoint::{SavepointInbox, SavepointInfo, SavepointReply, SavepointTrigger};
pub(crate) use snapshot::SnapshotParticipant;
pub use snapshot::{SinkCounter, SinkTransaction, SplitOffset, TaskKey, TaskSnapshot};
pub(crate) use unaligned::{Unaligned, UnalignedBarriers};
