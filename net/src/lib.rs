//! Spate's network layer (issue 4): the wire format, credit-based flow
//! control as pure code, and the TCP transport that runs them per core.
//!
//! - [`frame`]: 32-byte headers, an encoder into `BytesMut`, and an
//!   incremental [`FrameDecoder`] that verifies magic, version, kind, length
//!   and CRC32C and yields frames whose data payloads sit in aligned pooled
//!   buffers.
//! - [`batch`]: record batches as rkyv archives, written in place and read in
//!   place after checked validation.
//! - [`buffer_pool`]: the fixed per-core pool of aligned receive buffers.
//! - [`credit`]: credit-based flow control as a pure state machine: events in,
//!   decisions out, many channels multiplexed on one connection.
//! - [`transport`]: the I/O edge: per-core [`Link`]s over TCP (glommio),
//!   handshake, channels with credit-based backpressure, heartbeats and
//!   per-channel metrics.
//!
//! Every malformed input is a typed [`NetError`]; nothing panics on it.

#![warn(missing_docs)]

pub mod batch;
pub mod buffer_pool;
pub mod config;
pub mod credit;
pub mod error;
pub mod frame;
pub mod transport;

/// The rkyv this crate's API speaks (`ArchivedVec`, `AlignedVec`, derives),
/// re-exported so callers use the same version.
pub use rkyv;

pub use batch::{BatchRecord, PAYLOAD_ALIGN, access_batch, encode_batch, write_batch};
pub use buffer_pool::{BufferPool, PooledBuffer};
pub use config::NetConfig;
pub use credit::{
    ChannelMetrics, Connection, Delivery, OutFrame, ReceiverChannel, SenderChannel, Transmit,
};
pub use error::{ChannelId, NetError};
pub use frame::{
    CreditGrant, Frame, FrameDecoder, FrameEncoder, FrameHeader, FrameKind, HEADER_LEN, Lane,
    MAGIC, PROTOCOL_VERSION, Payload,
};
pub use transport::{
    AcceptPolicy, ChannelEvent, ChannelReceiver, ChannelSender, ChannelStats, ControlReceiver,
    CorePool, DataFrame, Endpoint, Hello, HelloReply, Link, LinkListener, LinkMetrics, Peer,
    Received, SessionFence, dial_blocking,
};
