//! The TCP transport: [`Link`]s between cores, each one socket carrying many
//! credit-controlled channels.
//!
//! Every glommio executor (core) owns its sockets: a [`LinkListener`] bound
//! on a core accepts links for that core, [`Link::connect`] dials from it,
//! and nothing of a link ever crosses to another core. A link begins with a
//! handshake (a [`Hello`] naming both endpoints, the epoch and the session,
//! answered by the acceptor's [`AcceptPolicy`]), then runs three tasks on its
//! core:
//!
//! - the **reader** feeds socket bytes to the [`crate::FrameDecoder`] and
//!   verified frames to the [`crate::Connection`] state machine, and wakes
//!   the channel they are for;
//! - the **writer** drains [`crate::Connection::poll_transmit`] into one
//!   buffer of up to `socket_buffer_bytes` and writes it in one call;
//! - the **heartbeat** sends a heartbeat after `heartbeat_interval_ms` of
//!   quiet and closes the link when the peer has sent nothing for
//!   `heartbeat_timeout_ms`.
//!
//! [`ChannelSender::send_data`] waits for credit, so a receiver that stops
//! reading stops only its own channel's sender, after exactly the credit it
//! granted; the other channels of the link keep flowing. Any malformed input
//! or socket failure closes the link: every pending and later call on it
//! returns [`crate::NetError::Link`] naming the peer (address and endpoint)
//! and the cause, and nothing else on the core is affected.

mod channel;
mod control;
mod handshake;
mod heartbeat;
mod link;
mod listener;
mod metrics;
mod parts;
mod peer;
mod pool;
mod proxy;
mod reader;
mod received;
mod state;
mod wake;
mod writer;

pub use channel::{ChannelReceiver, ChannelSender};
pub use control::ControlReceiver;
pub use handshake::{AcceptPolicy, Hello, HelloReply, SessionFence};
pub use link::Link;
pub use listener::LinkListener;
pub use metrics::{ChannelStats, LinkMetrics};
pub use peer::{Endpoint, Peer};
pub use pool::CorePool;
pub use proxy::dial_blocking;
pub use received::{ChannelEvent, DataFrame, Received};
