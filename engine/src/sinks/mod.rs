//! Sinks: the sink trait, the sink operator, and the built-in sinks.

mod collect;
mod file;
mod stdout;
mod two_phase_file;

pub use collect::{BlackholeSink, CollectSink};
pub use file::{FileFormat, FileSink};
pub use stdout::StdoutSink;
pub use two_phase_file::{FINAL_TRANSACTION, IN_PROGRESS_DIR, TwoPhaseFileSink, publish_file};

use std::cell::RefCell;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;

use crate::checkpoint::{SinkCounter, SinkTransaction, SnapshotParticipant, TaskSnapshot};
use crate::error::Result;
use crate::metrics::CoreMetrics;
use crate::runtime::graph::HashFn;
use crate::runtime::instantiate::Instantiator;
use crate::runtime::output::{Output, TaskCx};
use crate::sources::SplitInfo;
use crate::time::{Clock, Timestamp};

/// Where a stream's records leave the job. One instance (a clone of the
/// sink given to the job) runs on each core.
///
/// A transactional sink (exactly-once with checkpoints) also implements
/// [`Sink::pre_commit`] and [`Sink::committer`]: the two phases of a
/// commit tied to checkpoints, as Flink's `TwoPhaseCommitSinkFunction`.
pub trait Sink<T>: 'static {
    /// Called once per core before the first record.
    fn open(&mut self, split: SplitInfo) -> Result<()> {
        let _ = split;
        Ok(())
    }
    /// Writes one record.
    fn write(&mut self, value: T, ts: Timestamp) -> Result<()>;
    /// The end of the input: flush everything.
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
    /// The watermark reached `watermark`: no record older than it is to
    /// come (`WATERMARK_MAX` once the input ended). A sink that closes
    /// time-bound output, such as a partition of files, does it here.
    fn on_watermark(&mut self, watermark: Timestamp) -> Result<()> {
        let _ = watermark;
        Ok(())
    }
    /// Phase one, at checkpoint `checkpoint_id` (or
    /// [`FINAL_TRANSACTION`] when the input ended): makes everything
    /// written since the last call durable but not yet visible, as one
    /// transaction, and returns its handle (`None` when there is nothing).
    fn pre_commit(&mut self, checkpoint_id: u64) -> Result<Option<Vec<u8>>> {
        let _ = checkpoint_id;
        Ok(None)
    }
    /// Phase two: what makes this sink's transactions visible once their
    /// checkpoint completed. It lives with the job, not with a core, so
    /// recovery can commit a restored checkpoint's transactions again.
    fn committer(&self) -> Option<Arc<dyn Committer>> {
        None
    }
}

/// Commits a transactional sink's pre-committed transactions.
pub trait Committer: Send + Sync + 'static {
    /// Makes the transaction visible. Must be idempotent: after a failure,
    /// recovery commits the restored checkpoint's transactions again.
    fn commit(&self, handle: &[u8]) -> Result<()>;
}

/// The parts of a sink operator the task reaches at checkpoints.
pub(crate) struct SinkShared<T, S> {
    sink: RefCell<S>,
    node: usize,
    name: String,
    metrics: Rc<CoreMetrics>,
    /// Pre-committed transactions not known to be committed, oldest first.
    uncommitted: RefCell<Vec<SinkTransaction>>,
    _t: PhantomData<fn(T)>,
}

impl<T: 'static, S: Sink<T>> SinkShared<T, S> {
    fn pre_commit(&self, id: u64, completed_id: u64) -> Result<Vec<SinkTransaction>> {
        let mut uncommitted = self.uncommitted.borrow_mut();
        uncommitted.retain(|t| t.checkpoint_id > completed_id);
        if let Some(handle) = self.sink.borrow_mut().pre_commit(id)? {
            uncommitted.push(SinkTransaction {
                sink_node: self.node,
                checkpoint_id: id,
                handle,
            });
        }
        Ok(uncommitted.clone())
    }
}

impl<T: 'static, S: Sink<T>> SnapshotParticipant for SinkShared<T, S> {
    fn snapshot(&self, id: u64, completed_id: u64, out: &mut TaskSnapshot) -> Result<()> {
        let txs = self.pre_commit(id, completed_id)?;
        out.sink_transactions.extend(txs);
        // The operator published its counts at the end of the last message.
        let (records, checksum) = self.metrics.sink_totals(&self.name).unwrap_or_default();
        out.sink_counters.push(SinkCounter {
            sink: self.name.clone(),
            records,
            checksum,
        });
        Ok(())
    }

    fn finish(&self, out: &mut TaskSnapshot) -> Result<()> {
        let txs = self.pre_commit(FINAL_TRANSACTION, 0)?;
        out.sink_transactions.extend(txs);
        Ok(())
    }
}

pub(crate) struct SinkOp<T, S> {
    name: String,
    shared: Rc<SinkShared<T, S>>,
    /// Whether a checkpoint driver commits the transactions; without one
    /// the operator commits them itself when the input ends.
    checkpointed: bool,
    checksum_fn: Option<HashFn<T>>,
    latency: bool,
    records: u64,
    checksum: u64,
    since_batch: u64,
}

impl<T: 'static, S: Sink<T>> SinkOp<T, S> {
    /// The sink operator of node `node`; `checkpointed` when the job runs
    /// with checkpoints. Returns the part checkpoints reach.
    pub(crate) fn new(
        name: String,
        node: usize,
        mut sink: S,
        checksum_fn: Option<HashFn<T>>,
        inst: &Instantiator<'_>,
    ) -> Result<(Self, Rc<dyn SnapshotParticipant>)> {
        let split = SplitInfo {
            index: inst.core,
            count: inst.cores,
        };
        let (latency, checkpointed) = (inst.settings.latency_enabled, inst.checkpointed());
        let metrics = inst.metrics.clone();
        sink.open(split)?;
        let shared = Rc::new(SinkShared {
            sink: RefCell::new(sink),
            node,
            name: name.clone(),
            metrics,
            uncommitted: RefCell::new(Vec::new()),
            _t: PhantomData,
        });
        let op = Self {
            name,
            shared: shared.clone(),
            checkpointed,
            checksum_fn,
            latency,
            records: 0,
            checksum: 0,
            since_batch: 0,
        };
        Ok((op, shared))
    }

    fn publish(&mut self, cx: &mut TaskCx) {
        let (records, checksum) = (self.records, self.checksum);
        self.records = 0;
        self.checksum = 0;
        let latency_ns = if self.latency && self.since_batch > 0 && cx.created_ns != 0 {
            Some(cx.clock.mono_ns().saturating_sub(cx.created_ns).max(1))
        } else {
            None
        };
        let count = self.since_batch;
        self.since_batch = 0;
        cx.metrics.with_sink(&self.name, |s| {
            s.records += records;
            s.checksum = s.checksum.wrapping_add(checksum);
            if let Some(ns) = latency_ns {
                // Values beyond the histogram's range are clamped, not lost.
                let _ = s.latency_ns.record_n(ns.min(s.latency_ns.high()), count);
            }
        });
    }

    /// Without checkpoints, the end of the input publishes everything.
    fn commit_now(&self) -> Result<()> {
        let Some(committer) = self.shared.sink.borrow().committer() else {
            return Ok(());
        };
        for tx in self.shared.pre_commit(FINAL_TRANSACTION, 0)? {
            committer.commit(&tx.handle)?;
        }
        self.shared.uncommitted.borrow_mut().clear();
        Ok(())
    }
}

impl<T: 'static, S: Sink<T>> Output<T> for SinkOp<T, S> {
    #[inline]
    fn record(&mut self, cx: &mut TaskCx, value: T, ts: Timestamp) {
        if let Some(f) = &self.checksum_fn {
            self.checksum = self.checksum.wrapping_add(f(&value));
        }
        self.records += 1;
        self.since_batch += 1;
        if let Err(e) = self.shared.sink.borrow_mut().write(value, ts) {
            cx.fail(e);
        }
    }
    fn watermark(&mut self, cx: &mut TaskCx, watermark: Timestamp) {
        if let Err(e) = self.shared.sink.borrow_mut().on_watermark(watermark) {
            cx.fail(e);
        }
    }
    fn idle(&mut self, _: &mut TaskCx, _: bool) {}
    fn batch_end(&mut self, cx: &mut TaskCx) {
        if self.since_batch > 0 {
            self.publish(cx);
        }
    }
    fn tick(&mut self, _: &mut TaskCx) {}
    fn end(&mut self, cx: &mut TaskCx) {
        self.publish(cx);
        let finished = self.shared.sink.borrow_mut().finish();
        let committed = finished.and_then(|()| {
            if self.checkpointed {
                Ok(())
            } else {
                self.commit_now()
            }
        });
        if let Err(e) = committed {
            cx.fail(e);
        }
    }
}
