//! What a link's handles and tasks share on their core: the flow-control
//! state machine, the waiting futures' wakers, and the link's fate.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use std::time::Instant;

use bytes::Bytes;
use glommio::task::JoinHandle;

use super::peer::Peer;
use super::pool::{CorePool, InPayload};
use super::wake::{WakeList, WakeSlot};
use crate::config::NetConfig;
use crate::credit::Connection;
use crate::error::{ChannelId, NetError};
use crate::frame::CreditGrant;

/// Most channels the peer may grant credit on before this side opened
/// their senders (the race every new channel has); beyond this the peer is
/// naming channels nobody will open.
const EARLY_GRANTS_MAX: usize = 4096;

/// The state shared by a link's handles and tasks.
pub(crate) type Shared = Rc<RefCell<LinkState>>;

/// Borrows the shared state. Borrows never cross an `.await`, so a failed
/// one is a bug, reported as [`NetError::Internal`].
pub(crate) fn borrow(link: &Shared) -> Result<std::cell::RefMut<'_, LinkState>, NetError> {
    link.try_borrow_mut().map_err(|_| NetError::Internal {
        reason: "link state borrowed twice",
    })
}

/// One local sender channel's transport-side state.
#[derive(Debug)]
pub(crate) struct SenderSide {
    pub(crate) waker: WakeSlot,
    /// Whether a grant has arrived: the peer's receiver exists, so events
    /// (which need no credit) may be sent without naming an unknown channel.
    pub(crate) granted: bool,
    pub(crate) ended: bool,
    pub(crate) opened: Instant,
    /// When the current wait for credit began, if the sender is waiting.
    pub(crate) waiting_since: Option<Instant>,
    /// Time spent waiting for credit, finished waits only.
    pub(crate) blocked_ns: u64,
    pub(crate) frames: u64,
    pub(crate) bytes: u64,
}

impl SenderSide {
    fn new() -> Self {
        Self {
            waker: WakeSlot::default(),
            granted: false,
            ended: false,
            opened: Instant::now(),
            waiting_since: None,
            blocked_ns: 0,
            frames: 0,
            bytes: 0,
        }
    }
}

impl SenderSide {
    /// Ends the current wait, adding it to the blocked time.
    pub(crate) fn stop_waiting(&mut self) {
        if let Some(since) = self.waiting_since.take() {
            self.blocked_ns = self.blocked_ns.saturating_add(nanos(since));
        }
    }

    /// Time spent waiting for credit, the current wait included.
    pub(crate) fn blocked_ns_now(&self) -> u64 {
        self.blocked_ns
            .saturating_add(self.waiting_since.map_or(0, nanos))
    }
}

fn nanos(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// One local receiver channel's transport-side state.
#[derive(Debug, Default)]
pub(crate) struct ReceiverSide {
    pub(crate) waker: WakeSlot,
    /// Buffers reserved in the core pool for this channel.
    pub(crate) buffers: u32,
    pub(crate) frames: u64,
    pub(crate) bytes: u64,
}

pub(crate) struct LinkState {
    pub(crate) peer: Peer,
    pub(crate) config: NetConfig,
    pub(crate) conn: Connection<Bytes, InPayload>,
    pub(crate) pool: CorePool,
    /// Set once, by the first failure or close: the error every call returns.
    pub(crate) closed: Option<NetError>,
    /// A graceful close was asked for: the writer shuts the socket down once
    /// everything queued is written.
    pub(crate) closing: bool,
    pub(crate) write_shut: bool,
    pub(crate) writer: WakeSlot,
    pub(crate) writer_idle: bool,
    /// Futures waiting for the writer to go idle or the link to close.
    pub(crate) idle_waiters: WakeList,
    /// Futures waiting for room on the priority lane (control messages).
    pub(crate) priority_waiters: WakeList,
    pub(crate) senders: BTreeMap<ChannelId, SenderSide>,
    pub(crate) receivers: BTreeMap<ChannelId, ReceiverSide>,
    pub(crate) early_grants: BTreeMap<ChannelId, CreditGrant>,
    pub(crate) control_in: VecDeque<Bytes>,
    pub(crate) control_rx: WakeSlot,
    pub(crate) control_taken: bool,
    pub(crate) last_rx: Instant,
    pub(crate) last_tx: Instant,
    pub(crate) bytes_read: u64,
    pub(crate) bytes_written: u64,
    pub(crate) tasks: Vec<JoinHandle<()>>,
}

impl LinkState {
    pub(crate) fn new(
        peer: Peer,
        config: NetConfig,
        conn: Connection<Bytes, InPayload>,
        pool: CorePool,
    ) -> Self {
        let now = Instant::now();
        Self {
            peer,
            config,
            conn,
            pool,
            closed: None,
            closing: false,
            write_shut: false,
            writer: WakeSlot::default(),
            writer_idle: true,
            idle_waiters: WakeList::default(),
            priority_waiters: WakeList::default(),
            senders: BTreeMap::new(),
            receivers: BTreeMap::new(),
            early_grants: BTreeMap::new(),
            control_in: VecDeque::new(),
            control_rx: WakeSlot::default(),
            control_taken: false,
            last_rx: now,
            last_tx: now,
            bytes_read: 0,
            bytes_written: 0,
            tasks: Vec::new(),
        }
    }

    /// The error calls on a closed link return.
    pub(crate) fn check_open(&self) -> Result<(), NetError> {
        match &self.closed {
            Some(err) => Err(err.clone()),
            None => Ok(()),
        }
    }

    /// Whether the link ended because the peer closed its end cleanly.
    pub(crate) fn closed_by_peer(&self) -> bool {
        matches!(&self.closed, Some(NetError::Link { cause, .. })
            if matches!(**cause, NetError::PeerClosed { .. }))
    }

    /// Something was queued for the socket.
    pub(crate) fn wake_writer(&mut self) {
        self.writer_idle = false;
        self.writer.wake();
    }

    /// Closes the link for `cause` (only the first cause counts): every
    /// waiting future wakes to the error, and the reader, writer and
    /// heartbeat tasks are cancelled, which drops (closes) the socket.
    pub(crate) fn close(&mut self, cause: NetError) {
        if self.closed.is_some() {
            return;
        }
        self.closed = Some(NetError::Link {
            peer: self.peer,
            cause: Box::new(cause),
        });
        self.writer.wake();
        self.idle_waiters.wake_all();
        self.priority_waiters.wake_all();
        self.control_rx.wake();
        for sender in self.senders.values_mut() {
            sender.waker.wake();
        }
        for receiver in self.receivers.values_mut() {
            receiver.waker.wake();
        }
        for task in self.tasks.drain(..) {
            task.cancel();
        }
    }

    /// Opens a local sender channel, applying a grant that arrived first.
    pub(crate) fn open_sender(&mut self, channel: ChannelId) -> Result<(), NetError> {
        self.check_open()?;
        self.conn.open_sender(channel)?;
        let mut side = SenderSide::new();
        if let Some(grant) = self.early_grants.remove(&channel) {
            self.conn.on_credit(&grant)?;
            side.granted = true;
        }
        self.senders.insert(channel, side);
        Ok(())
    }

    /// Opens a local receiver channel on `buffers` buffers reserved in the
    /// core pool; its credit goes out with the writer's next turn.
    pub(crate) fn open_receiver(
        &mut self,
        channel: ChannelId,
        buffers: u32,
    ) -> Result<(), NetError> {
        self.check_open()?;
        if buffers == 0 {
            return Err(NetError::InvalidConfig {
                reason: "a receiver channel needs at least one buffer",
            });
        }
        if self.receivers.contains_key(&channel) {
            return Err(NetError::ChannelExists { channel });
        }
        self.pool.with(|pool| pool.reserve(buffers as usize))?;
        if let Err(err) = self.conn.open_receiver(channel, buffers) {
            let _ = self.pool.with(|pool| pool.unreserve(buffers as usize));
            return Err(err);
        }
        self.receivers.insert(
            channel,
            ReceiverSide {
                buffers,
                ..ReceiverSide::default()
            },
        );
        self.wake_writer();
        Ok(())
    }

    /// Applies a credit grant from the peer, or keeps it until the local
    /// sender opens.
    pub(crate) fn on_grant(&mut self, grant: CreditGrant) -> Result<(), NetError> {
        let channel = grant.channel;
        let Some(side) = self.senders.get_mut(&channel) else {
            return self.keep_early_grant(grant);
        };
        self.conn.on_credit(&grant)?;
        side.granted = true;
        side.waker.wake();
        if self
            .conn
            .sender_channel(channel)
            .is_some_and(|s| s.is_ready())
        {
            self.wake_writer();
        }
        Ok(())
    }

    fn keep_early_grant(&mut self, grant: CreditGrant) -> Result<(), NetError> {
        let channel = grant.channel;
        match self.early_grants.get(&channel) {
            Some(kept) if kept.data_total > grant.data_total => Err(NetError::CreditRegression {
                channel,
                previous: kept.data_total,
                found: grant.data_total,
            }),
            None if self.early_grants.len() >= EARLY_GRANTS_MAX => {
                Err(NetError::UnknownChannel { channel })
            }
            _ => {
                self.early_grants.insert(channel, grant);
                Ok(())
            }
        }
    }

    /// Takes an inbound control message; a full queue means the local side
    /// does not read its control messages, and the link fails.
    pub(crate) fn push_control(&mut self, payload: Bytes) -> Result<(), NetError> {
        let max = self.config.queued_frames_max;
        if self.control_in.len() >= max {
            return Err(NetError::QueueFull {
                channel: super::parts::CONTROL_CHANNEL,
                max,
            });
        }
        self.control_in.push_back(payload);
        self.control_rx.wake();
        Ok(())
    }
}

impl Drop for LinkState {
    fn drop(&mut self) {
        // The receivers' reservations go back to the core pool with the link.
        let reserved: usize = self.receivers.values().map(|r| r.buffers as usize).sum();
        let _ = self.pool.with(|pool| pool.unreserve(reserved));
    }
}
