//! The meeting point of a job run's tasks and its checkpoint driver: the
//! tasks read which checkpoint to start from two atomics, and report to the
//! driver through one bounded queue. Nothing here blocks a core.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

use super::snapshot::{TaskKey, TaskSnapshot};
use crate::error::{Result, SpateError};

/// How many checkpoints after a savepoint its aligned-only mark is kept
/// (the marks of older ones can no longer meet a barrier).
const ALIGNED_ONLY_KEPT: u64 = 1024;

/// What a task tells the driver.
#[derive(Debug)]
pub(crate) enum TaskEvent {
    /// The task snapshotted checkpoint `id` and forwarded its barrier.
    Ack {
        id: u64,
        task: TaskKey,
        snapshot: TaskSnapshot,
        /// Time spent blocked on aligning barriers.
        alignment_ns: u64,
        /// Time the synchronous part of the snapshot took.
        sync_ns: u64,
        /// CPU time the task's thread used in that part (less than
        /// `sync_ns` by the time the thread waited for a CPU).
        sync_cpu_ns: u64,
    },
    /// The task could not take checkpoint `id`.
    Decline {
        id: u64,
        task: TaskKey,
        reason: String,
    },
    /// A source read all its input and waits, injecting barriers, until
    /// the final checkpoint lets it end ([`CheckpointHub::input_released`]).
    InputEnded { task: TaskKey },
    /// The task's input ended; `snapshot` holds its final transactions.
    Finished {
        task: TaskKey,
        snapshot: TaskSnapshot,
    },
    /// Nothing happened: the thread reading the events looks at its stop
    /// flag now rather than at its next deadline.
    Wake,
}

/// Shared by every task of a job run and the driver.
#[derive(Debug)]
pub(crate) struct CheckpointHub {
    /// The newest checkpoint sources must inject a barrier for (0: none).
    triggered: AtomicU64,
    /// The newest checkpoint whose sink transactions are committed.
    completed: AtomicU64,
    /// Sources wait for a final checkpoint when their input ends.
    final_checkpoint: bool,
    /// The final checkpoint is committed (or could not be taken): sources
    /// that read all their input may end.
    released: AtomicBool,
    /// Barriers do not wait for each other at tasks with several inputs
    /// (`checkpoint.mode = unaligned`), except for [`Self::aligned_only`].
    unaligned: bool,
    /// Checkpoints taken aligned even in unaligned mode: savepoints, which
    /// hold no in-flight records so that they restore anywhere. Touched
    /// once per trigger and once per barrier, never per record.
    aligned_only: Mutex<Vec<u64>>,
    events: SyncSender<TaskEvent>,
}

impl CheckpointHub {
    /// A hub whose queue holds `events_max` events, and its receiving end;
    /// with `final_checkpoint`, sources wait for the final checkpoint;
    /// with `unaligned`, tasks do not align barriers.
    pub(crate) fn new(
        events_max: usize,
        completed: u64,
        final_checkpoint: bool,
        unaligned: bool,
    ) -> (Arc<Self>, Receiver<TaskEvent>) {
        let (events, rx) = sync_channel(events_max.max(1));
        let hub = Arc::new(Self {
            triggered: AtomicU64::new(0),
            completed: AtomicU64::new(completed),
            final_checkpoint,
            released: AtomicBool::new(false),
            unaligned,
            aligned_only: Mutex::new(Vec::new()),
            events,
        });
        (hub, rx)
    }

    /// True when a source whose input ended waits for the final checkpoint.
    pub(crate) fn waits_for_final_checkpoint(&self) -> bool {
        self.final_checkpoint
    }

    /// True once sources that read all their input may end.
    pub(crate) fn input_released(&self) -> bool {
        self.released.load(Ordering::Acquire)
    }

    pub(crate) fn release_input(&self) {
        self.released.store(true, Ordering::Release);
    }

    /// The newest checkpoint to inject (sources poll this once per batch).
    #[inline]
    pub(crate) fn triggered(&self) -> u64 {
        self.triggered.load(Ordering::Acquire)
    }

    pub(crate) fn trigger(&self, id: u64) {
        self.triggered.fetch_max(id, Ordering::AcqRel);
    }

    /// Checkpoint `id` (a savepoint) is to be taken aligned; call before
    /// triggering it.
    pub(crate) fn align_only(&self, id: u64) {
        if let Ok(mut ids) = self.aligned_only.lock() {
            ids.retain(|&old| old + ALIGNED_ONLY_KEPT > id);
            ids.push(id);
        }
    }

    /// Whether the job takes unaligned checkpoints (savepoints aside).
    pub(crate) fn unaligned_mode(&self) -> bool {
        self.unaligned
    }

    /// Whether tasks skip aligning the barriers of checkpoint `id`.
    pub(crate) fn unaligned(&self, id: u64) -> bool {
        self.unaligned
            && self
                .aligned_only
                .lock()
                .map_or(true, |ids| !ids.contains(&id))
    }

    /// The newest checkpoint whose sink transactions are committed.
    pub(crate) fn completed(&self) -> u64 {
        self.completed.load(Ordering::Acquire)
    }

    pub(crate) fn set_completed(&self, id: u64) {
        self.completed.fetch_max(id, Ordering::AcqRel);
    }

    /// Wakes the thread reading the events. A full queue wakes it anyway.
    pub(crate) fn wake_driver(&self) {
        let _ = self.events.try_send(TaskEvent::Wake);
    }

    /// Reports to the driver without blocking. The queue holds every event
    /// the tasks can have outstanding, so a full queue is a bug.
    pub(crate) fn report(&self, event: TaskEvent) -> Result<()> {
        match self.events.try_send(event) {
            Ok(()) => Ok(()),
            // The driver is gone: the run is ending; nothing to report to.
            Err(TrySendError::Disconnected(_)) => Ok(()),
            Err(TrySendError::Full(_)) => Err(SpateError::internal(
                "the checkpoint event queue is full; it is sized for every task's events",
            )),
        }
    }
}
