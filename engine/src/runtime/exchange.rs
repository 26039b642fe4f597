//! The sending side of an exchange: routes records to channels, batches
//! them, and queues sealed batches until the channel has room.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use spate_state::{key_group_of_hash, subtask_for_key_group};

use super::channel::Tx;
use super::message::{Batch, Message, Rec};
use super::output::{Output, TaskCx};
use crate::error::SpateError;
use crate::time::Timestamp;

/// How records are routed to the downstream subtasks.
pub(crate) enum Route<T> {
    /// One channel: same subtask index downstream.
    Forward,
    /// By key group of the key's stable hash.
    Hash {
        hash: Arc<dyn Fn(&T) -> u64 + Send + Sync>,
        max_parallelism: u16,
    },
    /// Round robin.
    Rebalance { next: usize },
    /// Every record to every channel.
    Broadcast,
}

/// Buffers and queues of one writer, shared with the task driver so it can
/// flush on idle and wait for room without borrowing the chain.
pub(crate) struct WriterShared<T: Send + 'static> {
    txs: Vec<Tx<T>>,
    buffers: RefCell<Vec<Vec<Rec<T>>>>,
    buffer_created_ns: RefCell<Vec<u64>>,
    pending: RefCell<Vec<VecDeque<Message<T>>>>,
    pending_wm: RefCell<Vec<Option<Timestamp>>>,
    oldest_ns: Cell<Option<u64>>,
    batch_records_max: usize,
    broken: Cell<bool>,
}

/// What the task driver needs from every writer in its chain.
pub(crate) trait Flushable {
    /// Seals every partial buffer and queues held-back watermarks.
    fn flush_all(&self);
    /// True when sealed messages wait for channel room.
    fn has_pending(&self) -> bool;
    /// Creation stamp of the oldest buffered record, if any.
    fn oldest_buffered_ns(&self) -> Option<u64>;
    /// Seals every buffer and queues checkpoint barrier `b` behind it on
    /// every channel; with `announce` (unaligned checkpoints), also tells
    /// each receiver ahead of the queue that the barrier is on its way.
    fn barrier(&self, b: crate::checkpoint::CheckpointBarrier, announce: bool);
    /// Sends every queued message, waiting for room. Fails when a receiver is gone.
    fn drain(&self) -> Pin<Box<dyn Future<Output = Result<(), SpateError>> + '_>>;
}

impl<T: Send + 'static> WriterShared<T> {
    pub(crate) fn new(txs: Vec<Tx<T>>, batch_records_max: usize) -> Rc<Self> {
        let n = txs.len();
        Rc::new(Self {
            txs,
            buffers: RefCell::new((0..n).map(|_| Vec::new()).collect()),
            buffer_created_ns: RefCell::new(vec![u64::MAX; n]),
            pending: RefCell::new((0..n).map(|_| VecDeque::new()).collect()),
            pending_wm: RefCell::new(vec![None; n]),
            oldest_ns: Cell::new(None),
            batch_records_max: batch_records_max.max(1),
            broken: Cell::new(false),
        })
    }

    pub(crate) fn channels(&self) -> usize {
        self.txs.len()
    }

    #[inline]
    fn push(&self, ch: usize, rec: Rec<T>, created_ns: u64) {
        let full = {
            let mut bufs = self.buffers.borrow_mut();
            let Some(buf) = bufs.get_mut(ch) else {
                self.broken.set(true);
                return;
            };
            if buf.is_empty() {
                buf.reserve_exact(self.batch_records_max);
                if self.oldest_ns.get().is_none() {
                    self.oldest_ns.set(Some(created_ns));
                }
            }
            buf.push(rec);
            let mut created = self.buffer_created_ns.borrow_mut();
            if let Some(c) = created.get_mut(ch) {
                *c = (*c).min(created_ns);
            }
            buf.len() >= self.batch_records_max
        };
        if full {
            self.seal(ch, None);
            self.try_send_pending(ch);
        }
    }

    /// Records watermark `wm` on every channel in its exact place: after the
    /// records buffered so far (the buffer is sealed), or before the next
    /// records when the buffer is empty.
    fn watermark(&self, wm: Timestamp) {
        for ch in 0..self.txs.len() {
            let buffered = self.buffers.borrow().get(ch).is_some_and(|b| !b.is_empty());
            if buffered {
                self.seal(ch, Some(wm));
                self.try_send_pending(ch);
            } else if let Some(slot) = self.pending_wm.borrow_mut().get_mut(ch) {
                // A newer watermark with no records in between replaces the older.
                *slot = Some(wm);
            }
        }
    }

    /// Moves channel `ch`'s buffer, with the watermark held before it and
    /// `after`, to its queue.
    fn seal(&self, ch: usize, after: Option<Timestamp>) {
        let records = match self.buffers.borrow_mut().get_mut(ch) {
            Some(buf) => std::mem::take(buf),
            None => return,
        };
        let before = self
            .pending_wm
            .borrow_mut()
            .get_mut(ch)
            .and_then(Option::take);
        let created_ns = self
            .buffer_created_ns
            .borrow_mut()
            .get_mut(ch)
            .map(|c| std::mem::replace(c, u64::MAX))
            .unwrap_or(0);
        let msg = if records.is_empty() {
            match after.or(before) {
                Some(wm) => Message::Watermark { wm, created_ns: 0 },
                None => return,
            }
        } else {
            Message::Batch(Batch {
                records,
                created_ns,
                watermark_before: before,
                watermark_after: after,
            })
        };
        if let Some(q) = self.pending.borrow_mut().get_mut(ch) {
            q.push_back(msg);
        }
    }

    fn enqueue_all(&self, make: impl Fn() -> Message<T>) {
        for ch in 0..self.txs.len() {
            self.seal(ch, None);
            if let Some(q) = self.pending.borrow_mut().get_mut(ch) {
                q.push_back(make());
            }
            self.try_send_pending(ch);
        }
    }

    fn try_send_pending(&self, ch: usize) {
        let (Some(tx), Some(q)) = (
            self.txs.get(ch),
            self.pending.borrow_mut().get_mut(ch).map(std::mem::take),
        ) else {
            return;
        };
        let mut q = q;
        while let Some(msg) = q.pop_front() {
            match tx.try_send(msg) {
                Ok(()) => {}
                Err(Some(msg)) => {
                    q.push_front(msg);
                    break;
                }
                Err(None) => {
                    self.broken.set(true);
                    break;
                }
            }
        }
        if let Some(slot) = self.pending.borrow_mut().get_mut(ch) {
            // Nothing can have been queued meanwhile: the writer is single-threaded.
            *slot = q;
        }
    }
}

impl<T: Send + 'static> Flushable for WriterShared<T> {
    fn flush_all(&self) {
        for ch in 0..self.txs.len() {
            self.seal(ch, None);
            self.try_send_pending(ch);
        }
        self.oldest_ns.set(None);
    }

    fn barrier(&self, b: crate::checkpoint::CheckpointBarrier, announce: bool) {
        self.enqueue_all(|| Message::Barrier(b));
        self.oldest_ns.set(None);
        if announce {
            self.txs.iter().for_each(|tx| tx.announce(b.id));
        }
    }

    fn has_pending(&self) -> bool {
        self.pending.borrow().iter().any(|q| !q.is_empty())
    }

    fn oldest_buffered_ns(&self) -> Option<u64> {
        self.oldest_ns.get()
    }

    fn drain(&self) -> Pin<Box<dyn Future<Output = Result<(), SpateError>> + '_>> {
        Box::pin(async move {
            if self.broken.get() {
                return Err(SpateError::internal("an exchange channel failed"));
            }
            for (ch, tx) in self.txs.iter().enumerate() {
                loop {
                    let msg = self
                        .pending
                        .borrow_mut()
                        .get_mut(ch)
                        .and_then(|q| q.pop_front());
                    let Some(msg) = msg else { break };
                    if !tx.send(msg).await {
                        return Err(SpateError::Runtime {
                            core: ch,
                            reason: "the downstream subtask stopped receiving".into(),
                        });
                    }
                }
            }
            Ok(())
        })
    }
}

/// The chain's last operator for an exchange edge.
pub(crate) struct ExchangeWriter<T: Send + 'static> {
    pub(crate) shared: Rc<WriterShared<T>>,
    pub(crate) route: Route<T>,
}

impl<T: Send + Clone + 'static> Output<T> for ExchangeWriter<T> {
    #[inline]
    fn record(&mut self, cx: &mut TaskCx, value: T, ts: Timestamp) {
        let n = self.shared.channels();
        let ch = match &mut self.route {
            Route::Forward => 0,
            Route::Hash {
                hash,
                max_parallelism,
            } => {
                let kg = key_group_of_hash(hash(&value), *max_parallelism);
                subtask_for_key_group(kg, *max_parallelism, n)
            }
            Route::Rebalance { next } => {
                *next = (*next + 1) % n.max(1);
                *next
            }
            Route::Broadcast => {
                for ch in 1..n {
                    self.shared.push(
                        ch,
                        Rec {
                            ts,
                            value: value.clone(),
                        },
                        cx.created_ns,
                    );
                }
                0
            }
        };
        self.shared.push(ch, Rec { ts, value }, cx.created_ns);
    }

    fn watermark(&mut self, _cx: &mut TaskCx, wm: Timestamp) {
        self.shared.watermark(wm);
        if wm == crate::time::WATERMARK_MAX {
            self.shared.flush_all();
        }
    }

    fn idle(&mut self, _cx: &mut TaskCx, idle: bool) {
        self.shared.enqueue_all(|| Message::Idle(idle));
    }

    fn batch_end(&mut self, _cx: &mut TaskCx) {}

    fn tick(&mut self, _cx: &mut TaskCx) {}

    fn end(&mut self, _cx: &mut TaskCx) {
        self.shared.enqueue_all(|| Message::End);
    }
}
