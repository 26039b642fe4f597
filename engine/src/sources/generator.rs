//! A source driven by a user function of the record number.

use super::{Source, SourceCollector, SourcePoll, SplitInfo, StridedCursor, decode_words};
use crate::error::Result;

/// Produces `f(n)` for record numbers `n` in `0..count` (or forever when
/// `count` is `None`); split `i` of `k` takes the numbers `n ≡ i (mod k)`, so the
/// output is the same for any core count. An optional rate limit paces the
/// records in processing time.
pub struct GeneratorSource<T, F> {
    f: F,
    cursor: StridedCursor,
    split: SplitInfo,
    count: Option<u64>,
    pace: Option<super::RateLimiter>,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T, F> GeneratorSource<T, F>
where
    T: crate::Data,
    F: FnMut(u64) -> T + 'static,
{
    /// A generator for split `split`.
    pub fn new(f: F, count: Option<u64>, split: SplitInfo) -> Self {
        Self {
            f,
            cursor: StridedCursor::new(split),
            split,
            count,
            pace: None,
            _t: std::marker::PhantomData,
        }
    }

    /// Limits the whole source (all splits together) to `events_per_s`.
    pub fn with_rate(mut self, events_per_s: u64, split: SplitInfo) -> Self {
        if events_per_s > 0 {
            let per_split = events_per_s as f64 / split.count.max(1) as f64;
            self.pace = Some(super::RateLimiter::new(per_split));
        }
        self
    }
}

impl<T, F> Source for GeneratorSource<T, F>
where
    T: crate::Data,
    F: FnMut(u64) -> T + 'static,
{
    type Item = T;

    fn poll(&mut self, out: &mut SourceCollector<'_, T>, count_max: usize) -> Result<SourcePoll> {
        let mut allowed = count_max as u64;
        if let Some(p) = &self.pace {
            allowed = p.due(count_max) as u64;
            if allowed == 0 {
                return Ok(SourcePoll::Pending {
                    retry_after_us: p.wait_us(),
                });
            }
        }
        for _ in 0..allowed {
            let n = self.cursor.peek();
            if self.count.is_some_and(|c| n >= c) {
                return Ok(SourcePoll::Exhausted);
            }
            out.collect((self.f)(n));
            self.cursor.advance();
        }
        if let Some(p) = &mut self.pace {
            p.emitted(allowed as usize);
        }
        Ok(SourcePoll::Ready)
    }

    fn offset(&self) -> Option<Vec<u8>> {
        Some(super::encode_offset(&self.cursor.to_words()))
    }

    fn seek(&mut self, offset: &[u8]) -> Result<()> {
        let words = decode_words("generator", offset)?;
        self.cursor = StridedCursor::from_words("generator", self.split, &words)?;
        Ok(())
    }

    fn seek_rescaled(&mut self, offsets: &[Vec<u8>]) -> Result<()> {
        self.cursor = super::strided::rescale_words("generator", self.split, offsets)?;
        Ok(())
    }
}
