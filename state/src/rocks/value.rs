//! Value state on RocksDB: one stored value per (key, namespace).

use super::{ExpiringEntry, StateResult};
use std::fmt;
use std::marker::PhantomData;

use super::db::RocksBackend;
use super::state_cf::{StateCf, Swept};
use super::stored::{Stored, stored_bytes};
use super::ttl::RocksTtl;
use crate::codec::{StateData, StateKeyParts};
use crate::error::StateError;
use crate::key_group::{KeyGroup, KeyGroupRange, KeyRef};
use crate::ttl::StateTtl;

/// Value state (Flink's `ValueState`) in a RocksDB column family: the
/// counterpart of [`ValueTable`](crate::ValueTable), with the same
/// operations and TTL semantics, returning owned values.
///
/// `get_mut` and `get_or_insert_with` have no counterpart (RocksDB cannot
/// lend a reference into its storage): use [`update`](Self::update).
pub struct RocksValueTable<K, N, V> {
    cf: StateCf,
    ttl: RocksTtl,
    types: super::Types<(K, N, V)>,
}

impl<K, N, V> RocksValueTable<K, N, V>
where
    K: StateData,
    N: StateData,
    V: StateData,
{
    /// The table of state `name` in `backend`, created empty if the
    /// instance has no such state, reopened otherwise.
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

    /// The key groups this table holds (its instance's).
    pub fn range(&self) -> KeyGroupRange {
        self.cf.range()
    }

    /// The TTL configuration, if any.
    pub fn ttl(&self) -> Option<StateTtl> {
        self.ttl.0
    }

    /// The value of (key, ns), if present and visible. With
    /// [`TtlUpdate::OnReadAndWrite`](crate::TtlUpdate) this restarts its TTL
    /// (a write).
    pub fn get(&self, kr: KeyRef, key: &K, ns: &N, now_ms: i64) -> Result<Option<V>, StateError> {
        let stored_key = self.cf.key(kr, key, ns)?;
        self.read_at(&stored_key, now_ms)
    }

    /// Reads the value stored under `stored_key` with the TTL read rules.
    pub(crate) fn read_at(&self, stored_key: &[u8], now_ms: i64) -> Result<Option<V>, StateError> {
        let Some(raw) = self.cf.get(stored_key)? else {
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
            self.cf.put(stored_key, &rewritten)?;
        }
        Ok(Some(value))
    }

    /// Whether (key, ns) has a visible value.
    pub fn contains(&self, kr: KeyRef, key: &K, ns: &N, now_ms: i64) -> Result<bool, StateError> {
        Ok(self.get(kr, key, ns, now_ms)?.is_some())
    }

    /// Sets the value of (key, ns).
    pub fn put(
        &mut self,
        kr: KeyRef,
        key: K,
        ns: N,
        value: V,
        now_ms: i64,
    ) -> Result<(), StateError> {
        let stored_key = self.cf.key(kr, &key, &ns)?;
        self.write_at(&stored_key, &value, now_ms)
    }

    fn write_at(&self, stored_key: &[u8], value: &V, now_ms: i64) -> Result<(), StateError> {
        let bytes =
            stored_bytes(value, self.ttl.expiry_for_write(now_ms)).map_err(|e| self.cf.codec(e))?;
        self.cf.put(stored_key, &bytes)
    }

    /// Removes (key, ns), returning its value if it was visible.
    pub fn remove(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        now_ms: i64,
    ) -> Result<Option<V>, StateError> {
        let stored_key = self.cf.key(kr, key, ns)?;
        self.remove_at(&stored_key, now_ms)
    }

    fn remove_at(&self, stored_key: &[u8], now_ms: i64) -> Result<Option<V>, StateError> {
        let Some(raw) = self.cf.get(stored_key)? else {
            return Ok(None);
        };
        let stored = Stored::parse(&raw).map_err(|e| self.cf.codec(e))?;
        let value = if self.ttl.is_visible(stored.expires_at_ms, now_ms) {
            Some(stored.decode().map_err(|e| self.cf.codec(e))?)
        } else {
            None
        };
        drop(raw);
        self.cf.delete(stored_key)?;
        Ok(value)
    }

    /// Read-modify-write, as [`ValueTable::update`](crate::ValueTable::update):
    /// `f` gets the visible value (or `None`) and may change it in place;
    /// `Some(v)` makes `v` the value, `None` keeps an existing value (as
    /// changed) and leaves an absent one absent. A present value counts as
    /// written (TTL restarts). One read and at most one write.
    pub fn update(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        now_ms: i64,
        f: impl FnOnce(Option<&mut V>) -> Option<V>,
    ) -> Result<(), StateError> {
        let stored_key = self.cf.key(kr, key, ns)?;
        let (stored_any, mut current) = match self.cf.get(&stored_key)? {
            None => (false, None),
            Some(raw) => {
                let stored = Stored::parse(&raw).map_err(|e| self.cf.codec(e))?;
                let current = if self.ttl.is_visible(stored.expires_at_ms, now_ms) {
                    Some(stored.decode().map_err(|e| self.cf.codec(e))?)
                } else {
                    None
                };
                (true, current)
            }
        };
        match (f(current.as_mut()), current) {
            (Some(value), _) | (None, Some(value)) => self.write_at(&stored_key, &value, now_ms),
            // An expired value the closure chose not to replace.
            (None, None) if stored_any => self.cf.delete(&stored_key),
            (None, None) => Ok(()),
        }
    }

    /// Drops (key, ns) whether expired or not; returns whether it existed.
    pub fn remove_namespace_for_key(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
    ) -> Result<bool, StateError> {
        let stored_key = self.cf.key(kr, key, ns)?;
        let existed = self.cf.get(&stored_key)?.is_some();
        if existed {
            self.cf.delete(&stored_key)?;
        }
        Ok(existed)
    }

    /// Removes the values of `sources` and folds them with `merge` into
    /// `target` (Flink's order: sources in order, then `merge(target, folded)`).
    pub(crate) fn merge_namespaces_with(
        &mut self,
        kr: KeyRef,
        key: &K,
        sources: &[N],
        target: &N,
        now_ms: i64,
        mut merge: impl FnMut(V, V) -> V,
    ) -> Result<(), StateError> {
        let mut merged: Option<V> = None;
        for source in sources {
            if let Some(value) = self.remove(kr, key, source, now_ms)? {
                merged = Some(match merged {
                    Some(acc) => merge(acc, value),
                    None => value,
                });
            }
        }
        let Some(merged) = merged else {
            return Ok(());
        };
        let target_key = self.cf.key(kr, key, target)?;
        let combined = match self.remove_at(&target_key, now_ms)? {
            Some(existing) => merge(existing, merged),
            None => merged,
        };
        self.write_at(&target_key, &combined, now_ms)
    }

    /// Drops every entry of the owned key groups.
    pub fn clear_all(&mut self) -> Result<(), StateError> {
        let (start, end) = self.cf.owned_bounds();
        self.cf.delete_range(&start, &end)
    }

    /// Every stored entry of key group `kg`, expired ones not yet cleaned up
    /// included, in stored-key order (for snapshots).
    pub fn iter_key_group(
        &self,
        kg: KeyGroup,
    ) -> Result<impl Iterator<Item = StateResult<(K, N, V)>> + '_, StateError> {
        Ok(self
            .iter_key_group_with_expiry(kg)?
            .map(|entry| entry.map(|(k, n, v, _)| (k, n, v))))
    }

    /// Like [`iter_key_group`](Self::iter_key_group), with each entry's
    /// stored expiry (`None` when stored without one).
    pub fn iter_key_group_with_expiry(
        &self,
        kg: KeyGroup,
    ) -> Result<impl Iterator<Item = StateResult<ExpiringEntry<K, N, V>>> + '_, StateError> {
        let (from, to) = self.cf.key_group_bounds(kg)?;
        Ok(self.cf.scan(&from, &to)?.map(move |entry| {
            let (key, value) = entry?;
            let codec = |e| self.cf.codec(e);
            let parts = StateKeyParts::parse(&key).map_err(codec)?;
            let stored = Stored::parse(&value).map_err(codec)?;
            Ok((
                parts.decode_key().map_err(codec)?,
                parts.decode_namespace().map_err(codec)?,
                stored.decode().map_err(codec)?,
                stored.expires_at_ms,
            ))
        }))
    }

    /// Examines up to `entries_max` entries, resuming where the previous call
    /// stopped, and removes the expired ones; returns how many it removed.
    /// Without TTL it returns 0 at once.
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

impl<K, N, V> fmt::Debug for RocksValueTable<K, N, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RocksValueTable")
            .field("name", &self.cf.name())
            .field("ttl", &self.ttl.0)
            .finish_non_exhaustive()
    }
}
