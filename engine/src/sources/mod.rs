//! Sources: the source trait, and the built-in sources.

mod collection;
mod file;
mod generator;
mod rate;

pub use collection::CollectionSource;
pub use file::{BadRecord, BadRecordPolicy, CsvSource, JsonLinesSource, Parsed, TextLinesSource};
pub use generator::GeneratorSource;
pub use rate::RateLimiter;

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
