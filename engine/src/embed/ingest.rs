//! The way in: the user's [`Ingest`] handle and the source split that reads
//! its queue on each core.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};

use async_channel::{Receiver, Sender, TryRecvError, TrySendError};
use futures_lite::Stream;

use super::durable::{AckBook, BatchAck, Durable, SplitAcks};
use super::error::{EmbedError, Rejected};
use crate::error::Result;
use crate::sources::{Source, SourceCollector, SourcePoll, decode_offset, encode_offset};

/// How long an idle ingest split sleeps when no record wakes it first. The
/// queue wakes it on arrival; this only paces processing-time work (timers,
/// idleness) while nothing arrives.
const IDLE_RETRY_US: u64 = 1_000;

/// What the splits share with the engine, so that a stop with a savepoint
/// knows when every record sent before it is inside the job: the queue is
/// closed and empty, and no split holds a record it took without passing
/// it on. Nothing here is touched per record on the way in.
#[derive(Debug, Default)]
pub(crate) struct IngestProgress {
    /// Splits between taking an entry in `poll_ready` and passing it into
    /// the job in the next `poll` (counted before the take, so a record is
    /// never out of the queue and uncounted).
    held: AtomicU64,
    /// A stop with a savepoint began: a closed, empty queue is not the end
    /// of the input but a pause until the savepoint is written.
    holding: AtomicBool,
    /// The savepoint is written: the splits stop, without draining.
    stop: AtomicBool,
}

impl IngestProgress {
    /// True once every record taken from a closed queue that is now
    /// empty was passed into the job. A split's `poll` passes on what it
    /// takes before its task can inject a barrier, so only the entries
    /// `poll_ready` took wait in a split.
    pub(crate) fn all_passed(&self, queue_empty: bool) -> bool {
        queue_empty && self.held.load(Ordering::SeqCst) == 0
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

/// One slot of the ingest queue. The batch is boxed so a slot of single
/// records stays the size of a record.
pub(crate) enum Entry<T> {
    Record(T),
    /// A batch sent with `send_durable`: passed into the job whole, so no
    /// barrier falls inside it, and answered once durable.
    Batch(Box<DurableBatch<T>>),
}

pub(crate) struct DurableBatch<T> {
    records: Vec<T>,
    pub(crate) ack: Arc<BatchAck>,
}

/// Sends records into an embedded engine. Cheap to clone; every clone feeds
/// the same bounded queue, from any thread and any async runtime.
pub struct Ingest<T> {
    tx: Sender<Entry<T>>,
    capacity_records: usize,
    progress: Arc<IngestProgress>,
    /// Whether the engine takes checkpoints, so `send_durable` can answer.
    checkpointed: bool,
}

impl<T> Clone for Ingest<T> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            capacity_records: self.capacity_records,
            progress: self.progress.clone(),
            checkpointed: self.checkpointed,
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
        tx: Sender<Entry<T>>,
        capacity_records: usize,
        progress: Arc<IngestProgress>,
        checkpointed: bool,
    ) -> Self {
        Self {
            tx,
            capacity_records,
            progress,
            checkpointed,
        }
    }

    async fn enqueue(&self, entry: Entry<T>) -> Result<(), EmbedError> {
        self.tx.send(entry).await.map_err(|_| EmbedError::Stopped)
    }

    /// Queues one record, waiting while the queue is full (backpressure:
    /// the job is saturated). Fails with [`EmbedError::Stopped`] once the
    /// engine is shut down or its job failed.
    pub async fn send(&self, record: T) -> Result<(), EmbedError> {
        self.enqueue(Entry::Record(record)).await
    }

    /// Queues `records` as one batch (one slot of the queue), waiting for
    /// room as [`Ingest::send`] does, and returns what resolves once the
    /// batch is durable: once a completed checkpoint holds the effect of
    /// every record of it. A failure of the job rolls back what no
    /// completed checkpoint holds; such a batch resolves to
    /// [`EmbedError::NotDurable`], none of it counts, and the producer
    /// sends it again — so each record acknowledged, or sent again until
    /// acknowledged, counts exactly once in the job's state. Needs an
    /// engine built with [`EngineBuilder::checkpointed`]; fails with
    /// [`EmbedError::NotCheckpointed`] otherwise.
    ///
    /// [`EngineBuilder::checkpointed`]: super::EngineBuilder::checkpointed
    pub async fn send_durable(&self, records: Vec<T>) -> Result<Durable, EmbedError> {
        if !self.checkpointed {
            return Err(EmbedError::NotCheckpointed);
        }
        let (ack, durable) = BatchAck::new();
        let batch = DurableBatch { records, ack };
        self.enqueue(Entry::Batch(Box::new(batch))).await?;
        Ok(durable)
    }

    /// True when the engine takes checkpoints, so [`Ingest::send_durable`]
    /// can tell when a batch is durable.
    pub fn is_checkpointed(&self) -> bool {
        self.checkpointed
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
        let (error, entry) = match self.tx.try_send(Entry::Record(record)) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Full(entry)) => (
                EmbedError::Full {
                    capacity_records: self.capacity_records,
                },
                entry,
            ),
            Err(TrySendError::Closed(entry)) => (EmbedError::Stopped, entry),
        };
        match entry {
            Entry::Record(record) => Err(Rejected { error, record }),
            Entry::Batch(..) => unreachable!("try_send queues single records only"),
        }
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

    /// True when nothing waits in the queue.
    pub(crate) fn is_empty(&self) -> bool {
        self.tx.is_empty()
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
    rx: Pin<Box<Receiver<Entry<T>>>>,
    /// An entry taken by `poll_ready` to learn that input arrived.
    early: Option<Entry<T>>,
    closed: bool,
    progress: Arc<IngestProgress>,
    /// Records this split passed into the job, over restores: its offset.
    /// The queue cannot rewind, so the offset only says how far it got.
    emitted: u64,
    /// Durable batches passed into the job and not yet answered.
    acks: SplitAcks,
    book: Arc<AckBook>,
    /// Whether the split has polled, or restored a checkpoint, yet.
    started: bool,
}

impl<T> IngestSource<T> {
    pub(crate) fn new(
        rx: Receiver<Entry<T>>,
        progress: Arc<IngestProgress>,
        book: Arc<AckBook>,
    ) -> Self {
        Self {
            rx: Box::pin(rx),
            early: None,
            closed: false,
            progress,
            emitted: 0,
            acks: SplitAcks::default(),
            book,
            started: false,
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

    /// Passes one entry into the job; a batch goes whole, even past
    /// `count_max`, so no barrier falls inside it.
    fn pass(&mut self, entry: Entry<T>, out: &mut SourceCollector<'_, T>) {
        match entry {
            Entry::Record(record) => out.collect(record),
            Entry::Batch(batch) => {
                let DurableBatch { records, ack } = *batch;
                records.into_iter().for_each(|r| out.collect(r));
                self.acks.passed(ack);
            }
        }
    }

    /// The first thing a split of a restarted attempt does decides the
    /// batches the failed attempt left unanswered; a restore decides first
    /// (in `seek`), so reaching here means the attempt started afresh.
    fn start(&mut self, restored: Option<u64>) {
        if !self.started {
            self.started = true;
            self.book.restored(restored);
        }
    }
}

impl<T> Drop for IngestSource<T> {
    fn drop(&mut self) {
        if let Some(entry) = self.early.take() {
            self.progress.held.fetch_sub(1, Ordering::SeqCst);
            if let Entry::Batch(batch) = entry {
                self.acks.passed(batch.ack);
            }
        }
        self.book.adopt(&mut self.acks);
    }
}

impl<T: crate::Data> Source for IngestSource<T> {
    type Item = T;

    fn poll(&mut self, out: &mut SourceCollector<'_, T>, count_max: usize) -> Result<SourcePoll> {
        self.start(None);
        if let Some(entry) = self.early.take() {
            self.pass(entry, out);
            self.progress.held.fetch_sub(1, Ordering::SeqCst);
        }
        while out.len() < count_max && !self.closed {
            match self.rx.try_recv() {
                Ok(entry) => self.pass(entry, out),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Closed) => self.closed = true,
            }
        }
        if out.is_empty() {
            return Ok(self.idle_poll());
        }
        self.emitted += out.len() as u64;
        Ok(SourcePoll::Ready)
    }

    /// How far the split got, and the checkpoint: a restore of it tells
    /// the book which batches it holds.
    fn offset_at_barrier(&mut self, checkpoint_id: u64) -> Option<Vec<u8>> {
        self.acks.barrier(checkpoint_id);
        Some(encode_offset(&[self.emitted, checkpoint_id]))
    }

    fn checkpoint_completed(&mut self, checkpoint_id: u64) {
        self.acks.completed(checkpoint_id);
    }

    fn seek(&mut self, offset: &[u8]) -> Result<()> {
        let [emitted, checkpoint_id] = decode_offset::<2>("ingest", offset)?;
        self.emitted = emitted;
        self.start(Some(checkpoint_id));
        Ok(())
    }

    /// A restore with another number of cores: every split starts on an
    /// empty queue, so there is nothing to redistribute; the counts, which
    /// belonged to the old splits, start again at zero.
    fn seek_rescaled(&mut self, offsets: &[Vec<u8>]) -> Result<()> {
        let mut restored = None;
        for offset in offsets {
            let [_, checkpoint_id] = decode_offset::<2>("ingest", offset)?;
            restored = Some(checkpoint_id);
        }
        self.emitted = 0;
        self.start(restored);
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
        // The queue offers no readiness without taking an entry, so the
        // entry it yields is kept for the next `poll`.
        self.progress.held.fetch_add(1, Ordering::SeqCst);
        let taken = self.rx.as_mut().poll_next(cx);
        if !matches!(taken, Poll::Ready(Some(_))) {
            self.progress.held.fetch_sub(1, Ordering::SeqCst);
        }
        match taken {
            Poll::Ready(Some(entry)) => {
                self.early = Some(entry);
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
