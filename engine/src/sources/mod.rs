//! Sources: the source trait, and the built-in sources.

mod collection;
mod file;
mod generator;
mod rate;
mod strided;

pub use collection::CollectionSource;
pub use file::{BadRecord, BadRecordPolicy, CsvSource, JsonLinesSource, Parsed, TextLinesSource};
pub use generator::GeneratorSource;
pub use rate::RateLimiter;
pub use strided::{StridedCursor, decode_words};

use crate::error::Result;
use crate::runtime::message::Rec;
use crate::time::{Timestamp, WATERMARK_MIN};

/// The side output carrying the lines a file source could not parse (with
/// [`BadRecordPolicy::SideOutput`]).
pub fn bad_records_tag() -> crate::OutputTag<BadRecord> {
    crate::OutputTag::new("bad-records")
}

/// Which parallel instance of a source is being created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitInfo {
    /// This split's index, `0..count`.
    pub index: usize,
    /// How many splits run in parallel (one per core).
    pub count: usize,
}

/// The answer of [`Source::poll`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourcePoll {
    /// Records may have been produced; call again soon.
    Ready,
    /// Nothing is available now; call again after about this many microseconds.
    Pending {
        /// When to try again.
        retry_after_us: u64,
    },
    /// The input is finished (a bounded source). The engine then emits the
    /// final watermark, so every window fires.
    Exhausted,
    /// The input stops without finishing, after a savepoint that is to be
    /// resumed (Flink's stop-with-savepoint without drain): the job ends
    /// without the final watermark, so open windows and timers stay unfired
    /// in the savepoint instead of firing now and again after the restore.
    /// Every source of the job must stop, not only some; in a job spread over
    /// several processes, the sources of each process.
    Stopped,
}

/// Collects the records a source produces in one poll.
pub struct SourceCollector<'a, T> {
    pub(crate) out: &'a mut Vec<Rec<T>>,
}

impl<T> SourceCollector<'_, T> {
    /// A record without event time (assign it later with a watermark strategy).
    #[inline]
    pub fn collect(&mut self, value: T) {
        self.out.push(Rec {
            ts: WATERMARK_MIN,
            value,
        });
    }

    /// A record with its event time.
    #[inline]
    pub fn collect_with_timestamp(&mut self, value: T, ts: Timestamp) {
        self.out.push(Rec { ts, value });
    }

    /// Records collected so far in this poll.
    pub fn len(&self) -> usize {
        self.out.len()
    }

    /// True when nothing was collected yet.
    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }
}

/// A parallel source split. One instance runs on each core; it produces
/// batches of records when polled and never blocks.
pub trait Source: 'static {
    /// The records it produces.
    type Item: crate::Data;

    /// Produces up to `count_max` records into `out`.
    fn poll(
        &mut self,
        out: &mut SourceCollector<'_, Self::Item>,
        count_max: usize,
    ) -> Result<SourcePoll>;

    /// If the source emits its own watermarks (e.g. per split from the data),
    /// the watermark that holds after the records produced so far.
    fn watermark(&self) -> Option<Timestamp> {
        None
    }

    /// True while the split has nothing to read and must not hold back
    /// the watermark downstream (Flink's idle watermark status, e.g. every
    /// Kafka partition of the split idle). The engine marks the split's
    /// output idle until this turns false again or the split produces
    /// records. The default is never idle.
    fn is_idle(&self) -> bool {
        false
    }

    /// The position after the records produced so far, stored in
    /// checkpoints; `None` when the source cannot rewind (a job with
    /// checkpoints then declines every checkpoint, saying why).
    fn offset(&self) -> Option<Vec<u8>> {
        None
    }

    /// The position stored in checkpoint `checkpoint_id`, whose barrier
    /// follows the records produced so far; the default is
    /// [`Source::offset`]. A source that acknowledges its input once it is
    /// checkpointed notes here what this checkpoint covers.
    fn offset_at_barrier(&mut self, checkpoint_id: u64) -> Option<Vec<u8>> {
        let _ = checkpoint_id;
        self.offset()
    }

    /// Every checkpoint up to `checkpoint_id` is complete: durable, and
    /// restored after any later failure (Flink's
    /// `notifyCheckpointComplete`). Called on the source's own core soon
    /// after; a checkpoint that failed is never named, and its barrier's
    /// records are covered by the next one that completes.
    fn checkpoint_completed(&mut self, checkpoint_id: u64) {
        let _ = checkpoint_id;
    }

    /// Continues after the records before `offset`, a value [`Source::offset`]
    /// returned for the same split (possibly in an earlier process). The
    /// source must also restore what its watermark depends on.
    fn seek(&mut self, offset: &[u8]) -> Result<()> {
        let _ = offset;
        Err(crate::SpateError::Checkpoint {
            reason: "this source cannot rewind to a checkpointed position \
                     (it does not implement Source::seek)"
                .into(),
        })
    }

    /// Continues after a restore with another parallelism: `offsets[i]` is
    /// what [`Source::offset`] returned for split `i` of the earlier run
    /// (which had `offsets.len()` splits), and this split takes over its
    /// share of what they had not produced yet (Flink's union redistribution
    /// of source state). The default refuses.
    fn seek_rescaled(&mut self, offsets: &[Vec<u8>]) -> Result<()> {
        Err(crate::SpateError::Checkpoint {
            reason: format!(
                "this source cannot continue with another parallelism than the {} splits \
                 it was checkpointed with (it does not implement Source::seek_rescaled)",
                offsets.len()
            ),
        })
    }

    /// Wakes the source task as soon as input arrives, instead of after the
    /// `retry_after_us` of [`SourcePoll::Pending`]: after a `Pending` poll the
    /// task waits for whichever comes first, this future being ready or the
    /// retry timer. A source fed from another thread uses it so a record does
    /// not wait out a sleep. The default is never ready (the timer alone).
    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        let _ = cx;
        std::task::Poll::Pending
    }
}

/// Encodes a source position of up to three integers (little endian).
pub fn encode_offset(parts: &[u64]) -> Vec<u8> {
    parts.iter().flat_map(|p| p.to_le_bytes()).collect()
}

/// Decodes a position [`encode_offset`] wrote with `N` integers; the error
/// names the source and what was found.
pub fn decode_offset<const N: usize>(source: &str, offset: &[u8]) -> Result<[u64; N]> {
    if offset.len() != N * 8 {
        return Err(crate::SpateError::Checkpoint {
            reason: format!(
                "the checkpointed position of source `{source}` has {} bytes where {} \
                 were expected; the checkpoint belongs to another job or version",
                offset.len(),
                N * 8
            ),
        });
    }
    let mut out = [0u64; N];
    for (slot, chunk) in out.iter_mut().zip(offset.chunks_exact(8)) {
        let mut b = [0u8; 8];
        b.copy_from_slice(chunk);
        *slot = u64::from_le_bytes(b);
    }
    Ok(out)
}

/// Checks that `next` is a position of split `index` of a source that
/// takes every `step`-th element (a split's records are `index + k·step`).
pub fn check_split_position(source: &str, next: u64, index: u64, step: u64) -> Result<()> {
    if step == 0 || next % step != index % step {
        return Err(crate::SpateError::Checkpoint {
            reason: format!(
                "the checkpointed position {next} of source `{source}` does not belong to \
                 split {index} of {step}; restoring with another parallelism needs a savepoint"
            ),
        });
    }
    Ok(())
}
