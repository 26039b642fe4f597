//! The hash behind output checksums: every record a checksummed sink takes is
//! hashed once, so this sits on the hot path of every job that reports one.
//!
//! [`StableHasher`](crate::StableHasher) folds each word into one chain, so a
//! 100-byte record costs ~17 dependent multiplies. Here a byte string is
//! digested on its own (two lanes, 32 bytes per step, overlapping tail reads
//! instead of a byte copy) and only the digest joins the chain, which then
//! takes two words per multiply. The digest does not depend on the chain, so
//! the CPU works on both at once. Like the stable hash, it is the same on
//! every platform and run; unlike it, nothing persists these values, so it
//! can change between releases (only checksums of one build are compared).

use std::hash::{Hash, Hasher};

use crate::hash::{FOLD, SEED, fmix64, folded_multiply, integers_as_words};

/// Second-lane multiplier (a wyhash secret).
const LANE: u64 = 0xe703_7ed1_a0b4_28db;

/// A [`Hasher`] for order-independent output checksums (the wrapping sum of
/// [`checksum_hash`] over the rows).
#[derive(Clone, Copy, Debug)]
pub struct ChecksumHasher {
    state: u64,
    pending: Option<u64>,
    words: u64,
}

impl ChecksumHasher {
    /// A hasher in its fixed initial state.
    pub const fn new() -> Self {
        Self {
            state: SEED,
            pending: None,
            words: 0,
        }
    }
}

impl Default for ChecksumHasher {
    fn default() -> Self {
        Self::new()
    }
}

#[inline(always)]
fn read_u64(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    if let Some(src) = bytes.get(at..at + 8) {
        word.copy_from_slice(src);
    }
    u64::from_le_bytes(word)
}

#[inline(always)]
fn read_u32(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 4];
    if let Some(src) = bytes.get(at..at + 4) {
        word.copy_from_slice(src);
    }
    u64::from(u32::from_le_bytes(word))
}

/// The last 0..=16 bytes as two words. Overlapping reads cover every byte;
/// together with the length (mixed in by the caller) they fix the bytes.
#[inline(always)]
fn tail_words(tail: &[u8]) -> (u64, u64) {
    let n = tail.len();
    if n >= 8 {
        (read_u64(tail, 0), read_u64(tail, n - 8))
    } else if n >= 4 {
        (read_u32(tail, 0), read_u32(tail, n - 4))
    } else if let (Some(&first), Some(&mid), Some(&last)) =
        (tail.first(), tail.get(n / 2), tail.last())
    {
        let word = (u64::from(first) << 16) | (u64::from(mid) << 8) | u64::from(last);
        (word, 0)
    } else {
        (0, 0)
    }
}

/// A 64-bit digest of `bytes`, independent of any hasher state.
#[inline]
fn digest(bytes: &[u8]) -> u64 {
    let len = bytes.len() as u64;
    let mut a = SEED ^ len.wrapping_mul(FOLD);
    let mut b = LANE;
    let mut rest = bytes;
    while rest.len() > 32 {
        let (block, tail) = rest.split_at(32);
        a = folded_multiply(a ^ read_u64(block, 0), read_u64(block, 8) ^ FOLD);
        b = folded_multiply(b ^ read_u64(block, 16), read_u64(block, 24) ^ LANE);
        rest = tail;
    }
    if rest.len() > 16 {
        let (block, tail) = rest.split_at(16);
        b = folded_multiply(b ^ read_u64(block, 0), read_u64(block, 8) ^ LANE);
        rest = tail;
    }
    let (lo, hi) = tail_words(rest);
    a = folded_multiply(a ^ lo, hi ^ FOLD ^ len.rotate_left(32));
    folded_multiply(a ^ SEED, b ^ FOLD)
}

impl Hasher for ChecksumHasher {
    #[inline]
    fn finish(&self) -> u64 {
        let state = match self.pending {
            Some(word) => folded_multiply(self.state ^ word, FOLD),
            None => self.state,
        };
        fmix64(state ^ self.words)
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        self.write_u64(digest(bytes));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.words += 1;
        match self.pending.take() {
            Some(first) => self.state = folded_multiply(self.state ^ first, i ^ FOLD),
            None => self.pending = Some(i),
        }
    }

    integers_as_words!();
}

/// The checksum hash of one row.
#[inline]
pub fn checksum_hash<T: Hash + ?Sized>(row: &T) -> u64 {
    let mut hasher = ChecksumHasher::new();
    row.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_length_and_every_byte_position_changes_the_digest() {
        // Lengths across each code path (tail cases, one and two blocks), and a
        // flip of each single byte: no two of these may collide.
        let mut seen = HashSet::new();
        for len in 0..=80usize {
            let base: Vec<u8> = (0..len).map(|i| (i * 7 + 1) as u8).collect();
            assert!(seen.insert(checksum_hash(&base[..])), "length {len}");
            for pos in 0..len {
                let mut flipped = base.clone();
                flipped[pos] ^= 0x40;
                assert!(
                    seen.insert(checksum_hash(&flipped[..])),
                    "length {len}, byte {pos}"
                );
            }
        }
    }

    #[test]
    fn trailing_zeros_and_field_boundaries_are_seen() {
        let zeros: Vec<u64> = (0..20).map(|n| checksum_hash(&vec![0u8; n][..])).collect();
        let distinct: HashSet<_> = zeros.iter().collect();
        assert_eq!(distinct.len(), zeros.len());
        assert_ne!(checksum_hash(&("ab", "c")), checksum_hash(&("a", "bc")));
        assert_ne!(checksum_hash(&(1u64, 2u64)), checksum_hash(&(2u64, 1u64)));
        assert_ne!(checksum_hash(&(1u64,)), checksum_hash(&(1u64, 0u64)));
        assert_ne!(checksum_hash(&0u64), checksum_hash(&()));
    }

    #[test]
    fn integers_are_absorbed_by_value_whatever_their_width() {
        assert_eq!(checksum_hash(&7usize), checksum_hash(&7u64));
        assert_eq!(checksum_hash(&7u8), checksum_hash(&7u64));
        assert_eq!(checksum_hash(&-1i64), checksum_hash(&u64::MAX));
    }

    #[test]
    fn values_are_pinned_so_a_platform_difference_is_noticed() {
        let pinned = [
            checksum_hash(&0u64),
            checksum_hash("spate"),
            checksum_hash(&(7u32, -3i64, "a string longer than thirty-two bytes")),
        ];
        assert_eq!(
            pinned,
            [
                0x7e60_4c00_8121_967a,
                0x8d7b_6da9_ba96_ff1f,
                0xcc45_97ea_b513_de80
            ],
            "{pinned:#x?}"
        );
    }

    #[test]
    fn a_record_of_strings_and_numbers_hashes_differently_from_its_neighbours() {
        let rows: Vec<(u64, String, i64)> = (0..10_000u64)
            .map(|i| (i % 97, format!("row-{}", i / 97), i as i64))
            .collect();
        let hashes: HashSet<u64> = rows.iter().map(checksum_hash).collect();
        assert_eq!(hashes.len(), rows.len());
    }
}
