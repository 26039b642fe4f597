//! The engine's error type.

use std::path::PathBuf;

/// Everything that can go wrong building or running a job.
///
/// Operational errors (bad input, bad config, I/O) are kept apart from
/// [`SpateError::Internal`], which always means a bug in Spate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpateError {
    /// The job graph is invalid; `reason` says what to change.
    #[error("invalid job: {reason}")]
    InvalidJob {
        /// A sentence that says what is wrong and how to fix it.
        reason: String,
    },
    /// The configuration could not be loaded or is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// Reading or writing a file failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done ("reading", "writing", "creating").
        op: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A record from an external input could not be parsed.
    #[error("{path}:{line}: {reason}")]
    BadInput {
        /// The input file (or source name).
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// What is wrong with the line.
        reason: String,
    },
    /// A user function or source reported an error.
    #[error("operator `{operator}` failed: {reason}")]
    Operator {
        /// The operator's name in the job graph.
        operator: String,
        /// The reason it gave.
        reason: String,
    },
    /// The thread-per-core runtime could not start or a core failed.
    #[error("core {core}: {reason}")]
    Runtime {
        /// The core index.
        core: usize,
        /// What happened.
        reason: String,
    },
    /// A CPU list (e.g. `spate worker --cpus`) is malformed or cannot be
    /// applied.
    #[error("CPU list `{list}`: {reason}")]
    Cpus {
        /// The list as given.
        list: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Taking, storing or restoring a checkpoint failed.
    #[error("checkpoint: {reason}")]
    Checkpoint {
        /// What failed, with the file or checkpoint involved.
        reason: String,
    },
    /// A state backend error.
    #[error(transparent)]
    State(#[from] spate_state::StateError),
    /// A bug in Spate: an invariant did not hold.
    #[error("internal error (a bug in Spate, please report it): {reason}")]
    Internal {
        /// The invariant that was violated.
        reason: String,
    },
}

/// Shorthand for results in this crate.
pub type Result<T, E = SpateError> = std::result::Result<T, E>;

impl SpateError {
    /// Builds an [`SpateError::Internal`].
    pub fn internal(reason: impl Into<String>) -> Self {
        Self::Internal {
            reason: reason.into(),
        }
    }

    /// Builds an [`SpateError::InvalidJob`].
    pub fn invalid_job(reason: impl Into<String>) -> Self {
        Self::InvalidJob {
            reason: reason.into(),
        }
    }
}
