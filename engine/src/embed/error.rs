//! The errors of the embedding API.

use crate::error::SpateError;

/// What can go wrong starting, feeding or stopping an embedded engine.
///
/// [`EmbedError::Full`] and [`EmbedError::Stopped`] are operational: the
/// caller decides (retry later, or stop sending). [`EmbedError::Job`] carries
/// the job's own error (bad graph, a failed operator, an executor that could
/// not start). [`EmbedError::Internal`] always means a bug in Spate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmbedError {
    /// `try_send` found the ingest queue full: the job is saturated.
    #[error(
        "the ingest queue is full ({capacity_records} records): the job is saturated; \
         retry later, or use `send`, which waits for room"
    )]
    Full {
        /// The queue's capacity (`EngineBuilder::ingest_records_max`).
        capacity_records: usize,
    },
    /// The engine takes no more records: it was shut down, or its job
    /// failed (`Engine::shutdown` then returns why).
    #[error(
        "the embedded engine takes no more records: it was shut down or its job \
         failed (shutdown() returns the job's error)"
    )]
    Stopped,
    /// The job could not be built or started, or it failed while running.
    #[error(transparent)]
    Job(#[from] SpateError),
    /// `stop_with_savepoint` on an engine started without
    /// `EngineBuilder::with_savepoints`.
    #[error(
        "this engine was started without savepoints: build it with \
         `EngineBuilder::with_savepoints()` to stop it with a savepoint"
    )]
    SavepointsOff,
    /// The final savepoint could not be written; the engine drained its
    /// input instead (firing open windows), so no result was lost.
    #[error(
        "the final savepoint was not written: {reason}; the engine drained its input \
         instead, delivering every result"
    )]
    SavepointFailed {
        /// Why.
        reason: String,
    },
    /// `send_durable` on an engine started without
    /// `EngineBuilder::checkpointed`.
    #[error(
        "this engine takes no checkpoints, so no batch can be acknowledged as durable: \
         build it with `EngineBuilder::checkpointed()` and a checkpoint interval"
    )]
    NotCheckpointed,
    /// A batch sent with `send_durable` was rolled back (the job failed
    /// before a checkpoint held it) or never processed: none of it counts;
    /// send it again.
    #[error("the batch is not durable: {reason}")]
    NotDurable {
        /// Why.
        reason: String,
    },
    /// The thread that runs the engine could not be started.
    #[error("could not start the embedded engine's thread: {source}")]
    Thread {
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A bug in Spate: an invariant of the embedding API did not hold.
    #[error("internal error in the embedded engine (a bug in Spate, please report it): {reason}")]
    Internal {
        /// The invariant that was violated.
        reason: String,
    },
}

/// A record `try_send` could not queue, handed back with the reason.
pub struct Rejected<T> {
    /// Why it was not queued: [`EmbedError::Full`] or [`EmbedError::Stopped`].
    pub error: EmbedError,
    /// The record, to retry or drop.
    pub record: T,
}

impl<T> Rejected<T> {
    /// The record, dropping the reason.
    pub fn into_record(self) -> T {
        self.record
    }

    /// True when the queue was full (retrying later may succeed).
    pub fn is_full(&self) -> bool {
        matches!(self.error, EmbedError::Full { .. })
    }
}

impl<T> std::fmt::Debug for Rejected<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rejected")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl<T> std::fmt::Display for Rejected<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.error, f)
    }
}

impl<T> std::error::Error for Rejected<T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}
