//! Order-independent, platform-independent checksums of query outputs, for
//! comparing an engine's rows with the reference's without sorting them.

use std::hash::{Hash, Hasher};

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a over the byte stream `Hash` writes (integers little-endian, `usize`
/// as 8 bytes, so it is the same on every platform), finished with murmur3's
/// `fmix64`. Deliberately not `DefaultHasher`, whose output may change between
/// Rust releases.
#[derive(Clone, Debug)]
pub struct StableHasher {
    state: u64,
}

impl Default for StableHasher {
    fn default() -> Self {
        StableHasher { state: FNV_OFFSET }
    }
}

impl StableHasher {
    /// A fresh hasher.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Hasher for StableHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.state = (self.state ^ u64::from(b)).wrapping_mul(FNV_PRIME);
        }
    }

    fn finish(&self) -> u64 {
        fmix64(self.state)
    }

    fn write_u8(&mut self, i: u8) {
        self.write(&[i]);
    }
    fn write_u16(&mut self, i: u16) {
        self.write(&i.to_le_bytes());
    }
    fn write_u32(&mut self, i: u32) {
        self.write(&i.to_le_bytes());
    }
    fn write_u64(&mut self, i: u64) {
        self.write(&i.to_le_bytes());
    }
    fn write_u128(&mut self, i: u128) {
        self.write(&i.to_le_bytes());
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
    fn write_i8(&mut self, i: i8) {
        self.write_u8(i as u8);
    }
    fn write_i16(&mut self, i: i16) {
        self.write_u16(i as u16);
    }
    fn write_i32(&mut self, i: i32) {
        self.write_u32(i as u32);
    }
    fn write_i64(&mut self, i: i64) {
        self.write_u64(i as u64);
    }
    fn write_i128(&mut self, i: i128) {
        self.write_u128(i as u128);
    }
    fn write_isize(&mut self, i: isize) {
        self.write_u64(i as u64);
    }
}

/// murmur3's 64-bit finalizer: spreads FNV's weak high bits over the word.
fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

/// The stable 64-bit hash of one value.
pub fn stable_hash<T: Hash + ?Sized>(value: &T) -> u64 {
    let mut h = StableHasher::new();
    value.hash(&mut h);
    h.finish()
}

/// `(row count, wrapping sum of the rows' stable hashes)`: equal for two row
/// multisets in any order, and (with overwhelming probability) different otherwise.
pub fn rows_checksum<T: Hash>(rows: &[T]) -> (u64, u64) {
    let sum = rows
        .iter()
        .fold(0u64, |acc, row| acc.wrapping_add(stable_hash(row)));
    (rows.len() as u64, sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_independent_and_stable() {
        let a = [(1u64, "x"), (2, "y"), (3, "z")];
        let b = [(3u64, "z"), (1, "x"), (2, "y")];
        assert_eq!(rows_checksum(&a), rows_checksum(&b));
        assert_ne!(rows_checksum(&a), rows_checksum(&a[..2]));
        assert_ne!(stable_hash(&(1u64, 2u64)), stable_hash(&(2u64, 1u64)));
        // Pinned, so that a change of the byte stream or the platform is noticed.
        assert_eq!(stable_hash(&42u64), 0xa624_5a5d_cf27_8758);
        assert_eq!(stable_hash("abc"), 0x3ee0_641e_1a67_4131);
        assert_eq!(
            stable_hash(&super::super::Str::from("abc")),
            stable_hash("abc")
        );
        assert_eq!(rows_checksum::<u64>(&[]), (0, 0));
    }
}
