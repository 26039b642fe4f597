//! The way in: the user's [`Ingest`] handle and the source split that reads
//! its queue on each core.

use std::pin::Pin;
use std::task::{Context, Poll};

use async_channel::{Receiver, Sender, TryRecvError, TrySendError};
use futures_lite::Stream;

use super::error::{EmbedError, Rejected};
use crate::error::Result;
use crate::sources::{Source, SourceCollector, SourcePoll};

/// How long an idle ingest split sleeps when no record wakes it first. The
/// queue wakes it on arrival; this only paces processing-time work (timers,
/// idleness) while nothing arrives.
const IDLE_RETRY_US: u64 = 1_000;

/// Sends records into an embedded engine. Cheap to clone; every clone feeds
/// the same bounded queue, from any thread and any async runtime.
pub struct Ingest<T> {
    tx: Sender<T>,
    capacity_records: usize,
}

impl<T> Clone for Ingest<T> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            capacity_records: self.capacity_records,
        }
    }
}

impl<T> std::fmt::Debug for Ingest<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest")
            .field("capacity_records", &self.capacity_records)
            .field("queued_records", &self.tx.len())
            .finish()
    }
}

impl<T> Ingest<T> {
    pub(crate) fn new(tx: Sender<T>, capacity_records: usize) -> Self {
        Self {
            tx,
            capacity_records,
        }
    }

    /// Queues one record, waiting while the queue is full (backpressure:
    /// the job is saturated). Fails with [`EmbedError::Stopped`] once the
    /// engine is shut down or its job failed.
    pub async fn send(&self, record: T) -> Result<(), EmbedError> {
        self.tx.send(record).await.map_err(|_| EmbedError::Stopped)
    }

    /// Queues records in order, waiting for room as [`Ingest::send`] does.
    /// On [`EmbedError::Stopped`] the records before the failing one were
    /// queued and will be processed.
    pub async fn send_batch(&self, records: impl IntoIterator<Item = T>) -> Result<(), EmbedError> {
        for record in records {
            // The fast path of a queue with room completes without waiting.
            self.send(record).await?;
        }
        Ok(())
    }

    /// Queues one record if there is room now; otherwise hands it back with
    /// [`EmbedError::Full`] (or [`EmbedError::Stopped`]).
    pub fn try_send(&self, record: T) -> Result<(), Rejected<T>> {
        self.tx.try_send(record).map_err(|e| match e {
            TrySendError::Full(record) => Rejected {
                error: EmbedError::Full {
                    capacity_records: self.capacity_records,
                },
                record,
            },
            TrySendError::Closed(record) => Rejected {
                error: EmbedError::Stopped,
                record,
            },
        })
    }

    /// Records queued and not yet taken by the job.
    pub fn queued_records(&self) -> usize {
        self.tx.len()
    }

    /// The queue's capacity in records.
    pub fn capacity_records(&self) -> usize {
        self.capacity_records
    }

    /// True once the engine takes no more records.
    pub fn is_stopped(&self) -> bool {
        self.tx.is_closed()
    }

    /// Takes no more records; those queued are still processed.
    pub(crate) fn close(&self) {
        self.tx.close();
    }
}

/// One core's split of the ingest source: takes records from the shared
/// queue (whichever core is free takes the next ones) and ends when the
/// queue is closed and empty, which is how `shutdown` drains the job.
pub(crate) struct IngestSource<T> {
    /// Boxed: the receiver is `!Unpin` and polled as a stream.
    rx: Pin<Box<Receiver<T>>>,
    /// A record taken by `poll_ready` to learn that input arrived.
    early: Option<T>,
    closed: bool,
}

impl<T> IngestSource<T> {
    pub(crate) fn new(rx: Receiver<T>) -> Self {
        Self {
            rx: Box::pin(rx),
            early: None,
            closed: false,
        }
    }
}

impl<T: crate::Data> Source for IngestSource<T> {
    type Item = T;

    fn poll(&mut self, out: &mut SourceCollector<'_, T>, count_max: usize) -> Result<SourcePoll> {
        if let Some(record) = self.early.take() {
            out.collect(record);
        }
        while out.len() < count_max && !self.closed {
            match self.rx.try_recv() {
                Ok(record) => out.collect(record),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Closed) => self.closed = true,
            }
        }
        Ok(if !out.is_empty() {
            SourcePoll::Ready
        } else if self.closed {
            SourcePoll::Exhausted
        } else {
            SourcePoll::Pending {
                retry_after_us: IDLE_RETRY_US,
            }
        })
    }

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.early.is_some() || self.closed {
            return Poll::Ready(());
        }
        // The queue offers no readiness without taking a record, so the
        // record it yields is kept for the next `poll`.
        match self.rx.as_mut().poll_next(cx) {
            Poll::Ready(Some(record)) => {
                self.early = Some(record);
                Poll::Ready(())
            }
            Poll::Ready(None) => {
                self.closed = true;
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
