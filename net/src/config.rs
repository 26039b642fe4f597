//! Limits of the network layer, checked once at start-up.

use std::net::SocketAddr;

use crate::error::NetError;

/// Sizes and bounds for frames, buffers and queues. Every queue and buffer in
/// this crate is bounded by one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetConfig {
    /// Largest payload any frame may carry; a header announcing more is
    /// rejected before a byte of its payload is read.
    pub frame_bytes_max: u32,
    /// Receive buffers in each core's pool ([`crate::BufferPool`]).
    pub network_buffers_per_core: usize,
    /// Size of one receive buffer; a data frame's payload must fit in one.
    pub buffer_bytes: usize,
    /// Bound of each sender channel's data queue, of the connection's
    /// priority lane, and of the events a receiver holds for ordering.
    pub queued_frames_max: usize,
    /// A link sends a heartbeat after this long without writing anything.
    pub heartbeat_interval_ms: u64,
    /// A link whose peer sent no frame for this long is closed as dead.
    pub heartbeat_timeout_ms: u64,
    /// Longest a connect plus handshake (dialing or accepting) may take.
    pub handshake_timeout_ms: u64,
    /// Size of one socket read and the most a writer coalesces into one
    /// write (it may exceed this by one frame).
    pub socket_buffer_bytes: usize,
    /// Dial links through this HTTP CONNECT proxy (a sidecar, an egress
    /// gateway, the torture suites' fault proxy) instead of directly.
    pub connect_via: Option<SocketAddr>,
}

impl Default for NetConfig {
    fn default() -> Self {
        // 64 KiB holds a 1,024-record batch of 48-byte records with room to
        // spare; 512 of them is 32 MiB per core, bounded and allocated once.
        Self {
            frame_bytes_max: 1 << 20,
            network_buffers_per_core: 512,
            buffer_bytes: 64 << 10,
            queued_frames_max: 64,
            heartbeat_interval_ms: 500,
            heartbeat_timeout_ms: 5_000,
            handshake_timeout_ms: 5_000,
            socket_buffer_bytes: 256 << 10,
            connect_via: None,
        }
    }
}

impl NetConfig {
    /// Rejects values that would make the layer unusable.
    pub fn validate(&self) -> Result<(), NetError> {
        let reason = if self.frame_bytes_max == 0 {
            "frame_bytes_max must be positive"
        } else if self.network_buffers_per_core == 0 {
            "network_buffers_per_core must be positive"
        } else if self.buffer_bytes == 0 {
            "buffer_bytes must be positive"
        } else if self.queued_frames_max == 0 {
            "queued_frames_max must be positive"
        } else if self.heartbeat_interval_ms == 0 {
            "heartbeat_interval_ms must be positive"
        } else if self.heartbeat_timeout_ms <= self.heartbeat_interval_ms {
            "heartbeat_timeout_ms must exceed heartbeat_interval_ms"
        } else if self.handshake_timeout_ms == 0 {
            "handshake_timeout_ms must be positive"
        } else if self.socket_buffer_bytes < crate::frame::HEADER_LEN {
            "socket_buffer_bytes must hold at least a frame header"
        } else {
            return Ok(());
        };
        Err(NetError::InvalidConfig { reason })
    }

    /// Largest payload of a data frame: it must fit the frame limit and one
    /// receive buffer.
    pub fn data_payload_max(&self) -> usize {
        self.buffer_bytes.min(self.frame_bytes_max as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_fits_a_1024_record_batch() {
        let config = NetConfig::default();
        assert_eq!(config.validate(), Ok(()));
        assert!(config.data_payload_max() >= 1024 * 48 + 64);
    }

    #[test]
    fn zero_limits_are_rejected() {
        let config = NetConfig {
            queued_frames_max: 0,
            ..NetConfig::default()
        };
        assert!(matches!(
            config.validate(),
            Err(NetError::InvalidConfig { .. })
        ));
    }
}
