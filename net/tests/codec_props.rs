//! Property tests of the frame codec: round trips under random chunking, and
//! typed errors (never panics) for corrupted, truncated and garbage input.

use bytes::BytesMut;
use proptest::prelude::*;
use spate_net::{
    BufferPool, FrameDecoder, FrameEncoder, FrameHeader, FrameKind, HEADER_LEN, NetConfig, NetError,
};

#[derive(Debug, Clone, PartialEq)]
struct Spec {
    kind: FrameKind,
    channel: u32,
    seq: u64,
    payload: Vec<u8>,
}

fn config() -> NetConfig {
    NetConfig {
        frame_bytes_max: 512,
        buffer_bytes: 512,
        ..NetConfig::default()
    }
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop::sample::select(FrameKind::ALL.to_vec()),
        any::<u32>(),
        any::<u64>(),
        prop::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(kind, channel, seq, payload)| Spec {
            kind,
            channel,
            seq,
            payload,
        })
}

/// The encoded stream and the offset at which each frame starts.
fn encode(specs: &[Spec]) -> (BytesMut, Vec<usize>) {
    let encoder = FrameEncoder::new(&config());
    let mut wire = BytesMut::new();
    let mut starts = Vec::new();
    for s in specs {
        starts.push(wire.len());
        encoder
            .encode(s.kind, s.channel, s.seq, &s.payload, &mut wire)
            .expect("encode");
    }
    (wire, starts)
}

/// Decodes `wire` fed in chunks of the given sizes (cycled), returning the
/// frames seen and the first error, if any. Buffers go back to the pool.
fn decode(wire: &[u8], sizes: &[usize], pool: &mut BufferPool) -> (Vec<Spec>, Option<NetError>) {
    let mut decoder = FrameDecoder::new(&config());
    let mut frames = Vec::new();
    let mut rest = wire;
    let mut turn = 0;
    while !rest.is_empty() {
        let size = sizes[turn % sizes.len()].min(rest.len());
        turn += 1;
        let mut chunk = &rest[..size];
        rest = &rest[size..];
        loop {
            match decoder.decode(&mut chunk, pool) {
                Ok(Some(frame)) => {
                    frames.push(Spec {
                        kind: frame.header.kind,
                        channel: frame.header.channel,
                        seq: frame.header.seq,
                        payload: frame.payload.as_slice().to_vec(),
                    });
                    if let Some(buffer) = frame.into_buffer() {
                        pool.release(buffer).expect("release");
                    }
                }
                Ok(None) => break,
                Err(err) => return (frames, Some(err)),
            }
        }
    }
    (frames, decoder.finish(pool).err())
}

fn pool() -> BufferPool {
    BufferPool::from_config(&NetConfig {
        network_buffers_per_core: 2,
        ..config()
    })
    .expect("pool")
}

fn chunk_sizes() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..80, 1..16)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn frames_round_trip_under_any_chunking(
        specs in prop::collection::vec(spec(), 0..10),
        sizes in chunk_sizes(),
    ) {
        let (wire, _) = encode(&specs);
        let mut pool = pool();
        let (frames, err) = decode(&wire, &sizes, &mut pool);
        prop_assert_eq!(err, None);
        prop_assert_eq!(frames, specs);
        prop_assert_eq!(pool.in_use(), 0);
    }

    #[test]
    fn batches_round_trip_under_any_chunking(
        records in prop::collection::vec((any::<u64>(), any::<u64>(), any::<[u8; 32]>()), 0..200),
        sizes in chunk_sizes(),
    ) {
        let config = NetConfig::default();
        let mut wire = BytesMut::new();
        FrameEncoder::new(&config).encode_batch(1, 0, &records, &mut wire).expect("encode");
        let mut pool = BufferPool::new(1, config.buffer_bytes).expect("pool");
        let mut decoder = FrameDecoder::new(&config);
        let mut frame = None;
        for chunk in wire.chunks(sizes[0]) {
            let mut chunk = chunk;
            if let Some(done) = decoder.decode(&mut chunk, &mut pool).expect("decode") {
                frame = Some(done);
            }
        }
        let frame = frame.expect("one frame");
        let batch = frame.access_batch::<(u64, u64, [u8; 32])>().expect("valid batch");
        prop_assert_eq!(batch.len(), records.len());
        for (archived, record) in batch.iter().zip(&records) {
            prop_assert_eq!(archived.0.to_native(), record.0);
            prop_assert_eq!(archived.1.to_native(), record.1);
            prop_assert_eq!(archived.2, record.2);
        }
    }

    #[test]
    fn a_corrupted_byte_is_a_typed_error_at_its_frame(
        specs in prop::collection::vec(spec(), 1..6),
        at in any::<prop::sample::Index>(),
        flip in 1..=u8::MAX,
        sizes in chunk_sizes(),
    ) {
        let (mut wire, starts) = encode(&specs);
        let at = at.index(wire.len());
        wire[at] ^= flip;
        let frame = starts.iter().rposition(|start| *start <= at).expect("a frame");
        let start = starts[frame];
        let mut pool = pool();
        let (frames, err) = decode(&wire, &sizes, &mut pool);
        prop_assert_eq!(&frames[..], &specs[..frame], "frames before the corruption survive");
        let offset = start as u64;
        let within = at - start;
        let err = err.expect("an error");
        let expected = match within {
            0..=3 => matches!(err, NetError::BadMagic { offset: o, .. } if o == offset),
            4..=5 => matches!(err, NetError::UnsupportedVersion { offset: o, .. } if o == offset),
            _ if within < HEADER_LEN => {
                matches!(err, NetError::HeaderChecksumMismatch { offset: o, .. } if o == offset)
            }
            _ => matches!(err, NetError::ChecksumMismatch { offset: o, .. } if o == offset),
        };
        prop_assert!(expected, "byte {} of frame {}: {:?}", within, frame, err);
        prop_assert_eq!(pool.in_use(), 0, "no buffer leaks on error");
    }

    #[test]
    fn a_truncated_stream_is_a_typed_error_at_its_last_frame(
        specs in prop::collection::vec(spec(), 1..6),
        cut in any::<prop::sample::Index>(),
        sizes in chunk_sizes(),
    ) {
        let (wire, starts) = encode(&specs);
        let cut = cut.index(wire.len());
        let mut pool = pool();
        let (frames, err) = decode(&wire[..cut], &sizes, &mut pool);
        let complete = starts.iter().filter(|start| **start < cut).count();
        if starts.contains(&cut) || cut == 0 {
            prop_assert_eq!(err, None);
            prop_assert_eq!(&frames[..], &specs[..complete]);
        } else {
            let start = starts[complete - 1];
            prop_assert_eq!(&frames[..], &specs[..complete - 1]);
            // Until its header is whole, the decoder only knows the header's
            // missing bytes; after that, the payload's.
            let missing = if cut - start < HEADER_LEN {
                HEADER_LEN - (cut - start)
            } else {
                starts.get(complete).copied().unwrap_or(wire.len()) - cut
            };
            prop_assert_eq!(
                err,
                Some(NetError::Truncated { offset: start as u64, missing: missing as u64 })
            );
        }
        prop_assert_eq!(pool.in_use(), 0);
    }

    #[test]
    fn garbage_never_panics_or_yields_a_frame(
        garbage in prop::collection::vec(any::<u8>(), 0..600),
        sizes in chunk_sizes(),
    ) {
        let mut pool = pool();
        let (frames, err) = decode(&garbage, &sizes, &mut pool);
        prop_assert!(frames.is_empty());
        prop_assert_eq!(err.is_some(), !garbage.is_empty());
        prop_assert_eq!(pool.in_use(), 0);
    }

    #[test]
    fn garbage_with_a_valid_magic_and_version_is_still_rejected(
        tail in prop::collection::vec(any::<u8>(), 26..600),
        sizes in chunk_sizes(),
    ) {
        // The header checksum is what stops it.
        let mut stream = b"SPT1\x01\x00".to_vec();
        stream.extend_from_slice(&tail);
        let mut pool = pool();
        let (frames, err) = decode(&stream, &sizes, &mut pool);
        prop_assert!(frames.is_empty());
        prop_assert!(
            matches!(err, Some(NetError::HeaderChecksumMismatch { offset: 0, .. })),
            "{:?}", err
        );
    }

    #[test]
    fn garbage_after_valid_frames_fails_where_it_starts(
        specs in prop::collection::vec(spec(), 1..4),
        garbage in prop::collection::vec(any::<u8>(), 1..100),
        sizes in chunk_sizes(),
    ) {
        let (mut wire, _) = encode(&specs);
        let boundary = wire.len() as u64;
        wire.extend_from_slice(&garbage);
        let mut pool = pool();
        let (frames, err) = decode(&wire, &sizes, &mut pool);
        prop_assert_eq!(frames, specs);
        let offset = match err {
            Some(NetError::BadMagic { offset, .. }
                | NetError::UnsupportedVersion { offset, .. }
                | NetError::HeaderChecksumMismatch { offset, .. }
                | NetError::Truncated { offset, .. }) => offset,
            other => return Err(TestCaseError::fail(format!("unexpected {other:?}"))),
        };
        prop_assert_eq!(offset, boundary);
    }
}

#[test]
fn a_header_claiming_too_much_is_rejected_without_waiting_for_it() {
    let header = FrameHeader {
        kind: FrameKind::Control,
        flags: 0,
        channel: 0,
        seq: 0,
        len: u32::MAX,
        payload_crc: 0,
    };
    let mut pool = pool();
    let (frames, err) = decode(&header.to_bytes(), &[HEADER_LEN], &mut pool);
    assert!(frames.is_empty());
    assert_eq!(
        err,
        Some(NetError::FrameTooLarge {
            offset: 0,
            kind: FrameKind::Control,
            len: u64::from(u32::MAX),
            max: 512,
        })
    );
}
