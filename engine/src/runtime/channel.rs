//! Bounded channel endpoints between subtasks: glommio's shared SPSC
//! channels across cores, local channels within a core.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use futures_lite::Stream;
use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use glommio::channels::shared_channel::{self, ConnectedReceiver, ConnectedSender};

use super::archived::ArchivedBatch;
use super::message::Message;

/// What the sender of one channel tells its receiver beside the queue.
/// Aligned to its own cache line, so only the two ends of this channel touch it.
#[repr(align(64))]
#[derive(Default)]
pub(crate) struct SentCount {
    /// Messages sent on a cross-core channel so far, written by the sender
    /// after each successful send and read by the receiver (see
    /// [`SharedRecv`]).
    sent: AtomicU64,
    /// The newest checkpoint whose barrier the sender queued behind its
    /// records with priority (unaligned checkpoints): the receiver may
    /// start that checkpoint before the barrier reaches it.
    announced: AtomicU64,
}

/// The unconnected sending end of a cross-core channel, created on the
/// launching thread.
pub(crate) struct SharedTx<T: Send + 'static> {
    tx: shared_channel::SharedSender<Message<T>>,
    sent: Arc<SentCount>,
}

/// The unconnected receiving end of a cross-core channel.
pub(crate) struct SharedRx<T: Send + 'static> {
    rx: shared_channel::SharedReceiver<Message<T>>,
    sent: Arc<SentCount>,
}

/// A cross-core channel of `capacity` messages.
pub(crate) fn shared_pair<T: Send + 'static>(capacity: usize) -> (SharedTx<T>, SharedRx<T>) {
    let (tx, rx) = shared_channel::new_bounded(capacity);
    let sent = Arc::new(SentCount::default());
    (
        SharedTx {
            tx,
            sent: sent.clone(),
        },
        SharedRx { rx, sent },
    )
}

impl<T: Send + 'static> SharedTx<T> {
    /// Connects on the sending core (waits for the receiver to connect).
    pub(crate) async fn connect(self) -> Tx<T> {
        Tx::Shared(self.tx.connect().await, self.sent)
    }
}

impl<T: Send + 'static> SharedRx<T> {
    /// Connects on the receiving core (waits for the sender to connect).
    pub(crate) async fn connect(self) -> Rx<T> {
        Rx::Shared(SharedRecv::new(self.rx.connect().await, self.sent))
    }
}

/// The sending end of one channel.
pub(crate) enum Tx<T: Send + 'static> {
    Shared(ConnectedSender<Message<T>>, Arc<SentCount>),
    Local(LocalSender<Message<T>>, Arc<SentCount>),
}

/// The receiving end of one channel.
pub(crate) enum Rx<T: Send + 'static> {
    Shared(SharedRecv<T>),
    Local(Pin<Box<dyn Stream<Item = Message<T>>>>, Arc<SentCount>),
    /// From another process: batches stay in their receive buffers.
    Remote(Pin<Box<dyn Stream<Item = Received<T>>>>),
}

/// What a receiver yields: a message, or (only from another process) a
/// batch still in its receive buffer.
pub(crate) enum Received<T> {
    Message(Message<T>),
    Archived(ArchivedBatch<T>),
}

/// A connected cross-core receiver that keeps at most one waker in
/// glommio's reactor, and still sees new messages without the reactor.
///
/// glommio's shared receiver pushes a clone of the caller's waker onto a
/// per-channel list on *every* `Pending` poll, and wakes only as many of
/// them as there are messages when data arrives. A task that polls an empty
/// channel many times (it is woken by its other inputs) therefore piles up
/// wakers: the stale ones are woken first, so the task may not be woken at
/// all (a hang), and the clones overflow glommio's 16-bit task refcount (a
/// panic). Here the reactor only ever holds one proxy waker per channel,
/// which forwards to the task's latest waker.
///
/// While the proxy is registered, polling glommio again would push another
/// waker, so the receiver asks the sender's [`SentCount`] instead: a message
/// is waiting exactly when more were sent than received. Waiting for the
/// reactor to notice instead would stall a busy core's cross-core input
/// until its task queue runs dry or the preemption timer fires (100 ms).
pub(crate) struct SharedRecv<T: Send + 'static> {
    rx: ConnectedReceiver<Message<T>>,
    sent: Arc<SentCount>,
    received: u64,
    signal: Arc<RecvSignal>,
    proxy: Waker,
}

/// The proxy waker's state.
#[derive(Default)]
struct RecvSignal {
    /// True while the proxy sits in the reactor's list (until it is woken).
    registered: AtomicBool,
    /// The task to wake; the last waker the receiver was polled with.
    task: Mutex<Option<Waker>>,
}

impl Wake for RecvSignal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.registered.store(false, Ordering::Relaxed);
        // Clone out so the task is not woken under the lock.
        let task = match self.task.lock() {
            Ok(t) => t.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        if let Some(w) = task {
            w.wake();
        }
    }
}

impl<T: Send + 'static> SharedRecv<T> {
    fn new(rx: ConnectedReceiver<Message<T>>, sent: Arc<SentCount>) -> Self {
        let signal = Arc::new(RecvSignal::default());
        Self {
            rx,
            sent,
            received: 0,
            proxy: Waker::from(signal.clone()),
            signal,
        }
    }

    /// Polls for the next message. `cx` must carry the polling task's own
    /// waker (not a no-op one): it is the one woken when a message arrives.
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Message<T>>> {
        {
            let mut task = match self.signal.task.lock() {
                Ok(t) => t,
                Err(poisoned) => poisoned.into_inner(),
            };
            if !task.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *task = Some(cx.waker().clone());
            }
        }
        // The sender counts after the message is in the channel (Release),
        // so a count ahead of ours means a message is there to take.
        let waiting = self.sent.sent.load(Ordering::Acquire) != self.received;
        if !waiting && self.signal.registered.load(Ordering::Relaxed) {
            // Nothing new, and the proxy wakes the task when there is (or
            // when the sender goes away).
            return Poll::Pending;
        }
        let polled = Pin::new(&mut self.rx).poll_next(&mut Context::from_waker(&self.proxy));
        match &polled {
            Poll::Ready(Some(_)) => self.received += 1,
            Poll::Ready(None) => {}
            // The reactor runs on this thread, never during this poll.
            Poll::Pending => self.signal.registered.store(true, Ordering::Relaxed),
        }
        polled
    }
}

pub(crate) fn local_pair<T: Send + 'static>(capacity: usize) -> (Tx<T>, Rx<T>) {
    let (tx, rx): (LocalSender<Message<T>>, LocalReceiver<Message<T>>) =
        local_channel::new_bounded(capacity);
    let side = Arc::new(SentCount::default());
    (
        Tx::Local(tx, side.clone()),
        Rx::Local(Box::pin(rx.stream_owned()), side),
    )
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
            Tx::Shared(s, sent) => {
                s.try_send(msg).map_err(give_back)?;
                sent.sent.fetch_add(1, Ordering::Release);
                Ok(())
            }
            Tx::Local(s, _) => s.try_send(msg).map_err(give_back),
        }
    }

    /// Sends, waiting for room. Returns false when the receiver is gone.
    pub(crate) async fn send(&self, msg: Message<T>) -> bool {
        match self {
            Tx::Shared(s, sent) => {
                let ok = s.send(msg).await.is_ok();
                if ok {
                    sent.sent.fetch_add(1, Ordering::Release);
                }
                ok
            }
            Tx::Local(s, _) => s.send(msg).await.is_ok(),
        }
    }

    /// Tells the receiver, ahead of the queue, that barrier `id` follows
    /// the messages queued so far.
    pub(crate) fn announce(&self, id: u64) {
        let (Tx::Shared(_, side) | Tx::Local(_, side)) = self;
        side.announced.fetch_max(id, Ordering::Release);
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
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Received<T>>> {
        let message = match self {
            Rx::Shared(r) => r.poll_recv(cx),
            Rx::Local(r, _) => r.as_mut().poll_next(cx),
            Rx::Remote(r) => return r.as_mut().poll_next(cx),
        };
        message.map(|m| m.map(Received::Message))
    }

    /// The newest checkpoint whose barrier the sender announced (0: none;
    /// always 0 from another process, whose barriers come in line).
    pub(crate) fn announced(&self) -> u64 {
        match self {
            Rx::Shared(r) => r.sent.announced.load(Ordering::Acquire),
            Rx::Local(_, side) => side.announced.load(Ordering::Acquire),
            Rx::Remote(_) => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use glommio::{LocalExecutorBuilder, Placement};

    use super::*;

    /// A task woken many times by other inputs polls an empty cross-core
    /// channel each time. glommio keeps one waker clone per `Pending` poll,
    /// which overflowed its 16-bit task refcount (a panic) and let stale
    /// wakers absorb the wake-up of the next message (a hang).
    #[test]
    fn polling_an_empty_shared_channel_often_neither_leaks_nor_loses_wakeups() {
        let (tx, rx) = shared_pair::<u64>(4);
        let (ready_tx, ready_rx) = mpsc::channel::<()>();
        let sender = LocalExecutorBuilder::new(Placement::Unbound)
            .io_memory(256 * 1024)
            .spawn(move || async move {
                let tx = tx.connect().await;
                // Send only once the receiver has polled the empty channel.
                let _ = ready_rx.recv();
                tx.send(Message::End).await
            })
            .unwrap();
        let receiver = LocalExecutorBuilder::new(Placement::Unbound)
            .io_memory(256 * 1024)
            .spawn(move || async move {
                let Rx::Shared(mut rx) = rx.connect().await else {
                    return false;
                };
                futures_lite::future::poll_fn(|cx| {
                    for _ in 0..40_000 {
                        assert!(rx.poll_recv(cx).is_pending());
                    }
                    Poll::Ready(())
                })
                .await;
                let _ = ready_tx.send(());
                let got = futures_lite::future::poll_fn(|cx| rx.poll_recv(cx)).await;
                matches!(got, Some(Message::End))
            })
            .unwrap();
        assert!(receiver.join().unwrap(), "the receiver got End");
        assert!(sender.join().unwrap(), "the sender sent End");
    }
}
