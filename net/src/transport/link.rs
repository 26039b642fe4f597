//! [`Link`]: one established TCP connection between two cores, carrying
//! many channels, driven by a reader, a writer and a heartbeat task on the
//! core that made it.

use std::cell::RefCell;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;

use super::channel::{ChannelReceiver, ChannelSender};
use super::control::ControlReceiver;
use super::handshake::{self, Hello};
use super::heartbeat;
use super::metrics::LinkMetrics;
use super::parts::{CONTROL_CHANNEL, LinkParts};
use super::peer::{Endpoint, Peer};
use super::pool::CorePool;
use super::proxy;
use super::reader;
use super::state::{LinkState, Shared, borrow};
use super::writer;
use crate::config::NetConfig;
use crate::error::{ChannelId, NetError};
use crate::frame::FrameKind;

/// An established link. It belongs to the core (glommio executor) that
/// dialed or accepted it; nothing of it may move to another thread.
///
/// The link lives as long as this handle: dropping it closes the socket at
/// once (pending calls on its channels fail with [`NetError::ClosedLocally`]
/// as the cause); [`Link::close`] closes it gracefully.
pub struct Link {
    state: Shared,
}

impl Link {
    /// Dials `addr` and performs the handshake; the link gets a buffer pool
    /// of its own (see [`Link::connect_with_pool`] to share one per core).
    /// Must run inside a glommio executor.
    pub async fn connect(
        addr: SocketAddr,
        hello: Hello,
        config: &NetConfig,
    ) -> Result<Self, NetError> {
        let pool = CorePool::new(config)?;
        Self::connect_with_pool(addr, hello, config, pool).await
    }

    /// Dials `addr`, receiving into the core's shared `pool`.
    pub async fn connect_with_pool(
        addr: SocketAddr,
        hello: Hello,
        config: &NetConfig,
        pool: CorePool,
    ) -> Result<Self, NetError> {
        config.validate()?;
        let peer = Peer {
            addr,
            endpoint: Some(hello.to),
        };
        let timeout_ms = config.handshake_timeout_ms;
        let dialing = async {
            let stream = proxy::dial(addr, config.connect_via).await?;
            let mut parts = LinkParts::new(stream, addr, config, pool)?;
            parts.peer.endpoint = Some(hello.to);
            let from = handshake::dial(&mut parts, &hello).await?;
            parts.peer.endpoint = Some(from);
            Ok(parts)
        };
        let parts = within(timeout_ms, "connect and handshake", dialing)
            .await
            .map_err(|cause| NetError::Link {
                peer,
                cause: Box::new(cause),
            })?;
        Ok(Self::start(parts))
    }

    /// Spawns the link's tasks on the current core.
    pub(crate) fn start(parts: LinkParts) -> Self {
        let LinkParts {
            peer,
            config,
            pool,
            conn,
            wire,
            write,
            encoder,
            ..
        } = parts;
        let state = Rc::new(RefCell::new(LinkState::new(
            peer,
            config,
            conn,
            pool.clone(),
        )));
        let tasks = vec![
            glommio::spawn_local(reader::run(state.clone(), wire, pool)).detach(),
            glommio::spawn_local(writer::run(state.clone(), write, encoder)).detach(),
            glommio::spawn_local(heartbeat::run(state.clone())).detach(),
        ];
        if let Ok(mut s) = borrow(&state) {
            s.tasks = tasks;
        }
        Self { state }
    }

    /// The peer: its address and endpoint.
    pub fn peer(&self) -> Peer {
        borrow(&self.state).map_or(
            Peer {
                addr: SocketAddr::from(([0, 0, 0, 0], 0)),
                endpoint: None,
            },
            |state| state.peer,
        )
    }

    /// The peer's endpoint (known once the handshake is done).
    pub fn peer_endpoint(&self) -> Option<Endpoint> {
        self.peer().endpoint
    }

    /// Opens channel `channel` for sending.
    pub fn sender(&self, channel: ChannelId) -> Result<ChannelSender, NetError> {
        let mut state = borrow(&self.state)?;
        state.open_sender(channel)?;
        Ok(ChannelSender {
            link: self.state.clone(),
            channel,
            data_bytes_max: state.config.data_payload_max(),
            frame_bytes_max: state.config.frame_bytes_max as usize,
        })
    }

    /// Opens channel `channel` for receiving into `buffers` buffers reserved
    /// in the core pool, and announces them to the peer as credit.
    pub fn receiver(&self, channel: ChannelId, buffers: u32) -> Result<ChannelReceiver, NetError> {
        borrow(&self.state)?.open_receiver(channel, buffers)?;
        Ok(ChannelReceiver {
            link: self.state.clone(),
            channel,
        })
    }

    /// Sends a control message (the cluster's own protocol); it needs no
    /// credit and waits only while the link's priority lane is full.
    pub async fn send_control(&self, payload: Bytes) -> Result<(), NetError> {
        let max = borrow(&self.state)?.config.frame_bytes_max as usize;
        if payload.len() > max {
            return Err(NetError::FrameTooLarge {
                offset: 0,
                kind: FrameKind::Control,
                len: payload.len() as u64,
                max: max as u64,
            });
        }
        poll_fn(|cx| {
            let mut state = match borrow(&self.state) {
                Ok(state) => state,
                Err(err) => return Poll::Ready(Err(err)),
            };
            if let Err(err) = state.check_open() {
                return Poll::Ready(Err(err));
            }
            if state.conn.priority_queued() < state.config.queued_frames_max {
                return Poll::Ready(Ok(()));
            }
            state.priority_waiters.register(cx.waker());
            Poll::Pending
        })
        .await?;
        let mut state = borrow(&self.state)?;
        state
            .conn
            .submit_control(FrameKind::Control, CONTROL_CHANNEL, payload)?;
        state.wake_writer();
        Ok(())
    }

    /// The receiver of the peer's control messages; there is one per link.
    pub fn control_receiver(&self) -> Result<ControlReceiver, NetError> {
        let mut state = borrow(&self.state)?;
        if state.control_taken {
            return Err(NetError::ChannelExists {
                channel: CONTROL_CHANNEL,
            });
        }
        state.control_taken = true;
        Ok(ControlReceiver {
            link: self.state.clone(),
        })
    }

    /// Time since the last frame from the peer (heartbeats included); the
    /// link closes itself past `heartbeat_timeout_ms`.
    pub fn since_last_frame(&self) -> Duration {
        borrow(&self.state).map_or(Duration::MAX, |state| state.last_rx.elapsed())
    }

    /// Why the link closed, if it has: a [`NetError::Link`] naming the peer.
    pub fn error(&self) -> Option<NetError> {
        match borrow(&self.state) {
            Ok(state) => state.closed.clone(),
            Err(err) => Some(err),
        }
    }

    /// The link's counters.
    pub fn metrics(&self) -> Result<LinkMetrics, NetError> {
        Ok(LinkMetrics::of(&*borrow(&self.state)?))
    }

    /// Waits until everything sent so far has been written to the socket.
    pub async fn flush(&self) -> Result<(), NetError> {
        poll_fn(|cx| {
            let mut state = match borrow(&self.state) {
                Ok(state) => state,
                Err(err) => return Poll::Ready(Err(err)),
            };
            if let Err(err) = state.check_open() {
                return Poll::Ready(Err(err));
            }
            if state.writer_idle {
                return Poll::Ready(Ok(()));
            }
            state.idle_waiters.register(cx.waker());
            Poll::Pending
        })
        .await
    }

    /// Closes gracefully: writes everything sent, shuts down this side's
    /// half of the connection and waits (up to `heartbeat_timeout_ms`) for
    /// the peer to close its own. Close after the channels have ended: the
    /// peer drops what it has not yet written.
    pub async fn close(self) -> Result<(), NetError> {
        let timeout_ms = {
            let mut state = borrow(&self.state)?;
            if state.closed_by_peer() {
                return Ok(());
            }
            state.check_open()?;
            state.closing = true;
            state.wake_writer();
            state.config.heartbeat_timeout_ms
        };
        let peer_gone = poll_fn(|cx| {
            let mut state = match borrow(&self.state) {
                Ok(state) => state,
                Err(err) => return Poll::Ready(Err(err)),
            };
            if state.closed_by_peer() {
                return Poll::Ready(Ok(()));
            }
            match &state.closed {
                Some(err) => Poll::Ready(Err(err.clone())),
                None => {
                    state.idle_waiters.register(cx.waker());
                    Poll::Pending
                }
            }
        });
        within(timeout_ms, "waiting for the peer to close", peer_gone).await
    }
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("peer", &self.peer())
            .field("error", &self.error())
            .finish()
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        if let Ok(mut state) = borrow(&self.state) {
            state.close(NetError::ClosedLocally);
        }
    }
}

/// Runs `work`, failing with [`NetError::TimedOut`] after `timeout_ms`.
pub(crate) async fn within<T>(
    timeout_ms: u64,
    op: &'static str,
    work: impl Future<Output = Result<T, NetError>>,
) -> Result<T, NetError> {
    let timer = async {
        glommio::timer::sleep(Duration::from_millis(timeout_ms)).await;
        Err(NetError::TimedOut { op, timeout_ms })
    };
    futures_lite::future::or(work, timer).await
}
