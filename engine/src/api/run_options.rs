//! How one run of a job treats savepoints.

use std::path::PathBuf;

use crate::checkpoint::SavepointInbox;

/// Options of [`Job::run_with`](crate::Job::run_with).
///
/// ```
/// use spate::{RunOptions, checkpoint::SavepointTrigger};
///
/// let (trigger, inbox) = SavepointTrigger::channel();
/// let options = RunOptions::default()
///     .with_savepoints(inbox)
///     .from_savepoint("/tmp/savepoints/nightly");
/// assert!(options.from_savepoint.is_some());
/// # drop(trigger);
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RunOptions {
    /// Restore this savepoint (a directory or `s3://bucket/prefix`) before
    /// the job starts, also with another parallelism than it was taken
    /// with. Restarts after failures use the run's own checkpoints.
    pub from_savepoint: Option<PathBuf>,
    /// Take savepoints asked for through the paired
    /// [`SavepointTrigger`](crate::checkpoint::SavepointTrigger) while the
    /// job runs, even with periodic checkpoints off.
    pub savepoints: Option<SavepointInbox>,
}

impl RunOptions {
    /// Restores the savepoint at `location` first.
    pub fn from_savepoint(mut self, location: impl Into<PathBuf>) -> Self {
        self.from_savepoint = Some(location.into());
        self
    }

    /// Takes savepoints on request.
    pub fn with_savepoints(mut self, inbox: SavepointInbox) -> Self {
        self.savepoints = Some(inbox);
        self
    }
}
