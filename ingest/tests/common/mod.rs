//! A client of the TCP ingestion protocol, shared by the endpoint tests.

#![allow(dead_code, clippy::unwrap_used)]

use bytes::BytesMut;
use spate_net::{BufferPool, FrameDecoder, FrameEncoder, FrameKind, NetConfig, Payload};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends frames (without waiting for replies) and reads the replies,
/// however the stream splits or joins them.
pub struct Client {
    pub stream: TcpStream,
    pub encoder: FrameEncoder,
    decoder: FrameDecoder,
    pool: BufferPool,
    /// Bytes read but not decoded yet.
    pending: Vec<u8>,
    /// The sequence number of the next `send_frame`.
    seq: u64,
}

impl Client {
    pub async fn connect(addr: &str) -> Self {
        let net = NetConfig::default();
        Self {
            stream: TcpStream::connect(addr).await.unwrap(),
            encoder: FrameEncoder::new(&net),
            decoder: FrameDecoder::new(&net),
            pool: BufferPool::new(4, 4096).unwrap(),
            pending: Vec::new(),
            seq: 0,
        }
    }

    /// Sends a frame with the next sequence number (0 first).
    pub async fn send_frame(&mut self, kind: FrameKind, payload: &[u8]) {
        let seq = self.seq;
        self.seq += 1;
        self.send(kind, seq, payload).await;
    }

    /// Sends a frame with sequence number `seq`.
    pub async fn send(&mut self, kind: FrameKind, seq: u64, payload: &[u8]) {
        let mut out = BytesMut::new();
        self.encoder
            .encode(kind, 0, seq, payload, &mut out)
            .unwrap();
        self.stream.write_all(&out).await.unwrap();
    }

    /// The next reply, or `None` once the server closed the connection.
    pub async fn reply(&mut self) -> Option<serde_json::Value> {
        let mut buf = [0u8; 4096];
        loop {
            let mut input = &self.pending[..];
            if let Some(frame) = self.decoder.decode(&mut input, &mut self.pool).unwrap() {
                let used = self.pending.len() - input.len();
                self.pending.drain(..used);
                assert_eq!(frame.header.kind, FrameKind::Control);
                let value = serde_json::from_slice(frame.payload.as_slice()).unwrap();
                if let Payload::Pooled(b) = frame.payload {
                    self.pool.release(b).unwrap();
                }
                return Some(value);
            }
            // The decoder kept what it was given.
            self.pending.clear();
            let n = self.stream.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                return None;
            }
            self.pending.extend_from_slice(&buf[..n]);
        }
    }

    /// True once the server closed the connection (replies before it are skipped).
    pub async fn closed(&mut self) -> bool {
        self.reply().await.is_none()
    }
}
