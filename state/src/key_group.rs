//! Key groups: the unit of state partitioning and rescaling.
//!
//! A key's stable hash picks one of `max_parallelism` key groups; each
//! operator subtask owns a contiguous range of them. The formulas match
//! Flink's `KeyGroupRangeAssignment`, so rescaling moves whole key groups.

use std::fmt;
use std::hash::Hash;
use std::ops::Range;

use crate::error::StateError;
use crate::hash::stable_hash;

/// Index of a key group, in `0..max_parallelism`.
pub type KeyGroup = u16;

/// Max parallelism used when a job does not configure one (Flink's default).
pub const MAX_PARALLELISM_DEFAULT: u16 = 128;

/// Largest supported max parallelism (Flink's upper bound, 2^15).
pub const MAX_PARALLELISM_LIMIT: u16 = 32768;

/// The key group is read from hash bits 24..56. Hash tables index buckets by
/// the low bits and tag them with the top 7 bits; all keys of one key group
/// share their key-group bits, so those bits must stay clear of both, or the
/// per-group tables would cluster.
const KEY_GROUP_SHIFT: u32 = 24;

/// Checks a configured max parallelism and narrows it to `u16`.
pub fn validate_max_parallelism(value: u32) -> Result<u16, StateError> {
    match u16::try_from(value) {
        Ok(mp) if (1..=MAX_PARALLELISM_LIMIT).contains(&mp) => Ok(mp),
        _ => Err(StateError::InvalidMaxParallelism {
            value,
            max: MAX_PARALLELISM_LIMIT,
        }),
    }
}

/// A half-open range `[start, end)` of key groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KeyGroupRange {
    /// First key group in the range.
    pub start: KeyGroup,
    /// One past the last key group in the range.
    pub end: KeyGroup,
}

impl KeyGroupRange {
    /// A range `[start, end)`; `start == end` is a valid empty range.
    pub fn new(start: KeyGroup, end: KeyGroup) -> Result<Self, StateError> {
        if start > end || end > MAX_PARALLELISM_LIMIT {
            return Err(StateError::InvalidRange {
                start,
                end,
                max: MAX_PARALLELISM_LIMIT,
            });
        }
        Ok(Self { start, end })
    }

    /// Every key group of a job with this max parallelism (one subtask).
    pub fn all(max_parallelism: u16) -> Self {
        Self {
            start: 0,
            end: max_parallelism,
        }
    }

    /// An empty range.
    pub const fn empty() -> Self {
        Self { start: 0, end: 0 }
    }

    /// Number of key groups in the range.
    pub fn len(&self) -> usize {
        usize::from(self.end.saturating_sub(self.start))
    }

    /// Whether the range holds no key group.
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// Whether `kg` lies in the range.
    pub fn contains(&self, kg: KeyGroup) -> bool {
        self.start <= kg && kg < self.end
    }

    /// The key groups of the range, in ascending order.
    pub fn iter(&self) -> Range<KeyGroup> {
        self.start..self.end
    }

    /// Position of `kg` inside the range, for indexing per-group storage.
    pub(crate) fn offset_of(&self, kg: KeyGroup) -> Result<usize, StateError> {
        if self.contains(kg) {
            Ok(usize::from(kg - self.start))
        } else {
            Err(StateError::KeyGroupOutOfRange {
                key_group: kg,
                range: *self,
            })
        }
    }
}

impl fmt::Display for KeyGroupRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}, {})", self.start, self.end)
    }
}

impl IntoIterator for KeyGroupRange {
    type Item = KeyGroup;
    type IntoIter = Range<KeyGroup>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// The key group of a key whose [`stable_hash`] is `hash`.
///
/// Multiply-shift over a 32-bit window of the hash: uniform for any max
/// parallelism (not only powers of two) and cheaper than a division. Returns
/// 0 for a max parallelism of 0, which [`validate_max_parallelism`] rejects.
pub fn key_group_of_hash(hash: u64, max_parallelism: u16) -> KeyGroup {
    let window = (hash >> KEY_GROUP_SHIFT) & u64::from(u32::MAX);
    // window < 2^32, so the product shifted down is < max_parallelism.
    ((window * u64::from(max_parallelism)) >> 32) as KeyGroup
}

/// The operator subtask that owns key group `kg` (Flink's
/// `computeOperatorIndexForKeyGroup`: `kg * parallelism / max_parallelism`).
///
/// Returns 0 for a max parallelism of 0.
pub fn subtask_for_key_group(kg: KeyGroup, max_parallelism: u16, parallelism: usize) -> usize {
    usize::from(kg)
        .saturating_mul(parallelism)
        .checked_div(usize::from(max_parallelism))
        .unwrap_or(0)
}

/// The key groups owned by subtask `index` of `parallelism` (Flink's
/// `computeKeyGroupRangeForOperatorIndex`), consistent with
/// [`subtask_for_key_group`]: `kg` lies in the range of exactly the subtask
/// that function names.
///
/// An `index >= parallelism` (or a parallelism of 0) owns nothing and gets an
/// empty range at `max_parallelism`. A parallelism above the max parallelism
/// leaves some subtasks with an empty range, as in Flink.
pub fn key_group_range_for_subtask(
    max_parallelism: u16,
    parallelism: usize,
    index: usize,
) -> KeyGroupRange {
    let mp = usize::from(max_parallelism);
    if index >= parallelism {
        return KeyGroupRange {
            start: max_parallelism,
            end: max_parallelism,
        };
    }
    // [ceil(i*mp/p), ceil((i+1)*mp/p)): kg is in it iff floor(kg*p/mp) == i.
    let start = index.saturating_mul(mp).div_ceil(parallelism);
    let end = (index + 1).saturating_mul(mp).div_ceil(parallelism);
    // Both are <= mp, which fits a KeyGroup.
    KeyGroupRange {
        start: start as KeyGroup,
        end: end as KeyGroup,
    }
}

/// A key's precomputed identity: its [`stable_hash`] and key group.
///
/// The engine computes it once per record (it needs the key group to route
/// the record anyway) and passes it to every state access, so no table hashes
/// the key again. Contract: `hash == stable_hash(key)` for the key it is
/// passed with; tables recompute it from the key only when they grow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KeyRef {
    /// `stable_hash(key)`.
    pub hash: u64,
    /// `key_group_of_hash(hash, max_parallelism)`.
    pub key_group: KeyGroup,
}

impl KeyRef {
    /// Hashes `key` and derives its key group.
    pub fn of<K: Hash + ?Sized>(key: &K, max_parallelism: u16) -> Self {
        Self::from_hash(stable_hash(key), max_parallelism)
    }

    /// The identity of a key whose stable hash is already known.
    pub fn from_hash(hash: u64, max_parallelism: u16) -> Self {
        Self {
            hash,
            key_group: key_group_of_hash(hash, max_parallelism),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX_PARS: [u16; 4] = [1, 7, 128, 4096];

    #[test]
    fn every_key_group_maps_to_exactly_one_subtask_owning_it() {
        for mp in MAX_PARS {
            for par in 1..=128usize {
                let ranges: Vec<_> = (0..par)
                    .map(|i| key_group_range_for_subtask(mp, par, i))
                    .collect();
                // Ranges tile [0, mp) in order without gaps or overlap.
                let mut next = 0u16;
                for r in &ranges {
                    assert!(r.start <= r.end, "mp={mp} par={par} {r}");
                    if !r.is_empty() {
                        assert_eq!(r.start, next, "mp={mp} par={par}");
                        next = r.end;
                    }
                }
                assert_eq!(next, mp, "mp={mp} par={par}: ranges must cover all");
                for kg in 0..mp {
                    let s = subtask_for_key_group(kg, mp, par);
                    assert!(s < par, "mp={mp} par={par} kg={kg} -> {s}");
                    assert!(ranges[s].contains(kg), "mp={mp} par={par} kg={kg}");
                    let owners = ranges.iter().filter(|r| r.contains(kg)).count();
                    assert_eq!(owners, 1, "mp={mp} par={par} kg={kg}");
                }
            }
        }
    }

    #[test]
    fn matches_flink_inclusive_formula() {
        // Flink: start = (i*mp + p - 1)/p, end_inclusive = ((i+1)*mp - 1)/p.
        for mp in MAX_PARS {
            for par in 1..=usize::from(mp).min(128) {
                for i in 0..par {
                    let m = usize::from(mp);
                    let r = key_group_range_for_subtask(mp, par, i);
                    assert_eq!(usize::from(r.start), (i * m).div_ceil(par));
                    assert_eq!(usize::from(r.end) - 1, ((i + 1) * m - 1) / par);
                }
            }
        }
    }

    #[test]
    fn out_of_bounds_index_owns_nothing() {
        assert!(key_group_range_for_subtask(128, 4, 4).is_empty());
        assert!(key_group_range_for_subtask(128, 0, 0).is_empty());
        assert_eq!(subtask_for_key_group(5, 0, 4), 0);
    }

    #[test]
    fn key_group_of_hash_stays_below_max_parallelism() {
        for mp in [1u16, 2, 7, 128, 4096, MAX_PARALLELISM_LIMIT] {
            for h in [
                0u64,
                1,
                u64::MAX,
                0x00ff_ffff_ffff_ff00,
                0x1234_5678_9abc_def0,
            ] {
                assert!(key_group_of_hash(h, mp) < mp, "h={h:#x} mp={mp}");
            }
        }
        assert_eq!(key_group_of_hash(u64::MAX, 0), 0);
    }

    #[test]
    fn key_groups_are_uniform_for_odd_max_parallelism() {
        let mp = 7u16;
        let mut counts = [0u32; 7];
        for k in 0..70_000u64 {
            counts[usize::from(KeyRef::of(&k, mp).key_group)] += 1;
        }
        let (min, max) = (counts.iter().min(), counts.iter().max());
        let (Some(&min), Some(&max)) = (min, max) else {
            panic!("no counts")
        };
        assert!(f64::from(max) / f64::from(min) < 1.1, "{counts:?}");
    }

    #[test]
    fn key_group_bits_leave_table_bits_uniform() {
        // Within one key group, the low bits (hashbrown's bucket index) and
        // the top bits (its tag byte) must still be spread, or per-group
        // tables would cluster.
        const SAMPLES: u32 = 12_800;
        for mp in [128u16, 1024] {
            let mut low = [0u32; 64];
            let mut top = [0u32; 64];
            let hits = (0u64..)
                .map(|k| KeyRef::of(&k, mp))
                .filter(|r| r.key_group == 3)
                .take(SAMPLES as usize);
            for r in hits {
                low[(r.hash & 63) as usize] += 1;
                top[(r.hash >> 58) as usize] += 1;
            }
            for counts in [low, top] {
                assert_eq!(counts.iter().sum::<u32>(), SAMPLES);
                let min = counts.iter().copied().min().unwrap_or(0);
                let max = counts.iter().copied().max().unwrap_or(0);
                // 200 expected per bin; bounds are about 4.5 sigma.
                assert!(min > 130 && max < 270, "mp={mp}: {min}..{max}");
            }
        }
    }

    #[test]
    fn range_validation() {
        assert!(KeyGroupRange::new(3, 2).is_err());
        assert!(KeyGroupRange::new(0, MAX_PARALLELISM_LIMIT).is_ok());
        assert!(matches!(
            KeyGroupRange::new(0, MAX_PARALLELISM_LIMIT + 1),
            Err(StateError::InvalidRange { .. })
        ));
        let r = KeyGroupRange::new(4, 8).unwrap();
        assert_eq!(r.len(), 4);
        assert!(r.contains(4) && r.contains(7) && !r.contains(8) && !r.contains(3));
        assert_eq!(r.iter().collect::<Vec<_>>(), vec![4, 5, 6, 7]);
        assert_eq!(r.offset_of(6), Ok(2));
        assert_eq!(
            r.offset_of(8),
            Err(StateError::KeyGroupOutOfRange {
                key_group: 8,
                range: r
            })
        );
        assert!(KeyGroupRange::new(5, 5).unwrap().is_empty());
        assert_eq!(r.to_string(), "[4, 8)");
    }

    #[test]
    fn max_parallelism_validation() {
        assert_eq!(validate_max_parallelism(128), Ok(128));
        assert_eq!(validate_max_parallelism(32768), Ok(32768));
        for bad in [0u32, 32769, 70000] {
            assert_eq!(
                validate_max_parallelism(bad),
                Err(StateError::InvalidMaxParallelism {
                    value: bad,
                    max: MAX_PARALLELISM_LIMIT
                })
            );
        }
    }
}
