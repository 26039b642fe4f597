//! The order of a checkpoint's delta: by stored key, each key once.
//!
//! A capture lists millions of entries in hash order, each key in its own
//! allocation. Sorting the entries themselves follows a pointer on every
//! comparison (a cache miss each, and most of a large checkpoint's
//! background time in `memcmp`); sorting short key prefixes held inline,
//! with an entry index, touches each key once and compares whole keys
//! only where the prefixes tie.

use std::cmp::Ordering;

use crate::canonical::DeltaEntry;

/// Bytes of each key compared inline.
const PREFIX_BYTES: usize = 16;

/// The key's first [`PREFIX_BYTES`] bytes as a number that orders like
/// the bytes; a shorter key is padded with zeros, so a prefix tie is
/// resolved by the whole keys.
fn prefix(key: &[u8]) -> u128 {
    let mut bytes = [0u8; PREFIX_BYTES];
    let n = key.len().min(PREFIX_BYTES);
    bytes[..n].copy_from_slice(&key[..n]);
    u128::from_be_bytes(bytes)
}

/// Key order, and for one key its present entry before its removal (the
/// entry that [`sort_delta`] keeps).
fn entry_order(a: &DeltaEntry, b: &DeltaEntry) -> Ordering {
    a.0.cmp(&b.0).then(b.1.is_some().cmp(&a.1.is_some()))
}

/// Sorts a delta by stored key and keeps each key once: a key both
/// removed and present (a map's user key removed, then put again) is
/// present. Captures leave this to the checkpoint's background side, since
/// sorting is the costliest part of a capture.
pub fn sort_delta(delta: &mut Vec<DeltaEntry>) {
    match u32::try_from(delta.len()) {
        Ok(len) => sort_by_prefix(delta, len),
        // Too many entries for u32 indices: sort the entries themselves.
        Err(_) => delta.sort_unstable_by(entry_order),
    }
    delta.dedup_by(|later, kept| later.0 == kept.0);
}

/// Puts the `len` entries of `delta` in [`entry_order`] through their
/// inline prefixes.
fn sort_by_prefix(delta: &mut Vec<DeltaEntry>, len: u32) {
    let mut order: Vec<(u128, u32)> = (0..len)
        .zip(delta.iter())
        .map(|(i, e)| (prefix(&e.0), i))
        .collect();
    order.sort_unstable_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| entry_order(&delta[a.1 as usize], &delta[b.1 as usize]))
    });
    let mut unsorted = std::mem::take(delta);
    delta.extend(
        order
            .into_iter()
            .map(|(_, i)| std::mem::take(&mut unsorted[i as usize])),
    );
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The plain sort the inline prefixes stand in for.
    fn sorted_plainly(mut delta: Vec<DeltaEntry>) -> Vec<DeltaEntry> {
        delta.sort_by(entry_order);
        delta.dedup_by(|later, kept| later.0 == kept.0);
        delta
    }

    #[test]
    fn a_key_removed_and_put_again_is_kept_present() {
        let mut delta = vec![
            (b"k".to_vec(), None),
            (b"a".to_vec(), Some(b"1".to_vec())),
            (b"k".to_vec(), Some(b"2".to_vec())),
        ];
        sort_delta(&mut delta);
        assert_eq!(
            delta,
            vec![
                (b"a".to_vec(), Some(b"1".to_vec())),
                (b"k".to_vec(), Some(b"2".to_vec())),
            ]
        );
    }

    #[test]
    fn keys_that_share_their_prefix_are_ordered_by_the_rest() {
        let long = |tail: u8| {
            let mut k = vec![7u8; PREFIX_BYTES];
            k.push(tail);
            k
        };
        let mut delta = vec![
            (long(2), Some(vec![2])),
            (vec![7u8; PREFIX_BYTES], Some(vec![0])),
            (long(1), Some(vec![1])),
            (vec![7u8; 3], None),
        ];
        sort_delta(&mut delta);
        let keys: Vec<_> = delta.iter().map(|e| e.0.clone()).collect();
        assert_eq!(
            keys,
            vec![vec![7u8; 3], vec![7u8; PREFIX_BYTES], long(1), long(2)]
        );
    }

    proptest! {
        #[test]
        fn sorts_like_the_plain_sort(
            delta in proptest::collection::vec(
                (
                    proptest::collection::vec(0u8..4, 0..20),
                    proptest::option::of(proptest::collection::vec(any::<u8>(), 0..3)),
                ),
                0..200,
            )
        ) {
            // Small byte alphabets make prefix ties, zero padding and
            // repeated keys common.
            let expected = sorted_plainly(delta.clone());
            let mut got = delta;
            sort_delta(&mut got);
            // Among entries of one key, which present entry is kept may
            // differ (the sort is unstable either way): compare keys and
            // presence.
            let shape = |d: &[DeltaEntry]| -> Vec<(Vec<u8>, bool)> {
                d.iter().map(|e| (e.0.clone(), e.1.is_some())).collect()
            };
            prop_assert_eq!(shape(&got), shape(&expected));
        }
    }
}
