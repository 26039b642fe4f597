//! A link's counters, per channel and in all.

use std::time::Duration;

use super::peer::Peer;
use super::state::LinkState;
use crate::error::ChannelId;

/// One channel's counters on one side of a link.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChannelStats {
    /// The channel.
    pub channel: ChannelId,
    /// Sender: credit it may still use. Receiver: credit announced and not
    /// yet used by the sender.
    pub outstanding_credit: u64,
    /// Sender: share of its open time spent waiting for credit (0..=1).
    /// Receiver: 0.
    pub backpressure_ratio: f64,
    /// Sender: nanoseconds spent waiting for credit.
    pub blocked_ns: u64,
    /// Data frames and events sent or received.
    pub frames: u64,
    /// Payload bytes of data frames sent or received.
    pub bytes: u64,
    /// Sender: data waiting to be written. Receiver: frames waiting for the
    /// consumer.
    pub queued_frames: usize,
    /// Receiver: buffers the consumer holds. Sender: 0.
    pub buffers_in_use: u64,
}

/// A snapshot of a link's counters.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkMetrics {
    /// The peer.
    pub peer: Peer,
    /// Bytes written to the socket.
    pub bytes_written: u64,
    /// Bytes read from the socket.
    pub bytes_read: u64,
    /// Time since the peer's last frame.
    pub since_last_frame: Duration,
    /// The local sender channels.
    pub senders: Vec<ChannelStats>,
    /// The local receiver channels.
    pub receivers: Vec<ChannelStats>,
}

impl LinkMetrics {
    pub(crate) fn of(state: &LinkState) -> Self {
        let senders = state
            .senders
            .iter()
            .filter_map(|(&channel, side)| {
                let m = state.conn.sender_metrics(channel)?;
                let open_ns = side.opened.elapsed().as_nanos().max(1) as f64;
                let blocked_ns = side.blocked_ns_now();
                Some(ChannelStats {
                    channel,
                    outstanding_credit: m.outstanding_credit,
                    backpressure_ratio: (blocked_ns as f64 / open_ns).min(1.0),
                    blocked_ns,
                    frames: side.frames,
                    bytes: side.bytes,
                    queued_frames: m.queued_frames,
                    buffers_in_use: 0,
                })
            })
            .collect();
        let receivers = state
            .receivers
            .iter()
            .filter_map(|(&channel, side)| {
                let m = state.conn.receiver_metrics(channel)?;
                Some(ChannelStats {
                    channel,
                    outstanding_credit: m.outstanding_credit,
                    backpressure_ratio: 0.0,
                    blocked_ns: 0,
                    frames: side.frames,
                    bytes: side.bytes,
                    queued_frames: m.queued_frames,
                    buffers_in_use: m.buffers_in_use,
                })
            })
            .collect();
        Self {
            peer: state.peer,
            bytes_written: state.bytes_written,
            bytes_read: state.bytes_read,
            since_last_frame: state.last_rx.elapsed(),
            senders,
            receivers,
        }
    }

    /// The counters of local sender channel `channel`.
    pub fn sender(&self, channel: ChannelId) -> Option<&ChannelStats> {
        self.senders.iter().find(|s| s.channel == channel)
    }

    /// The counters of local receiver channel `channel`.
    pub fn receiver(&self, channel: ChannelId) -> Option<&ChannelStats> {
        self.receivers.iter().find(|s| s.channel == channel)
    }
}
