//! Errors of the Nexmark module.

use std::path::PathBuf;

/// Everything that can go wrong generating, reading, writing or querying Nexmark events.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NexmarkError {
    /// Opening, reading or writing an event file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A line of a JSON-lines event file is not an event.
    #[error("{}:{line}: not a Nexmark event: {reason}", path.display())]
    BadLine {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// What the parser said.
        reason: String,
    },
    /// A generator config or split is unusable.
    #[error("invalid Nexmark generator config: {0}")]
    InvalidConfig(String),
    /// An event is later than the bounded out-of-orderness the queries allow, so
    /// an engine would drop it and the reference output would not match.
    #[error(
        "event #{index} at {date_time} ms is {} ms behind the max timestamp seen ({max_seen} ms); bound is {bound_ms} ms",
        max_seen - date_time
    )]
    LateEvent {
        /// 0-based position of the event in the input.
        index: u64,
        /// Its timestamp.
        date_time: i64,
        /// The largest timestamp seen before it.
        max_seen: i64,
        /// The allowed out-of-orderness.
        bound_ms: i64,
    },
}
