//! The sending side of one logical channel.

use std::collections::VecDeque;

use super::metrics::{BackpressureMeter, ChannelMetrics};
use crate::error::{ChannelId, NetError};
use crate::frame::CreditGrant;

/// One channel's outbound state: its sequence, its credit, and a bounded
/// queue of data waiting for credit.
///
/// Events need no credit, but a channel keeps at most `queue_max` of them in
/// flight (sent, not yet taken by the receiving consumer, as the receiver's
/// grants report), so the receiver can hold every event a well-behaved sender
/// sends, within a fixed bound, even while its consumer is stalled.
///
/// Sequence numbers are given out at submission, to data and events alike,
/// so every frame carries its logical position in the channel even when an
/// event overtakes queued data on the wire.
#[derive(Debug)]
pub struct SenderChannel<P> {
    id: ChannelId,
    queue: VecDeque<(u64, P)>,
    queue_max: usize,
    next_seq: u64,
    /// Cumulative credit granted by the receiver.
    granted_total: u64,
    /// Data frames handed to the socket.
    data_sent: u64,
    events_sent: u64,
    /// Cumulative events the receiving consumer has taken.
    events_released: u64,
    ended: bool,
    meter: BackpressureMeter,
    /// Whether the connection's round-robin queue holds this channel.
    pub(super) scheduled: bool,
}

impl<P> SenderChannel<P> {
    /// A channel with no credit yet and room for `queue_max` queued frames.
    pub fn new(id: ChannelId, queue_max: usize) -> Self {
        Self {
            id,
            queue: VecDeque::with_capacity(queue_max),
            queue_max,
            next_seq: 0,
            granted_total: 0,
            data_sent: 0,
            events_sent: 0,
            events_released: 0,
            ended: false,
            meter: BackpressureMeter::default(),
            scheduled: false,
        }
    }

    /// The channel id.
    pub fn id(&self) -> ChannelId {
        self.id
    }

    /// Queues a data frame and returns its sequence number. A full queue is
    /// an error (backpressure for the caller), not a wait.
    pub fn submit_data(&mut self, payload: P) -> Result<u64, NetError> {
        if self.ended {
            return Err(NetError::ChannelEnded { channel: self.id });
        }
        // Blocked if this frame cannot go out on the credit now available.
        let blocked = self.credit() <= self.queue.len() as u64;
        self.meter.record_attempt(blocked);
        if self.queue.len() >= self.queue_max {
            return Err(NetError::QueueFull {
                channel: self.id,
                max: self.queue_max,
            });
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.queue.push_back((seq, payload));
        Ok(seq)
    }

    /// Takes the sequence number of an event sent now on the priority lane;
    /// `last` marks the end of the channel (nothing may follow it). A full
    /// event window is an error the caller retries after the receiver's next
    /// grant (a superseded watermark can simply be dropped).
    pub fn next_event_seq(&mut self, last: bool) -> Result<u64, NetError> {
        if self.ended {
            return Err(NetError::ChannelEnded { channel: self.id });
        }
        if self.events_in_flight() >= self.queue_max as u64 {
            return Err(NetError::QueueFull {
                channel: self.id,
                max: self.queue_max,
            });
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.events_sent += 1;
        self.ended = last;
        Ok(seq)
    }

    /// Events sent and not yet taken by the receiving consumer.
    pub fn events_in_flight(&self) -> u64 {
        self.events_sent.saturating_sub(self.events_released)
    }

    /// Applies a cumulative grant. Grants may repeat; they may not shrink,
    /// nor release events never sent.
    pub fn on_credit(&mut self, grant: &CreditGrant) -> Result<(), NetError> {
        let channel = self.id;
        if grant.data_total < self.granted_total {
            let previous = self.granted_total;
            return Err(NetError::CreditRegression {
                channel,
                previous,
                found: grant.data_total,
            });
        }
        if grant.events_total < self.events_released {
            let previous = self.events_released;
            return Err(NetError::CreditRegression {
                channel,
                previous,
                found: grant.events_total,
            });
        }
        if grant.events_total > self.events_sent {
            return Err(NetError::Protocol {
                channel,
                reason: "grant releases unsent events",
            });
        }
        self.granted_total = grant.data_total;
        self.events_released = grant.events_total;
        Ok(())
    }

    /// Data frames the channel may still send.
    pub fn credit(&self) -> u64 {
        // Never negative: data is only sent while credit > 0.
        self.granted_total.saturating_sub(self.data_sent)
    }

    /// Data frames waiting.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Whether a data frame can be sent now.
    pub fn is_ready(&self) -> bool {
        !self.queue.is_empty() && self.credit() > 0
    }

    /// Whether data waits for credit.
    pub fn is_blocked(&self) -> bool {
        !self.queue.is_empty() && self.credit() == 0
    }

    /// Whether the channel has ended and all its data has been sent.
    pub fn is_finished(&self) -> bool {
        self.ended && self.queue.is_empty()
    }

    /// Takes the next data frame, spending one credit; `None` without
    /// credit or data.
    pub fn pop_data(&mut self) -> Option<(u64, P)> {
        if self.credit() == 0 {
            return None;
        }
        let frame = self.queue.pop_front()?;
        self.data_sent += 1;
        Some(frame)
    }

    /// Attributes `elapsed_ns` of the caller's time to the current state.
    pub fn account(&mut self, elapsed_ns: u64) {
        self.meter.record_time(elapsed_ns, self.is_blocked());
    }

    /// The channel's metrics.
    pub fn metrics(&self) -> ChannelMetrics {
        ChannelMetrics {
            channel: self.id,
            outstanding_credit: self.credit(),
            queued_frames: self.queue.len(),
            buffers_in_use: 0,
            backpressure: self.meter,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(data_total: u64, events_total: u64) -> CreditGrant {
        CreditGrant {
            channel: 0,
            data_total,
            events_total,
        }
    }

    #[test]
    fn sends_only_with_credit_in_fifo_order() {
        let mut tx = SenderChannel::new(3, 4);
        assert_eq!(tx.submit_data("a"), Ok(0));
        assert_eq!(tx.submit_data("b"), Ok(1));
        assert!(tx.is_blocked());
        assert_eq!(tx.pop_data(), None);
        tx.on_credit(&grant(1, 0)).expect("credit");
        assert_eq!(tx.pop_data(), Some((0, "a")));
        assert_eq!(tx.pop_data(), None, "one credit, one frame");
        tx.on_credit(&grant(1, 0))
            .expect("a repeated grant is harmless");
        assert_eq!(tx.pop_data(), None);
        tx.on_credit(&grant(3, 0)).expect("credit");
        assert_eq!(tx.pop_data(), Some((1, "b")));
        assert_eq!(tx.credit(), 1);
    }

    #[test]
    fn bounded_queue_and_regressions_are_errors() {
        let mut tx = SenderChannel::new(1, 1);
        tx.submit_data(()).expect("first");
        assert_eq!(
            tx.submit_data(()),
            Err(NetError::QueueFull { channel: 1, max: 1 })
        );
        tx.on_credit(&grant(5, 0)).expect("credit");
        assert!(matches!(
            tx.on_credit(&grant(4, 0)),
            Err(NetError::CreditRegression { .. })
        ));
        assert!(matches!(
            tx.on_credit(&grant(5, 1)),
            Err(NetError::Protocol { .. })
        ));
    }

    #[test]
    fn events_are_windowed_by_what_the_consumer_took() {
        let mut tx: SenderChannel<()> = SenderChannel::new(1, 2);
        assert_eq!(tx.next_event_seq(false), Ok(0));
        assert_eq!(tx.next_event_seq(false), Ok(1));
        assert_eq!(
            tx.next_event_seq(false),
            Err(NetError::QueueFull { channel: 1, max: 2 })
        );
        tx.on_credit(&grant(0, 1)).expect("one event taken");
        assert_eq!(
            tx.next_event_seq(false),
            Ok(2),
            "a refused event uses no sequence number"
        );
        assert!(matches!(
            tx.on_credit(&grant(0, 0)),
            Err(NetError::CreditRegression { .. })
        ));
    }

    #[test]
    fn events_share_the_sequence_and_end_closes_the_channel() {
        let mut tx = SenderChannel::new(1, 4);
        assert_eq!(tx.submit_data(()), Ok(0));
        assert_eq!(tx.next_event_seq(false), Ok(1));
        assert_eq!(tx.submit_data(()), Ok(2));
        assert_eq!(tx.next_event_seq(true), Ok(3));
        assert_eq!(
            tx.submit_data(()),
            Err(NetError::ChannelEnded { channel: 1 })
        );
        assert!(!tx.is_finished(), "data still queued");
        tx.on_credit(&grant(2, 0)).expect("credit");
        while tx.pop_data().is_some() {}
        assert!(tx.is_finished());
    }

    #[test]
    fn backpressure_is_measured_from_reported_time_and_attempts() {
        let mut tx = SenderChannel::new(1, 8);
        tx.account(100); // idle: not blocked
        tx.submit_data(()).expect("submit"); // no credit: blocked attempt
        tx.account(300); // blocked
        tx.on_credit(&grant(2, 0)).expect("credit");
        tx.submit_data(()).expect("submit"); // two credits, one queued: not blocked
        let metrics = tx.metrics();
        assert_eq!(metrics.backpressure.blocked_ns, 300);
        assert!((metrics.backpressure_ratio() - 0.75).abs() < 1e-12);
        assert!((metrics.backpressure.attempt_ratio() - 0.5).abs() < 1e-12);
        assert_eq!(metrics.outstanding_credit, 2);
    }
}
