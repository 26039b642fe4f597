//! Exchange channels to subtasks in other processes.
//!
//! A remote channel looks like a same-core channel to the operators: the
//! writer sends into a small local channel, and a pump task on the same core
//! encodes its messages into frames on the link's logical channel (waiting
//! for credit: that is the backpressure). On the receiving core, a stream
//! turns the frames back into messages (record batches stay in their
//! receive buffers until the chain reads them). The link itself (TCP, credits,
//! frame validation) lives behind [`RemoteLinks`], implemented by the
//! cluster runtime over `spate-net`, or in memory by tests.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use bytes::{Bytes, BytesMut};
use spate_net::{ChannelId, FrameKind, NetError};

use super::archived::ArchivedBatch;
use super::channel::{Received, Rx};
use super::message::{Message, Rec};
use super::wire::{WireCodec, WireEvent};
use crate::error::SpateError;
use crate::time::{Clock, SystemClock};

/// A future polled on the core that created it.
pub type LocalBoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// What a remote channel delivers, in the sender's order.
pub enum Inbound {
    /// A data frame's payload (an archive of records). Dropping it returns
    /// its receive buffer to the pool, which grants the sender a credit.
    Data(Box<dyn AsRef<[u8]>>),
    /// A channel event: a watermark/idleness event or the end of the channel.
    Event {
        /// `FrameKind::Watermark` or `FrameKind::EndOfChannel`.
        kind: FrameKind,
        /// The event's payload.
        payload: Bytes,
    },
}

/// The sending end of one logical channel on a link to another process.
pub trait RemoteSender {
    /// Largest payload of one data frame.
    fn payload_bytes_max(&self) -> usize;
    /// Sends a data frame, waiting for a credit.
    fn send_data(&mut self, payload: Bytes) -> LocalBoxFuture<'_, Result<(), NetError>>;
    /// Sends a channel event (outside credit, in order with the data).
    fn send_event(
        &mut self,
        kind: FrameKind,
        payload: Bytes,
    ) -> LocalBoxFuture<'_, Result<(), NetError>>;
}

/// The receiving end of one logical channel on a link to another process.
pub trait RemoteReceiver {
    /// The next data frame or event; `None` after the end of the channel.
    fn recv(&mut self) -> LocalBoxFuture<'_, Result<Option<Inbound>, NetError>>;
}

/// One core's links to the subtasks of other processes.
pub trait RemoteLinks {
    /// Opens the sending end of `channel` towards global subtask `to`.
    fn sender(&self, to: usize, channel: ChannelId) -> Result<Box<dyn RemoteSender>, NetError>;
    /// Opens the receiving end of `channel` from global subtask `from`.
    fn receiver(
        &self,
        from: usize,
        channel: ChannelId,
    ) -> Result<Box<dyn RemoteReceiver>, NetError>;
    /// Called once every task of the core has finished: waits until every
    /// frame queued on the links is on the wire, so closing them loses
    /// nothing the peers still expect.
    fn finish(&self) -> LocalBoxFuture<'_, Result<(), NetError>> {
        Box::pin(async { Ok(()) })
    }
}

/// The logical channel of edge `edge` from subtask `from` to subtask `to`:
/// unique per (edge, from, to) within one job run.
pub(crate) fn channel_id(
    edge: usize,
    from: usize,
    to: usize,
    parallelism: usize,
) -> Result<ChannelId, SpateError> {
    edge.checked_mul(parallelism)
        .and_then(|x| x.checked_add(from))
        .and_then(|x| x.checked_mul(parallelism))
        .and_then(|x| x.checked_add(to))
        .and_then(|x| ChannelId::try_from(x).ok())
        .ok_or_else(|| SpateError::Runtime {
            core: from,
            reason: format!(
                "edge {edge} with parallelism {parallelism} needs more logical channels than a link can name"
            ),
        })
}

/// The first error a remote channel of this core hit; reported instead of
/// its consequence (an input that ended without its end marker).
#[derive(Clone, Default)]
pub(crate) struct RemoteFailure(Rc<RefCell<Option<SpateError>>>);

impl RemoteFailure {
    pub(crate) fn record(&self, e: SpateError) {
        let mut slot = self.0.borrow_mut();
        if slot.is_none() {
            *slot = Some(e);
        }
    }

    pub(crate) fn take(&self) -> Option<SpateError> {
        self.0.borrow_mut().take()
    }
}

fn net_failure(subtask: usize, what: &str, e: &dyn std::fmt::Display) -> SpateError {
    SpateError::Runtime {
        core: subtask,
        reason: format!("{what}: {e}"),
    }
}

/// Moves the messages of a local channel onto a remote channel until the
/// end marker. Fails when the link fails or a batch cannot be encoded.
pub(crate) async fn pump_out<T: Send + 'static>(
    mut rx: Rx<T>,
    mut out: Box<dyn RemoteSender>,
    codec: WireCodec<T>,
    subtask: usize,
) -> Result<(), SpateError> {
    let fail = |e: NetError| net_failure(subtask, "sending to another process failed", &e);
    loop {
        let Some(received) = futures_lite::future::poll_fn(|cx| rx.poll_recv(cx)).await else {
            // The writer went away without an end marker: its task failed
            // and reports why; the peer sees the link close.
            return Ok(());
        };
        let Received::Message(msg) = received else {
            return Err(SpateError::internal(
                "a batch received from another process was routed to a sender",
            ));
        };
        match msg {
            Message::Batch(b) => {
                if let Some(wm) = b.watermark_before {
                    send_event(&mut *out, WireEvent::Watermark(wm), subtask).await?;
                }
                send_records(&mut *out, codec, &b.records, subtask).await?;
                if let Some(wm) = b.watermark_after {
                    send_event(&mut *out, WireEvent::Watermark(wm), subtask).await?;
                }
            }
            Message::Watermark { wm, .. } => {
                send_event(&mut *out, WireEvent::Watermark(wm), subtask).await?
            }
            Message::Idle(idle) => send_event(&mut *out, WireEvent::Idle(idle), subtask).await?,
            Message::Barrier(b) => {
                let ev = WireEvent::Barrier {
                    id: b.id,
                    triggered_at_ms: b.triggered_at_ms,
                };
                send_event(&mut *out, ev, subtask).await?
            }
            Message::End => {
                out.send_event(FrameKind::EndOfChannel, Bytes::new())
                    .await
                    .map_err(fail)?;
                return Ok(());
            }
        }
    }
}

async fn send_event(
    out: &mut dyn RemoteSender,
    ev: WireEvent,
    subtask: usize,
) -> Result<(), SpateError> {
    let kind = match ev {
        WireEvent::Barrier { .. } => FrameKind::Barrier,
        WireEvent::Watermark(_) | WireEvent::Idle(_) => FrameKind::Watermark,
    };
    let payload = ev
        .encode()
        .map_err(|e| SpateError::internal(format!("encoding a channel event: {e}")))?;
    out.send_event(kind, payload)
        .await
        .map_err(|e| net_failure(subtask, "sending to another process failed", &e))
}

/// Sends records in as few frames as fit the frame limit: a batch whose
/// archive is too large is halved until each half fits.
async fn send_records<T>(
    out: &mut dyn RemoteSender,
    codec: WireCodec<T>,
    records: &[Rec<T>],
    subtask: usize,
) -> Result<(), SpateError> {
    let max = out.payload_bytes_max();
    let mut stack = vec![records];
    while let Some(part) = stack.pop() {
        if part.is_empty() {
            continue;
        }
        let mut buf = BytesMut::with_capacity(max.min(part.len().saturating_mul(64)));
        let len = (codec.encode)(part, &mut buf)
            .map_err(|e| SpateError::internal(format!("encoding a batch: {e}")))?;
        if len > max {
            if part.len() == 1 {
                return Err(SpateError::Runtime {
                    core: subtask,
                    reason: format!(
                        "one record needs {len} bytes, more than the {max}-byte network buffer; \
                         raise network.buffer_kib"
                    ),
                });
            }
            let (a, b) = part.split_at(part.len() / 2);
            // Pushed in reverse so the first half is sent first.
            stack.push(b);
            stack.push(a);
            continue;
        }
        out.send_data(buf.freeze())
            .await
            .map_err(|e| net_failure(subtask, "sending to another process failed", &e))?;
    }
    Ok(())
}

/// The receiving side: a stream of messages, whose record batches stay in
/// their receive buffers until the consuming chain reads them. A link
/// failure is recorded in `failure` and ends the stream without an end
/// marker, which fails the consuming task.
pub(crate) fn inbound<T: Send + 'static>(
    input: Box<dyn RemoteReceiver>,
    codec: WireCodec<T>,
    clock: SystemClock,
    failure: RemoteFailure,
    subtask: usize,
) -> Rx<T> {
    struct State<T> {
        input: Box<dyn RemoteReceiver>,
        codec: WireCodec<T>,
        clock: SystemClock,
        failure: RemoteFailure,
        subtask: usize,
        done: bool,
    }
    let state = State {
        input,
        codec,
        clock,
        failure,
        subtask,
        done: false,
    };
    Rx::Remote(Box::pin(futures_lite::stream::unfold(
        state,
        |mut st| async move {
            if st.done {
                return None;
            }
            match next_received(&mut st.input, st.codec, &st.clock).await {
                Ok(Some(item)) => {
                    st.done = matches!(item, Received::Message(Message::End));
                    Some((item, st))
                }
                Ok(None) => None,
                Err(reason) => {
                    st.failure.record(SpateError::Runtime {
                        core: st.subtask,
                        reason,
                    });
                    None
                }
            }
        },
    )))
}

async fn next_received<T>(
    input: &mut Box<dyn RemoteReceiver>,
    codec: WireCodec<T>,
    clock: &SystemClock,
) -> Result<Option<Received<T>>, String> {
    let fail = |e: NetError| format!("receiving from another process failed: {e}");
    let Some(item) = input.recv().await.map_err(fail)? else {
        return Ok(None);
    };
    let now = clock.mono_ns();
    let message = match item {
        Inbound::Data(payload) => {
            let batch = ArchivedBatch::new(payload, codec.decode_each, now);
            return Ok(Some(Received::Archived(batch)));
        }
        Inbound::Event {
            kind: FrameKind::EndOfChannel,
            ..
        } => Message::End,
        Inbound::Event {
            kind: FrameKind::Watermark | FrameKind::Barrier,
            payload,
        } => {
            match WireEvent::decode(&payload)
                .map_err(|e| format!("a channel event from another process is malformed: {e}"))?
            {
                WireEvent::Watermark(wm) => Message::Watermark {
                    wm,
                    created_ns: now,
                },
                WireEvent::Idle(idle) => Message::Idle(idle),
                WireEvent::Barrier {
                    id,
                    triggered_at_ms,
                } => Message::Barrier(crate::checkpoint::CheckpointBarrier {
                    id,
                    triggered_at_ms,
                }),
            }
        }
        Inbound::Event { kind, .. } => {
            return Err(format!(
                "another process sent a {kind:?} event on a data channel, which carries none"
            ));
        }
    };
    Ok(Some(Received::Message(message)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_ids_are_unique_and_overflow_is_an_error() {
        let p = 6;
        let mut seen = std::collections::HashSet::new();
        for e in 0..5 {
            for i in 0..p {
                for j in 0..p {
                    assert!(seen.insert(channel_id(e, i, j, p).unwrap()));
                }
            }
        }
        assert!(channel_id(usize::MAX / 2, 1, 1, 1 << 20).is_err());
    }
}
