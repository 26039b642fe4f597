//! The receiving side of one logical channel.

use std::collections::VecDeque;

use super::metrics::{BackpressureMeter, ChannelMetrics};
use crate::error::{ChannelId, NetError};
use crate::frame::{CreditGrant, FrameKind};

/// A frame handed to the consumer, in the channel's logical order (or, for
/// connection-level frames, at once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery<R> {
    /// What it is.
    pub kind: FrameKind,
    /// Its channel.
    pub channel: ChannelId,
    /// Its sequence number.
    pub seq: u64,
    /// Its payload.
    pub payload: R,
}

/// One channel's inbound state: its buffers and credit, sequence checking,
/// and the reordering of early events behind the data that precedes them.
///
/// Buffer accounting: of the channel's `buffers`, `held` hold received data
/// not yet released, `outstanding` are promised to the sender as credit, and
/// the rest are free to announce. Data beyond the promised credit is a
/// protocol violation, so the channel can never need a buffer it lacks.
#[derive(Debug)]
pub struct ReceiverChannel<R> {
    id: ChannelId,
    buffers: u64,
    held: u64,
    granted_total: u64,
    received_data: u64,
    /// The next sequence number in logical order.
    cursor: u64,
    /// Events that arrived ahead of data they follow (ascending seq).
    early: VecDeque<(u64, FrameKind, R)>,
    /// Frames ready for the consumer, in logical order.
    ready: VecDeque<Delivery<R>>,
    events_held: usize,
    events_max: usize,
    /// Events the consumer has taken, and how many of those were announced.
    events_delivered: u64,
    events_announced: u64,
    last_event_seq: Option<u64>,
    /// Sequence number of the end-of-channel event, once it has arrived.
    end_seq: Option<u64>,
    /// Whether the connection's credit queue holds this channel.
    pub(super) credit_scheduled: bool,
}

impl<R> ReceiverChannel<R> {
    /// A channel owning `buffers` receive buffers (reserved in the core's
    /// pool by the caller) and holding at most `events_max` events.
    pub fn new(id: ChannelId, buffers: u32, events_max: usize) -> Self {
        Self {
            id,
            buffers: u64::from(buffers),
            held: 0,
            granted_total: 0,
            received_data: 0,
            cursor: 0,
            early: VecDeque::new(),
            ready: VecDeque::with_capacity(buffers as usize),
            events_held: 0,
            events_max,
            events_delivered: 0,
            events_announced: 0,
            last_event_seq: None,
            end_seq: None,
            credit_scheduled: false,
        }
    }

    /// The channel id.
    pub fn id(&self) -> ChannelId {
        self.id
    }

    /// Credit announced and not yet used by data.
    pub fn outstanding(&self) -> u64 {
        self.granted_total - self.received_data
    }

    /// Free buffers not yet announced as credit.
    pub fn unannounced(&self) -> u64 {
        // Never underflows: held + outstanding never exceeds buffers.
        self.buffers.saturating_sub(self.held + self.outstanding())
    }

    /// Whether a grant would tell the sender something new.
    pub fn has_news(&self) -> bool {
        self.unannounced() > 0 || self.events_delivered > self.events_announced
    }

    /// Announces all free buffers as credit, and the events taken so far:
    /// returns the grant to send, or `None` if there is nothing new.
    pub fn poll_credit(&mut self) -> Option<CreditGrant> {
        if !self.has_news() {
            return None;
        }
        self.granted_total += self.unannounced();
        self.events_announced = self.events_delivered;
        Some(CreditGrant {
            channel: self.id,
            data_total: self.granted_total,
            events_total: self.events_delivered,
        })
    }

    /// Accepts a data frame. It must come with credit, in sequence.
    pub fn on_data(&mut self, seq: u64, payload: R) -> Result<(), NetError> {
        let channel = self.id;
        if self.end_seq.is_some_and(|end| seq >= end) {
            return Err(NetError::ChannelEnded { channel });
        }
        if self.outstanding() == 0 {
            return Err(NetError::CreditViolation { channel, seq });
        }
        self.release_early_events();
        if seq != self.cursor {
            return Err(NetError::SequenceGap {
                channel,
                expected: self.cursor,
                found: seq,
            });
        }
        self.received_data += 1;
        self.held += 1;
        self.cursor += 1;
        self.ready.push_back(Delivery {
            kind: FrameKind::Data,
            channel,
            seq,
            payload,
        });
        self.release_early_events();
        Ok(())
    }

    /// Accepts a barrier, watermark or end-of-channel. Events arrive in
    /// sequence among themselves, possibly ahead of the data before them.
    /// More than `events_max` held at once means the sender ignored its
    /// event window: a protocol violation.
    pub fn on_event(&mut self, kind: FrameKind, seq: u64, payload: R) -> Result<(), NetError> {
        let channel = self.id;
        if kind == FrameKind::Data {
            return Err(NetError::Protocol {
                channel,
                reason: "data sent as an event",
            });
        }
        if self.end_seq.is_some() {
            return Err(NetError::ChannelEnded { channel });
        }
        // Checked: the sequence number comes from the peer.
        let expected = match self.last_event_seq {
            None => self.cursor,
            Some(u64::MAX) => {
                let (expected, found) = (u64::MAX, seq);
                return Err(NetError::SequenceGap {
                    channel,
                    expected,
                    found,
                });
            }
            Some(last) => self.cursor.max(last + 1),
        };
        if seq < expected {
            return Err(NetError::SequenceGap {
                channel,
                expected,
                found: seq,
            });
        }
        if self.events_held >= self.events_max {
            return Err(NetError::QueueFull {
                channel,
                max: self.events_max,
            });
        }
        self.events_held += 1;
        self.last_event_seq = Some(seq);
        if kind == FrameKind::EndOfChannel {
            self.end_seq = Some(seq);
        }
        self.early.push_back((seq, kind, payload));
        self.release_early_events();
        Ok(())
    }

    /// Moves early events whose turn has come into the ready queue.
    fn release_early_events(&mut self) {
        while self
            .early
            .front()
            .is_some_and(|(seq, _, _)| *seq == self.cursor)
        {
            if let Some((seq, kind, payload)) = self.early.pop_front() {
                self.ready.push_back(Delivery {
                    kind,
                    channel: self.id,
                    seq,
                    payload,
                });
                self.cursor += 1;
            }
        }
    }

    /// The next frame in logical order, if it has arrived. A data frame's
    /// buffer stays held until [`ReceiverChannel::release`].
    pub fn poll(&mut self) -> Option<Delivery<R>> {
        let delivery = self.ready.pop_front()?;
        if delivery.kind != FrameKind::Data {
            self.events_held -= 1;
            self.events_delivered += 1;
        }
        Some(delivery)
    }

    /// The consumer is done with one data frame's buffer; it becomes free
    /// to announce as credit.
    pub fn release(&mut self) -> Result<(), NetError> {
        if self.held == 0 {
            return Err(NetError::Protocol {
                channel: self.id,
                reason: "released a buffer the channel does not hold",
            });
        }
        self.held -= 1;
        Ok(())
    }

    /// Whether the end-of-channel event has had its turn (it is ready or has
    /// been delivered): nothing more will arrive.
    pub fn is_ended(&self) -> bool {
        self.end_seq.is_some_and(|end| self.cursor > end)
    }

    /// The channel's metrics.
    pub fn metrics(&self) -> ChannelMetrics {
        ChannelMetrics {
            channel: self.id,
            outstanding_credit: self.outstanding(),
            queued_frames: self.ready.len() + self.early.len(),
            buffers_in_use: self.held,
            backpressure: BackpressureMeter::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seqs(rx: &mut ReceiverChannel<&'static str>) -> Vec<(FrameKind, u64, &'static str)> {
        std::iter::from_fn(|| rx.poll())
            .map(|d| (d.kind, d.seq, d.payload))
            .collect()
    }

    #[test]
    fn credit_equals_free_buffers() {
        let mut rx = ReceiverChannel::new(1, 2, 8);
        assert_eq!(rx.poll_credit().map(|g| g.data_total), Some(2));
        assert_eq!(rx.poll_credit(), None);
        rx.on_data(0, "a").expect("data");
        rx.on_data(1, "b").expect("data");
        assert_eq!(
            rx.on_data(2, "c"),
            Err(NetError::CreditViolation { channel: 1, seq: 2 })
        );
        assert_eq!(rx.poll_credit(), None, "both buffers held");
        rx.release().expect("release");
        assert_eq!(rx.poll_credit().map(|g| g.data_total), Some(3));
        assert_eq!(rx.outstanding(), 1);
    }

    #[test]
    fn grants_report_the_events_the_consumer_took() {
        let mut rx = ReceiverChannel::new(2, 1, 8);
        rx.poll_credit();
        rx.on_event(FrameKind::Watermark, 0, "w0").expect("w0");
        rx.on_event(FrameKind::Watermark, 1, "w1").expect("w1");
        assert_eq!(rx.poll_credit(), None, "not taken yet");
        rx.poll();
        assert_eq!(
            rx.poll_credit(),
            Some(CreditGrant {
                channel: 2,
                data_total: 1,
                events_total: 1
            })
        );
    }

    #[test]
    fn early_events_wait_for_the_data_before_them() {
        let mut rx = ReceiverChannel::new(1, 4, 8);
        rx.poll_credit();
        // The sender submitted data 0, data 1, watermark 2, data 3, barrier 4;
        // both events overtook the queued data on the wire.
        rx.on_event(FrameKind::Watermark, 2, "w").expect("wm");
        rx.on_event(FrameKind::Barrier, 4, "b").expect("barrier");
        assert_eq!(seqs(&mut rx), vec![]);
        rx.on_data(0, "d0").expect("d0");
        rx.on_data(1, "d1").expect("d1");
        rx.on_data(3, "d3").expect("d3");
        assert_eq!(
            seqs(&mut rx),
            vec![
                (FrameKind::Data, 0, "d0"),
                (FrameKind::Data, 1, "d1"),
                (FrameKind::Watermark, 2, "w"),
                (FrameKind::Data, 3, "d3"),
                (FrameKind::Barrier, 4, "b"),
            ]
        );
    }

    #[test]
    fn gaps_and_reordering_are_typed_errors() {
        let mut rx = ReceiverChannel::new(7, 4, 8);
        rx.poll_credit();
        rx.on_data(0, "").expect("d0");
        let gap = rx.on_data(2, "");
        assert_eq!(
            gap,
            Err(NetError::SequenceGap {
                channel: 7,
                expected: 1,
                found: 2
            })
        );
        let mut rx = ReceiverChannel::new(7, 4, 8);
        rx.on_event(FrameKind::Watermark, 3, "").expect("wm");
        let back = rx.on_event(FrameKind::Watermark, 3, "");
        assert_eq!(
            back,
            Err(NetError::SequenceGap {
                channel: 7,
                expected: 4,
                found: 3
            })
        );
        // A lost event shows up when the data after it arrives.
        let mut rx = ReceiverChannel::new(7, 4, 8);
        rx.poll_credit();
        rx.on_data(0, "").expect("d0");
        assert!(matches!(
            rx.on_data(2, ""),
            Err(NetError::SequenceGap { expected: 1, .. })
        ));
    }

    #[test]
    fn nothing_follows_the_end_of_a_channel() {
        let mut rx = ReceiverChannel::new(1, 4, 8);
        rx.poll_credit();
        rx.on_event(FrameKind::EndOfChannel, 1, "end").expect("end");
        assert!(!rx.is_ended(), "data 0 still to come");
        assert_eq!(
            rx.on_event(FrameKind::Watermark, 2, ""),
            Err(NetError::ChannelEnded { channel: 1 })
        );
        assert_eq!(
            rx.on_data(1, ""),
            Err(NetError::ChannelEnded { channel: 1 })
        );
        rx.on_data(0, "d0").expect("d0");
        assert!(rx.is_ended());
        assert_eq!(seqs(&mut rx).len(), 2);
    }

    #[test]
    fn held_events_are_bounded_and_releases_are_checked() {
        let mut rx: ReceiverChannel<()> = ReceiverChannel::new(1, 1, 2);
        rx.on_event(FrameKind::Watermark, 5, ()).expect("1");
        rx.on_event(FrameKind::Watermark, 6, ()).expect("2");
        assert_eq!(
            rx.on_event(FrameKind::Watermark, 7, ()),
            Err(NetError::QueueFull { channel: 1, max: 2 })
        );
        assert!(matches!(rx.release(), Err(NetError::Protocol { .. })));
    }
}
