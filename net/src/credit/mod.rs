//! Credit-based flow control (as in Flink since 1.5), as a pure state
//! machine: events in, decisions out; no I/O, no clocks.
//!
//! A receiver channel announces credit equal to its free buffers; a sender
//! channel sends a data frame only while it holds credit. Credit is
//! cumulative on the wire (each grant carries the total granted so far), so a
//! repeated grant is harmless and a lost one shows as a regression.
//!
//! Barriers, watermarks and end-of-channel travel on a priority lane outside
//! credit accounting: they are handed to the socket ahead of all data and
//! never wait for credit. Each carries its position in its channel's
//! sequence, so the receiver still hands it out after exactly the data that
//! preceded it (event-time and aligned-checkpoint semantics need that order).
//! Control frames and heartbeats belong to the connection, not to a channel.
//! Events are windowed instead of credited: a sender keeps at most
//! `queued_frames_max` of a channel's events in flight (grants report how
//! many the receiving consumer took), which bounds the receiver's event
//! buffer even while its consumer is stalled.
//!
//! A channel without credit only keeps its own data queued: the
//! [`Connection`] schedules the other channels' data round-robin, so one slow
//! consumer never stalls the rest of the connection.

mod connection;
mod metrics;
mod receiver;
mod sender;

pub use connection::{Connection, OutFrame, Transmit};
pub use metrics::{BackpressureMeter, ChannelMetrics};
pub use receiver::{Delivery, ReceiverChannel};
pub use sender::SenderChannel;
