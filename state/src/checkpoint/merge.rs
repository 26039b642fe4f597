//! K-way merge of a chain of sorted files (a full file, then deltas, oldest
//! first): for a key present in several inputs the newest wins, and a
//! tombstone deletes the key. Restore and compaction both read through it.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::io::Write;

use super::sst_format::SstEntry;
use super::sst_writer::{SstSummary, SstWriter};
use crate::error::StateError;

/// What to do with a tombstone that wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tombstones {
    /// Drop the key: the chain starts with a full file, so nothing older
    /// can hold it (restore, compaction into a full file).
    Drop,
    /// Keep the tombstone: merging deltas into one delta.
    Keep,
}

/// Merges sorted inputs, given oldest first.
#[derive(Debug)]
pub struct MergeIter<I> {
    inputs: Vec<I>,
    heap: BinaryHeap<Head>,
    tombstones: Tombstones,
    started: bool,
    done: bool,
}

#[derive(Debug)]
struct Head {
    entry: SstEntry,
    input: usize,
}

/// A max-heap whose top is the smallest key, and among equal keys the
/// newest input.
impl Ord for Head {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .entry
            .key
            .cmp(&self.entry.key)
            .then(self.input.cmp(&other.input))
    }
}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Head {}

impl<I> MergeIter<I>
where
    I: Iterator<Item = Result<SstEntry, StateError>>,
{
    /// Merges `inputs`, ordered oldest first; each must be sorted by key.
    pub fn new(inputs: Vec<I>, tombstones: Tombstones) -> Self {
        MergeIter {
            heap: BinaryHeap::with_capacity(inputs.len()),
            inputs,
            tombstones,
            started: false,
            done: false,
        }
    }

    fn advance(&mut self, input: usize) -> Result<(), StateError> {
        if let Some(next) = self.inputs.get_mut(input).and_then(Iterator::next) {
            self.heap.push(Head {
                entry: next?,
                input,
            });
        }
        Ok(())
    }

    fn next_entry(&mut self) -> Result<Option<SstEntry>, StateError> {
        if !self.started {
            self.started = true;
            for input in 0..self.inputs.len() {
                self.advance(input)?;
            }
        }
        while let Some(winner) = self.heap.pop() {
            // Older versions of the same key are shadowed.
            while let Some(top) = self.heap.peek() {
                if top.entry.key != winner.entry.key {
                    break;
                }
                if let Some(older) = self.heap.pop() {
                    self.advance(older.input)?;
                }
            }
            self.advance(winner.input)?;
            if winner.entry.value.is_some() || self.tombstones == Tombstones::Keep {
                return Ok(Some(winner.entry));
            }
        }
        Ok(None)
    }
}

impl<I> Iterator for MergeIter<I>
where
    I: Iterator<Item = Result<SstEntry, StateError>>,
{
    type Item = Result<SstEntry, StateError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_entry() {
            Ok(Some(entry)) => Some(Ok(entry)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Compaction: merges a chain (full file first, then deltas) into one new
/// full file holding only live keys.
pub fn compact_into<I, W>(
    chain: Vec<I>,
    mut writer: SstWriter<W>,
) -> Result<(W, SstSummary), StateError>
where
    I: Iterator<Item = Result<SstEntry, StateError>>,
    W: Write,
{
    for entry in MergeIter::new(chain, Tombstones::Drop) {
        let entry = entry?;
        writer.add(&entry.key, entry.value.as_deref())?;
    }
    writer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(items: &[(u8, Option<u8>)]) -> std::vec::IntoIter<Result<SstEntry, StateError>> {
        items
            .iter()
            .map(|(k, v)| {
                Ok(SstEntry {
                    key: vec![0, 0, *k],
                    value: v.map(|v| vec![v]),
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
    }

    fn keys_values<I: Iterator<Item = Result<SstEntry, StateError>>>(
        it: MergeIter<I>,
    ) -> Vec<(u8, Option<u8>)> {
        it.map(|e| {
            let e = e.unwrap();
            (e.key[2], e.value.map(|v| v[0]))
        })
        .collect()
    }

    #[test]
    fn newest_wins_and_tombstones_delete() {
        let full = entries(&[(1, Some(10)), (2, Some(20)), (3, Some(30))]);
        let d1 = entries(&[(2, Some(21)), (4, Some(40))]);
        let d2 = entries(&[(1, None), (2, Some(22)), (5, None)]);
        let merged = MergeIter::new(vec![full, d1, d2], Tombstones::Drop);
        assert_eq!(
            keys_values(merged),
            vec![(2, Some(22)), (3, Some(30)), (4, Some(40))]
        );
    }

    #[test]
    fn merging_deltas_keeps_tombstones() {
        let d1 = entries(&[(1, Some(1))]);
        let d2 = entries(&[(1, None), (2, None)]);
        let merged = MergeIter::new(vec![d1, d2], Tombstones::Keep);
        assert_eq!(keys_values(merged), vec![(1, None), (2, None)]);
    }

    proptest::proptest! {
        /// Any chain merges to what applying its inputs in order to a map
        /// gives: the newest version of each key, tombstones dropped or kept.
        #[test]
        fn a_merge_equals_applying_the_inputs_in_order(
            inputs in proptest::collection::vec(
                proptest::collection::btree_map(0u8..40, proptest::option::of(0u8..4), 0..30),
                0..6,
            ),
            keep in proptest::bool::ANY,
        ) {
            let mut model = std::collections::BTreeMap::new();
            for input in &inputs {
                model.extend(input.iter().map(|(k, v)| (*k, *v)));
            }
            let expected: Vec<(u8, Option<u8>)> = model
                .into_iter()
                .filter(|(_, v)| keep || v.is_some())
                .collect();
            let chain = inputs
                .iter()
                .map(|input| entries(&input.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>()))
                .collect();
            let tombstones = if keep { Tombstones::Keep } else { Tombstones::Drop };
            proptest::prop_assert_eq!(keys_values(MergeIter::new(chain, tombstones)), expected);
        }
    }

    #[test]
    fn an_input_error_ends_the_merge() {
        let good = entries(&[(1, Some(1)), (3, Some(3))]);
        let bad = vec![
            Ok(SstEntry {
                key: vec![0, 0, 2],
                value: None,
            }),
            Err(StateError::Internal {
                reason: "boom".into(),
            }),
        ]
        .into_iter();
        let out: Vec<_> = MergeIter::new(vec![good, bad], Tombstones::Keep).collect();
        assert!(out.iter().any(Result::is_err));
        assert!(out.last().unwrap().is_err());
    }
}
