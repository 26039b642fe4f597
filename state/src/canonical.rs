//! The canonical form of keyed state: sorted `(stored key, stored value)`
//! pairs in the byte layout of the RocksDB backend ([`crate::codec`] for
//! keys, `rocks::stored` for values). Heap checkpoints write it, restores
//! read it, and because it does not depend on the backend, a snapshot of
//! one backend restores into the other and into another parallelism (each
//! entry starts with its key group).
//!
//! Per table kind:
//! - value, reducing, aggregating: `kg | key | ns` → stored value;
//! - list: `kg | key | ns` → the list's records (each a stored value);
//! - map: `kg | key | ns | user key` → stored user value;
//! - timers: `kg | key | ns | timestamp` → registration order (u64 BE);
//!   the timestamp is big-endian with the sign bit flipped, so keys sort by
//!   time within a key.

use std::hash::Hash;
use std::sync::Arc;

use crate::codec::{DataPart, StateData, StateKeyParts, encode, encode_state_key};
use crate::error::StateError;
use crate::hash::stable_hash;
use crate::key_group::{KeyGroup, KeyGroupRange, KeyRef};
use crate::rocks::stored::{Stored, list_records, put_list_record, put_stored, stored_bytes};
use crate::snapshot::ExpiringEntry;
use crate::{AggregateFunction, AggregatingTable, ListTable, MapTable, ReducingTable, TimerQueue};
use crate::{ValueTable, codec::CodecError};

pub use crate::delta_order::sort_delta;

/// One entry: stored key, stored value.
pub type CanonicalEntry = (Vec<u8>, Vec<u8>);

/// One entry of a delta: stored key, and the stored value or `None` when
/// the key was deleted.
pub type DeltaEntry = (Vec<u8>, Option<Vec<u8>>);

/// A table that can write itself out in the canonical form and read
/// itself back.
pub trait CanonicalState {
    /// `value`, `list`, `map`, `reducing`, `aggregating` or `timers`.
    fn kind(&self) -> &'static str;
    /// The key groups the table holds.
    fn key_groups(&self) -> KeyGroupRange;
    /// Appends the entries of key group `kg`, sorted by stored key.
    /// `state` names the state in errors.
    fn export_key_group(
        &self,
        state: &str,
        kg: KeyGroup,
        out: &mut Vec<CanonicalEntry>,
    ) -> Result<(), StateError>;
    /// Adds entries read back from a snapshot (sorted by stored key, all
    /// in this table's key groups); `now_ms` starts the TTL of values
    /// stored without one.
    fn import(
        &mut self,
        state: &str,
        entries: &[CanonicalEntry],
        now_ms: i64,
    ) -> Result<(), StateError>;
    /// Appends every entry of the table, sorted by stored key (entries
    /// start with their key group, so the key groups in order).
    fn export_whole(&self, state: &str, out: &mut Vec<CanonicalEntry>) -> Result<(), StateError> {
        for kg in self.key_groups().iter() {
            self.export_key_group(state, kg, out)?;
        }
        Ok(())
    }
    /// Starts noting changes, so that [`export_changes`](Self::export_changes)
    /// can capture only what changed; false when this table cannot, and
    /// its captures stay whole. Call it before the table is filled.
    fn track_changes(&mut self) -> bool {
        false
    }
    /// Whether the table notes its changes.
    fn tracks_changes(&self) -> bool {
        false
    }
    /// Starts a copy-on-write capture of the entries changed since the
    /// previous capture (or since tracking started), and a new period. O(1)
    /// but for the first capture: nothing is encoded yet, and writes made
    /// from now on do not show in the capture.
    fn start_capture(&mut self, state: &str) -> Result<(), StateError> {
        Err(not_tracked(state))
    }
    /// Appends more of the capture in progress to `out`, spending at most
    /// `budget` (reduced by what was spent); true once it is complete (or
    /// when none is in progress). Each changed entry appears with its
    /// stored value, or `None` when it is gone. In no order, and a key may
    /// appear twice (then the value wins): see [`sort_delta`].
    fn continue_capture(
        &mut self,
        state: &str,
        budget: &mut usize,
        out: &mut Vec<DeltaEntry>,
    ) -> Result<bool, StateError> {
        let _ = (budget, out);
        Err(not_tracked(state))
    }
    /// Whether a capture is in progress.
    fn capturing(&self) -> bool {
        false
    }
    /// A whole capture at once: [`start_capture`](Self::start_capture),
    /// then [`continue_capture`](Self::continue_capture) until complete.
    fn export_changes(&mut self, state: &str, out: &mut Vec<DeltaEntry>) -> Result<(), StateError> {
        self.start_capture(state)?;
        while !self.continue_capture(state, &mut usize::MAX.clone(), out)? {}
        Ok(())
    }
}

#[cold]
fn not_tracked(state: &str) -> StateError {
    StateError::Internal {
        reason: format!("state `{state}` does not note its changes"),
    }
}

/// Every entry of `table`, sorted by stored key.
pub fn export_all(
    table: &dyn CanonicalState,
    state: &str,
) -> Result<Vec<CanonicalEntry>, StateError> {
    let mut out = Vec::new();
    table.export_whole(state, &mut out)?;
    Ok(out)
}

/// `value` as a canonical stored value without expiry, for operators that
/// keep state in their own structures.
pub fn stored_value<V: StateData>(value: &V) -> Result<Vec<u8>, CodecError> {
    stored_bytes(value, None)
}

/// Decodes a canonical stored value, with its expiry.
pub fn parse_stored_value<V: StateData>(bytes: &[u8]) -> Result<(V, Option<i64>), CodecError> {
    let stored = Stored::parse(bytes)?;
    Ok((stored.decode()?, stored.expires_at_ms))
}

fn sort_from(out: &mut [CanonicalEntry], from: usize) {
    if let Some(tail) = out.get_mut(from..) {
        tail.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    }
}

/// The delta entry of a value-like slot: its stored value, or a tombstone
/// when the slot (`value`) is gone.
pub(crate) fn value_slot_delta<K: StateData, N: StateData, V: StateData>(
    kg: KeyGroup,
    key: &K,
    ns: &N,
    value: Option<(&V, Option<i64>)>,
    out: &mut Vec<DeltaEntry>,
) -> Result<(), CodecError> {
    let stored_key = encode_state_key(kg, key, ns)?;
    let stored = value.map(|(v, at)| stored_bytes(v, at)).transpose()?;
    out.push((stored_key, stored));
    Ok(())
}

/// The delta entry of a list slot: one entry holding every element, or a
/// tombstone when the list is gone or empty.
pub(crate) fn list_slot_delta<'a, K: StateData, N: StateData, V: StateData + 'a>(
    kg: KeyGroup,
    key: &K,
    ns: &N,
    elements: impl Iterator<Item = (&'a V, Option<i64>)>,
    out: &mut Vec<DeltaEntry>,
) -> Result<(), CodecError> {
    let mut records = Vec::new();
    let mut element = Vec::new();
    let mut any = false;
    for (v, at) in elements {
        any = true;
        element.clear();
        put_stored(v, at, &mut element)?;
        put_list_record(&element, &mut records)?;
    }
    out.push((encode_state_key(kg, key, ns)?, any.then_some(records)));
    Ok(())
}

/// The delta entries of a map slot: one per user key. A gone map adds
/// nothing: the memo tombstones the user keys it held.
pub(crate) fn map_slot_delta<'a, K, N, UK, UV>(
    kg: KeyGroup,
    key: &K,
    ns: &N,
    entries: impl Iterator<Item = (&'a UK, &'a UV, Option<i64>)>,
    out: &mut Vec<DeltaEntry>,
) -> Result<(), CodecError>
where
    K: StateData,
    N: StateData,
    UK: StateData + 'a,
    UV: StateData + 'a,
{
    for (uk, uv, at) in entries {
        out.push((map_entry_key(kg, key, ns, uk)?, Some(stored_bytes(uv, at)?)));
    }
    Ok(())
}

/// The canonical entries of value-like items (one per slot).
fn encode_values<'a, K, N, V>(
    state: &str,
    kg: KeyGroup,
    items: impl Iterator<Item = ExpiringEntry<'a, K, N, &'a V>>,
    out: &mut Vec<CanonicalEntry>,
) -> Result<(), StateError>
where
    K: StateData + 'a,
    N: StateData + 'a,
    V: StateData + 'a,
{
    for (k, n, v, at) in items {
        let key = encode_state_key(kg, k, n).map_err(codec(state))?;
        out.push((key, stored_bytes(v, at).map_err(codec(state))?));
    }
    Ok(())
}

/// The canonical entries of list elements, those of one list consecutive:
/// one entry per list.
fn encode_lists<'a, K, N, V>(
    state: &str,
    kg: KeyGroup,
    items: impl Iterator<Item = ExpiringEntry<'a, K, N, &'a V>>,
    out: &mut Vec<CanonicalEntry>,
) -> Result<(), StateError>
where
    K: StateData + PartialEq + 'a,
    N: StateData + PartialEq + 'a,
    V: StateData + 'a,
{
    let mut current: Option<(&K, &N, Vec<u8>)> = None;
    let mut element = Vec::new();
    for (k, n, v, at) in items {
        if current
            .as_ref()
            .is_none_or(|(ck, cn, _)| *ck != k || *cn != n)
        {
            if let Some((ck, cn, records)) = current.take() {
                out.push((encode_state_key(kg, ck, cn).map_err(codec(state))?, records));
            }
            current = Some((k, n, Vec::new()));
        }
        element.clear();
        put_stored(v, at, &mut element).map_err(codec(state))?;
        if let Some((_, _, records)) = current.as_mut() {
            put_list_record(&element, records).map_err(codec(state))?;
        }
    }
    if let Some((ck, cn, records)) = current {
        out.push((encode_state_key(kg, ck, cn).map_err(codec(state))?, records));
    }
    Ok(())
}

/// The canonical entries of map user entries (one per user key).
fn encode_maps<'a, K, N, UK, UV>(
    state: &str,
    kg: KeyGroup,
    items: impl Iterator<Item = ExpiringEntry<'a, K, N, (&'a UK, &'a UV)>>,
    out: &mut Vec<CanonicalEntry>,
) -> Result<(), StateError>
where
    K: StateData + 'a,
    N: StateData + 'a,
    UK: StateData + 'a,
    UV: StateData + 'a,
{
    for (k, n, (uk, uv), at) in items {
        let key = map_entry_key(kg, k, n, uk).map_err(codec(state))?;
        out.push((key, stored_bytes(uv, at).map_err(codec(state))?));
    }
    Ok(())
}

/// The stored key of user key `uk` of the map of (key, ns).
fn map_entry_key<K: StateData, N: StateData, UK: StateData>(
    kg: KeyGroup,
    key: &K,
    ns: &N,
    uk: &UK,
) -> Result<Vec<u8>, CodecError> {
    let mut bytes = encode_state_key(kg, key, ns)?;
    encode(uk, DataPart::UserKey, &mut bytes)?;
    Ok(bytes)
}

/// A stored key's parts with the key decoded and its [`KeyRef`].
struct DecodedKey<'a, K> {
    parts: StateKeyParts<'a>,
    key: K,
    kr: KeyRef,
}

fn decode_key<'a, K: StateData + Hash>(
    state: &str,
    bytes: &'a [u8],
) -> Result<DecodedKey<'a, K>, StateError> {
    let parts = StateKeyParts::parse(bytes).map_err(|e| e.in_state(state))?;
    let key: K = parts.decode_key().map_err(|e| e.in_state(state))?;
    let kr = KeyRef {
        hash: stable_hash(&key),
        key_group: parts.key_group,
    };
    Ok(DecodedKey { parts, key, kr })
}

fn codec(state: &str) -> impl Fn(CodecError) -> StateError + '_ {
    move |e| e.in_state(state)
}

/// The capture methods of [`CanonicalState`], handed to the table's own
/// (`$mut` and `$ref` reach the table that holds the slots).
macro_rules! captures_through {
    ($this:ident => $mut:expr) => {
        captures_through!($this => $mut, $mut);
    };
    ($this:ident => $mut:expr, $ref:expr) => {
        fn start_capture(&mut $this, _state: &str) -> Result<(), StateError> {
            $mut.start_capture()
        }

        fn continue_capture(
            &mut $this,
            state: &str,
            budget: &mut usize,
            out: &mut Vec<DeltaEntry>,
        ) -> Result<bool, StateError> {
            $mut.continue_capture(state, budget, out)
        }

        fn capturing(&$this) -> bool {
            $ref.capturing()
        }
    };
}

impl<K, N, V> CanonicalState for ListTable<K, N, V>
where
    K: StateData + Hash + Eq + Clone + 'static,
    N: StateData + Hash + Eq + Clone + 'static,
    V: StateData + Clone + 'static,
{
    fn kind(&self) -> &'static str {
        "list"
    }

    fn key_groups(&self) -> KeyGroupRange {
        self.range()
    }

    fn export_key_group(
        &self,
        state: &str,
        kg: KeyGroup,
        out: &mut Vec<CanonicalEntry>,
    ) -> Result<(), StateError> {
        let from = out.len();
        encode_lists(state, kg, self.iter_key_group_with_expiry(kg)?, out)?;
        sort_from(out, from);
        Ok(())
    }

    fn import(
        &mut self,
        state: &str,
        entries: &[CanonicalEntry],
        now_ms: i64,
    ) -> Result<(), StateError> {
        for (key, value) in entries {
            let d = decode_key::<K>(state, key)?;
            let ns: N = d.parts.decode_namespace().map_err(codec(state))?;
            let mut values = Vec::new();
            for record in list_records(value) {
                let (_, stored) = record.map_err(codec(state))?;
                values.push((stored.decode().map_err(codec(state))?, stored.expires_at_ms));
            }
            self.restore(d.kr, &d.key, &ns, values, now_ms)?;
        }
        Ok(())
    }

    fn track_changes(&mut self) -> bool {
        ListTable::track_changes(self)
    }

    fn tracks_changes(&self) -> bool {
        ListTable::tracks_changes(self)
    }

    captures_through!(self => self);
}

impl<K, N, UK, UV> CanonicalState for MapTable<K, N, UK, UV>
where
    K: StateData + Hash + Eq + Clone + 'static,
    N: StateData + Hash + Eq + Clone + 'static,
    UK: StateData + Hash + Eq + Clone + 'static,
    UV: StateData + Clone + 'static,
{
    fn kind(&self) -> &'static str {
        "map"
    }

    fn key_groups(&self) -> KeyGroupRange {
        self.range()
    }

    fn export_key_group(
        &self,
        state: &str,
        kg: KeyGroup,
        out: &mut Vec<CanonicalEntry>,
    ) -> Result<(), StateError> {
        let from = out.len();
        encode_maps(state, kg, self.iter_key_group_with_expiry(kg)?, out)?;
        sort_from(out, from);
        Ok(())
    }

    fn import(
        &mut self,
        state: &str,
        entries: &[CanonicalEntry],
        now_ms: i64,
    ) -> Result<(), StateError> {
        for (key, value) in entries {
            let d = decode_key::<K>(state, key)?;
            let ns: N = d.parts.decode_namespace().map_err(codec(state))?;
            let uk: UK = d.parts.decode_user_key().map_err(codec(state))?;
            let stored = Stored::parse(value).map_err(codec(state))?;
            let uv: UV = stored.decode().map_err(codec(state))?;
            self.restore(d.kr, &d.key, &ns, (uk, uv, stored.expires_at_ms), now_ms)?;
        }
        Ok(())
    }

    fn track_changes(&mut self) -> bool {
        // A user key that cannot be encoded could not have been
        // checkpointed either: the capture of its value fails first.
        MapTable::track_changes(
            self,
            Arc::new(|kg, key: &K, ns: &N, uk: &UK, out: &mut Vec<Vec<u8>>| {
                if let Ok(bytes) = map_entry_key(kg, key, ns, uk) {
                    out.push(bytes);
                }
            }),
        )
    }

    fn tracks_changes(&self) -> bool {
        MapTable::tracks_changes(self)
    }

    captures_through!(self => self);
}

/// Value, reducing and aggregating tables store one value per (key, ns):
/// one canonical form.
macro_rules! value_like {
    ($kind:literal, $ty:ty, $v:ty, [$($bounds:tt)*]) => {
        impl<$($bounds)*> CanonicalState for $ty {
            fn kind(&self) -> &'static str {
                $kind
            }

            fn key_groups(&self) -> KeyGroupRange {
                self.range()
            }

            fn export_key_group(
                &self,
                state: &str,
                kg: KeyGroup,
                out: &mut Vec<CanonicalEntry>,
            ) -> Result<(), StateError> {
                let from = out.len();
                encode_values(state, kg, self.iter_key_group_with_expiry(kg)?, out)?;
                sort_from(out, from);
                Ok(())
            }

            fn import(
                &mut self,
                state: &str,
                entries: &[CanonicalEntry],
                now_ms: i64,
            ) -> Result<(), StateError> {
                for (key, value) in entries {
                    let d = decode_key::<K>(state, key)?;
                    let ns: N = d.parts.decode_namespace().map_err(codec(state))?;
                    let stored = Stored::parse(value).map_err(codec(state))?;
                    let v: $v = stored.decode().map_err(codec(state))?;
                    self.restore(d.kr, (d.key, ns, v, stored.expires_at_ms), now_ms)?;
                }
                Ok(())
            }

            fn track_changes(&mut self) -> bool {
                self.value_table_mut().track_changes()
            }

            fn tracks_changes(&self) -> bool {
                self.value_table().tracks_changes()
            }

            captures_through!(self => self.value_table_mut(), self.value_table());
        }
    };
}

value_like!("value", ValueTable<K, N, V>, V, [
    K: StateData + Hash + Eq + Clone + 'static,
    N: StateData + Hash + Eq + Clone + 'static,
    V: StateData + Clone + 'static
]);
value_like!("reducing", ReducingTable<K, N, V>, V, [
    K: StateData + Hash + Eq + Clone + 'static,
    N: StateData + Hash + Eq + Clone + 'static,
    V: StateData + Clone + 'static
]);
value_like!("aggregating", AggregatingTable<K, N, A>, A::Acc, [
    K: StateData + Hash + Eq + Clone + 'static,
    N: StateData + Hash + Eq + Clone + 'static,
    A: AggregateFunction<Acc: StateData>
]);

/// A timestamp as bytes that sort like the number.
fn timestamp_bytes(ts: i64) -> [u8; 8] {
    ((ts as u64) ^ (1 << 63)).to_be_bytes()
}

fn timestamp_of(bytes: &[u8]) -> Option<i64> {
    let b: [u8; 8] = bytes.try_into().ok()?;
    Some((u64::from_be_bytes(b) ^ (1 << 63)) as i64)
}

impl<K, N> CanonicalState for TimerQueue<K, N>
where
    K: StateData + Hash + Eq + Clone + 'static,
    N: StateData + Hash + Eq + Clone + 'static,
{
    fn kind(&self) -> &'static str {
        "timers"
    }

    fn key_groups(&self) -> KeyGroupRange {
        self.range()
    }

    fn export_key_group(
        &self,
        state: &str,
        kg: KeyGroup,
        out: &mut Vec<CanonicalEntry>,
    ) -> Result<(), StateError> {
        self.key_groups().offset_of(kg)?;
        let from = out.len();
        for (t, order) in self.iter_with_order() {
            if t.key_ref.key_group != kg {
                continue;
            }
            let mut key = encode_state_key(kg, &t.key, &t.ns).map_err(codec(state))?;
            key.extend_from_slice(&timestamp_bytes(t.timestamp_ms));
            out.push((key, order.to_be_bytes().to_vec()));
        }
        sort_from(out, from);
        Ok(())
    }

    /// One pass over the queue: timers are not grouped by key group, so
    /// a pass per key group would visit every timer that many times.
    fn export_whole(&self, state: &str, out: &mut Vec<CanonicalEntry>) -> Result<(), StateError> {
        let from = out.len();
        for (t, order) in self.iter_with_order() {
            let kg = t.key_ref.key_group;
            self.key_groups().offset_of(kg)?;
            let mut key = encode_state_key(kg, &t.key, &t.ns).map_err(codec(state))?;
            key.extend_from_slice(&timestamp_bytes(t.timestamp_ms));
            out.push((key, order.to_be_bytes().to_vec()));
        }
        sort_from(out, from);
        Ok(())
    }

    fn import(
        &mut self,
        state: &str,
        entries: &[CanonicalEntry],
        _now_ms: i64,
    ) -> Result<(), StateError> {
        let mut timers = Vec::with_capacity(entries.len());
        for (key, value) in entries {
            let d = decode_key::<K>(state, key)?;
            let ns: N = d.parts.decode_namespace().map_err(codec(state))?;
            let bad = |reason: &str| {
                CodecError::new(DataPart::KeyLayout, d.parts.rest_offset, reason.to_owned())
                    .in_state(state)
            };
            let ts =
                timestamp_of(d.parts.rest).ok_or_else(|| bad("timer timestamp is not 8 bytes"))?;
            let order: [u8; 8] = value
                .as_slice()
                .try_into()
                .map_err(|_| bad("timer order is not 8 bytes"))?;
            timers.push((ts, u64::from_be_bytes(order), d.kr, d.key, ns));
        }
        // Timers due together fire in their original registration order.
        timers.sort_unstable_by_key(|t| (t.0, t.1));
        for (ts, _, kr, key, ns) in timers {
            self.register(kr, &key, &ns, ts)?;
        }
        Ok(())
    }
}
