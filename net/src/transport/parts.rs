//! A connection between TCP accept/connect and a running link: the socket
//! halves, the decoder and the flow-control state, used directly (no tasks
//! yet) for the handshake.

use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use futures_lite::io::{AsyncWriteExt, WriteHalf};
use glommio::net::TcpStream;

use super::peer::Peer;
use super::pool::{CorePool, InPayload};
use super::reader::WireReader;
use super::writer::encode_pending;
use crate::config::NetConfig;
use crate::credit::Connection;
use crate::error::NetError;
use crate::frame::{FrameEncoder, FrameKind, Payload};

/// The channel number control frames carry (they belong to no channel).
pub(crate) const CONTROL_CHANNEL: u32 = 0;

pub(crate) struct LinkParts {
    pub(crate) peer: Peer,
    pub(crate) config: NetConfig,
    pub(crate) pool: CorePool,
    pub(crate) conn: Connection<Bytes, InPayload>,
    pub(crate) wire: WireReader,
    pub(crate) write: WriteHalf<TcpStream>,
    pub(crate) encoder: FrameEncoder,
    pub(crate) out: BytesMut,
}

impl LinkParts {
    pub(crate) fn new(
        stream: TcpStream,
        addr: SocketAddr,
        config: &NetConfig,
        pool: CorePool,
    ) -> Result<Self, NetError> {
        // Frames are written whole and coalesced by the writer; Nagle would
        // only add latency to the last frame of a burst.
        stream
            .set_nodelay(true)
            .map_err(|e| io_error("set_nodelay", e))?;
        let (read, write) = futures_lite::io::split(stream);
        Ok(Self {
            peer: Peer {
                addr,
                endpoint: None,
            },
            config: *config,
            pool,
            conn: Connection::new(config.queued_frames_max),
            wire: WireReader::new(read, config),
            write,
            encoder: FrameEncoder::new(config),
            out: BytesMut::with_capacity(2 * config.socket_buffer_bytes),
        })
    }

    /// Sends one control message and everything else due, now.
    pub(crate) async fn send_control(&mut self, payload: Bytes) -> Result<(), NetError> {
        self.conn
            .submit_control(FrameKind::Control, CONTROL_CHANNEL, payload)?;
        encode_pending(&mut self.conn, &self.encoder, &mut self.out, usize::MAX)?;
        let written = self.write.write_all(&self.out).await;
        self.out.clear();
        written.map_err(|e| io_error("write", e))
    }

    /// Reads the next frame, which must be a control message.
    pub(crate) async fn recv_control(&mut self) -> Result<Bytes, NetError> {
        let frame = self.wire.next_frame(&self.pool).await?;
        let header = frame.header;
        if header.kind != FrameKind::Control || header.channel != CONTROL_CHANNEL {
            return Err(NetError::Handshake {
                reason: "the first frame must be a control frame on channel 0",
            });
        }
        let Payload::Inline(bytes) = frame.payload else {
            return Err(NetError::Internal {
                reason: "control payload in a pooled buffer",
            });
        };
        let payload = InPayload::Inline(bytes.clone());
        self.conn
            .on_frame(header.kind, header.channel, header.seq, payload)?;
        Ok(bytes)
    }
}

/// A socket error as a [`NetError`].
pub(crate) fn io_error(op: &'static str, err: impl Into<std::io::Error>) -> NetError {
    let err = err.into();
    NetError::Io {
        op,
        kind: err.kind(),
        reason: err.to_string(),
    }
}
