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

/// The fewest receive buffers a channel opens with.
const CHANNEL_BUFFERS_MIN: u32 = 2;

/// Opens a receiver with `wanted` buffers, or with half as many, down to
/// [`CHANNEL_BUFFERS_MIN`], while the core's pool cannot reserve them.
/// Channels open one at a time, so how many will share the pool is not
/// known when the first opens; many credits matter most when there are
/// few channels. Returns the receiver and its buffers.
fn with_credits_that_fit<T>(
    wanted: u32,
    mut open: impl FnMut(u32) -> Result<T, NetError>,
) -> Result<(T, u32), NetError> {
    let mut buffers = wanted.max(CHANNEL_BUFFERS_MIN);
    loop {
        match open(buffers) {
            Err(NetError::PoolExhausted { .. }) if buffers > CHANNEL_BUFFERS_MIN => {
                buffers = (buffers / 2).max(CHANNEL_BUFFERS_MIN);
            }
            other => return other.map(|r| (r, buffers)),
        }
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
        let link = self.link(from)?;
        let (inner, _) = with_credits_that_fit(self.buffers_per_channel, |buffers| {
            link.receiver(channel, buffers)
        })?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A pool of `free` buffers, reserved the way a link's receiver does.
    fn pool(free: &mut u32) -> impl FnMut(u32) -> Result<u32, NetError> + '_ {
        move |n| {
            if n > *free {
                return Err(NetError::PoolExhausted { buffers: 40 });
            }
            *free -= n;
            Ok(n)
        }
    }

    #[test]
    fn channels_get_their_credits_while_the_pool_has_them_then_fewer() {
        let mut free = 40;
        assert_eq!(
            with_credits_that_fit(32, pool(&mut free)).expect("first").1,
            32
        );
        // 8 left: 32 and 16 do not fit, 8 does.
        assert_eq!(
            with_credits_that_fit(32, pool(&mut free))
                .expect("second")
                .1,
            8
        );
        // Nothing left, not even the minimum: the pool's error stands.
        let third = with_credits_that_fit(32, pool(&mut free));
        assert!(matches!(third, Err(NetError::PoolExhausted { .. })));
        // Other errors are not retried.
        let mut calls = 0;
        let other = with_credits_that_fit(32, |_| {
            calls += 1;
            Err::<(), _>(NetError::ChannelExists { channel: 3 })
        });
        assert!(matches!(other, Err(NetError::ChannelExists { channel: 3 })));
        assert_eq!(calls, 1);
    }
}
