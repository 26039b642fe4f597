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
}
