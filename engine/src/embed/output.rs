//! The way out: results reach the user through a callback run on the core
//! that produced them, or through a bounded [`Output`] stream.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_channel::{Receiver, Sender, TrySendError};
use futures_lite::Stream;

use crate::error::{Result, SpateError};
use crate::runtime::exchange::Flushable;
use crate::sinks::Sink;
use crate::time::Timestamp;

/// The results of an embedded job, in the order each core produced them
/// (the results of one key come from one core). A [`Stream`]; it ends after
/// `shutdown` has drained the job. Dropping it discards the results that
/// follow.
///
/// The stream's queue is bounded: while nobody reads it, the job stops and
/// `Ingest::send` waits. Read it concurrently with sending.
pub struct Output<T> {
    /// Boxed: the receiver is `!Unpin`; this keeps `Output` `Unpin`.
    rx: Pin<Box<Receiver<T>>>,
}

impl<T> std::fmt::Debug for Output<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output")
            .field("queued_records", &self.rx.len())
            .finish()
    }
}

impl<T> Output<T> {
    pub(crate) fn new(rx: Receiver<T>) -> Self {
        Self { rx: Box::pin(rx) }
    }

    /// The next result; `None` once the job has ended and every result was read.
    pub async fn recv(&mut self) -> Option<T> {
        self.rx.recv().await.ok()
    }

    /// The next result if one is queued now.
    pub fn try_recv(&mut self) -> Option<T> {
        self.rx.try_recv().ok()
    }
}

impl<T> Stream for Output<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.rx.as_mut().poll_next(cx)
    }
}

/// Where the sink of an embedded job delivers.
pub(crate) enum Delivery<T> {
    /// Called on the executor thread for every result.
    Callback(Arc<dyn Fn(T) + Send + Sync>),
    /// The [`Output`] stream's queue.
    Queue(Sender<T>),
}

impl<T> Clone for Delivery<T> {
    fn clone(&self) -> Self {
        match self {
            Delivery::Callback(f) => Delivery::Callback(f.clone()),
            Delivery::Queue(tx) => Delivery::Queue(tx.clone()),
        }
    }
}

/// One core's end of the output queue. Results that find the queue full
/// wait here, at most what one input message produces, and the task driver
/// awaits room (`drain`) before it reads the next message: the same
/// backpressure as an exchange writer (ARCHITECTURE.md, decision 4).
pub(crate) struct OutputShared<T> {
    delivery: Delivery<T>,
    pending: RefCell<VecDeque<T>>,
}

impl<T: Send + 'static> OutputShared<T> {
    pub(crate) fn new(delivery: Delivery<T>) -> Rc<Self> {
        Rc::new(Self {
            delivery,
            pending: RefCell::new(VecDeque::new()),
        })
    }

    fn deliver(&self, value: T) {
        match &self.delivery {
            Delivery::Callback(f) => f(value),
            Delivery::Queue(tx) => {
                let mut pending = self.pending.borrow_mut();
                if !pending.is_empty() {
                    pending.push_back(value);
                    return;
                }
                match tx.try_send(value) {
                    Ok(()) => {}
                    Err(TrySendError::Full(value)) => pending.push_back(value),
                    // The user dropped the `Output` stream: nobody wants results.
                    Err(TrySendError::Closed(_)) => {}
                }
            }
        }
    }

    async fn drain_pending(&self) -> Result<(), SpateError> {
        let Delivery::Queue(tx) = &self.delivery else {
            return Ok(());
        };
        loop {
            // The borrow ends before the wait: `has_pending` may be asked
            // while this future is suspended.
            let next = self.pending.borrow_mut().pop_front();
            let Some(value) = next else {
                return Ok(());
            };
            if tx.send(value).await.is_err() {
                self.pending.borrow_mut().clear();
                return Ok(());
            }
        }
    }
}

impl<T: Send + 'static> Flushable for OutputShared<T> {
    fn flush_all(&self) {}

    fn has_pending(&self) -> bool {
        !self.pending.borrow().is_empty()
    }

    fn oldest_buffered_ns(&self) -> Option<u64> {
        None
    }

    /// The output queue is the job's edge: results before the barrier are
    /// already handed over, so there is no channel to mark.
    fn barrier(&self, _barrier: crate::checkpoint::CheckpointBarrier, _announce: bool) {}

    fn drain(&self) -> Pin<Box<dyn Future<Output = Result<(), SpateError>> + '_>> {
        Box::pin(self.drain_pending())
    }
}

/// The sink operator's view of [`OutputShared`].
pub(crate) struct OutputSink<T> {
    pub(crate) shared: Rc<OutputShared<T>>,
}

impl<T: Send + 'static> Sink<T> for OutputSink<T> {
    #[inline]
    fn write(&mut self, value: T, _ts: Timestamp) -> Result<()> {
        self.shared.deliver(value);
        Ok(())
    }
}
