//! One core's data links to the cores of other workers, and the adapters
//! that let the engine's exchanges use them.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use bytes::Bytes;
use spate::distributed::{Inbound, LocalBoxFuture, RemoteLinks, RemoteReceiver, RemoteSender};
use spate_net::{ChannelId, ChannelReceiver, ChannelSender, FrameKind, Link, NetError, Received};

/// A core's links, by the global subtask at the other end.
pub(crate) struct NetLinks {
    /// Taken out (and closed) when the core finishes.
    pub(crate) links: RefCell<HashMap<usize, Rc<Link>>>,
    /// Receive buffers (credits) each channel announces.
    pub(crate) buffers_per_channel: u32,
    pub(crate) payload_bytes_max: usize,
}

impl NetLinks {
    fn link(&self, subtask: usize) -> Result<Rc<Link>, NetError> {
        self.links
            .borrow()
            .get(&subtask)
            .cloned()
            .ok_or(NetError::Protocol {
                channel: 0,
                reason: "no link to the subtask a channel needs",
            })
    }
}

impl RemoteLinks for NetLinks {
    fn sender(&self, to: usize, channel: ChannelId) -> Result<Box<dyn RemoteSender>, NetError> {
        let inner = self.link(to)?.sender(channel)?;
        Ok(Box::new(NetSender {
            inner,
            max: self.payload_bytes_max,
        }))
    }

    fn receiver(
        &self,
        from: usize,
        channel: ChannelId,
    ) -> Result<Box<dyn RemoteReceiver>, NetError> {
        let inner = self
            .link(from)?
            .receiver(channel, self.buffers_per_channel)?;
        Ok(Box::new(NetReceiver { inner }))
    }

    fn finish(&self) -> LocalBoxFuture<'_, Result<(), NetError>> {
        let links = std::mem::take(&mut *self.links.borrow_mut());
        Box::pin(async move {
            // Every channel has ended both ways when a core finishes. Close
            // each link gracefully, all at once: write what is queued, shut
            // our half, and wait for the peer to shut its own. Closing a
            // socket with unread bytes (the peer's last credit grants) would
            // send a reset that can destroy data the peer has not read yet.
            // A peer that closed first had everything it needed from us; one
            // that crashed fails the job through its own worker; so a close
            // error here is logged, not a failure of this finished share.
            let closing: Vec<_> = links
                .into_values()
                .filter_map(|l| Rc::try_unwrap(l).ok())
                .map(|l| glommio::spawn_local(l.close()))
                .collect();
            for c in closing {
                if let Err(e) = c.await {
                    tracing::debug!("closing a finished link: {e}");
                }
            }
            Ok(())
        })
    }
}

struct NetSender {
    inner: ChannelSender,
    max: usize,
}

impl RemoteSender for NetSender {
    fn payload_bytes_max(&self) -> usize {
        self.max
    }

    fn send_data(&mut self, payload: Bytes) -> LocalBoxFuture<'_, Result<(), NetError>> {
        Box::pin(self.inner.send_data(payload))
    }

    fn send_event(
        &mut self,
        kind: FrameKind,
        payload: Bytes,
    ) -> LocalBoxFuture<'_, Result<(), NetError>> {
        Box::pin(self.inner.send_event(kind, payload))
    }
}

struct NetReceiver {
    inner: ChannelReceiver,
}

impl RemoteReceiver for NetReceiver {
    fn recv(&mut self) -> LocalBoxFuture<'_, Result<Option<Inbound>, NetError>> {
        Box::pin(async move {
            Ok(self.inner.recv().await?.map(|item| match item {
                Received::Data(frame) => Inbound::Data(Box::new(FramePayload(frame))),
                Received::Event(ev) => Inbound::Event {
                    kind: ev.kind,
                    payload: ev.payload,
                },
            }))
        })
    }
}

/// A received data frame as the engine reads it; dropping it grants the
/// credit back.
struct FramePayload(spate_net::DataFrame);

impl AsRef<[u8]> for FramePayload {
    fn as_ref(&self) -> &[u8] {
        self.0.as_slice()
    }
}
