//! Who is at the other end of a link: an address, and once the handshake
//! has named it, a worker and core.

use std::fmt;
use std::net::SocketAddr;

use rkyv::{Archive, Deserialize, Serialize};

/// One core of one worker process: the unit that owns sockets.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Archive, Serialize, Deserialize,
)]
pub struct Endpoint {
    /// The worker process.
    pub worker: u32,
    /// The core within the worker.
    pub core: u16,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "worker {} core {}", self.worker, self.core)
    }
}

/// The far end of a link, as errors name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// The peer's socket address.
    pub addr: SocketAddr,
    /// The peer's endpoint; `None` before a handshake named it.
    pub endpoint: Option<Endpoint>,
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.endpoint {
            Some(endpoint) => write!(f, "{} ({endpoint})", self.addr),
            None => write!(f, "{} (endpoint unknown)", self.addr),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_print_address_and_endpoint() {
        let addr: SocketAddr = "127.0.0.1:4000".parse().expect("addr");
        let endpoint = Some(Endpoint { worker: 3, core: 1 });
        assert_eq!(
            Peer { addr, endpoint }.to_string(),
            "127.0.0.1:4000 (worker 3 core 1)"
        );
        let unknown = Peer {
            addr,
            endpoint: None,
        };
        assert_eq!(unknown.to_string(), "127.0.0.1:4000 (endpoint unknown)");
    }
}
