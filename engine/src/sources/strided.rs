//! The position of a split of a source that numbers its elements and gives
//! split `i` of `k` the numbers `n ≡ i (mod k)`, and how such positions are
//! redistributed when a job restores with another parallelism.
//!
//! Split `i` at position `next` has emitted every number of its residue
//! below `next`. After a rescale, the old splits' positions together form a
//! *layer*: number `n` was emitted iff `n < nexts[n mod nexts.len()]`. Each
//! new split walks its own residue class in increasing order and skips the
//! numbers a layer covers; once it is past a layer's highest position the
//! layer is dropped and the split is a plain stride again. Emitting in
//! increasing order keeps data-driven watermarks valid: a split never emits
//! a number below one it emitted before.

use super::SplitInfo;
use crate::error::{Result, SpateError};

/// Layers a cursor carries at most (one per rescale not yet passed).
const LAYERS_MAX: usize = 16;

/// Where a split of a strided source is; see the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StridedCursor {
    next: u64,
    step: u64,
    /// Positions of earlier runs with other parallelism, oldest first.
    layers: Vec<Layer>,
}

/// The positions of every split of an earlier run.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Layer {
    /// The highest position: numbers from here on were not emitted.
    hi: u64,
    nexts: Vec<u64>,
}

impl Layer {
    fn new(nexts: Vec<u64>) -> Self {
        let hi = nexts.iter().copied().max().unwrap_or(0);
        Self { hi, nexts }
    }

    #[inline]
    fn covers(&self, n: u64) -> bool {
        n < self.nexts[(n % self.nexts.len() as u64) as usize]
    }
}

impl StridedCursor {
    /// The start of split `split`.
    pub fn new(split: SplitInfo) -> Self {
        Self {
            next: split.index as u64,
            step: split.count.max(1) as u64,
            layers: Vec::new(),
        }
    }

    /// The number this split emits next.
    #[inline]
    pub fn peek(&self) -> u64 {
        self.next
    }

    /// True when no earlier run's positions are left to skip, so the
    /// numbers ahead are exactly `peek() + k·step`.
    #[inline]
    pub fn is_plain(&self) -> bool {
        self.layers.is_empty()
    }

    /// Moves past the number at [`peek`](Self::peek).
    #[inline]
    pub fn advance(&mut self) {
        self.next = self.next.saturating_add(self.step);
        if !self.layers.is_empty() {
            self.skip_emitted();
        }
    }

    /// Moves `count` numbers ahead; only for a plain cursor, whose numbers
    /// ahead are a stride.
    pub fn advance_plain(&mut self, count: u64) {
        debug_assert!(self.is_plain());
        self.next = self.next.saturating_add(count.saturating_mul(self.step));
    }

    fn skip_emitted(&mut self) {
        let next = self.next;
        self.layers.retain(|l| l.hi > next);
        while self.next != u64::MAX && self.layers.iter().any(|l| l.covers(self.next)) {
            self.next = self.next.saturating_add(self.step);
        }
        let next = self.next;
        self.layers.retain(|l| l.hi > next);
    }

    /// The position as integers: `next`, the layer count, then each layer
    /// as its length and its positions.
    pub fn to_words(&self) -> Vec<u64> {
        let mut out = vec![self.next, self.layers.len() as u64];
        for l in &self.layers {
            out.push(l.nexts.len() as u64);
            out.extend_from_slice(&l.nexts);
        }
        out
    }

    /// The position of split `split` stored by [`to_words`](Self::to_words)
    /// in a run with the same parallelism.
    pub fn from_words(source: &str, split: SplitInfo, words: &[u64]) -> Result<Self> {
        let mut cursor = decode(source, words)?;
        let index = split.index as u64;
        cursor.step = split.count.max(1) as u64;
        if cursor.next % cursor.step != index % cursor.step && cursor.next != u64::MAX {
            return Err(SpateError::Checkpoint {
                reason: format!(
                    "the checkpointed position {} of source `{source}` does not belong to \
                     split {index} of {}",
                    cursor.next, cursor.step
                ),
            });
        }
        Ok(cursor)
    }

    /// The position of split `split` after a restore from a run whose
    /// splits stood at `old` (`old[i]` is old split `i`'s words).
    pub fn rescaled(source: &str, split: SplitInfo, old: &[&[u64]]) -> Result<Self> {
        let mut layers: Vec<Layer> = Vec::new();
        let mut nexts = Vec::with_capacity(old.len());
        for (i, words) in old.iter().enumerate() {
            let c = decode(source, words)?;
            if c.next != u64::MAX && c.next % old.len() as u64 != i as u64 {
                return Err(SpateError::Checkpoint {
                    reason: format!(
                        "the checkpointed position {} of source `{source}` split {i} does not \
                         belong to that split of {}",
                        c.next,
                        old.len()
                    ),
                });
            }
            nexts.push(c.next);
            for l in c.layers {
                if !layers.contains(&l) {
                    layers.push(l);
                }
            }
        }
        if nexts.is_empty() {
            return Err(SpateError::Checkpoint {
                reason: format!("the checkpoint holds no position of source `{source}`"),
            });
        }
        layers.push(Layer::new(nexts));
        if layers.len() > LAYERS_MAX {
            return Err(SpateError::Checkpoint {
                reason: format!(
                    "source `{source}` was rescaled {} times before catching up with its \
                     positions; at most {LAYERS_MAX} are kept",
                    layers.len()
                ),
            });
        }
        // Everything below a layer's lowest position was emitted.
        let floor = layers
            .iter()
            .filter_map(|l| l.nexts.iter().copied().min())
            .max()
            .unwrap_or(0);
        let step = split.count.max(1) as u64;
        let index = split.index as u64 % step;
        let base = floor - floor % step;
        let first = if base + index >= floor {
            base + index
        } else {
            base.saturating_add(step).saturating_add(index)
        };
        let mut cursor = Self {
            next: first,
            step,
            layers,
        };
        cursor.skip_emitted();
        Ok(cursor)
    }
}

fn decode(source: &str, words: &[u64]) -> Result<StridedCursor> {
    let bad = |why: &str| SpateError::Checkpoint {
        reason: format!(
            "the checkpointed position of source `{source}` is malformed ({why}); the \
             checkpoint belongs to another job or version"
        ),
    };
    let (&next, rest) = words.split_first().ok_or_else(|| bad("it is empty"))?;
    let mut layers = Vec::new();
    if let Some((&count, mut rest)) = rest.split_first() {
        if count as usize > LAYERS_MAX {
            return Err(bad("too many layers"));
        }
        for _ in 0..count {
            let (&len, tail) = rest.split_first().ok_or_else(|| bad("a layer is cut"))?;
            let len = usize::try_from(len).map_err(|_| bad("a layer is too long"))?;
            if len == 0 || tail.len() < len {
                return Err(bad("a layer is cut"));
            }
            layers.push(Layer::new(tail[..len].to_vec()));
            rest = &tail[len..];
        }
        if !rest.is_empty() {
            return Err(bad("it has trailing words"));
        }
    }
    Ok(StridedCursor {
        next,
        step: 1,
        layers,
    })
}

/// [`StridedCursor::rescaled`] over positions stored as bytes, each a
/// cursor's words.
pub(crate) fn rescale_words(
    source: &str,
    split: SplitInfo,
    offsets: &[Vec<u8>],
) -> Result<StridedCursor> {
    let words = offsets
        .iter()
        .map(|o| decode_words(source, o))
        .collect::<Result<Vec<_>>>()?;
    let old: Vec<&[u64]> = words.iter().map(Vec::as_slice).collect();
    StridedCursor::rescaled(source, split, &old)
}

/// Decodes a position [`encode_offset`](super::encode_offset) wrote with
/// any number of integers.
pub fn decode_words(source: &str, offset: &[u8]) -> Result<Vec<u64>> {
    if !offset.len().is_multiple_of(8) {
        return Err(SpateError::Checkpoint {
            reason: format!(
                "the checkpointed position of source `{source}` has {} bytes, not a whole \
                 number of 8-byte integers; the checkpoint belongs to another job or version",
                offset.len()
            ),
        });
    }
    Ok(offset
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn split(index: usize, count: usize) -> SplitInfo {
        SplitInfo { index, count }
    }

    /// Runs `counts[i]` steps of split `i` of `counts.len()` over numbers
    /// below `end`, collecting what each emitted.
    fn run(cursors: &mut [StridedCursor], counts: &[usize], end: u64, seen: &mut Vec<u64>) {
        for (c, &n) in cursors.iter_mut().zip(counts) {
            for _ in 0..n {
                if c.peek() >= end {
                    break;
                }
                seen.push(c.peek());
                c.advance();
            }
        }
    }

    fn drain(cursors: &mut [StridedCursor], end: u64, seen: &mut Vec<u64>) {
        let all = vec![usize::MAX; cursors.len()];
        run(cursors, &all, end, seen);
    }

    fn rescale(cursors: &[StridedCursor], to: usize) -> Vec<StridedCursor> {
        let words: Vec<Vec<u64>> = cursors.iter().map(StridedCursor::to_words).collect();
        let old: Vec<&[u64]> = words.iter().map(Vec::as_slice).collect();
        (0..to)
            .map(|i| StridedCursor::rescaled("test", split(i, to), &old).unwrap())
            .collect()
    }

    #[test]
    fn a_plain_split_is_a_stride() {
        let mut c = StridedCursor::new(split(1, 3));
        let mut got = Vec::new();
        for _ in 0..4 {
            got.push(c.peek());
            c.advance();
        }
        assert_eq!(got, [1, 4, 7, 10]);
        assert!(c.is_plain());
    }

    #[test]
    fn rescaling_uneven_splits_emits_every_number_once_in_increasing_order() {
        let mut first: Vec<_> = (0..2).map(|i| StridedCursor::new(split(i, 2))).collect();
        let mut seen = Vec::new();
        run(&mut first, &[10, 3], 100, &mut seen);
        let mut second = rescale(&first, 3);
        let before = seen.len();
        drain(&mut second, 100, &mut seen);
        for c in &second {
            assert!(c.is_plain(), "{c:?}");
        }
        // Each new split's own numbers increase.
        assert!(seen[before..].windows(2).filter(|w| w[0] > w[1]).count() <= 2);
        seen.sort_unstable();
        assert_eq!(seen, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn positions_round_trip_through_words_with_the_same_parallelism() {
        let first: Vec<_> = (0..2).map(|i| StridedCursor::new(split(i, 2))).collect();
        let second = rescale(&first, 3);
        for (i, c) in second.iter().enumerate() {
            let back = StridedCursor::from_words("test", split(i, 3), &c.to_words()).unwrap();
            assert_eq!(&back, c);
        }
        let err = StridedCursor::from_words("test", split(1, 3), &[3]).unwrap_err();
        assert!(err.to_string().contains("does not belong"), "{err}");
    }

    #[test]
    fn malformed_positions_are_refused_with_the_source_named() {
        for words in [&[][..], &[4, 1][..], &[4, 1, 3, 1, 2][..], &[4, 0, 9][..]] {
            let err = StridedCursor::from_words("gen", split(0, 1), words).unwrap_err();
            assert!(err.to_string().contains("`gen`"), "{err}");
        }
        assert!(decode_words("gen", &[1, 2, 3]).is_err());
    }

    proptest! {
        #[test]
        fn any_sequence_of_rescales_emits_each_number_exactly_once(
            plan in proptest::collection::vec(
                (1usize..6, proptest::collection::vec(0usize..20, 5)), 1..5),
            end in 1u64..200,
        ) {
            let mut cursors: Vec<_> = (0..plan[0].0).map(|i| StridedCursor::new(split(i, plan[0].0))).collect();
            let mut seen = Vec::new();
            for (k, (count, steps)) in plan.iter().enumerate() {
                if k > 0 {
                    cursors = rescale(&cursors, *count);
                }
                run(&mut cursors, steps, end, &mut seen);
            }
            drain(&mut cursors, end, &mut seen);
            seen.sort_unstable();
            prop_assert_eq!(seen, (0..end).collect::<Vec<_>>());
        }
    }
}
