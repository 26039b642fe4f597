//! `GroupKey`: the values a keyed SQL operator (aggregate, join, Top-N,
//! OVER) partitions its rows and state by.
//!
//! Keys are built per row and stored once per group, so a heap vector
//! each cost a `malloc` and a `free` on the hot path and a separate
//! allocation per state entry. Up to [`GROUP_KEY_INLINE`] values (every
//! Nexmark key: an id, a price, an auction and its category) live inline;
//! longer keys spill to the heap. A slice-like key hashes as `Vec<Value>`
//! did (its length, then its values), so rows reach the same key groups
//! and cores as before.

use smallvec::SmallVec;

use crate::value::Value;

/// Key values held without a heap allocation.
pub const GROUP_KEY_INLINE: usize = 2;

/// The values of one key, in the order of the key expressions.
pub type GroupKey = SmallVec<[Value; GROUP_KEY_INLINE]>;

#[cfg(test)]
mod tests {
    use super::*;
    use spate_bench::nexmark::stable_hash;

    #[test]
    fn a_key_hashes_and_routes_as_the_vector_of_its_values() {
        for values in [
            vec![],
            vec![Value::Int(7)],
            vec![Value::Int(7), Value::Str("books".into())],
            vec![Value::Null, Value::Int(1), Value::Timestamp(3)],
        ] {
            let key: GroupKey = values.iter().cloned().collect();
            assert_eq!(key.spilled(), values.len() > GROUP_KEY_INLINE);
            assert_eq!(stable_hash(&key), stable_hash(&values));
            assert_eq!(
                spate_state::checksum_hash(&key),
                spate_state::checksum_hash(&values)
            );
        }
    }
}
