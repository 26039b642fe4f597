//! A bounded source over an in-memory collection.

use std::sync::Arc;

use super::{Source, SourceCollector, SourcePoll, SplitInfo};
use crate::error::Result;

/// Emits the elements of a vector; split `i` of `n` takes every n-th element
/// starting at `i`, so the union over splits is the whole collection for any
/// core count.
pub struct CollectionSource<T> {
    items: Arc<Vec<T>>,
    next: usize,
    step: usize,
}

impl<T: crate::Data + Sync> CollectionSource<T> {
    /// The split `split` of `items`.
    pub fn new(items: Arc<Vec<T>>, split: SplitInfo) -> Self {
        Self {
            items,
            next: split.index,
            step: split.count.max(1),
        }
    }
}

impl<T: crate::Data + Sync> Source for CollectionSource<T> {
    type Item = T;

    fn poll(&mut self, out: &mut SourceCollector<'_, T>, count_max: usize) -> Result<SourcePoll> {
        for _ in 0..count_max {
            match self.items.get(self.next) {
                Some(v) => out.collect(v.clone()),
                None => return Ok(SourcePoll::Exhausted),
            }
            self.next += self.step;
        }
        Ok(SourcePoll::Ready)
    }

    fn offset(&self) -> Option<Vec<u8>> {
        Some(super::encode_offset(&[self.next as u64]))
    }

    fn seek(&mut self, offset: &[u8]) -> Result<()> {
        let [next] = super::decode_offset::<1>("collection", offset)?;
        super::check_split_position("collection", next, self.next as u64, self.step as u64)?;
        self.next = usize::try_from(next).map_err(|_| crate::SpateError::Checkpoint {
            reason: format!("the checkpointed collection position {next} is out of range"),
        })?;
        Ok(())
    }
}
