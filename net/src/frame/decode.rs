//! Incremental frame decoding from arbitrary chunks of a byte stream.

use std::mem;

use bytes::{Bytes, BytesMut};
use rkyv::Archive;
use rkyv::api::high::HighValidator;
use rkyv::bytecheck::CheckBytes;
use rkyv::rancor;
use rkyv::vec::ArchivedVec;

use super::header::{FrameHeader, HEADER_LEN, MAGIC};
use super::kind::FrameKind;
use crate::buffer_pool::{BufferPool, PooledBuffer};
use crate::config::NetConfig;
use crate::error::NetError;

/// A frame's payload.
#[derive(Debug)]
pub enum Payload {
    /// A data frame's payload, in an aligned buffer from the core's pool.
    /// Return it with [`BufferPool::release`] once read.
    Pooled(PooledBuffer),
    /// Any other frame's payload (small: events and control messages).
    Inline(Bytes),
}

impl Payload {
    /// The payload bytes.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Payload::Pooled(buffer) => buffer.as_slice(),
            Payload::Inline(bytes) => bytes,
        }
    }
}

/// A complete frame whose header and payload checksum have been verified.
#[derive(Debug)]
pub struct Frame {
    /// The verified header.
    pub header: FrameHeader,
    /// Stream offset of the header's first byte.
    pub offset: u64,
    /// The payload.
    pub payload: Payload,
}

impl Frame {
    /// Validates a data frame's payload as a batch of `T` and returns it for
    /// reading in place. Errors name the frame's channel and sequence.
    pub fn access_batch<T>(&self) -> Result<&ArchivedVec<T::Archived>, NetError>
    where
        T: Archive,
        ArchivedVec<T::Archived>: for<'v> CheckBytes<HighValidator<'v, rancor::Error>>,
    {
        let (channel, seq) = (self.header.channel, self.header.seq);
        let Payload::Pooled(buffer) = &self.payload else {
            return Err(NetError::Protocol {
                channel,
                reason: "only data frames carry batches",
            });
        };
        buffer.access_batch::<T>().map_err(|err| match err {
            NetError::InvalidArchive { reason, .. } => NetError::InvalidArchive {
                channel,
                seq,
                reason,
            },
            other => other,
        })
    }

    /// The pooled buffer to give back to the pool, if the payload has one.
    pub fn into_buffer(self) -> Option<PooledBuffer> {
        match self.payload {
            Payload::Pooled(buffer) => Some(buffer),
            Payload::Inline(_) => None,
        }
    }
}

/// Where the payload being received goes.
#[derive(Debug)]
enum Sink {
    Pooled(PooledBuffer),
    /// The decoder's own `inline` buffer.
    Inline,
}

#[derive(Debug)]
enum State {
    Header {
        fill: usize,
    },
    Payload {
        header: FrameHeader,
        sink: Sink,
        filled: usize,
        crc: u32,
    },
    /// The stream is unusable after its first error; the connection closes.
    Failed(NetError),
}

/// Turns a byte stream, fed in chunks of any size, into verified frames.
///
/// Header bytes are gathered in a 32-byte array; a data payload is copied
/// once, from the input chunk into an aligned buffer from the core's pool
/// (where rkyv can validate and operators can read it in place). Any
/// malformed input yields a typed [`NetError`] with the frame's stream
/// offset; the decoder then stays failed.
#[derive(Debug)]
pub struct FrameDecoder {
    frame_bytes_max: u32,
    /// Bytes consumed since the start of the stream.
    offset: u64,
    /// Offset of the current frame's first byte.
    frame_start: u64,
    header: [u8; HEADER_LEN],
    /// Reused buffer for non-data payloads; split off as `Bytes` per frame.
    inline: BytesMut,
    state: State,
}

impl FrameDecoder {
    /// A decoder enforcing `config.frame_bytes_max`.
    pub fn new(config: &NetConfig) -> Self {
        Self {
            frame_bytes_max: config.frame_bytes_max,
            offset: 0,
            frame_start: 0,
            header: [0; HEADER_LEN],
            inline: BytesMut::new(),
            state: State::Header { fill: 0 },
        }
    }

    /// Bytes consumed from the stream so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Consumes bytes from the front of `input` until a frame completes
    /// (returned; `input` then holds the rest) or `input` runs out (`None`).
    /// Data payloads go into buffers acquired from `pool`; always pass the
    /// same pool.
    pub fn decode(
        &mut self,
        input: &mut &[u8],
        pool: &mut BufferPool,
    ) -> Result<Option<Frame>, NetError> {
        self.advance(input, pool)
            .inspect_err(|err| self.fail(err.clone(), pool))
    }

    /// Declares the end of the stream: an error if it ended inside a frame.
    /// Releases any buffer the unfinished frame held.
    pub fn finish(&mut self, pool: &mut BufferPool) -> Result<(), NetError> {
        let missing = match &self.state {
            State::Failed(err) => return Err(err.clone()),
            State::Header { fill: 0 } => return Ok(()),
            State::Header { fill } => HEADER_LEN - fill,
            State::Payload { header, filled, .. } => header.len as usize - filled,
        };
        let err = NetError::Truncated {
            offset: self.frame_start,
            missing: missing as u64,
        };
        self.fail(err.clone(), pool);
        Err(err)
    }

    /// Enters the failed state, giving back any pooled buffer.
    fn fail(&mut self, err: NetError, pool: &mut BufferPool) {
        let previous = mem::replace(&mut self.state, State::Failed(err));
        if let State::Payload {
            sink: Sink::Pooled(buffer),
            ..
        } = previous
        {
            // The buffer came from this pool unless the caller broke the
            // contract; either way the stream has already failed.
            let _ = pool.release(buffer);
        }
    }

    fn advance(
        &mut self,
        input: &mut &[u8],
        pool: &mut BufferPool,
    ) -> Result<Option<Frame>, NetError> {
        loop {
            match &mut self.state {
                State::Failed(err) => return Err(err.clone()),
                State::Header { fill } => {
                    if input.is_empty() {
                        return Ok(None);
                    }
                    if *fill == 0 {
                        self.frame_start = self.offset;
                    }
                    let take = (HEADER_LEN - *fill).min(input.len());
                    self.header[*fill..*fill + take].copy_from_slice(&input[..take]);
                    *fill += take;
                    *input = &input[take..];
                    self.offset += take as u64;
                    // Reject garbage as soon as the magic is complete rather
                    // than after a whole header's worth of it.
                    if *fill >= MAGIC.len() && self.header[..MAGIC.len()] != MAGIC {
                        let found = [
                            self.header[0],
                            self.header[1],
                            self.header[2],
                            self.header[3],
                        ];
                        return Err(NetError::BadMagic {
                            offset: self.frame_start,
                            found,
                        });
                    }
                    if *fill < HEADER_LEN {
                        return Ok(None);
                    }
                    let header = FrameHeader::parse(&self.header, self.frame_start)?;
                    self.state = self.start_payload(header, pool)?;
                }
                State::Payload {
                    header,
                    sink,
                    filled,
                    crc,
                } => {
                    let take = (header.len as usize - *filled).min(input.len());
                    let chunk = &input[..take];
                    match sink {
                        Sink::Pooled(buffer) => buffer.extend_from_slice(chunk)?,
                        Sink::Inline => self.inline.extend_from_slice(chunk),
                    }
                    // Checksumming each chunk as it arrives reads it while
                    // it is still in cache.
                    *crc = crc32c::crc32c_append(*crc, chunk);
                    *filled += take;
                    *input = &input[take..];
                    self.offset += take as u64;
                    if *filled < header.len as usize {
                        return Ok(None);
                    }
                    let done = mem::replace(&mut self.state, State::Header { fill: 0 });
                    return self.complete(done, pool).map(Some);
                }
            }
        }
    }

    /// Checks the announced length and picks where the payload goes.
    fn start_payload(
        &mut self,
        header: FrameHeader,
        pool: &mut BufferPool,
    ) -> Result<State, NetError> {
        let len = header.len as usize;
        let max = if header.kind == FrameKind::Data {
            pool.buffer_bytes().min(self.frame_bytes_max as usize)
        } else {
            self.frame_bytes_max as usize
        };
        if len > max {
            return Err(NetError::FrameTooLarge {
                offset: self.frame_start,
                kind: header.kind,
                len: len as u64,
                max: max as u64,
            });
        }
        let sink = if header.kind == FrameKind::Data {
            Sink::Pooled(pool.acquire()?)
        } else {
            self.inline.reserve(len);
            Sink::Inline
        };
        Ok(State::Payload {
            header,
            sink,
            filled: 0,
            crc: 0,
        })
    }

    /// Verifies the payload checksum of a fully received frame.
    fn complete(&mut self, done: State, pool: &mut BufferPool) -> Result<Frame, NetError> {
        let State::Payload {
            header, sink, crc, ..
        } = done
        else {
            return Err(NetError::Internal {
                reason: "completed a frame without a payload",
            });
        };
        let payload = match sink {
            Sink::Pooled(buffer) => Payload::Pooled(buffer),
            Sink::Inline => Payload::Inline(self.inline.split().freeze()),
        };
        if crc != header.payload_crc {
            if let Payload::Pooled(buffer) = payload {
                pool.release(buffer)?;
            }
            return Err(NetError::ChecksumMismatch {
                offset: self.frame_start,
                channel: header.channel,
                seq: header.seq,
                expected: crc,
                found: header.payload_crc,
            });
        }
        Ok(Frame {
            header,
            offset: self.frame_start,
            payload,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::FrameEncoder;

    type Rec = (u64, u64, [u8; 32]);

    fn setup(frame_bytes_max: u32) -> (FrameEncoder, FrameDecoder, BufferPool) {
        let config = NetConfig {
            frame_bytes_max,
            buffer_bytes: 4096,
            ..NetConfig::default()
        };
        let pool = BufferPool::new(2, config.buffer_bytes).expect("pool");
        (FrameEncoder::new(&config), FrameDecoder::new(&config), pool)
    }

    #[test]
    fn byte_at_a_time_yields_verified_frames() {
        let (enc, mut dec, mut pool) = setup(4096);
        let mut wire = BytesMut::new();
        let recs: Vec<Rec> = (0..20).map(|i| (i, i + 1, [7; 32])).collect();
        enc.encode_batch(3, 0, &recs, &mut wire).expect("batch");
        enc.encode(FrameKind::Watermark, 3, 1, b"wm", &mut wire)
            .expect("wm");
        let mut frames = Vec::new();
        for byte in wire.iter() {
            let mut input = std::slice::from_ref(byte);
            while let Some(frame) = dec.decode(&mut input, &mut pool).expect("decode") {
                frames.push(frame);
            }
        }
        dec.finish(&mut pool).expect("clean end");
        assert_eq!(dec.offset(), wire.len() as u64);
        assert_eq!(frames.len(), 2);
        let batch = frames[0].access_batch::<Rec>().expect("batch");
        assert_eq!(batch.len(), 20);
        assert_eq!(batch[19].0.to_native(), 19);
        assert_eq!(frames[1].payload.as_slice(), b"wm");
        assert_eq!(frames[1].offset, (wire.len() - HEADER_LEN - 2) as u64);
        assert_eq!(pool.in_use(), 1);
        for frame in frames {
            if let Some(buffer) = frame.into_buffer() {
                pool.release(buffer).expect("release");
            }
        }
        assert_eq!(pool.in_use(), 0);
    }

    #[test]
    fn oversized_length_is_rejected_before_its_payload() {
        let (_, mut dec, mut pool) = setup(64);
        let header = FrameHeader {
            kind: FrameKind::Control,
            flags: 0,
            channel: 1,
            seq: 0,
            len: 65,
            payload_crc: 0,
        };
        let bytes = header.to_bytes();
        let err = dec
            .decode(&mut &bytes[..], &mut pool)
            .expect_err("too large");
        assert_eq!(
            err,
            NetError::FrameTooLarge {
                offset: 0,
                kind: FrameKind::Control,
                len: 65,
                max: 64
            }
        );
        // Data frames are also bounded by the receive buffer size.
        let (_, mut dec, mut pool) = setup(1 << 20);
        let bytes = FrameHeader {
            kind: FrameKind::Data,
            len: 4097,
            ..header
        }
        .to_bytes();
        let err = dec
            .decode(&mut &bytes[..], &mut pool)
            .expect_err("too large");
        assert!(matches!(err, NetError::FrameTooLarge { max: 4096, .. }));
    }

    #[test]
    fn checksum_mismatch_releases_the_buffer_and_poisons_the_stream() {
        let (enc, mut dec, mut pool) = setup(4096);
        let mut wire = BytesMut::new();
        enc.encode(FrameKind::Data, 5, 9, &[1, 2, 3, 4], &mut wire)
            .expect("data");
        let last = wire.len() - 1;
        wire[last] ^= 0x10;
        let err = dec.decode(&mut &wire[..], &mut pool).expect_err("corrupt");
        assert!(matches!(
            err,
            NetError::ChecksumMismatch {
                offset: 0,
                channel: 5,
                seq: 9,
                ..
            }
        ));
        assert_eq!(pool.in_use(), 0, "the buffer went back to the pool");
        assert_eq!(
            dec.decode(&mut &[][..], &mut pool)
                .expect_err("still failed"),
            err
        );
        assert_eq!(dec.finish(&mut pool), Err(err));
    }

    #[test]
    fn truncation_is_reported_at_the_end_of_the_stream() {
        let (enc, mut dec, mut pool) = setup(4096);
        let mut wire = BytesMut::new();
        enc.encode(FrameKind::Data, 1, 0, &[9; 100], &mut wire)
            .expect("data");
        let cut = &wire[..HEADER_LEN + 40];
        assert!(
            dec.decode(&mut &cut[..], &mut pool)
                .expect("partial")
                .is_none()
        );
        assert_eq!(pool.in_use(), 1);
        assert_eq!(
            dec.finish(&mut pool),
            Err(NetError::Truncated {
                offset: 0,
                missing: 60
            })
        );
        assert_eq!(pool.in_use(), 0);
    }

    #[test]
    fn data_without_a_free_buffer_is_an_error() {
        let (enc, mut dec, mut pool) = setup(4096);
        let mut wire = BytesMut::new();
        for seq in 0..3 {
            enc.encode(FrameKind::Data, 1, seq, &[0; 8], &mut wire)
                .expect("data");
        }
        let mut input = &wire[..];
        let a = dec.decode(&mut input, &mut pool).expect("first");
        let b = dec.decode(&mut input, &mut pool).expect("second");
        assert!(a.is_some() && b.is_some());
        let err = dec.decode(&mut input, &mut pool).expect_err("third");
        assert_eq!(err, NetError::PoolExhausted { buffers: 2 });
    }

    #[test]
    fn garbage_fails_on_its_magic_at_once() {
        let (_, mut dec, mut pool) = setup(4096);
        let err = dec
            .decode(&mut &b"GET / HTTP/1.1\r\n"[..], &mut pool)
            .expect_err("garbage");
        assert_eq!(
            err,
            NetError::BadMagic {
                offset: 0,
                found: *b"GET "
            }
        );
    }
}
