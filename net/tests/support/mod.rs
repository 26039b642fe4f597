//! Helpers shared by the transport tests: executors on threads, configs,
//! and a raw `std::net::TcpStream` peer that speaks just enough protocol to
//! handshake and then misbehave.
#![allow(dead_code)]

use std::future::Future;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use bytes::BytesMut;
use glommio::{LocalExecutorBuilder, Placement};
use spate_net::{
    BufferPool, Endpoint, FrameDecoder, FrameEncoder, FrameKind, Hello, HelloReply, NetConfig,
    SessionFence,
};

pub type Rec = (u64, u64, [u8; 16]);

pub const SERVER: Endpoint = Endpoint { worker: 1, core: 0 };
pub const CLIENT: Endpoint = Endpoint { worker: 2, core: 1 };
pub const SESSION: u64 = 42;
pub const EPOCH: u64 = 7;

/// Small pools, fast heartbeats: a test's links fail within a second.
pub fn config() -> NetConfig {
    NetConfig {
        network_buffers_per_core: 64,
        buffer_bytes: 64 << 10,
        heartbeat_interval_ms: 50,
        heartbeat_timeout_ms: 2_000,
        handshake_timeout_ms: 2_000,
        ..NetConfig::default()
    }
}

pub fn hello() -> Hello {
    Hello {
        from: CLIENT,
        to: SERVER,
        epoch: EPOCH,
        session: SESSION,
    }
}

pub fn fence() -> SessionFence {
    SessionFence {
        local: SERVER,
        session: SESSION,
        epoch_min: EPOCH,
    }
}

pub fn records(batch: u64, n: u64) -> Vec<Rec> {
    (0..n)
        .map(|i| (batch * 1_000 + i, batch, [(batch + i) as u8; 16]))
        .collect()
}

/// Runs `f` on a fresh, unpinned glommio executor on its own thread. Small
/// `io_memory`: many executors at once can exhaust locked memory.
pub fn on_core<T, F, Fut>(name: &str, f: F) -> glommio::ExecutorJoinHandle<T>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T> + 'static,
{
    LocalExecutorBuilder::new(Placement::Unbound)
        .name(name)
        .io_memory(1 << 20)
        .spawn(f)
        .expect("start executor")
}

/// Runs a server on one executor and a client on another; the server sends
/// its listening address first. Returns both results.
pub fn pair<S, C, SF, CF, SFut, CFut>(server: SF, client: CF) -> (S, C)
where
    S: Send + 'static,
    C: Send + 'static,
    SF: FnOnce(mpsc::Sender<SocketAddr>) -> SFut + Send + 'static,
    CF: FnOnce(SocketAddr) -> CFut + Send + 'static,
    SFut: Future<Output = S> + 'static,
    CFut: Future<Output = C> + 'static,
{
    let (addr_tx, addr_rx) = mpsc::channel();
    let server = on_core("server", move || server(addr_tx));
    let addr = addr_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("server address");
    let client = on_core("client", move || client(addr));
    let c = client.join().expect("client executor");
    let s = server.join().expect("server executor");
    (s, c)
}

/// A peer written with blocking std sockets.
pub struct RawPeer {
    pub stream: TcpStream,
    encoder: FrameEncoder,
}

impl RawPeer {
    /// Connects and sends `hello_payload` as the first control frame.
    pub fn connect(addr: SocketAddr, hello_payload: &[u8]) -> Self {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut peer = Self {
            stream,
            encoder: FrameEncoder::new(&config()),
        };
        let mut wire = BytesMut::new();
        peer.encoder
            .encode(FrameKind::Control, 0, 0, hello_payload, &mut wire)
            .expect("encode hello");
        peer.write(&wire);
        peer
    }

    /// Connects, handshakes as `CLIENT`, and checks the server accepted.
    pub fn handshake(addr: SocketAddr) -> Self {
        let hello = hello().to_bytes().expect("hello");
        let mut peer = Self::connect(addr, &hello);
        match peer.read_reply() {
            HelloReply::Accept { from } => assert_eq!(from, SERVER),
            HelloReply::Reject { reason } => panic!("rejected: {reason}"),
        }
        peer
    }

    /// Reads the acceptor's reply (the first frame it sends).
    pub fn read_reply(&mut self) -> HelloReply {
        let config = config();
        let mut pool = BufferPool::new(1, 64).expect("pool");
        let mut decoder = FrameDecoder::new(&config);
        let mut byte = [0u8; 1];
        // Byte by byte: whatever follows the reply (credit frames) stays unread.
        loop {
            let n = self.stream.read(&mut byte).expect("read reply");
            assert_eq!(n, 1, "server closed before replying");
            let mut input = &byte[..];
            if let Some(frame) = decoder.decode(&mut input, &mut pool).expect("decode") {
                assert_eq!(frame.header.kind, FrameKind::Control);
                return HelloReply::from_bytes(frame.payload.as_slice()).expect("reply");
            }
        }
    }

    pub fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// A frame with a correct header and payload checksum.
    pub fn frame(&self, kind: FrameKind, channel: u32, seq: u64, payload: &[u8]) -> BytesMut {
        let mut wire = BytesMut::new();
        self.encoder
            .encode(kind, channel, seq, payload, &mut wire)
            .expect("encode");
        wire
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.stream.local_addr().expect("local addr")
    }
}
