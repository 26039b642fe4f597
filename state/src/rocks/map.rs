//! Map state on RocksDB: one stored entry per (key, namespace, user key).

use super::{ExpiringEntry, StateResult};
use std::fmt;
use std::marker::PhantomData;

use super::db::RocksBackend;
use super::state_cf::{StateCf, Swept};
use super::stored::{Stored, stored_bytes};
use super::ttl::RocksTtl;
use crate::codec::{DataPart, StateData, StateKeyParts, encode};
use crate::error::StateError;
use crate::key_group::{KeyGroup, KeyGroupRange, KeyRef};
use crate::ttl::StateTtl;

/// One map entry of a key group: key, namespace and (user key, user value).
type MapItem<K, N, UK, UV> = (K, N, (UK, UV));

/// Map state (Flink's `MapState`) in a RocksDB column family: the
/// counterpart of [`MapTable`](crate::MapTable). Each user entry is its own
/// RocksDB entry under the (key group, key, namespace) prefix followed by
/// the encoded user key, so one user entry is read or written without the
/// rest of the map, and a map is a contiguous key range. With TTL each user
/// entry expires on its own.
///
/// [`iter`](Self::iter) yields entries in the byte order of the encoded user
/// keys (deterministic, but not the heap table's order).
pub struct RocksMapTable<K, N, UK, UV> {
    cf: StateCf,
    ttl: RocksTtl,
    types: super::Types<(K, N, UK, UV)>,
}

impl<K, N, UK, UV> RocksMapTable<K, N, UK, UV>
where
    K: StateData,
    N: StateData,
    UK: StateData,
    UV: StateData,
{
    /// The table of state `name` in `backend`, created or reopened.
    pub fn open(
        backend: &RocksBackend,
        name: &str,
        ttl: Option<StateTtl>,
    ) -> Result<Self, StateError> {
        Ok(Self {
            cf: StateCf::open(backend, name)?,
            ttl: RocksTtl(ttl),
            types: PhantomData,
        })
    }

    /// The column family, for the canonical form.
    pub(crate) fn state_cf(&self) -> &super::state_cf::StateCf {
        &self.cf
    }

    /// The state's name.
    pub fn name(&self) -> &str {
        self.cf.name()
    }

    /// The key groups this table holds.
    pub fn range(&self) -> KeyGroupRange {
        self.cf.range()
    }

    /// The TTL configuration, if any.
    pub fn ttl(&self) -> Option<StateTtl> {
        self.ttl.0
    }

    /// The stored key of user entry `uk` of (key, ns).
    fn entry_key(&self, kr: KeyRef, key: &K, ns: &N, uk: &UK) -> Result<Vec<u8>, StateError> {
        let mut stored_key = self.cf.key(kr, key, ns)?;
        encode(uk, DataPart::UserKey, &mut stored_key).map_err(|e| self.cf.codec(e))?;
        Ok(stored_key)
    }

    /// The byte range of the map of (key, ns).
    fn map_bounds(&self, kr: KeyRef, key: &K, ns: &N) -> Result<(Vec<u8>, Vec<u8>), StateError> {
        let prefix = self.cf.key(kr, key, ns)?;
        let end = prefix_successor(&prefix).ok_or_else(|| StateError::Internal {
            reason: "a stored-key prefix starting with a key group has no successor".to_owned(),
        })?;
        Ok((prefix, end))
    }

    /// The value of user key `uk` in the map of (key, ns), if visible. With
    /// `OnReadAndWrite` this restarts its TTL (a write).
    pub fn get(
        &self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        uk: &UK,
        now_ms: i64,
    ) -> Result<Option<UV>, StateError> {
        let stored_key = self.entry_key(kr, key, ns, uk)?;
        let Some(raw) = self.cf.get(&stored_key)? else {
            return Ok(None);
        };
        let stored = Stored::parse(&raw).map_err(|e| self.cf.codec(e))?;
        let Some(restart) = self.ttl.read(stored.expires_at_ms, now_ms) else {
            return Ok(None);
        };
        let value = stored.decode().map_err(|e| self.cf.codec(e))?;
        if let Some(expires_at_ms) = restart {
            let mut rewritten = Vec::with_capacity(raw.len());
            stored.with_expiry(Some(expires_at_ms), &mut rewritten);
            drop(raw);
            self.cf.put(&stored_key, &rewritten)?;
        }
        Ok(Some(value))
    }

    /// Whether `uk` has a visible value.
    pub fn contains(
        &self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        uk: &UK,
        now_ms: i64,
    ) -> Result<bool, StateError> {
        Ok(self.get(kr, key, ns, uk, now_ms)?.is_some())
    }

    /// Sets `uk` to `uv` in the map of (key, ns).
    pub fn put(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        uk: UK,
        uv: UV,
        now_ms: i64,
    ) -> Result<(), StateError> {
        let stored_key = self.entry_key(kr, key, ns, &uk)?;
        let bytes =
            stored_bytes(&uv, self.ttl.expiry_for_write(now_ms)).map_err(|e| self.cf.codec(e))?;
        self.cf.put(&stored_key, &bytes)
    }

    /// Sets every (uk, uv) of `entries`, atomically.
    pub fn put_all(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        entries: impl IntoIterator<Item = (UK, UV)>,
        now_ms: i64,
    ) -> Result<(), StateError> {
        // Checked and encoded once, even for no entries (as the heap table).
        let prefix = self.cf.key(kr, key, ns)?;
        let expiry = self.ttl.expiry_for_write(now_ms);
        let mut ops = Vec::new();
        for (uk, uv) in entries {
            let mut stored_key = prefix.clone();
            encode(&uk, DataPart::UserKey, &mut stored_key).map_err(|e| self.cf.codec(e))?;
            let bytes = stored_bytes(&uv, expiry).map_err(|e| self.cf.codec(e))?;
            ops.push((stored_key, Some(bytes)));
        }
        self.cf.write(ops)
    }

    /// Removes `uk`, returning its value if it was visible.
    pub fn remove(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        uk: &UK,
        now_ms: i64,
    ) -> Result<Option<UV>, StateError> {
        let stored_key = self.entry_key(kr, key, ns, uk)?;
        let Some(raw) = self.cf.get(&stored_key)? else {
            return Ok(None);
        };
        let stored = Stored::parse(&raw).map_err(|e| self.cf.codec(e))?;
        let value = if self.ttl.is_visible(stored.expires_at_ms, now_ms) {
            Some(stored.decode().map_err(|e| self.cf.codec(e))?)
        } else {
            None
        };
        drop(raw);
        self.cf.delete(&stored_key)?;
        Ok(value)
    }

    /// The visible entries of the map of (key, ns), in encoded-user-key
    /// order. With `OnReadAndWrite` their TTL restarts.
    pub fn iter(
        &self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        now_ms: i64,
    ) -> Result<std::vec::IntoIter<(UK, UV)>, StateError> {
        let (from, to) = self.map_bounds(kr, key, ns)?;
        let mut entries = Vec::new();
        let mut touched = Vec::new();
        for entry in self.cf.scan(&from, &to)? {
            let (stored_key, value) = entry?;
            let stored = Stored::parse(&value).map_err(|e| self.cf.codec(e))?;
            let Some(restart) = self.ttl.read(stored.expires_at_ms, now_ms) else {
                continue;
            };
            let parts = StateKeyParts::parse(&stored_key).map_err(|e| self.cf.codec(e))?;
            let uk = parts.decode_user_key().map_err(|e| self.cf.codec(e))?;
            entries.push((uk, stored.decode().map_err(|e| self.cf.codec(e))?));
            if let Some(expires_at_ms) = restart {
                let mut rewritten = Vec::with_capacity(value.len());
                stored.with_expiry(Some(expires_at_ms), &mut rewritten);
                touched.push((stored_key.into_vec(), Some(rewritten)));
            }
        }
        self.cf.write(touched)?;
        Ok(entries.into_iter())
    }

    /// Whether the map of (key, ns) has no visible entry (no TTL restart).
    pub fn is_empty(&self, kr: KeyRef, key: &K, ns: &N, now_ms: i64) -> Result<bool, StateError> {
        let (from, to) = self.map_bounds(kr, key, ns)?;
        for entry in self.cf.scan(&from, &to)? {
            let (_, value) = entry?;
            let stored = Stored::parse(&value).map_err(|e| self.cf.codec(e))?;
            if self.ttl.is_visible(stored.expires_at_ms, now_ms) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Removes the whole map of (key, ns).
    pub fn clear(&mut self, kr: KeyRef, key: &K, ns: &N) -> Result<(), StateError> {
        let (from, to) = self.map_bounds(kr, key, ns)?;
        self.cf.delete_range(&from, &to)
    }

    /// Drops the map of (key, ns); returns whether one was stored.
    pub fn remove_namespace_for_key(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
    ) -> Result<bool, StateError> {
        let (from, to) = self.map_bounds(kr, key, ns)?;
        let existed = self.cf.any_in(&from, &to)?;
        if existed {
            self.cf.delete_range(&from, &to)?;
        }
        Ok(existed)
    }

    /// Drops every map of the owned key groups.
    pub fn clear_all(&mut self) -> Result<(), StateError> {
        let (start, end) = self.cf.owned_bounds();
        self.cf.delete_range(&start, &end)
    }

    /// Every stored user entry of key group `kg` as (key, ns, (uk, uv)), the
    /// entries of one map consecutively (for snapshots).
    pub fn iter_key_group(
        &self,
        kg: KeyGroup,
    ) -> Result<impl Iterator<Item = StateResult<MapItem<K, N, UK, UV>>> + '_, StateError> {
        Ok(self
            .iter_key_group_with_expiry(kg)?
            .map(|entry| entry.map(|(k, n, e, _)| (k, n, e))))
    }

    /// Like [`iter_key_group`](Self::iter_key_group), with each user entry's
    /// stored expiry.
    #[allow(clippy::type_complexity, reason = "the heap table's tuple, owned")]
    pub fn iter_key_group_with_expiry(
        &self,
        kg: KeyGroup,
    ) -> Result<impl Iterator<Item = StateResult<ExpiringEntry<K, N, (UK, UV)>>> + '_, StateError>
    {
        let (from, to) = self.cf.key_group_bounds(kg)?;
        Ok(self.cf.scan(&from, &to)?.map(move |entry| {
            let (key, value) = entry?;
            let codec = |e| self.cf.codec(e);
            let parts = StateKeyParts::parse(&key).map_err(codec)?;
            let stored = Stored::parse(&value).map_err(codec)?;
            Ok((
                parts.decode_key().map_err(codec)?,
                parts.decode_namespace().map_err(codec)?,
                (
                    parts.decode_user_key().map_err(codec)?,
                    stored.decode().map_err(codec)?,
                ),
                stored.expires_at_ms,
            ))
        }))
    }

    /// Examines up to `entries_max` user entries, resuming where the
    /// previous call stopped, and removes the expired ones; returns how
    /// many it removed.
    pub fn cleanup_expired(
        &mut self,
        now_ms: i64,
        entries_max: usize,
    ) -> Result<usize, StateError> {
        if self.ttl.0.is_none() {
            return Ok(0);
        }
        let ttl = self.ttl;
        let name = self.cf.name().to_owned();
        self.cf.sweep(entries_max, |_, value| {
            let stored = Stored::parse(value).map_err(|e| e.in_state(&name))?;
            Ok(if ttl.is_expired(stored.expires_at_ms, now_ms) {
                Swept::Delete(1)
            } else {
                Swept::Keep
            })
        })
    }
}

/// The smallest byte string greater than every string starting with
/// `prefix`, if any (`None` when `prefix` is all `0xff`).
fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let last = prefix.iter().rposition(|&b| b != 0xff)?;
    let mut end = prefix.get(..=last)?.to_vec();
    if let Some(byte) = end.last_mut() {
        *byte += 1;
    }
    Some(end)
}

impl<K, N, UK, UV> fmt::Debug for RocksMapTable<K, N, UK, UV> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RocksMapTable")
            .field("name", &self.cf.name())
            .field("ttl", &self.ttl.0)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::prefix_successor;

    #[test]
    fn prefix_successor_bounds_every_extension() {
        assert_eq!(prefix_successor(&[1, 2]), Some(vec![1, 3]));
        assert_eq!(prefix_successor(&[1, 0xff, 0xff]), Some(vec![2]));
        assert_eq!(prefix_successor(&[0xff]), None);
        let p = [0u8, 5, 0xff];
        let end = prefix_successor(&p).unwrap();
        for ext in [&[][..], &[0], &[0xff, 0xff, 0xff]] {
            let key = [&p[..], ext].concat();
            assert!(key.as_slice() >= &p[..] && key < end);
        }
    }
}
