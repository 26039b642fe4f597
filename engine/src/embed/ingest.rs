//! The way in: the user's [`Ingest`] handle and the source split that reads
//! its queue on each core.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};

use async_channel::{Receiver, Sender, TryRecvError, TrySendError};
use futures_lite::Stream;

use super::error::{EmbedError, Rejected};
use crate::error::Result;
use crate::sources::{Source, SourceCollector, SourcePoll, decode_offset, encode_offset};

/// How long an idle ingest split sleeps when no record wakes it first. The
/// queue wakes it on arrival; this only paces processing-time work (timers,
/// idleness) while nothing arrives.
const IDLE_RETRY_US: u64 = 1_000;

/// What the ingest handles and the splits share, so that a stop with a
/// savepoint knows when every record sent before it is inside the job.
#[derive(Debug, Default)]
pub(crate) struct IngestProgress {
    /// Records handed to the queue: counted before the hand-over and taken
    /// back when it fails, so after the queue closes it only falls.
    accepted: AtomicU64,
    /// Records the splits passed into the job; only rises.
    emitted: AtomicU64,
    /// A stop with a savepoint began: a closed, empty queue is not the end
    /// of the input but a pause until the savepoint is written.
    holding: AtomicBool,
    /// The savepoint is written: the splits stop, without draining.
    stop: AtomicBool,
}

impl IngestProgress {
    /// True once every record accepted so far was passed into the job.
    pub(crate) fn all_emitted(&self) -> bool {
        self.emitted.load(Ordering::SeqCst) >= self.accepted.load(Ordering::SeqCst)
    }

    /// Must come before the queue closes, so no split mistakes the closed
    /// queue for the end of the input.
    pub(crate) fn hold(&self) {
        self.holding.store(true, Ordering::SeqCst);
    }

    /// Ends a hold: with `stop` the splits stop without draining; without,
    /// they end their input as after `shutdown` (the savepoint failed).
    pub(crate) fn release(&self, stop: bool) {
        self.stop.store(stop, Ordering::SeqCst);
        self.holding.store(false, Ordering::SeqCst);
    }

    fn holding(&self) -> bool {
        self.holding.load(Ordering::SeqCst)
    }
}

/// Sends records into an embedded engine. Cheap to clone; every clone feeds
/// the same bounded queue, from any thread and any async runtime.
pub struct Ingest<T> {
    tx: Sender<T>,
    capacity_records: usize,
    progress: Arc<IngestProgress>,
}

impl<T> Clone for Ingest<T> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            capacity_records: self.capacity_records,
            progress: self.progress.clone(),
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
    pub(crate) fn new(
        tx: Sender<T>,
        capacity_records: usize,
        progress: Arc<IngestProgress>,
    ) -> Self {
        Self {
            tx,
            capacity_records,
            progress,
        }
    }

    /// Queues one record, waiting while the queue is full (backpressure:
    /// the job is saturated). Fails with [`EmbedError::Stopped`] once the
    /// engine is shut down or its job failed.
    pub async fn send(&self, record: T) -> Result<(), EmbedError> {
        self.progress.accepted.fetch_add(1, Ordering::SeqCst);
        let sent = self.tx.send(record).await;
        if sent.is_err() {
            self.progress.accepted.fetch_sub(1, Ordering::SeqCst);
        }
        sent.map_err(|_| EmbedError::Stopped)
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
        self.progress.accepted.fetch_add(1, Ordering::SeqCst);
        let sent = self.tx.try_send(record);
        if sent.is_err() {
            self.progress.accepted.fetch_sub(1, Ordering::SeqCst);
        }
        sent.map_err(|e| match e {
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
/// queue is closed and empty, which is how `shutdown` drains the job. During
/// a stop with a savepoint, the closed queue holds it until the savepoint
/// is written; then it stops without draining.
pub(crate) struct IngestSource<T> {
    /// Boxed: the receiver is `!Unpin` and polled as a stream.
    rx: Pin<Box<Receiver<T>>>,
    /// A record taken by `poll_ready` to learn that input arrived.
    early: Option<T>,
    closed: bool,
    progress: Arc<IngestProgress>,
    /// Records this split passed into the job, over restores: its offset.
    /// The queue cannot rewind, so the offset only says how far it got.
    emitted: u64,
}

impl<T> IngestSource<T> {
    pub(crate) fn new(rx: Receiver<T>, progress: Arc<IngestProgress>) -> Self {
        Self {
            rx: Box::pin(rx),
            early: None,
            closed: false,
            progress,
            emitted: 0,
        }
    }

    /// What a poll that produced nothing says.
    fn idle_poll(&self) -> SourcePoll {
        if !self.closed || self.progress.holding() {
            SourcePoll::Pending {
                retry_after_us: IDLE_RETRY_US,
            }
        } else if self.progress.stop.load(Ordering::SeqCst) {
            SourcePoll::Stopped
        } else {
            SourcePoll::Exhausted
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
        if out.is_empty() {
            return Ok(self.idle_poll());
        }
        let n = out.len() as u64;
        self.emitted += n;
        self.progress.emitted.fetch_add(n, Ordering::SeqCst);
        Ok(SourcePoll::Ready)
    }

    fn offset(&self) -> Option<Vec<u8>> {
        Some(encode_offset(&[self.emitted]))
    }

    fn seek(&mut self, offset: &[u8]) -> Result<()> {
        let [emitted] = decode_offset::<1>("ingest", offset)?;
        self.emitted = emitted;
        Ok(())
    }

    /// A restore with another number of cores: every split starts on an
    /// empty queue, so there is nothing to redistribute; the counts, which
    /// belonged to the old splits, start again at zero.
    fn seek_rescaled(&mut self, offsets: &[Vec<u8>]) -> Result<()> {
        for offset in offsets {
            decode_offset::<1>("ingest", offset)?;
        }
        self.emitted = 0;
        Ok(())
    }

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.early.is_some() {
            return Poll::Ready(());
        }
        if self.closed {
            // While held, the retry timer paces the split: nothing arrives.
            return if self.progress.holding() {
                Poll::Pending
            } else {
                Poll::Ready(())
            };
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
