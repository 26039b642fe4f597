//! A bounded source over an in-memory collection.

use std::sync::Arc;

use super::{Source, SourceCollector, SourcePoll, SplitInfo, StridedCursor, decode_words};
use crate::error::Result;

/// Emits the elements of a vector; split `i` of `n` takes every n-th element
/// starting at `i`, so the union over splits is the whole collection for any
/// core count.
pub struct CollectionSource<T> {
    items: Arc<Vec<T>>,
    cursor: StridedCursor,
    split: SplitInfo,
}

impl<T: crate::Data + Sync> CollectionSource<T> {
    /// The split `split` of `items`.
    pub fn new(items: Arc<Vec<T>>, split: SplitInfo) -> Self {
        Self {
            items,
            cursor: StridedCursor::new(split),
            split,
        }
    }
}

impl<T: crate::Data + Sync> Source for CollectionSource<T> {
    type Item = T;

    fn poll(&mut self, out: &mut SourceCollector<'_, T>, count_max: usize) -> Result<SourcePoll> {
        for _ in 0..count_max {
            let item = usize::try_from(self.cursor.peek())
                .ok()
                .and_then(|i| self.items.get(i));
            match item {
                Some(v) => out.collect(v.clone()),
                None => return Ok(SourcePoll::Exhausted),
            }
            self.cursor.advance();
        }
        Ok(SourcePoll::Ready)
    }

    fn offset(&self) -> Option<Vec<u8>> {
        Some(super::encode_offset(&self.cursor.to_words()))
    }

    fn seek(&mut self, offset: &[u8]) -> Result<()> {
        let words = decode_words("collection", offset)?;
        self.cursor = StridedCursor::from_words("collection", self.split, &words)?;
        Ok(())
    }

    fn seek_rescaled(&mut self, offsets: &[Vec<u8>]) -> Result<()> {
        self.cursor = super::strided::rescale_words("collection", self.split, offsets)?;
        Ok(())
    }
}
