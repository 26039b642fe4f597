//! Bounded channel endpoints between subtasks: glommio's shared SPSC
//! channels across cores, local channels within a core.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::Stream;
use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use glommio::channels::shared_channel::{self, ConnectedReceiver, ConnectedSender};

use super::message::Message;

/// Unconnected cross-core endpoints, created on the launching thread.
pub(crate) type SharedTx<T> = shared_channel::SharedSender<Message<T>>;
pub(crate) type SharedRx<T> = shared_channel::SharedReceiver<Message<T>>;

/// The sending end of one channel.
pub(crate) enum Tx<T: Send + 'static> {
    Shared(ConnectedSender<Message<T>>),
    Local(LocalSender<Message<T>>),
}

/// The receiving end of one channel.
pub(crate) enum Rx<T: Send + 'static> {
    Shared(ConnectedReceiver<Message<T>>),
    Local(Pin<Box<dyn Stream<Item = Message<T>>>>),
}

pub(crate) fn local_pair<T: Send + 'static>(capacity: usize) -> (Tx<T>, Rx<T>) {
    let (tx, rx): (LocalSender<Message<T>>, LocalReceiver<Message<T>>) =
        local_channel::new_bounded(capacity);
    (Tx::Local(tx), Rx::Local(Box::pin(rx.stream_owned())))
}

/// Helper so a receiver can be turned into an owned stream.
trait OwnedStream<T> {
    fn stream_owned(self) -> impl Stream<Item = T> + 'static;
}

impl<T: 'static> OwnedStream<T> for LocalReceiver<T> {
    fn stream_owned(self) -> impl Stream<Item = T> + 'static {
        futures_lite::stream::unfold(self, |rx| async move {
            let item = rx.recv().await?;
            Some((item, rx))
        })
    }
}

impl<T: Send + 'static> Tx<T> {
    /// Sends without waiting. `Err(Some(msg))` gives the message back when the
    /// channel is full (or closed: the following `send` reports that);
    /// `Err(None)` means the channel failed and the message is gone.
    pub(crate) fn try_send(&self, msg: Message<T>) -> Result<(), Option<Message<T>>> {
        match self {
            Tx::Shared(s) => s.try_send(msg).map_err(give_back),
            Tx::Local(s) => s.try_send(msg).map_err(give_back),
        }
    }

    /// Sends, waiting for room. Returns false when the receiver is gone.
    pub(crate) async fn send(&self, msg: Message<T>) -> bool {
        match self {
            Tx::Shared(s) => s.send(msg).await.is_ok(),
            Tx::Local(s) => s.send(msg).await.is_ok(),
        }
    }
}

/// The message a failed send hands back, if the error carries it.
fn give_back<T>(e: glommio::GlommioError<Message<T>>) -> Option<Message<T>> {
    match e {
        glommio::GlommioError::WouldBlock(glommio::ResourceType::Channel(m))
        | glommio::GlommioError::Closed(glommio::ResourceType::Channel(m)) => Some(m),
        _ => None,
    }
}

impl<T: Send + 'static> Rx<T> {
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Message<T>>> {
        match self {
            Rx::Shared(r) => Pin::new(r).poll_next(cx),
            Rx::Local(r) => r.as_mut().poll_next(cx),
        }
    }
}
