//! The whole slice end to end, in memory: a sender `Connection` writes
//! frames through `FrameEncoder` onto a byte "wire", the receiver decodes
//! them in odd-sized chunks into pooled buffers, reads batches in place,
//! releases buffers, and its credit frames travel back the same way.

use bytes::{Bytes, BytesMut};
use spate_net::{
    BufferPool, Connection, CreditGrant, Frame, FrameDecoder, FrameEncoder, FrameKind, NetConfig,
    NetError, Payload, Transmit, encode_batch,
};

type Rec = (u64, u64, [u8; 32]);

struct Side {
    conn: Connection<Bytes, Payload>,
    decoder: FrameDecoder,
    pool: BufferPool,
    encoder: FrameEncoder,
}

impl Side {
    fn new(config: &NetConfig) -> Self {
        Self {
            conn: Connection::new(config.queued_frames_max),
            decoder: FrameDecoder::new(config),
            pool: BufferPool::from_config(config).expect("pool"),
            encoder: FrameEncoder::new(config),
        }
    }

    /// Writes everything the connection wants to send.
    fn flush(&mut self, wire: &mut BytesMut) {
        while let Some(t) = self.conn.poll_transmit() {
            match t {
                Transmit::Frame(f) => self
                    .encoder
                    .encode(f.kind, f.channel, f.seq, &f.payload, wire)
                    .expect("encode"),
                Transmit::Credit(grant) => {
                    self.encoder.encode_credit(&grant, wire).expect("credit")
                }
            }
        }
    }

    /// Reads the wire in 7-byte chunks, handing credit to the sender
    /// channels and everything else to the receiver channels.
    fn read(&mut self, wire: &mut BytesMut) -> Result<(), NetError> {
        let bytes = wire.split().freeze();
        for mut chunk in bytes.chunks(7) {
            while let Some(frame) = self.decoder.decode(&mut chunk, &mut self.pool)? {
                self.route(frame)?;
            }
        }
        Ok(())
    }

    fn route(&mut self, frame: Frame) -> Result<(), NetError> {
        if frame.header.kind == FrameKind::Credit {
            return self.conn.on_credit(&CreditGrant::from_frame(&frame)?);
        }
        let h = frame.header;
        self.conn
            .on_frame(h.kind, h.channel, h.seq, frame.payload)
            .map(|_| ())
    }
}

fn batch(channel: u64, n: u64) -> Bytes {
    let records: Vec<Rec> = (0..64)
        .map(|i| (channel, n * 64 + i, [n as u8; 32]))
        .collect();
    encode_batch(&records).expect("encode")
}

#[test]
fn batches_flow_with_credit_and_a_slow_channel_stalls_only_itself() {
    let config = NetConfig {
        network_buffers_per_core: 8,
        ..NetConfig::default()
    };
    let (mut tx, mut rx) = (Side::new(&config), Side::new(&config));
    let (mut forward, mut backward) = (BytesMut::new(), BytesMut::new());
    for channel in [0, 1] {
        tx.conn.open_sender(channel).expect("open");
        rx.pool.reserve(2).expect("reserve");
        rx.conn.open_receiver(channel, 2).expect("open");
    }
    for n in 0..5 {
        for channel in [0, 1] {
            tx.conn
                .submit_data(channel, batch(u64::from(channel), n))
                .expect("data");
        }
    }
    tx.conn
        .submit_event(0, FrameKind::Watermark, Bytes::from_static(b"wm"))
        .expect("wm");

    // Channel 0's consumer keeps up; channel 1's does not consume at all.
    let mut seen = Vec::new();
    for _ in 0..20 {
        rx.flush(&mut backward);
        tx.read(&mut backward).expect("credit");
        tx.flush(&mut forward);
        rx.read(&mut forward).expect("frames");
        while let Some(d) = rx.conn.poll_deliver(0).expect("open") {
            match d.payload {
                Payload::Pooled(buffer) => {
                    let records = buffer.access_batch::<Rec>().expect("valid");
                    seen.push(records[0].1.to_native() / 64);
                    rx.pool.release(buffer).expect("release");
                    rx.conn.release_buffer(0).expect("release");
                }
                Payload::Inline(bytes) => {
                    assert_eq!((d.kind, &bytes[..]), (FrameKind::Watermark, &b"wm"[..]));
                    seen.push(u64::MAX);
                }
            }
        }
    }
    assert_eq!(
        seen,
        vec![0, 1, 2, 3, 4, u64::MAX],
        "channel 0 complete, in order"
    );
    let stalled = tx.conn.sender_metrics(1).expect("metrics");
    assert_eq!((stalled.queued_frames, stalled.outstanding_credit), (3, 0));
    assert_eq!(
        rx.pool.in_use(),
        2,
        "only the stalled channel's two buffers are held"
    );
}
