//! The one error type of the network layer.
//!
//! Every malformed byte, protocol violation or exhausted resource becomes a
//! [`NetError`] that says where (byte offset in the stream, channel, sequence
//! number) and why. The transport closes the connection on any of them and
//! names the peer; the process stays up. Nothing here panics on peer input.

use std::net::SocketAddr;

use crate::frame::FrameKind;
use crate::transport::Peer;

/// A channel id: one logical stream multiplexed on a connection.
pub type ChannelId = u32;

/// Why a byte stream, a frame or a flow-control event was rejected.
///
/// Offsets count bytes from the start of the connection's inbound stream and
/// point at the first byte of the offending frame's header.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    /// The stream does not start a frame where one must start.
    #[error("bad magic {found:02x?} at byte offset {offset} (expected b\"SPT1\")")]
    BadMagic {
        /// Offset of the frame's first byte.
        offset: u64,
        /// The four bytes found instead of the magic.
        found: [u8; 4],
    },
    /// The peer speaks a protocol version this build does not.
    #[error(
        "unsupported protocol version {found} at byte offset {offset} (supported: {supported})"
    )]
    UnsupportedVersion {
        /// Offset of the frame's first byte.
        offset: u64,
        /// The version in the header.
        found: u16,
        /// The version this build speaks.
        supported: u16,
    },
    /// The header's own checksum does not match: a corrupted header.
    #[error(
        "header checksum mismatch at byte offset {offset}: expected {expected:#010x}, found {found:#010x}"
    )]
    HeaderChecksumMismatch {
        /// Offset of the frame's first byte.
        offset: u64,
        /// The checksum computed over the received header.
        expected: u32,
        /// The checksum the header carried.
        found: u32,
    },
    /// The frame kind byte names no known kind.
    #[error("unknown frame kind {found} at byte offset {offset}")]
    UnknownKind {
        /// Offset of the frame's first byte.
        offset: u64,
        /// The kind byte.
        found: u8,
    },
    /// Flag bits this version does not define are set.
    #[error("unknown flags {found:#04x} at byte offset {offset}")]
    UnknownFlags {
        /// Offset of the frame's first byte.
        offset: u64,
        /// The flags byte.
        found: u8,
    },
    /// A payload longer than the configured maximum (`frame_bytes_max`, or
    /// the receive buffer size for data frames).
    #[error(
        "{kind:?} frame of {len} payload bytes at byte offset {offset} exceeds the maximum {max}"
    )]
    FrameTooLarge {
        /// Offset of the frame's first byte (0 when encoding).
        offset: u64,
        /// The frame's kind.
        kind: FrameKind,
        /// The payload length announced or requested.
        len: u64,
        /// The limit it broke.
        max: u64,
    },
    /// The payload's CRC32C does not match the header's.
    #[error(
        "payload checksum mismatch on channel {channel} seq {seq} (frame at byte offset {offset}): expected {expected:#010x}, found {found:#010x}"
    )]
    ChecksumMismatch {
        /// Offset of the frame's first byte.
        offset: u64,
        /// The frame's channel.
        channel: ChannelId,
        /// The frame's sequence number.
        seq: u64,
        /// The checksum computed over the received payload.
        expected: u32,
        /// The checksum the header carried.
        found: u32,
    },
    /// A frame's sequence number is not the next one on its channel.
    #[error("sequence gap on channel {channel}: expected seq {expected}, found {found}")]
    SequenceGap {
        /// The channel.
        channel: ChannelId,
        /// The sequence number that had to come next.
        expected: u64,
        /// The sequence number that came.
        found: u64,
    },
    /// The stream ended inside a frame.
    #[error(
        "stream truncated inside the frame at byte offset {offset}: {missing} more bytes expected"
    )]
    Truncated {
        /// Offset of the unfinished frame's first byte.
        offset: u64,
        /// Bytes still missing: of the header while it is incomplete (the
        /// payload length is not known yet), else of the payload.
        missing: u64,
    },
    /// A payload failed rkyv validation.
    #[error("invalid archive on channel {channel} seq {seq}: {reason}")]
    InvalidArchive {
        /// The frame's channel (0 when not from a frame).
        channel: ChannelId,
        /// The frame's sequence number (0 when not from a frame).
        seq: u64,
        /// rkyv's explanation.
        reason: String,
    },
    /// Records could not be serialized into a batch payload.
    #[error("cannot encode batch: {reason}")]
    Encode {
        /// rkyv's explanation.
        reason: String,
    },
    /// No free buffer in the per-core pool.
    #[error("network buffer pool exhausted: all {buffers} buffers in use")]
    PoolExhausted {
        /// The pool's size.
        buffers: usize,
    },
    /// A buffer was returned to a pool that did not lend it.
    #[error("buffer returned to a pool that did not lend it")]
    ForeignBuffer,
    /// A peer sent a data frame on a channel with no outstanding credit.
    #[error("credit violation on channel {channel}: data frame seq {seq} arrived without credit")]
    CreditViolation {
        /// The channel.
        channel: ChannelId,
        /// The data frame's sequence number.
        seq: u64,
    },
    /// A credit announcement went backwards.
    #[error("credit regression on channel {channel}: granted total {found} after {previous}")]
    CreditRegression {
        /// The channel.
        channel: ChannelId,
        /// The cumulative credit already granted.
        previous: u64,
        /// The smaller cumulative credit announced.
        found: u64,
    },
    /// A bounded queue is full; the caller must drain it first.
    #[error("queue full on channel {channel}: {max} frames queued")]
    QueueFull {
        /// The channel (for the connection's priority lane, the frame's channel).
        channel: ChannelId,
        /// The bound (`queued_frames_max`).
        max: usize,
    },
    /// A frame or a call named a channel that is not open.
    #[error("unknown channel {channel}")]
    UnknownChannel {
        /// The channel.
        channel: ChannelId,
    },
    /// A channel was opened twice.
    #[error("channel {channel} is already open")]
    ChannelExists {
        /// The channel.
        channel: ChannelId,
    },
    /// Something was sent or received on a channel after its end.
    #[error("channel {channel} has ended")]
    ChannelEnded {
        /// The channel.
        channel: ChannelId,
    },
    /// A frame kind arrived where it has no meaning (e.g. data on the priority
    /// lane), or a buffer was released that was never held.
    #[error("protocol violation on channel {channel}: {reason}")]
    Protocol {
        /// The channel.
        channel: ChannelId,
        /// What was wrong.
        reason: &'static str,
    },
    /// A configuration value is out of range.
    #[error("invalid network config: {reason}")]
    InvalidConfig {
        /// What is wrong.
        reason: &'static str,
    },
    /// A link failed or was closed: every pending and later call on it
    /// returns this, naming the peer and the first cause.
    #[error("link to {peer}: {cause}")]
    Link {
        /// The peer: its address, and its endpoint once the handshake named it.
        peer: Peer,
        /// Why the link closed.
        cause: Box<NetError>,
    },
    /// A socket operation failed.
    #[error("socket {op} failed ({kind:?}): {reason}")]
    Io {
        /// What was being done (`connect`, `read`, `write`, ...).
        op: &'static str,
        /// The operating system's error kind.
        kind: std::io::ErrorKind,
        /// The operating system's message.
        reason: String,
    },
    /// The peer closed its end of the connection between frames.
    #[error("the peer closed the connection after {offset} bytes")]
    PeerClosed {
        /// Bytes received from the peer in all.
        offset: u64,
    },
    /// This side closed the link (its `Link` was closed or dropped).
    #[error("the link was closed on this side")]
    ClosedLocally,
    /// The handshake did not follow the protocol.
    #[error("handshake failed: {reason}")]
    Handshake {
        /// What was wrong.
        reason: &'static str,
    },
    /// The peer's admission policy refused the handshake (wrong session,
    /// stale epoch, ...), or ours refused the peer's.
    #[error("handshake rejected: {reason}")]
    HandshakeRejected {
        /// The policy's reason.
        reason: String,
    },
    /// The peer sent no frame for longer than the heartbeat timeout.
    #[error("no frame from the peer for {silent_ms} ms (heartbeat_timeout_ms = {timeout_ms})")]
    HeartbeatTimeout {
        /// Milliseconds since the peer's last frame.
        silent_ms: u64,
        /// The configured limit.
        timeout_ms: u64,
    },
    /// An operation did not finish within its time limit.
    #[error("{op} timed out after {timeout_ms} ms")]
    TimedOut {
        /// What was being done.
        op: &'static str,
        /// The limit.
        timeout_ms: u64,
    },
    /// The HTTP CONNECT proxy of `connect_via` did not open a tunnel.
    #[error("the proxy {proxy} did not open a tunnel: {answer}")]
    ProxyRefused {
        /// The proxy.
        proxy: SocketAddr,
        /// What it answered (its status line), or how the answer failed.
        answer: String,
    },
    /// A bug in this crate, reported instead of panicking.
    #[error("internal error: {reason}")]
    Internal {
        /// What went wrong.
        reason: &'static str,
    },
}
