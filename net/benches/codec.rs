//! Codec throughput on 1,024-record batches of `(u64, u64, [u8; 32])`, in
//! bytes of payload per second: encode (rkyv into the frame buffer + CRC32C),
//! decode (header checks + copy into a pooled aligned buffer + CRC32C),
//! validated access (checked `rkyv::access` over the whole batch), and all
//! three in a row.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use spate_net::{BufferPool, FrameDecoder, FrameEncoder, NetConfig};

type Rec = (u64, u64, [u8; 32]);

fn records() -> Vec<Rec> {
    (0..1024u64)
        .map(|i| (i, i.wrapping_mul(0x9e37_79b9), [i as u8; 32]))
        .collect()
}

fn codec(c: &mut Criterion) {
    let config = NetConfig {
        network_buffers_per_core: 4,
        ..NetConfig::default()
    };
    let encoder = FrameEncoder::new(&config);
    let mut pool = BufferPool::from_config(&config).expect("pool");
    let mut decoder = FrameDecoder::new(&config);
    let records = records();
    let mut wire = BytesMut::with_capacity(config.buffer_bytes * 2);
    let payload_len = encoder
        .encode_batch(1, 0, &records, &mut wire)
        .expect("encode");
    let frame_bytes = wire.clone().freeze();

    let mut group = c.benchmark_group("codec_1024x48B");
    group.throughput(Throughput::Bytes(payload_len as u64));

    group.bench_function("encode", |b| {
        b.iter(|| {
            wire.clear();
            encoder
                .encode_batch(1, 0, black_box(&records), &mut wire)
                .expect("encode");
            black_box(wire.len())
        })
    });

    group.bench_function("decode", |b| {
        b.iter(|| {
            let mut input = &frame_bytes[..];
            let frame = decoder
                .decode(&mut input, &mut pool)
                .expect("decode")
                .expect("frame");
            let buffer = frame.into_buffer().expect("pooled");
            black_box(buffer.len());
            pool.release(buffer).expect("release");
        })
    });

    let mut input = &frame_bytes[..];
    let frame = decoder
        .decode(&mut input, &mut pool)
        .expect("decode")
        .expect("frame");
    group.bench_function("access", |b| {
        b.iter(|| black_box(frame.access_batch::<Rec>().expect("valid").len()))
    });
    if let Some(buffer) = frame.into_buffer() {
        pool.release(buffer).expect("release");
    }

    group.bench_function("encode+decode+access", |b| {
        b.iter(|| {
            wire.clear();
            encoder
                .encode_batch(1, 0, black_box(&records), &mut wire)
                .expect("encode");
            let mut input = &wire[..];
            let frame = decoder
                .decode(&mut input, &mut pool)
                .expect("decode")
                .expect("frame");
            let batch = frame.access_batch::<Rec>().expect("valid");
            black_box(batch[1023].1.to_native());
            if let Some(buffer) = frame.into_buffer() {
                pool.release(buffer).expect("release");
            }
        })
    });
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
