//! The errors of the endpoints themselves (not of a producer's input,
//! which is answered and counted, see [`crate::IngestStats`]).

/// Why an endpoint could not be set up or stopped serving.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// A limit cannot work.
    #[error("invalid ingest configuration: {reason}")]
    InvalidConfig {
        /// Which limit, and why.
        reason: &'static str,
    },
    /// The listener failed.
    #[error("the {endpoint} ingest endpoint failed: {source}")]
    Io {
        /// `"HTTP"` or `"TCP"`.
        endpoint: &'static str,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A bug in the endpoints: an invariant did not hold.
    #[error("internal error in an ingest endpoint (a bug in Spate, please report it): {reason}")]
    Internal {
        /// The invariant that was violated.
        reason: String,
    },
}
