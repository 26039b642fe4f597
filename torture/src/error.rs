//! The errors of the harness library: operational failures, each a sentence.

use std::path::PathBuf;

/// What went wrong, apart from what the checker finds in the output (that
/// is a [`crate::checker::Report`], not an error).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TortureError {
    /// A file or directory could not be read or written.
    #[error("{op} {path} failed: {source}")]
    Io {
        /// What was being done ("reading", "listing").
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A process of the cluster or the job did something unexpected.
    #[error("{0}")]
    Cluster(String),
    /// The arguments cannot work together.
    #[error("{0}")]
    Usage(String),
}

/// The harness's result type.
pub type Result<T> = std::result::Result<T, TortureError>;

pub(crate) fn io(op: &'static str, path: &std::path::Path, source: std::io::Error) -> TortureError {
    TortureError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}
