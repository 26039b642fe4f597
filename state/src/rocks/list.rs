//! List state on RocksDB: one stored list per (key, namespace), appended to
//! by merge operands (see `stored` for why).

use super::{ExpiringEntry, StateResult};
use std::fmt;
use std::marker::PhantomData;

use super::db::RocksBackend;
use super::state_cf::{StateCf, Swept};
use super::stored::{Stored, list_records, put_list_record, stored_bytes};
use super::ttl::RocksTtl;
use crate::codec::{CodecError, StateData, StateKeyParts};
use crate::error::StateError;
use crate::key_group::{KeyGroup, KeyGroupRange, KeyRef};
use crate::ttl::StateTtl;

/// List state (Flink's `ListState`) in a RocksDB column family: the
/// counterpart of [`ListTable`](crate::ListTable). With TTL each element
/// expires on its own. `add` and `add_all` write without reading the list.
pub struct RocksListTable<K, N, V> {
    cf: StateCf,
    ttl: RocksTtl,
    types: super::Types<(K, N, V)>,
}

impl<K, N, V> RocksListTable<K, N, V>
where
    K: StateData + Clone,
    N: StateData + Clone,
    V: StateData,
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

    /// The visible elements of (key, ns) in insertion order; empty if none.
    /// With `OnReadAndWrite` the read elements' TTL restarts (a write).
    pub fn get(&self, kr: KeyRef, key: &K, ns: &N, now_ms: i64) -> Result<Vec<V>, StateError> {
        let stored_key = self.cf.key(kr, key, ns)?;
        let Some(raw) = self.cf.get(&stored_key)? else {
            return Ok(Vec::new());
        };
        let mut values = Vec::new();
        let mut rewritten: Option<Vec<u8>> = None;
        for record in list_records(&raw) {
            let (_, stored) = record.map_err(|e| self.cf.codec(e))?;
            let expiry = match self.ttl.read(stored.expires_at_ms, now_ms) {
                None => stored.expires_at_ms,
                Some(restart) => {
                    values.push(stored.decode().map_err(|e| self.cf.codec(e))?);
                    restart.or(stored.expires_at_ms)
                }
            };
            if self.ttl.read_restarts() {
                let out = rewritten.get_or_insert_with(|| Vec::with_capacity(raw.len()));
                let mut element = Vec::new();
                stored.with_expiry(expiry, &mut element);
                put_list_record(&element, out).map_err(|e| self.cf.codec(e))?;
            }
        }
        drop(raw);
        if let Some(bytes) = rewritten {
            self.cf.put(&stored_key, &bytes)?;
        }
        Ok(values)
    }

    /// The records of `values` written at `now_ms`.
    fn records(
        &self,
        values: impl IntoIterator<Item = V>,
        now_ms: i64,
    ) -> Result<Vec<u8>, StateError> {
        let expiry = self.ttl.expiry_for_write(now_ms);
        let mut out = Vec::new();
        for value in values {
            let element = stored_bytes(&value, expiry).map_err(|e| self.cf.codec(e))?;
            put_list_record(&element, &mut out).map_err(|e| self.cf.codec(e))?;
        }
        Ok(out)
    }

    /// Appends one element.
    pub fn add(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        value: V,
        now_ms: i64,
    ) -> Result<(), StateError> {
        self.add_all(kr, key, ns, [value], now_ms)
    }

    /// Appends every element of `values`; an empty `values` writes nothing.
    pub fn add_all(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        values: impl IntoIterator<Item = V>,
        now_ms: i64,
    ) -> Result<(), StateError> {
        let stored_key = self.cf.key(kr, key, ns)?;
        let operand = self.records(values, now_ms)?;
        if operand.is_empty() {
            return Ok(());
        }
        self.cf.merge(&stored_key, &operand)
    }

    /// Replaces the list with `values`; an empty `values` clears it.
    pub fn update(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        values: impl IntoIterator<Item = V>,
        now_ms: i64,
    ) -> Result<(), StateError> {
        let stored_key = self.cf.key(kr, key, ns)?;
        let bytes = self.records(values, now_ms)?;
        if bytes.is_empty() {
            return self.cf.delete(&stored_key);
        }
        self.cf.put(&stored_key, &bytes)
    }

    /// Removes the list and returns its visible elements.
    pub fn take(&mut self, kr: KeyRef, key: &K, ns: &N, now_ms: i64) -> Result<Vec<V>, StateError> {
        let stored_key = self.cf.key(kr, key, ns)?;
        let Some(raw) = self.cf.get(&stored_key)? else {
            return Ok(Vec::new());
        };
        let mut values = Vec::new();
        for record in list_records(&raw) {
            let (_, stored) = record.map_err(|e| self.cf.codec(e))?;
            if self.ttl.is_visible(stored.expires_at_ms, now_ms) {
                values.push(stored.decode().map_err(|e| self.cf.codec(e))?);
            }
        }
        drop(raw);
        self.cf.delete(&stored_key)?;
        Ok(values)
    }

    /// Removes the list of (key, ns).
    pub fn clear(&mut self, kr: KeyRef, key: &K, ns: &N) -> Result<(), StateError> {
        let stored_key = self.cf.key(kr, key, ns)?;
        self.cf.delete(&stored_key)
    }

    /// Drops the list of (key, ns); returns whether one was stored.
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

    /// Moves the visible elements of every `sources` list, in order, to the
    /// end of the `target` list (session-window merging). Elements keep
    /// their expiry and are moved as stored, without decoding.
    pub fn merge_namespaces(
        &mut self,
        kr: KeyRef,
        key: &K,
        sources: &[N],
        target: &N,
        now_ms: i64,
    ) -> Result<(), StateError> {
        let mut moved = Vec::new();
        for source in sources {
            let source_key = self.cf.key(kr, key, source)?;
            let Some(raw) = self.cf.get(&source_key)? else {
                continue;
            };
            for record in list_records(&raw) {
                let (_, stored) = record.map_err(|e| self.cf.codec(e))?;
                if self.ttl.is_visible(stored.expires_at_ms, now_ms) {
                    let mut element = Vec::new();
                    stored.with_expiry(stored.expires_at_ms, &mut element);
                    put_list_record(&element, &mut moved).map_err(|e| self.cf.codec(e))?;
                }
            }
            drop(raw);
            // At once: a source named twice is moved once, as in the heap.
            self.cf.delete(&source_key)?;
        }
        if moved.is_empty() {
            return Ok(());
        }
        let target_key = self.cf.key(kr, key, target)?;
        self.cf.merge(&target_key, &moved)
    }

    /// Drops every list of the owned key groups.
    pub fn clear_all(&mut self) -> Result<(), StateError> {
        let (start, end) = self.cf.owned_bounds();
        self.cf.delete_range(&start, &end)
    }

    /// Every stored element of key group `kg` as (key, ns, element), the
    /// elements of one list consecutively and in order (for snapshots).
    pub fn iter_key_group(
        &self,
        kg: KeyGroup,
    ) -> Result<impl Iterator<Item = StateResult<(K, N, V)>> + '_, StateError> {
        Ok(self
            .iter_key_group_with_expiry(kg)?
            .map(|entry| entry.map(|(k, n, v, _)| (k, n, v))))
    }

    /// Like [`iter_key_group`](Self::iter_key_group), with each element's
    /// stored expiry.
    pub fn iter_key_group_with_expiry(
        &self,
        kg: KeyGroup,
    ) -> Result<impl Iterator<Item = StateResult<ExpiringEntry<K, N, V>>> + '_, StateError> {
        let (from, to) = self.cf.key_group_bounds(kg)?;
        Ok(self.cf.scan(&from, &to)?.flat_map(move |entry| {
            let elements = entry.and_then(|(key, value)| {
                decode_list::<K, N, V>(&key, &value).map_err(|e| self.cf.codec(e))
            });
            match elements {
                Ok(elements) => elements.into_iter().map(Ok).collect::<Vec<_>>(),
                Err(err) => vec![Err(err)],
            }
        }))
    }

    /// Examines up to `entries_max` lists, resuming where the previous call
    /// stopped, drops their expired elements (and lists left empty); returns
    /// the number of elements removed.
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
            sweep_list(value, |expiry| ttl.is_expired(expiry, now_ms))
                .map_err(|e| e.in_state(&name))
        })
    }
}

/// Decodes a stored list into its elements, each with the key and ns.
fn decode_list<K, N, V>(key: &[u8], value: &[u8]) -> Result<Vec<ExpiringEntry<K, N, V>>, CodecError>
where
    K: StateData + Clone,
    N: StateData + Clone,
    V: StateData,
{
    let parts = StateKeyParts::parse(key)?;
    let (k, n): (K, N) = (parts.decode_key()?, parts.decode_namespace()?);
    list_records(value)
        .map(|record| {
            let (_, stored) = record?;
            Ok((k.clone(), n.clone(), stored.decode()?, stored.expires_at_ms))
        })
        .collect()
}

/// The cleanup decision for one stored list.
fn sweep_list(value: &[u8], expired: impl Fn(Option<i64>) -> bool) -> Result<Swept, CodecError> {
    let mut kept = Vec::new();
    let (mut removed, mut live) = (0usize, 0usize);
    for record in list_records(value) {
        let (_, stored): (usize, Stored<'_>) = record?;
        if expired(stored.expires_at_ms) {
            removed += 1;
        } else {
            live += 1;
            let mut element = Vec::new();
            stored.with_expiry(stored.expires_at_ms, &mut element);
            put_list_record(&element, &mut kept)?;
        }
    }
    Ok(match (removed, live) {
        (0, _) => Swept::Keep,
        (_, 0) => Swept::Delete(removed),
        _ => Swept::Replace(kept, removed),
    })
}

impl<K, N, V> fmt::Debug for RocksListTable<K, N, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RocksListTable")
            .field("name", &self.cf.name())
            .field("ttl", &self.ttl.0)
            .finish_non_exhaustive()
    }
}
