//! Many channels multiplexed on one connection.

use std::collections::{BTreeMap, VecDeque};

use super::metrics::ChannelMetrics;
use super::receiver::{Delivery, ReceiverChannel};
use super::sender::SenderChannel;
use crate::error::{ChannelId, NetError};
use crate::frame::{CreditGrant, FrameKind, Lane};

/// A frame to write to the socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutFrame<S> {
    /// Its kind.
    pub kind: FrameKind,
    /// Its channel.
    pub channel: ChannelId,
    /// Its sequence number.
    pub seq: u64,
    /// Its payload.
    pub payload: S,
}

/// The connection's decision of what to write next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transmit<S> {
    /// A data, event, control or heartbeat frame.
    Frame(OutFrame<S>),
    /// A credit frame for a local receiver channel.
    Credit(CreditGrant),
}

/// Flow control for one connection: the local senders and receivers of all
/// channels on it. `S` is an outbound payload (e.g. `Bytes`), `R` an inbound
/// one (e.g. [`crate::Payload`]).
///
/// What the socket gets next ([`Connection::poll_transmit`]) is, in order:
/// credit grants (they are what unblocks the peer), then the priority lane
/// (events, control, heartbeats, FIFO), then data from the channels that hold
/// credit, round-robin. Channels without credit are simply not scheduled.
#[derive(Debug)]
pub struct Connection<S, R> {
    queued_frames_max: usize,
    senders: BTreeMap<ChannelId, SenderChannel<S>>,
    receivers: BTreeMap<ChannelId, ReceiverChannel<R>>,
    priority: VecDeque<OutFrame<S>>,
    /// Sender channels that had data and credit when scheduled.
    ready: VecDeque<ChannelId>,
    /// Receiver channels that had credit to announce when scheduled.
    credit_due: VecDeque<ChannelId>,
    control_seq_out: u64,
    control_seq_in: u64,
}

impl<S, R> Connection<S, R> {
    /// A connection whose queues hold at most `queued_frames_max` frames
    /// each (per sender channel, the priority lane, events per receiver).
    pub fn new(queued_frames_max: usize) -> Self {
        Self {
            queued_frames_max,
            senders: BTreeMap::new(),
            receivers: BTreeMap::new(),
            priority: VecDeque::with_capacity(queued_frames_max),
            ready: VecDeque::new(),
            credit_due: VecDeque::new(),
            control_seq_out: 0,
            control_seq_in: 0,
        }
    }

    /// Opens a channel this side sends on.
    pub fn open_sender(&mut self, channel: ChannelId) -> Result<(), NetError> {
        if self.senders.contains_key(&channel) {
            return Err(NetError::ChannelExists { channel });
        }
        self.senders
            .insert(channel, SenderChannel::new(channel, self.queued_frames_max));
        Ok(())
    }

    /// Opens a channel this side receives on, with `buffers` receive
    /// buffers already reserved in the core's pool; its initial credit is
    /// announced on the next [`Connection::poll_transmit`].
    pub fn open_receiver(&mut self, channel: ChannelId, buffers: u32) -> Result<(), NetError> {
        if self.receivers.contains_key(&channel) {
            return Err(NetError::ChannelExists { channel });
        }
        let mut receiver = ReceiverChannel::new(channel, buffers, self.queued_frames_max);
        schedule_credit(&mut receiver, &mut self.credit_due);
        self.receivers.insert(channel, receiver);
        Ok(())
    }

    fn receiver(&mut self, channel: ChannelId) -> Result<&mut ReceiverChannel<R>, NetError> {
        self.receivers
            .get_mut(&channel)
            .ok_or(NetError::UnknownChannel { channel })
    }

    /// Queues a data frame on `channel`; returns its sequence number.
    pub fn submit_data(&mut self, channel: ChannelId, payload: S) -> Result<u64, NetError> {
        let sender = self
            .senders
            .get_mut(&channel)
            .ok_or(NetError::UnknownChannel { channel })?;
        let seq = sender.submit_data(payload)?;
        schedule_data(sender, &mut self.ready);
        Ok(seq)
    }

    /// Sends a barrier, watermark or end-of-channel on the priority lane.
    pub fn submit_event(
        &mut self,
        channel: ChannelId,
        kind: FrameKind,
        payload: S,
    ) -> Result<u64, NetError> {
        if kind.lane() != Lane::ChannelEvent {
            return Err(NetError::Protocol {
                channel,
                reason: "not a channel event kind",
            });
        }
        let sender = self
            .senders
            .get_mut(&channel)
            .ok_or(NetError::UnknownChannel { channel })?;
        if self.priority.len() >= self.queued_frames_max {
            return Err(NetError::QueueFull {
                channel,
                max: self.queued_frames_max,
            });
        }
        let seq = sender.next_event_seq(kind == FrameKind::EndOfChannel)?;
        self.priority.push_back(OutFrame {
            kind,
            channel,
            seq,
            payload,
        });
        Ok(seq)
    }

    /// Sends a control frame or heartbeat on the priority lane; these are
    /// sequenced per connection. `channel` is passed through unchecked.
    pub fn submit_control(
        &mut self,
        kind: FrameKind,
        channel: ChannelId,
        payload: S,
    ) -> Result<u64, NetError> {
        if !matches!(kind, FrameKind::Control | FrameKind::Heartbeat) {
            return Err(NetError::Protocol {
                channel,
                reason: "not a control kind",
            });
        }
        self.check_priority_room(channel)?;
        let seq = self.control_seq_out;
        self.control_seq_out += 1;
        self.priority.push_back(OutFrame {
            kind,
            channel,
            seq,
            payload,
        });
        Ok(seq)
    }

    fn check_priority_room(&self, channel: ChannelId) -> Result<(), NetError> {
        if self.priority.len() >= self.queued_frames_max {
            return Err(NetError::QueueFull {
                channel,
                max: self.queued_frames_max,
            });
        }
        Ok(())
    }

    /// The next frame to write, or `None` if nothing can be sent now.
    pub fn poll_transmit(&mut self) -> Option<Transmit<S>> {
        while let Some(channel) = self.credit_due.pop_front() {
            let Some(receiver) = self.receivers.get_mut(&channel) else {
                continue;
            };
            receiver.credit_scheduled = false;
            if let Some(grant) = receiver.poll_credit() {
                return Some(Transmit::Credit(grant));
            }
        }
        if let Some(frame) = self.priority.pop_front() {
            return Some(Transmit::Frame(frame));
        }
        while let Some(channel) = self.ready.pop_front() {
            let Some(sender) = self.senders.get_mut(&channel) else {
                continue;
            };
            sender.scheduled = false;
            let Some((seq, payload)) = sender.pop_data() else {
                continue;
            };
            // Back of the line: one frame per channel per turn.
            schedule_data(sender, &mut self.ready);
            let frame = OutFrame {
                kind: FrameKind::Data,
                channel,
                seq,
                payload,
            };
            return Some(Transmit::Frame(frame));
        }
        None
    }

    /// Applies a grant from the peer to the local sender channel it names.
    pub fn on_credit(&mut self, grant: &CreditGrant) -> Result<(), NetError> {
        let channel = grant.channel;
        let sender = self
            .senders
            .get_mut(&channel)
            .ok_or(NetError::UnknownChannel { channel })?;
        sender.on_credit(grant)?;
        schedule_data(sender, &mut self.ready);
        Ok(())
    }

    /// Feeds one verified inbound frame other than credit (see
    /// [`Connection::on_credit`]). Control frames and heartbeats are returned
    /// at once; data and events go to their receiver channel (see
    /// [`Connection::poll_deliver`]).
    pub fn on_frame(
        &mut self,
        kind: FrameKind,
        channel: ChannelId,
        seq: u64,
        payload: R,
    ) -> Result<Option<Delivery<R>>, NetError> {
        match kind {
            FrameKind::Data => self.receiver(channel)?.on_data(seq, payload)?,
            FrameKind::Barrier | FrameKind::Watermark | FrameKind::EndOfChannel => {
                self.receiver(channel)?.on_event(kind, seq, payload)?
            }
            FrameKind::Credit => {
                return Err(NetError::Protocol {
                    channel,
                    reason: "credit goes to on_credit",
                });
            }
            FrameKind::Control | FrameKind::Heartbeat => {
                if seq != self.control_seq_in {
                    let expected = self.control_seq_in;
                    return Err(NetError::SequenceGap {
                        channel,
                        expected,
                        found: seq,
                    });
                }
                self.control_seq_in += 1;
                return Ok(Some(Delivery {
                    kind,
                    channel,
                    seq,
                    payload,
                }));
            }
        }
        Ok(None)
    }

    /// The next frame of `channel` in logical order. Taking an event
    /// reopens the sender's event window, announced with the next grant.
    pub fn poll_deliver(&mut self, channel: ChannelId) -> Result<Option<Delivery<R>>, NetError> {
        let receiver = self
            .receivers
            .get_mut(&channel)
            .ok_or(NetError::UnknownChannel { channel })?;
        let delivery = receiver.poll();
        if delivery.as_ref().is_some_and(|d| d.kind != FrameKind::Data) {
            schedule_credit(receiver, &mut self.credit_due);
        }
        Ok(delivery)
    }

    /// The consumer of `channel` released one data buffer; its credit is
    /// announced on a following [`Connection::poll_transmit`].
    pub fn release_buffer(&mut self, channel: ChannelId) -> Result<(), NetError> {
        let receiver = self
            .receivers
            .get_mut(&channel)
            .ok_or(NetError::UnknownChannel { channel })?;
        receiver.release()?;
        schedule_credit(receiver, &mut self.credit_due);
        Ok(())
    }

    /// Attributes `elapsed_ns` of the caller's time to every sender
    /// channel's current state (blocked on credit or not).
    pub fn account_time(&mut self, elapsed_ns: u64) {
        for sender in self.senders.values_mut() {
            sender.account(elapsed_ns);
        }
    }

    /// Metrics of a local sender channel.
    pub fn sender_metrics(&self, channel: ChannelId) -> Option<ChannelMetrics> {
        self.senders.get(&channel).map(SenderChannel::metrics)
    }

    /// Metrics of a local receiver channel.
    pub fn receiver_metrics(&self, channel: ChannelId) -> Option<ChannelMetrics> {
        self.receivers.get(&channel).map(ReceiverChannel::metrics)
    }

    /// Read access to a sender channel.
    pub fn sender_channel(&self, channel: ChannelId) -> Option<&SenderChannel<S>> {
        self.senders.get(&channel)
    }

    /// Read access to a receiver channel.
    pub fn receiver_channel(&self, channel: ChannelId) -> Option<&ReceiverChannel<R>> {
        self.receivers.get(&channel)
    }

    /// Frames waiting on the priority lane.
    pub fn priority_queued(&self) -> usize {
        self.priority.len()
    }
}

/// Puts a sender channel in the round-robin queue if it can send and is not
/// there yet.
fn schedule_data<S>(sender: &mut SenderChannel<S>, ready: &mut VecDeque<ChannelId>) {
    if sender.is_ready() && !sender.scheduled {
        sender.scheduled = true;
        ready.push_back(sender.id());
    }
}

/// Puts a receiver channel in the credit queue if it has news for the sender.
fn schedule_credit<R>(receiver: &mut ReceiverChannel<R>, due: &mut VecDeque<ChannelId>) {
    if receiver.has_news() && !receiver.credit_scheduled {
        receiver.credit_scheduled = true;
        due.push_back(receiver.id());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Conn = Connection<u32, u32>;

    fn grant(channel: ChannelId, data_total: u64) -> CreditGrant {
        CreditGrant {
            channel,
            data_total,
            events_total: 0,
        }
    }

    fn drain(conn: &mut Conn) -> Vec<Transmit<u32>> {
        std::iter::from_fn(|| conn.poll_transmit()).collect()
    }

    #[test]
    fn a_channel_without_credit_does_not_stall_the_others() {
        let mut tx = Conn::new(8);
        tx.open_sender(1).expect("open");
        tx.open_sender(2).expect("open");
        for i in 0..3 {
            tx.submit_data(1, i).expect("submit");
            tx.submit_data(2, 10 + i).expect("submit");
        }
        tx.on_credit(&grant(2, 3)).expect("credit for 2 only");
        let sent = drain(&mut tx);
        let channels: Vec<_> = sent
            .iter()
            .map(|t| match t {
                Transmit::Frame(f) => f.channel,
                Transmit::Credit(_) => 0,
            })
            .collect();
        assert_eq!(channels, vec![2, 2, 2]);
        let metrics = tx.sender_metrics(1).expect("metrics");
        assert_eq!((metrics.queued_frames, metrics.outstanding_credit), (3, 0));
    }

    #[test]
    fn priority_frames_bypass_credit_and_queued_data() {
        let mut tx = Conn::new(8);
        tx.open_sender(1).expect("open");
        tx.submit_data(1, 100).expect("data");
        tx.on_credit(&grant(1, 5)).expect("credit");
        tx.submit_data(1, 101).expect("data");
        assert_eq!(tx.submit_event(1, FrameKind::Watermark, 7), Ok(2));
        assert_eq!(tx.submit_control(FrameKind::Heartbeat, 0, 9), Ok(0));
        let sent = drain(&mut tx);
        let kinds: Vec<_> = sent
            .iter()
            .filter_map(|t| match t {
                Transmit::Frame(f) => Some((f.kind, f.seq)),
                Transmit::Credit(_) => None,
            })
            .collect();
        assert_eq!(
            kinds,
            vec![
                (FrameKind::Watermark, 2),
                (FrameKind::Heartbeat, 0),
                (FrameKind::Data, 0),
                (FrameKind::Data, 1),
            ]
        );
    }

    #[test]
    fn receivers_announce_initial_credit_then_what_is_released() {
        let mut rx = Conn::new(8);
        rx.open_receiver(4, 2).expect("open");
        assert_eq!(drain(&mut rx), vec![Transmit::Credit(grant(4, 2))]);
        rx.on_frame(FrameKind::Data, 4, 0, 1).expect("data");
        assert_eq!(drain(&mut rx), vec![]);
        let delivered = rx.poll_deliver(4).expect("open").expect("ready");
        assert_eq!((delivered.seq, delivered.payload), (0, 1));
        rx.release_buffer(4).expect("release");
        assert_eq!(drain(&mut rx), vec![Transmit::Credit(grant(4, 3))]);
    }

    #[test]
    fn control_frames_are_sequenced_per_connection() {
        let mut rx = Conn::new(8);
        let first = rx.on_frame(FrameKind::Control, 9, 0, 1).expect("control");
        assert_eq!(first.map(|d| d.payload), Some(1));
        let gap = rx.on_frame(FrameKind::Heartbeat, 9, 2, 0);
        assert_eq!(
            gap,
            Err(NetError::SequenceGap {
                channel: 9,
                expected: 1,
                found: 2
            })
        );
    }

    #[test]
    fn bounds_and_unknown_channels_are_errors() {
        let mut conn = Conn::new(1);
        conn.open_sender(1).expect("open");
        assert_eq!(
            conn.open_sender(1),
            Err(NetError::ChannelExists { channel: 1 })
        );
        assert_eq!(
            conn.submit_data(2, 0),
            Err(NetError::UnknownChannel { channel: 2 })
        );
        conn.submit_event(1, FrameKind::Barrier, 0)
            .expect("barrier");
        let full = conn.submit_event(1, FrameKind::Barrier, 0);
        assert_eq!(full, Err(NetError::QueueFull { channel: 1, max: 1 }));
        // The refused event consumed no sequence number.
        drain(&mut conn);
        let still_in_flight = conn.submit_event(1, FrameKind::Barrier, 0);
        assert_eq!(
            still_in_flight,
            Err(NetError::QueueFull { channel: 1, max: 1 })
        );
        conn.on_credit(&CreditGrant {
            channel: 1,
            data_total: 0,
            events_total: 1,
        })
        .expect("taken");
        assert_eq!(conn.submit_event(1, FrameKind::Barrier, 0), Ok(1));
        let wrong = conn.submit_event(1, FrameKind::Data, 0);
        assert!(matches!(wrong, Err(NetError::Protocol { .. })));
        assert!(matches!(
            conn.on_frame(FrameKind::Data, 1, 0, 0),
            Err(NetError::UnknownChannel { .. })
        ));
    }
}
