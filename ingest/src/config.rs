//! The limits and the shared token of the endpoints.

/// How the endpoints accept batches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestConfig {
    /// When set, every request must carry it (HTTP `Authorization: Bearer`,
    /// or the TCP hello frame).
    pub token: Option<String>,
    /// Largest batch, in bytes (an HTTP body or a TCP data frame's payload).
    pub batch_bytes_max: usize,
    /// Most records in one batch.
    pub batch_records_max: usize,
    /// Most TCP connections served at once; more wait in the listen queue.
    pub connections_max: usize,
    /// Most batches of one TCP connection waiting to become durable (with a
    /// checkpointed engine); the next frame is read once one is answered.
    pub unacked_batches_max: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            token: None,
            batch_bytes_max: 1 << 20,
            batch_records_max: 10_000,
            connections_max: 64,
            unacked_batches_max: 64,
        }
    }
}

impl IngestConfig {
    /// A sentence when a limit cannot work.
    pub fn validate(&self) -> Result<(), crate::IngestError> {
        let reason = if self.batch_bytes_max == 0 {
            "batch_bytes_max must be positive"
        } else if u32::try_from(self.batch_bytes_max).is_err() {
            "batch_bytes_max must fit a frame's 32-bit length"
        } else if self.batch_records_max == 0 {
            "batch_records_max must be positive"
        } else if self.connections_max == 0 {
            "connections_max must be positive"
        } else if self.unacked_batches_max == 0 {
            "unacked_batches_max must be positive"
        } else if self.token.as_deref() == Some("") {
            "token must not be empty (leave it unset for no authentication)"
        } else {
            return Ok(());
        };
        Err(crate::IngestError::InvalidConfig { reason })
    }
}
