//! The reader task: socket bytes into the decoder, verified frames into the
//! flow-control state, and wake-ups for whoever waits on them.

use std::time::Instant;

use futures_lite::io::{AsyncReadExt, ReadHalf};
use glommio::net::TcpStream;

use super::parts::io_error;
use super::pool::{CorePool, InPayload};
use super::state::{LinkState, Shared, borrow};
use crate::config::NetConfig;
use crate::error::NetError;
use crate::frame::{CreditGrant, Frame, FrameDecoder, FrameKind};

/// The inbound half of a socket with its decoder and read buffer.
pub(crate) struct WireReader {
    half: ReadHalf<TcpStream>,
    decoder: FrameDecoder,
    buf: Vec<u8>,
    /// Undecoded bytes are `buf[start..end]`.
    start: usize,
    end: usize,
}

impl WireReader {
    pub(crate) fn new(half: ReadHalf<TcpStream>, config: &NetConfig) -> Self {
        Self {
            half,
            decoder: FrameDecoder::new(config),
            buf: vec![0; config.socket_buffer_bytes],
            start: 0,
            end: 0,
        }
    }

    /// Bytes received in all.
    pub(crate) fn offset(&self) -> u64 {
        self.decoder.offset() + (self.end - self.start) as u64
    }

    /// The next complete frame in the bytes already read, if any.
    pub(crate) fn decode_next(&mut self, pool: &CorePool) -> Result<Option<Frame>, NetError> {
        let mut input = &self.buf[self.start..self.end];
        let before = input.len();
        let frame = pool.with(|pool| self.decoder.decode(&mut input, pool))?;
        self.start += before - input.len();
        Ok(frame)
    }

    /// Reads more bytes once the previous ones are decoded. The end of the
    /// stream is an error: a truncated frame, or the peer closing.
    pub(crate) async fn fill(&mut self, pool: &CorePool) -> Result<(), NetError> {
        if self.start < self.end {
            return Ok(());
        }
        let n = self
            .half
            .read(&mut self.buf)
            .await
            .map_err(|e| io_error("read", e))?;
        if n == 0 {
            pool.with(|pool| self.decoder.finish(pool))?;
            return Err(NetError::PeerClosed {
                offset: self.decoder.offset(),
            });
        }
        (self.start, self.end) = (0, n);
        Ok(())
    }

    /// Reads until a whole frame is in (the handshake's way of reading).
    pub(crate) async fn next_frame(&mut self, pool: &CorePool) -> Result<Frame, NetError> {
        loop {
            if let Some(frame) = self.decode_next(pool)? {
                return Ok(frame);
            }
            self.fill(pool).await?;
        }
    }
}

/// The reader task: runs until the stream fails or ends, then closes the link
/// with the reason.
pub(crate) async fn run(link: Shared, mut wire: WireReader, pool: CorePool) {
    let cause = loop {
        if let Err(cause) = wire.fill(&pool).await {
            break cause;
        }
        let routed = borrow(&link).and_then(|mut state| drain(&mut state, &mut wire));
        if let Err(cause) = routed {
            break cause;
        }
    };
    if let Ok(mut state) = borrow(&link) {
        state.bytes_read = wire.offset();
        state.close(cause);
    }
}

/// Routes every complete frame of the bytes read.
fn drain(state: &mut LinkState, wire: &mut WireReader) -> Result<(), NetError> {
    let mut frames = 0u64;
    while let Some(frame) = wire.decode_next(&state.pool)? {
        route(state, frame)?;
        frames += 1;
    }
    if frames > 0 {
        state.last_rx = Instant::now();
    }
    state.bytes_read = wire.offset();
    Ok(())
}

fn route(state: &mut LinkState, frame: Frame) -> Result<(), NetError> {
    let header = frame.header;
    if header.kind == FrameKind::Credit {
        return state.on_grant(CreditGrant::from_frame(&frame)?);
    }
    let payload = InPayload::new(frame.payload, &state.pool);
    let delivery = state
        .conn
        .on_frame(header.kind, header.channel, header.seq, payload)?;
    match (header.kind, delivery) {
        (FrameKind::Control, Some(delivery)) => match delivery.payload {
            InPayload::Inline(bytes) => state.push_control(bytes),
            InPayload::Pooled(_) => Err(NetError::Internal {
                reason: "control payload in a pooled buffer",
            }),
        },
        // Heartbeats only refresh `last_rx`.
        (_, Some(_)) => Ok(()),
        (_, None) => {
            if let Some(side) = state.receivers.get_mut(&header.channel) {
                side.frames += 1;
                if header.kind == FrameKind::Data {
                    side.bytes += u64::from(header.len);
                }
                side.waker.wake();
            }
            Ok(())
        }
    }
}
