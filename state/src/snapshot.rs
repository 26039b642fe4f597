//! What per-key-group iteration yields to checkpoints.

/// One stored entry with its expiry: `(key, namespace, value, expires_at_ms)`,
/// the expiry being `None` for tables without TTL. `V` is a reference (or a
/// pair of references for map state).
pub type ExpiringEntry<'a, K, N, V> = (&'a K, &'a N, V, Option<i64>);

/// An entry read back from a snapshot: `(key, namespace, value,
/// expires_at_ms)`, the expiry as stored.
pub type Restored<K, N, V> = (K, N, V, Option<i64>);
