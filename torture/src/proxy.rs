//! The fault proxy of the network suite: an HTTP CONNECT proxy on loopback
//! that every worker dials its data links through (`spate cluster start
//! --data-proxy`), relaying each tunnel's bytes with a thread per
//! direction, and damaging them on command: cutting a tunnel mid-stream,
//! flipping a byte, closing one direction only, stalling a tunnel without
//! closing it (a half-open peer), and delaying or throttling every tunnel
//! (a slow network, a slow reader).
//!
//! Plain threads and blocking sockets: the proxy relays a few links at a
//! few MB/s, and a fault must land at a byte boundary the test chooses,
//! not when an event loop gets to it.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::{Result, TortureError};

/// The most bytes of a CONNECT request read before the client is refused.
const REQUEST_BYTES_MAX: usize = 4096;
/// Bytes relayed per read.
const CHUNK_BYTES: usize = 16 * 1024;
/// How often a pump that waits (stalled, or on a quiet socket) looks at
/// its tunnel's state again.
const POLL_MS: u64 = 20;

/// What the proxy has relayed, for the suite's report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Tunnels opened since the start.
    pub tunnels_opened: u64,
    /// Tunnels open now.
    pub tunnels_open: u64,
    /// Bytes relayed, both directions of every tunnel.
    pub bytes_relayed: u64,
}

/// One tunnel: a client (the dialing worker) and its upstream (the worker
/// it dialed).
#[derive(Debug)]
struct Tunnel {
    id: u64,
    target: SocketAddr,
    client: TcpStream,
    upstream: TcpStream,
    /// Flip one byte of the next chunk relayed (either direction).
    corrupt_next: AtomicBool,
    /// Relay nothing, close nothing.
    stalled: AtomicBool,
    /// Set when either pump ended; the other one ends too.
    closed: AtomicBool,
}

impl Tunnel {
    fn cut(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.upstream.shutdown(Shutdown::Both);
    }
}

/// State shared by the proxy's threads and its handle.
#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    tunnels: Mutex<Vec<Arc<Tunnel>>>,
    next_id: AtomicU64,
    /// Added before relaying each chunk, every tunnel.
    delay_ms: AtomicU64,
    /// 0: unlimited; else each direction of each tunnel relays at most this.
    throttle_bytes_per_s: AtomicU64,
    bytes_relayed: AtomicU64,
}

impl Shared {
    fn tunnels(&self) -> MutexGuard<'_, Vec<Arc<Tunnel>>> {
        // A pump that panicked cannot leave the list half-changed (push
        // and retain are whole), so a poisoned lock still holds a list.
        self.tunnels.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running fault proxy; stopped (every tunnel cut) when dropped.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Listens on an ephemeral loopback port.
    pub fn start() -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| TortureError::Cluster(format!("the fault proxy cannot listen: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| TortureError::Cluster(format!("the fault proxy has no address: {e}")))?;
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        let accept = std::thread::Builder::new()
            .name("fault-proxy".into())
            .spawn(move || accept_loop(&listener, &s))
            .map_err(|e| TortureError::Cluster(format!("cannot start the fault proxy: {e}")))?;
        Ok(Self {
            addr,
            shared,
            accept: Some(accept),
        })
    }

    /// Where clients send their CONNECT requests.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The ids of the tunnels open now, oldest first.
    pub fn tunnels(&self) -> Vec<u64> {
        self.shared.tunnels().iter().map(|t| t.id).collect()
    }

    /// Counters since the start.
    pub fn stats(&self) -> ProxyStats {
        ProxyStats {
            tunnels_opened: self.shared.next_id.load(Ordering::SeqCst),
            tunnels_open: self.shared.tunnels().len() as u64,
            bytes_relayed: self.shared.bytes_relayed.load(Ordering::SeqCst),
        }
    }

    /// Where tunnel `id` leads, if it is open.
    pub fn target(&self, id: u64) -> Option<SocketAddr> {
        self.find(id).map(|t| t.target)
    }

    /// Cuts tunnel `id` mid-stream: both of its connections close.
    pub fn cut(&self, id: u64) -> bool {
        self.find(id).map(|t| t.cut()).is_some()
    }

    /// Flips one byte of the next chunk tunnel `id` relays.
    pub fn corrupt(&self, id: u64) -> bool {
        self.find(id)
            .map(|t| t.corrupt_next.store(true, Ordering::SeqCst))
            .is_some()
    }

    /// Closes the direction towards the dialed worker only: it reads the
    /// end of the stream while its own writes still go through.
    pub fn half_close(&self, id: u64) -> bool {
        self.find(id)
            .map(|t| {
                let _ = t.upstream.shutdown(Shutdown::Write);
            })
            .is_some()
    }

    /// Stops relaying tunnel `id` without closing it, until
    /// [`FaultProxy::unstall_all`]: each side sees a peer that is connected
    /// and silent.
    pub fn stall(&self, id: u64) -> bool {
        self.find(id)
            .map(|t| t.stalled.store(true, Ordering::SeqCst))
            .is_some()
    }

    /// Resumes every stalled tunnel.
    pub fn unstall_all(&self) {
        for t in self.shared.tunnels().iter() {
            t.stalled.store(false, Ordering::SeqCst);
        }
    }

    /// Delays every chunk of every tunnel by `ms` (0: no delay).
    pub fn set_delay_ms(&self, ms: u64) {
        self.shared.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// Limits each direction of every tunnel to `bytes_per_s` (0: no limit).
    pub fn set_throttle_bytes_per_s(&self, bytes_per_s: u64) {
        self.shared
            .throttle_bytes_per_s
            .store(bytes_per_s, Ordering::SeqCst);
    }

    fn find(&self, id: u64) -> Option<Arc<Tunnel>> {
        self.shared.tunnels().iter().find(|t| t.id == id).cloned()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wakes the blocking accept.
        let _ = TcpStream::connect(self.addr);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
        for t in self.shared.tunnels().iter() {
            t.cut();
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for conn in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = conn else { continue };
        let s = shared.clone();
        // Each request is served on its own thread, so a client that sends
        // half a request holds up nobody else.
        let _ = std::thread::Builder::new()
            .name("fault-proxy-open".into())
            .spawn(move || {
                if let Err(e) = open(client, &s) {
                    eprintln!("fault proxy: {e}");
                }
            });
    }
}

/// Serves one CONNECT request, then relays the tunnel.
fn open(mut client: TcpStream, shared: &Arc<Shared>) -> std::io::Result<()> {
    let request = read_request(&mut client)?;
    let target = match parse_connect(&request) {
        Ok(t) => t,
        Err(reason) => {
            client.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n")?;
            return Err(std::io::Error::new(ErrorKind::InvalidData, reason));
        }
    };
    let upstream = match TcpStream::connect(target) {
        Ok(u) => u,
        Err(e) => {
            client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n")?;
            return Err(e);
        }
    };
    client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")?;
    for s in [&client, &upstream] {
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_millis(POLL_MS)))?;
    }
    let tunnel = Arc::new(Tunnel {
        id: shared.next_id.fetch_add(1, Ordering::SeqCst),
        target,
        client: client.try_clone()?,
        upstream: upstream.try_clone()?,
        corrupt_next: AtomicBool::new(false),
        stalled: AtomicBool::new(false),
        closed: AtomicBool::new(false),
    });
    shared.tunnels().push(tunnel.clone());
    let (t, s) = (tunnel.clone(), shared.clone());
    let (from, to) = (upstream.try_clone()?, client.try_clone()?);
    let back = std::thread::Builder::new()
        .name("fault-proxy-pump".into())
        .spawn(move || pump(from, to, &t, &s))?;
    pump(client, upstream, &tunnel, shared);
    let _ = back.join();
    shared.tunnels().retain(|t| t.id != tunnel.id);
    Ok(())
}

fn read_request(client: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    client.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut request = Vec::with_capacity(128);
    let mut byte = [0u8; 1];
    while !request.ends_with(b"\r\n\r\n") {
        if request.len() == REQUEST_BYTES_MAX {
            return Err(std::io::Error::new(
                ErrorKind::InvalidData,
                "a CONNECT request longer than 4096 bytes",
            ));
        }
        client.read_exact(&mut byte)?;
        request.push(byte[0]);
    }
    Ok(request)
}

/// The target of `CONNECT host:port HTTP/1.x`; only loopback targets, so
/// the proxy can never carry traffic off the machine.
fn parse_connect(request: &[u8]) -> std::result::Result<SocketAddr, String> {
    let text = String::from_utf8_lossy(request);
    let line = text.lines().next().unwrap_or_default();
    let mut parts = line.split_whitespace();
    let (method, target, version) = (parts.next(), parts.next(), parts.next());
    if method != Some("CONNECT") || !version.is_some_and(|v| v.starts_with("HTTP/1.")) {
        return Err(format!("not a CONNECT request: `{line}`"));
    }
    let addr: SocketAddr = target
        .unwrap_or_default()
        .parse()
        .map_err(|e| format!("`{line}` does not name an address: {e}"))?;
    if !addr.ip().is_loopback() {
        return Err(format!("{addr} is not a loopback address"));
    }
    Ok(addr)
}

/// Relays `from` to `to` until either side closes or the tunnel is cut,
/// applying the tunnel's and the proxy's faults chunk by chunk.
fn pump(mut from: TcpStream, mut to: TcpStream, tunnel: &Tunnel, shared: &Shared) {
    let mut buf = vec![0u8; CHUNK_BYTES];
    while !tunnel.closed.load(Ordering::SeqCst) && !shared.stop.load(Ordering::SeqCst) {
        if tunnel.stalled.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(POLL_MS));
            continue;
        }
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(_) => break,
        };
        if tunnel.corrupt_next.swap(false, Ordering::SeqCst) {
            // A position spread by the traffic so far (Fibonacci hashing),
            // so flips land in frame headers and payloads alike.
            let mixed = shared
                .bytes_relayed
                .load(Ordering::SeqCst)
                .wrapping_add(n as u64);
            buf[(mixed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize % n] ^= 0x5A;
        }
        let delay_ms = shared.delay_ms.load(Ordering::SeqCst);
        let throttle = shared.throttle_bytes_per_s.load(Ordering::SeqCst);
        // 0 means no limit.
        let throttle_ms = (n as u64 * 1000).checked_div(throttle).unwrap_or(0);
        if delay_ms + throttle_ms > 0 {
            std::thread::sleep(Duration::from_millis(delay_ms + throttle_ms));
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        shared.bytes_relayed.fetch_add(n as u64, Ordering::Relaxed);
    }
    // The reader of `to` sees the end of the stream; the other pump ends
    // when its own side does.
    let _ = to.shutdown(Shutdown::Write);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server on loopback; returns its address.
    fn echo() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(mut c) = conn else { return };
                std::thread::spawn(move || {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = c.read(&mut buf) {
                        if n == 0 || c.write_all(&buf[..n]).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    fn tunnel_to(proxy: &FaultProxy, target: SocketAddr) -> TcpStream {
        let mut c = TcpStream::connect(proxy.addr()).unwrap();
        write!(c, "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").unwrap();
        let mut answer = Vec::new();
        let mut byte = [0u8; 1];
        while !answer.ends_with(b"\r\n\r\n") {
            c.read_exact(&mut byte).unwrap();
            answer.push(byte[0]);
        }
        assert!(answer.starts_with(b"HTTP/1.1 200 "), "{answer:?}");
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c
    }

    fn wait_for_tunnel(proxy: &FaultProxy) -> u64 {
        for _ in 0..500 {
            if let Some(id) = proxy.tunnels().first() {
                return *id;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        panic!("no tunnel opened");
    }

    fn round_trip(c: &mut TcpStream, msg: &[u8]) -> std::io::Result<Vec<u8>> {
        c.write_all(msg)?;
        let mut got = vec![0u8; msg.len()];
        c.read_exact(&mut got)?;
        Ok(got)
    }

    #[test]
    fn a_tunnel_relays_both_ways_and_is_counted() {
        let proxy = FaultProxy::start().unwrap();
        let target = echo();
        let mut c = tunnel_to(&proxy, target);
        assert_eq!(round_trip(&mut c, b"ping").unwrap(), b"ping");
        let id = wait_for_tunnel(&proxy);
        assert_eq!(proxy.target(id), Some(target));
        let stats = proxy.stats();
        assert_eq!((stats.tunnels_opened, stats.tunnels_open), (1, 1));
        // The echo's count lands just after its bytes do.
        for _ in 0..500 {
            if proxy.stats().bytes_relayed == 8 {
                return;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        panic!("relayed {:?}", proxy.stats());
    }

    #[test]
    fn a_corrupted_chunk_arrives_with_one_byte_flipped() {
        let proxy = FaultProxy::start().unwrap();
        let mut c = tunnel_to(&proxy, echo());
        let id = wait_for_tunnel(&proxy);
        assert!(proxy.corrupt(id));
        let got = round_trip(&mut c, b"abcdefgh").unwrap();
        let differing = got.iter().zip(b"abcdefgh").filter(|(a, b)| a != b).count();
        assert_eq!(differing, 1, "{got:?}");
        assert_eq!(round_trip(&mut c, b"abcdefgh").unwrap(), b"abcdefgh");
    }

    #[test]
    fn a_cut_tunnel_ends_the_stream_on_both_sides() {
        let proxy = FaultProxy::start().unwrap();
        let mut c = tunnel_to(&proxy, echo());
        let id = wait_for_tunnel(&proxy);
        assert!(proxy.cut(id));
        let mut buf = [0u8; 4];
        assert!(matches!(c.read(&mut buf), Ok(0) | Err(_)));
        for _ in 0..500 {
            if proxy.tunnels().is_empty() {
                return;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        panic!("the cut tunnel is still listed");
    }

    #[test]
    fn a_stalled_tunnel_relays_nothing_until_resumed() {
        let proxy = FaultProxy::start().unwrap();
        let mut c = tunnel_to(&proxy, echo());
        let id = wait_for_tunnel(&proxy);
        assert!(proxy.stall(id));
        std::thread::sleep(Duration::from_millis(3 * POLL_MS));
        c.write_all(b"held").unwrap();
        c.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut buf = [0u8; 4];
        let err = c.read(&mut buf).unwrap_err();
        assert!(matches!(
            err.kind(),
            ErrorKind::WouldBlock | ErrorKind::TimedOut
        ));
        proxy.unstall_all();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"held");
    }

    #[test]
    fn a_half_closed_tunnel_ends_the_dialed_sides_input_only() {
        // The target reports what it read, then writes after the end.
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let target = l.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut all = Vec::new();
            s.read_to_end(&mut all).unwrap();
            s.write_all(b"after").unwrap();
            all
        });
        let proxy = FaultProxy::start().unwrap();
        let mut c = tunnel_to(&proxy, target);
        c.write_all(b"before").unwrap();
        let id = wait_for_tunnel(&proxy);
        std::thread::sleep(Duration::from_millis(3 * POLL_MS));
        assert!(proxy.half_close(id));
        assert_eq!(server.join().unwrap(), b"before");
        let mut buf = [0u8; 5];
        c.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"after");
    }

    #[test]
    fn requests_that_are_not_a_loopback_connect_are_refused() {
        for bad in [
            "GET / HTTP/1.1\r\n\r\n",
            "CONNECT 10.1.2.3:80 HTTP/1.1\r\n\r\n",
            "CONNECT nowhere HTTP/1.1\r\n\r\n",
        ] {
            assert!(parse_connect(bad.as_bytes()).is_err(), "{bad}");
        }
        let proxy = FaultProxy::start().unwrap();
        let mut c = TcpStream::connect(proxy.addr()).unwrap();
        c.write_all(b"CONNECT 10.1.2.3:80 HTTP/1.1\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        c.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    }
}
