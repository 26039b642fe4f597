//! Deterministic hashing for keys and namespaces.
//!
//! Key groups are derived from these hashes and are persisted in checkpoints,
//! so the hash of a key must be identical across runs, processes, machines
//! and endianness; std's `RandomState` is none of those.

use std::hash::{BuildHasher, Hash, Hasher};

/// Initial hasher state (hex digits of pi): a non-zero start so that a
/// leading zero word still moves the state.
pub(crate) const SEED: u64 = 0x243f_6a88_85a3_08d3;
/// Multiplier of the per-word folded multiply (a wyhash secret).
pub(crate) const FOLD: u64 = 0xa076_1d64_78bd_642f;
/// Odd constant (2^64 / golden ratio) used to combine key and namespace.
const COMBINE: u64 = 0x9e37_79b9_7f4a_7c15;

/// Full 64x64 -> 128 multiply folded back to 64 bits: every input bit
/// reaches many output bits in one step.
#[inline(always)]
pub(crate) fn folded_multiply(a: u64, b: u64) -> u64 {
    let full = u128::from(a) * u128::from(b);
    (full as u64) ^ ((full >> 64) as u64)
}

/// Murmur3's 64-bit finalizer: full avalanche, so sequential integer keys
/// spread evenly over key groups and hash-table buckets.
/// Up to 8 bytes as a little-endian word, zero-padded.
#[inline(always)]
fn le_word(bytes: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    let n = bytes.len().min(8);
    if let (Some(dst), Some(src)) = (word.get_mut(..n), bytes.get(..n)) {
        dst.copy_from_slice(src);
    }
    u64::from_le_bytes(word)
}

#[inline(always)]
pub(crate) fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

/// The integer writes of a word-at-a-time [`Hasher`]: every integer is
/// absorbed by value as one `u64` (two for 128 bits), so the hash does not
/// depend on the integer's width or the platform's `usize`.
macro_rules! integers_as_words {
    () => {
        #[inline]
        fn write_u8(&mut self, i: u8) {
            self.write_u64(u64::from(i));
        }

        #[inline]
        fn write_u16(&mut self, i: u16) {
            self.write_u64(u64::from(i));
        }

        #[inline]
        fn write_u32(&mut self, i: u32) {
            self.write_u64(u64::from(i));
        }

        #[inline]
        fn write_u128(&mut self, i: u128) {
            self.write_u64(i as u64);
            self.write_u64((i >> 64) as u64);
        }

        #[inline]
        fn write_usize(&mut self, i: usize) {
            self.write_u64(i as u64);
        }

        #[inline]
        fn write_i8(&mut self, i: i8) {
            self.write_u8(i as u8);
        }

        #[inline]
        fn write_i16(&mut self, i: i16) {
            self.write_u16(i as u16);
        }

        #[inline]
        fn write_i32(&mut self, i: i32) {
            self.write_u32(i as u32);
        }

        #[inline]
        fn write_i64(&mut self, i: i64) {
            self.write_u64(i as u64);
        }

        #[inline]
        fn write_i128(&mut self, i: i128) {
            self.write_u128(i as u128);
        }

        #[inline]
        fn write_isize(&mut self, i: isize) {
            self.write_u64(i as i64 as u64);
        }
    };
}
pub(crate) use integers_as_words;

/// A fixed-seed 64-bit [`Hasher`]: one folded multiply per word, murmur3
/// `fmix64` on [`finish`](Hasher::finish).
///
/// Integers are absorbed by value and byte strings as little-endian words, so
/// the result does not depend on the platform.
#[derive(Clone, Copy, Debug)]
pub struct StableHasher {
    state: u64,
}

impl StableHasher {
    /// A hasher in its fixed initial state.
    pub const fn new() -> Self {
        Self { state: SEED }
    }
}

impl Default for StableHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl Hasher for StableHasher {
    #[inline]
    fn finish(&self) -> u64 {
        fmix64(self.state)
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        // 16 bytes per folded multiply: the multiply chain, not the loads,
        // bounds the speed, and sink checksums hash ~100-byte records.
        let mut state = self.state;
        let mut chunks = bytes.chunks_exact(16);
        for chunk in &mut chunks {
            let (lo, hi) = chunk.split_at(8);
            state = folded_multiply(state ^ le_word(lo) ^ SEED, le_word(hi) ^ FOLD);
        }
        // The tail always mixes in, with the total length, so byte strings
        // differing only in trailing zeros or length differ.
        let tail = chunks.remainder();
        let (lo, hi) = tail.split_at(tail.len().min(8));
        let len = bytes.len() as u64;
        state = folded_multiply(
            state ^ le_word(lo) ^ SEED,
            le_word(hi) ^ FOLD ^ len.rotate_left(32),
        );
        self.state = state;
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.state = folded_multiply(self.state ^ i, FOLD);
    }

    integers_as_words!();
}

/// [`BuildHasher`] for [`StableHasher`]: deterministic per-key maps (user
/// map state), whose iteration order is then reproducible too.
#[derive(Clone, Copy, Debug, Default)]
pub struct StableBuildHasher;

impl BuildHasher for StableBuildHasher {
    type Hasher = StableHasher;

    fn build_hasher(&self) -> StableHasher {
        StableHasher::new()
    }
}

/// The stable 64-bit hash of `key`: deterministic across runs, processes and
/// machines, with full avalanche so that key groups stay balanced even for
/// sequential integer keys.
#[inline]
pub fn stable_hash<K: Hash + ?Sized>(key: &K) -> u64 {
    let mut hasher = StableHasher::new();
    key.hash(&mut hasher);
    hasher.finish()
}

/// Mixes a key hash with a namespace hash into one well-distributed hash.
#[inline]
pub(crate) fn combine_hashes(key_hash: u64, ns_hash: u64) -> u64 {
    fmix64(key_hash ^ ns_hash.rotate_left(32).wrapping_mul(COMBINE))
}

/// Hash of a namespace; 0 for zero-sized namespaces such as `()`, which can
/// only ever hold one value and so need no hashing.
#[inline(always)]
pub(crate) fn namespace_hash<N: Hash>(ns: &N) -> u64 {
    if size_of::<N>() == 0 {
        0
    } else {
        stable_hash(ns)
    }
}

/// The table hash of a (key, namespace) pair. For a zero-sized namespace it
/// is the key hash itself, so the void namespace costs no hashing.
#[inline(always)]
pub(crate) fn slot_hash<N: Hash>(key_hash: u64, ns: &N) -> u64 {
    if size_of::<N>() == 0 {
        key_hash
    } else {
        combine_hashes(key_hash, stable_hash(ns))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key_group::key_group_of_hash;

    #[test]
    fn hash_values_are_pinned() {
        // Key groups are persisted in checkpoints: a change to the hash
        // function silently breaks restores, so these values are frozen.
        // (Changed once, before any checkpoint format existed, when byte
        // strings moved to 16 bytes per round.)
        let pinned = [
            stable_hash(&0u64),
            stable_hash(&1u64),
            stable_hash("spate"),
            stable_hash(&(7u32, -3i64)),
        ];
        assert_eq!(pinned, PINNED);
    }

    const PINNED: [u64; 4] = [
        0xa55b_65e6_7433_77b6,
        0x59a2_6773_7f75_5ec9,
        0xa736_aa55_873d_dc89,
        0xd92e_4300_f12d_1958,
    ];

    #[test]
    fn integer_width_is_absorbed_by_value() {
        // usize is widened so 32- and 64-bit hosts agree.
        let mut a = StableHasher::new();
        a.write_usize(42);
        let mut b = StableHasher::new();
        b.write_u64(42);
        assert_eq!(a.finish(), b.finish());
    }

    #[test]
    fn byte_strings_differing_in_trailing_zeros_differ() {
        let hashes = [
            stable_hash(&[0u8; 0][..]),
            stable_hash(&[0u8; 1][..]),
            stable_hash(&[0u8; 7][..]),
            stable_hash(&[0u8; 8][..]),
            stable_hash(&[0u8; 9][..]),
        ];
        for (i, a) in hashes.iter().enumerate() {
            for b in &hashes[i + 1..] {
                assert_ne!(a, b);
            }
        }
        let mut h1 = StableHasher::new();
        h1.write(&[1, 2, 3]);
        let mut h2 = StableHasher::new();
        h2.write(&[1, 2, 3, 0]);
        assert_ne!(h1.finish(), h2.finish());
    }

    #[test]
    fn strings_and_tuples_are_distinguished() {
        assert_ne!(stable_hash("ab"), stable_hash("ba"));
        assert_ne!(stable_hash(&("a", "bc")), stable_hash(&("ab", "c")));
        assert_ne!(stable_hash(&(1u64, 2u64)), stable_hash(&(2u64, 1u64)));
    }

    #[test]
    fn unit_namespace_costs_nothing() {
        assert_eq!(slot_hash(12345, &()), 12345);
        assert_eq!(namespace_hash(&()), 0);
        assert_ne!(slot_hash(12345, &1u64), 12345);
        assert_ne!(slot_hash(12345, &1u64), slot_hash(12345, &2u64));
    }

    #[test]
    fn single_bit_flips_avalanche() {
        // Each input bit flip should change about half of the output bits.
        let mut total = 0u64;
        let mut n = 0u64;
        for k in 0..256u64 {
            let base = stable_hash(&k);
            for bit in 0..64 {
                total += u64::from((base ^ stable_hash(&(k ^ (1 << bit)))).count_ones());
                n += 1;
            }
        }
        let mean = total as f64 / n as f64;
        assert!((30.0..34.0).contains(&mean), "mean flipped bits {mean}");
    }

    #[test]
    fn sequential_keys_fill_key_groups_evenly() {
        let mut counts = vec![0u32; 128];
        for k in 0..100_000u64 {
            counts[usize::from(key_group_of_hash(stable_hash(&k), 128))] += 1;
        }
        let min = counts.iter().copied().min().unwrap_or(0);
        let max = counts.iter().copied().max().unwrap_or(0);
        assert!(
            min > 0 && f64::from(max) / f64::from(min) < 1.3,
            "{min}..{max}"
        );
    }
}
