//! [`LinkListener`]: accepts links on one core.

use std::net::SocketAddr;

use glommio::net::TcpListener;

use super::handshake::{self, AcceptPolicy, Hello};
use super::link::{Link, within};
use super::parts::{LinkParts, io_error};
use super::peer::{Endpoint, Peer};
use super::pool::CorePool;
use crate::config::NetConfig;
use crate::error::NetError;

/// Listens on one core for links to that core. Every accepted link lives
/// on the core that accepted it and receives into the listener's pool.
pub struct LinkListener {
    listener: TcpListener,
    local: Endpoint,
    config: NetConfig,
    pool: CorePool,
    policy: Box<dyn AcceptPolicy>,
}

impl LinkListener {
    /// Binds `addr` (port 0 picks a free port) for core `local`, admitting
    /// dialers that `policy` accepts. Must run inside a glommio executor.
    pub fn bind(
        addr: SocketAddr,
        local: Endpoint,
        config: &NetConfig,
        policy: impl AcceptPolicy + 'static,
    ) -> Result<Self, NetError> {
        config.validate()?;
        let pool = CorePool::new(config)?;
        let listener = TcpListener::bind(addr).map_err(|e| io_error("bind", e))?;
        Ok(Self {
            listener,
            local,
            config: *config,
            pool,
            policy: Box::new(policy),
        })
    }

    /// Receives accepted links into `pool` (the core's shared pool) instead
    /// of the listener's own.
    pub fn with_pool(mut self, pool: CorePool) -> Self {
        self.pool = pool;
        self
    }

    /// The pool accepted links receive into.
    pub fn pool(&self) -> &CorePool {
        &self.pool
    }

    /// The bound address.
    pub fn local_addr(&self) -> Result<SocketAddr, NetError> {
        self.listener
            .local_addr()
            .map_err(|e| io_error("local_addr", e))
    }

    /// Accepts the next connection and performs the handshake: returns the
    /// link and the dialer's hello. A failed handshake (malformed hello,
    /// policy refusal, timeout) fails only that connection, with
    /// [`NetError::Link`] naming the dialer; the listener stays usable.
    /// Handshakes run one at a time, each bounded by `handshake_timeout_ms`.
    pub async fn accept(&self) -> Result<(Link, Hello), NetError> {
        let stream = self
            .listener
            .accept()
            .await
            .map_err(|e| io_error("accept", e))?;
        let addr = stream.peer_addr().map_err(|e| io_error("peer_addr", e))?;
        let mut parts = LinkParts::new(stream, addr, &self.config, self.pool.clone())?;
        let shaking = within(
            self.config.handshake_timeout_ms,
            "handshake",
            handshake::accept(&mut parts, self.local, self.policy.as_ref()),
        )
        .await;
        match shaking {
            Ok(hello) => Ok((Link::start(parts), hello)),
            Err(cause) => Err(NetError::Link {
                peer: Peer {
                    addr,
                    endpoint: parts.peer.endpoint,
                },
                cause: Box::new(cause),
            }),
        }
    }
}
