//! Blocking, framed I/O of control messages over a TCP stream. The control
//! plane is off the data path, so plain threads and blocking sockets keep it
//! simple; the frames are the same as the data plane's (header with magic,
//! version, length and CRC32C), so a stray or corrupt peer is caught the
//! same way.

use std::io::{Read, Write};
use std::net::TcpStream;

use bytes::BytesMut;
use rkyv::api::high::{HighDeserializer, HighSerializer, HighValidator};
use rkyv::bytecheck::CheckBytes;
use rkyv::rancor;
use rkyv::ser::allocator::ArenaHandle;
use rkyv::util::AlignedVec;
use rkyv::{Archive, Deserialize, Serialize};
use spate_net::{BufferPool, FrameDecoder, FrameEncoder, FrameKind, NetConfig};

use crate::error::{ClusterError, Result};

/// A message type of the control protocol.
pub trait ControlMessage:
    Archive + for<'a> Serialize<HighSerializer<AlignedVec, ArenaHandle<'a>, rancor::Error>> + Sized
{
    /// Validates and deserializes a payload.
    fn decode(payload: &[u8]) -> std::result::Result<Self, String>;
}

impl<M> ControlMessage for M
where
    M: Archive + for<'a> Serialize<HighSerializer<AlignedVec, ArenaHandle<'a>, rancor::Error>>,
    M::Archived: for<'a> CheckBytes<HighValidator<'a, rancor::Error>>
        + Deserialize<M, HighDeserializer<rancor::Error>>,
{
    fn decode(payload: &[u8]) -> std::result::Result<Self, String> {
        let mut aligned = AlignedVec::<16>::with_capacity(payload.len());
        aligned.extend_from_slice(payload);
        rkyv::from_bytes::<M, rancor::Error>(&aligned).map_err(|e| e.to_string())
    }
}

/// Limits of the control plane's frames.
fn control_net_config() -> NetConfig {
    NetConfig {
        // Plans and metrics are small; 16 MiB bounds a hostile length.
        frame_bytes_max: 16 << 20,
        network_buffers_per_core: 1,
        buffer_bytes: 4096,
        queued_frames_max: 1,
        ..NetConfig::default()
    }
}

/// The sending half of a control connection.
pub struct ControlWriter {
    stream: TcpStream,
    peer: String,
    encoder: FrameEncoder,
    seq: u64,
}

/// The receiving half of a control connection.
pub struct ControlReader {
    stream: TcpStream,
    peer: String,
    decoder: FrameDecoder,
    pool: BufferPool,
    buf: Vec<u8>,
    start: usize,
}

/// Splits a connected stream into its two halves.
pub fn split(stream: TcpStream) -> Result<(ControlReader, ControlWriter)> {
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "an unknown peer".to_string());
    let _ = stream.set_nodelay(true);
    let write_half = stream.try_clone().map_err(|source| ClusterError::Io {
        op: "clone a socket of",
        peer: peer.clone(),
        source,
    })?;
    let config = control_net_config();
    let pool =
        BufferPool::new(config.network_buffers_per_core, config.buffer_bytes).map_err(|e| {
            ClusterError::Internal {
                reason: format!("the control buffer pool: {e}"),
            }
        })?;
    let reader = ControlReader {
        stream,
        peer: peer.clone(),
        decoder: FrameDecoder::new(&config),
        pool,
        buf: Vec::new(),
        start: 0,
    };
    let writer = ControlWriter {
        stream: write_half,
        peer,
        encoder: FrameEncoder::new(&config),
        seq: 0,
    };
    Ok((reader, writer))
}

impl ControlWriter {
    /// The other end, for messages.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// Sends one message as one frame.
    pub fn send<M: ControlMessage>(&mut self, msg: &M) -> Result<()> {
        let payload = rkyv::to_bytes::<rancor::Error>(msg).map_err(|e| ClusterError::Internal {
            reason: format!("encoding a control message: {e}"),
        })?;
        let mut frame = BytesMut::new();
        self.encoder
            .encode(FrameKind::Control, 0, self.seq, &payload, &mut frame)
            .map_err(|source| ClusterError::Frame {
                peer: self.peer.clone(),
                source,
            })?;
        self.seq += 1;
        self.stream
            .write_all(&frame)
            .map_err(|source| ClusterError::Io {
                op: "write",
                peer: self.peer.clone(),
                source,
            })
    }

    /// Closes both directions; the peer's reader sees the end.
    pub fn shutdown(&self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

impl ControlReader {
    /// The other end, for messages.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// The next message; [`ClusterError::Closed`] at a clean end of stream.
    pub fn recv<M: ControlMessage>(&mut self) -> Result<M> {
        loop {
            let mut input = self.buf.get(self.start..).unwrap_or_default();
            let before = input.len();
            let decoded = self.decoder.decode(&mut input, &mut self.pool);
            self.start += before - input.len();
            let frame = decoded.map_err(|source| ClusterError::Frame {
                peer: self.peer.clone(),
                source,
            })?;
            if let Some(frame) = frame {
                if frame.header.kind != FrameKind::Control {
                    return Err(self.protocol(format!(
                        "expected a control frame, got {:?}",
                        frame.header.kind
                    )));
                }
                let msg = M::decode(frame.payload.as_slice())
                    .map_err(|e| self.protocol(format!("the message failed validation: {e}")));
                if let spate_net::Payload::Pooled(b) = frame.payload {
                    let _ = self.pool.release(b);
                }
                return msg;
            }
            self.fill()?;
        }
    }

    fn fill(&mut self) -> Result<()> {
        self.buf.drain(..self.start);
        self.start = 0;
        let mut chunk = [0u8; 16 << 10];
        let n = self
            .stream
            .read(&mut chunk)
            .map_err(|source| ClusterError::Io {
                op: "read",
                peer: self.peer.clone(),
                source,
            })?;
        if n == 0 {
            self.decoder
                .finish(&mut self.pool)
                .map_err(|source| ClusterError::Frame {
                    peer: self.peer.clone(),
                    source,
                })?;
            return Err(ClusterError::Closed {
                peer: self.peer.clone(),
            });
        }
        self.buf
            .extend_from_slice(chunk.get(..n).unwrap_or_default());
        Ok(())
    }

    fn protocol(&self, reason: String) -> ClusterError {
        ClusterError::Protocol {
            peer: self.peer.clone(),
            reason,
        }
    }
}
