//! The two ends of a logical channel on a link: [`ChannelSender`] waits for
//! credit (the backpressure), [`ChannelReceiver`] hands out data and events
//! in the order they were sent.

use std::future::poll_fn;
use std::task::Poll;
use std::time::Instant;

use bytes::Bytes;

use super::pool::InPayload;
use super::received::{ChannelEvent, DataFrame, Received};
use super::state::{LinkState, Shared, borrow};
use crate::batch::{BatchRecord, write_batch};
use crate::credit::Delivery;
use crate::error::{ChannelId, NetError};
use crate::frame::{FrameKind, Lane};

/// Sends on one channel of a link. Made by [`super::Link::sender`].
pub struct ChannelSender {
    pub(crate) link: Shared,
    pub(crate) channel: ChannelId,
    pub(crate) data_bytes_max: usize,
    pub(crate) frame_bytes_max: usize,
}

impl ChannelSender {
    /// The channel.
    pub fn channel(&self) -> ChannelId {
        self.channel
    }

    /// Sends one data frame (typically a batch from [`crate::encode_batch`]).
    /// Waits until the receiver has a buffer for it: that wait is the
    /// channel's backpressure, and each returned call used one credit. Fails
    /// with [`NetError::Link`] naming the peer once the link is closed.
    pub async fn send_data(&mut self, payload: Bytes) -> Result<(), NetError> {
        let len = payload.len();
        if len > self.data_bytes_max {
            return Err(too_large(FrameKind::Data, len, self.data_bytes_max));
        }
        let channel = self.channel;
        self.wait(|state| {
            let max = state.config.queued_frames_max as u64;
            let sender = state.conn.sender_channel(channel)?;
            let queued = sender.queued() as u64;
            Some(sender.credit() > queued && queued < max)
        })
        .await?;
        let mut state = borrow(&self.link)?;
        state.conn.submit_data(channel, payload)?;
        if let Some(side) = state.senders.get_mut(&channel) {
            side.frames += 1;
            side.bytes += len as u64;
        }
        state.wake_writer();
        Ok(())
    }

    /// Archives `records` as one batch and sends it with
    /// [`ChannelSender::send_data`].
    pub async fn send_batch<T: BatchRecord>(&mut self, records: &[T]) -> Result<(), NetError> {
        let mut buf = bytes::BytesMut::new();
        write_batch(records, &mut buf)?;
        self.send_data(buf.freeze()).await
    }

    /// Sends a watermark, barrier or end-of-channel. It needs no credit and
    /// overtakes queued data on the wire, but the receiver hands it out
    /// after exactly the data sent before it. Waits only while the channel's
    /// event window or the link's priority lane is full, or until the peer's
    /// receiver has announced itself. Nothing may follow end-of-channel.
    pub async fn send_event(&mut self, kind: FrameKind, payload: Bytes) -> Result<(), NetError> {
        let channel = self.channel;
        if kind.lane() != Lane::ChannelEvent {
            return Err(NetError::Protocol {
                channel,
                reason: "send_event takes a watermark, barrier or end-of-channel",
            });
        }
        if payload.len() > self.frame_bytes_max {
            return Err(too_large(kind, payload.len(), self.frame_bytes_max));
        }
        self.wait(|state| {
            let max = state.config.queued_frames_max;
            let granted = state.senders.get(&channel)?.granted;
            let window = state.conn.sender_channel(channel)?.events_in_flight() < max as u64;
            Some(granted && window && state.conn.priority_queued() < max)
        })
        .await?;
        let mut state = borrow(&self.link)?;
        state.conn.submit_event(channel, kind, payload)?;
        if let Some(side) = state.senders.get_mut(&channel) {
            side.frames += 1;
            side.ended |= kind == FrameKind::EndOfChannel;
        }
        state.wake_writer();
        Ok(())
    }

    /// Credit the channel holds now: data frames it may send without waiting.
    pub fn credit(&self) -> u64 {
        borrow(&self.link)
            .ok()
            .and_then(|state| {
                let sender = state.conn.sender_channel(self.channel)?;
                Some(sender.credit().saturating_sub(sender.queued() as u64))
            })
            .unwrap_or(0)
    }

    /// Waits until `ready` holds, the link closes, or the channel has ended;
    /// time spent waiting is the channel's backpressure.
    async fn wait(&self, ready: impl Fn(&LinkState) -> Option<bool>) -> Result<(), NetError> {
        let channel = self.channel;
        let result = poll_fn(|cx| {
            let mut state = match borrow(&self.link) {
                Ok(state) => state,
                Err(err) => return Poll::Ready(Err(err)),
            };
            if let Err(err) = state.check_open() {
                return Poll::Ready(Err(err));
            }
            if state.senders.get(&channel).is_some_and(|s| s.ended) {
                return Poll::Ready(Err(NetError::ChannelEnded { channel }));
            }
            match ready(&state) {
                None => Poll::Ready(Err(NetError::Internal {
                    reason: "sender channel missing from its link",
                })),
                Some(true) => Poll::Ready(Ok(())),
                Some(false) => {
                    if let Some(side) = state.senders.get_mut(&channel) {
                        side.waiting_since.get_or_insert_with(Instant::now);
                        side.waker.register(cx.waker());
                    }
                    Poll::Pending
                }
            }
        })
        .await;
        let mut state = borrow(&self.link)?;
        if let Some(side) = state.senders.get_mut(&channel) {
            side.stop_waiting();
        }
        result
    }
}

fn too_large(kind: FrameKind, len: usize, max: usize) -> NetError {
    NetError::FrameTooLarge {
        offset: 0,
        kind,
        len: len as u64,
        max: max as u64,
    }
}

/// Receives on one channel of a link. Made by [`super::Link::receiver`].
/// Dropping it stops the channel's credit: its buffers come back when the
/// link closes.
pub struct ChannelReceiver {
    pub(crate) link: Shared,
    pub(crate) channel: ChannelId,
}

impl ChannelReceiver {
    /// The channel.
    pub fn channel(&self) -> ChannelId {
        self.channel
    }

    /// The next data frame or event, in the order the sender produced them;
    /// `Ok(None)` after end-of-channel has been handed out. Frames that
    /// arrived before the link closed are still handed out; then the call
    /// fails with [`NetError::Link`], naming the peer and the cause.
    pub async fn recv(&mut self) -> Result<Option<Received>, NetError> {
        let channel = self.channel;
        poll_fn(|cx| {
            let mut state = match borrow(&self.link) {
                Ok(state) => state,
                Err(err) => return Poll::Ready(Err(err)),
            };
            match state.conn.poll_deliver(channel) {
                Err(err) => Poll::Ready(Err(err)),
                Ok(Some(delivery)) => {
                    let received = self.hand_out(&mut state, delivery);
                    Poll::Ready(received.map(Some))
                }
                Ok(None) => {
                    let ended = state
                        .conn
                        .receiver_channel(channel)
                        .is_some_and(|r| r.is_ended());
                    if ended {
                        return Poll::Ready(Ok(None));
                    }
                    if let Err(err) = state.check_open() {
                        return Poll::Ready(Err(err));
                    }
                    if let Some(side) = state.receivers.get_mut(&channel) {
                        side.waker.register(cx.waker());
                    }
                    Poll::Pending
                }
            }
        })
        .await
    }

    fn hand_out(
        &self,
        state: &mut LinkState,
        delivery: Delivery<InPayload>,
    ) -> Result<Received, NetError> {
        match (delivery.kind, delivery.payload) {
            (FrameKind::Data, InPayload::Pooled(buffer)) => Ok(Received::Data(DataFrame {
                link: self.link.clone(),
                channel: self.channel,
                seq: delivery.seq,
                buffer: Some(buffer),
            })),
            (kind, InPayload::Inline(payload)) if kind != FrameKind::Data => {
                // Taking an event reopens the sender's event window.
                state.wake_writer();
                Ok(Received::Event(ChannelEvent {
                    kind,
                    seq: delivery.seq,
                    payload,
                }))
            }
            _ => Err(NetError::Internal {
                reason: "payload kind does not match its frame",
            }),
        }
    }
}
