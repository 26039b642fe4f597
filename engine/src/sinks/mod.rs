//! Sinks: the sink trait, the sink operator, and the built-in sinks.

mod collect;
mod file;
mod stdout;

pub use collect::{BlackholeSink, CollectSink};
pub use file::{FileFormat, FileSink};
pub use stdout::StdoutSink;

use crate::error::Result;
use crate::runtime::graph::HashFn;
use crate::runtime::output::{Output, TaskCx};
use crate::sources::SplitInfo;
use crate::time::{Clock, Timestamp};

/// Where a stream's records leave the job. One instance (a clone of the
/// sink given to the job) runs on each core.
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
}

pub(crate) struct SinkOp<T, S> {
    name: String,
    sink: S,
    checksum_fn: Option<HashFn<T>>,
    latency: bool,
    records: u64,
    checksum: u64,
    since_batch: u64,
}

impl<T, S: Sink<T>> SinkOp<T, S> {
    pub(crate) fn new(
        name: String,
        mut sink: S,
        checksum_fn: Option<HashFn<T>>,
        latency: bool,
        split: SplitInfo,
    ) -> Result<Self> {
        sink.open(split)?;
        Ok(Self {
            name,
            sink,
            checksum_fn,
            latency,
            records: 0,
            checksum: 0,
            since_batch: 0,
        })
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
}

impl<T: 'static, S: Sink<T>> Output<T> for SinkOp<T, S> {
    #[inline]
    fn record(&mut self, cx: &mut TaskCx, value: T, ts: Timestamp) {
        if let Some(f) = &self.checksum_fn {
            self.checksum = self.checksum.wrapping_add(f(&value));
        }
        self.records += 1;
        self.since_batch += 1;
        if let Err(e) = self.sink.write(value, ts) {
            cx.fail(e);
        }
    }
    fn watermark(&mut self, _: &mut TaskCx, _: Timestamp) {}
    fn idle(&mut self, _: &mut TaskCx, _: bool) {}
    fn batch_end(&mut self, cx: &mut TaskCx) {
        if self.since_batch > 0 {
            self.publish(cx);
        }
    }
    fn tick(&mut self, _: &mut TaskCx) {}
    fn end(&mut self, cx: &mut TaskCx) {
        self.publish(cx);
        if let Err(e) = self.sink.finish() {
            cx.fail(e);
        }
    }
}
