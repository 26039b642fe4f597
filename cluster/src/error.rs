//! The cluster runtime's error type.

use spate_net::NetError;

/// What can go wrong in the coordinator, a worker or a client.
///
/// Every variant but [`ClusterError::Internal`] is operational: a peer, the
/// network, the operating system or the user. `Internal` is a bug here.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// A socket operation failed.
    #[error("{op} with {peer} failed: {source}")]
    Io {
        /// What was being done (`connect`, `read`, `write`, `bind`).
        op: &'static str,
        /// The other end (or the address bound).
        peer: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A frame from `peer` was malformed; the connection was closed.
    #[error("{peer} sent a malformed frame: {source}")]
    Frame {
        /// The other end.
        peer: String,
        /// What the frame decoder found.
        source: NetError,
    },
    /// A well-formed frame carried a message that makes no sense here.
    #[error("{peer} broke the control protocol: {reason}")]
    Protocol {
        /// The other end.
        peer: String,
        /// What was wrong.
        reason: String,
    },
    /// The peer closed the connection.
    #[error("{peer} closed the connection")]
    Closed {
        /// The other end.
        peer: String,
    },
    /// The coordinator fenced this worker (its epoch is stale).
    #[error("the coordinator fenced this worker: {reason}")]
    Fenced {
        /// The coordinator's reason.
        reason: String,
    },
    /// A job failed.
    #[error("job {job} failed: {reason}")]
    JobFailed {
        /// The job's id (0 if it never got one).
        job: u64,
        /// Why.
        reason: String,
    },
    /// A savepoint was asked for and not written.
    #[error("no savepoint was written: {reason}")]
    Savepoint {
        /// Why.
        reason: String,
    },
    /// Waiting for something took longer than its limit.
    #[error("timed out after {limit_ms} ms waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// The limit.
        limit_ms: u64,
    },
    /// Starting or stopping a process failed.
    #[error("could not {op} {what}: {reason}")]
    Launch {
        /// `start` or `stop`.
        op: &'static str,
        /// The process.
        what: String,
        /// Why.
        reason: String,
    },
    /// A setting or argument is invalid.
    #[error("invalid setting: {reason}")]
    Invalid {
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A file of the coordinator's own (its job record) could not be read
    /// or written.
    #[error("cannot {op} {path}: {source}")]
    File {
        /// `read`, `write`, `sync`, `rename` or `remove`.
        op: &'static str,
        /// The file.
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The coordinator's job record is damaged or from an unknown version:
    /// the coordinator stops rather than forget or misread the job.
    #[error(
        "the coordinator's job record {path} cannot be used: {reason}; move it away to start \
         the coordinator without resuming that job"
    )]
    Record {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The job could not be built or run by the engine.
    #[error(transparent)]
    Engine(#[from] spate::SpateError),
    /// A broken invariant: a bug in this crate.
    #[error("internal cluster error (bug): {reason}")]
    Internal {
        /// What broke.
        reason: String,
    },
}

/// This crate's result type.
pub type Result<T, E = ClusterError> = std::result::Result<T, E>;
