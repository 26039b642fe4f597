//! What per-key-group iteration yields to checkpoints.

/// One stored entry with its expiry: `(key, namespace, value, expires_at_ms)`,
/// the expiry being `None` for tables without TTL. `V` is a reference (or a
/// pair of references for map state).
pub type ExpiringEntry<'a, K, N, V> = (&'a K, &'a N, V, Option<i64>);
