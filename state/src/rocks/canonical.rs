//! The RocksDB tables in the canonical form. The canonical form is the
//! RocksDB backend's own stored layout, so export is a scan of the key
//! group's byte range and import a batch of puts: no entry is decoded.
//! A snapshot of the heap backend restores here and the other way round.

use super::state_cf::StateCf;
use super::{
    RocksAggregatingTable, RocksListTable, RocksMapTable, RocksReducingTable, RocksValueTable,
};
use crate::AggregateFunction;
use crate::canonical::{CanonicalEntry, CanonicalState};
use crate::codec::StateData;
use crate::error::StateError;
use crate::key_group::{KeyGroup, KeyGroupRange};

/// Puts per write batch on import, bounding the batch's memory.
const IMPORT_BATCH_ENTRIES_MAX: usize = 16 * 1024;

impl StateCf {
    fn export_raw(&self, kg: KeyGroup, out: &mut Vec<CanonicalEntry>) -> Result<(), StateError> {
        let (from, to) = self.key_group_bounds(kg)?;
        for entry in self.scan(&from, &to)? {
            let (key, value) = entry?;
            out.push((key.into_vec(), value.into_vec()));
        }
        Ok(())
    }

    fn import_raw(&self, entries: &[CanonicalEntry]) -> Result<(), StateError> {
        let (lo, hi) = self.owned_bounds();
        for chunk in entries.chunks(IMPORT_BATCH_ENTRIES_MAX) {
            let mut ops = Vec::with_capacity(chunk.len());
            for (key, value) in chunk {
                if key.as_slice() < lo.as_slice() || key.as_slice() >= hi.as_slice() {
                    return Err(StateError::Internal {
                        reason: format!(
                            "state `{}`: a restored entry is outside the key groups {:?}",
                            self.name(),
                            self.range()
                        ),
                    });
                }
                ops.push((key.clone(), Some(value.clone())));
            }
            self.write(ops)?;
        }
        Ok(())
    }
}

macro_rules! raw_canonical {
    ($kind:literal, $ty:ty, $cf:ident, [$($bounds:tt)*]) => {
        impl<$($bounds)*> CanonicalState for $ty {
            fn kind(&self) -> &'static str {
                $kind
            }

            fn key_groups(&self) -> KeyGroupRange {
                self.range()
            }

            fn export_key_group(
                &self,
                _state: &str,
                kg: KeyGroup,
                out: &mut Vec<CanonicalEntry>,
            ) -> Result<(), StateError> {
                self.$cf().export_raw(kg, out)
            }

            fn import(
                &mut self,
                _state: &str,
                entries: &[CanonicalEntry],
                _now_ms: i64,
            ) -> Result<(), StateError> {
                self.$cf().import_raw(entries)
            }
        }
    };
}

raw_canonical!("value", RocksValueTable<K, N, V>, state_cf, [K: StateData, N: StateData, V: StateData]);
raw_canonical!(
    "list",
    RocksListTable<K, N, V>,
    state_cf,
    [K: StateData + Clone, N: StateData + Clone, V: StateData]
);
raw_canonical!(
    "map",
    RocksMapTable<K, N, UK, UV>,
    state_cf,
    [K: StateData, N: StateData, UK: StateData, UV: StateData]
);
raw_canonical!("reducing", RocksReducingTable<K, N, V>, state_cf, [K: StateData, N: StateData, V: StateData]);
raw_canonical!(
    "aggregating",
    RocksAggregatingTable<K, N, A>,
    state_cf,
    [K: StateData, N: StateData, A: AggregateFunction<Acc: StateData>]
);

impl super::RocksBackend {
    /// Every entry of state `state` (by its name in the instance) in the
    /// key groups `range` that the instance owns, sorted by stored key, in
    /// the canonical form. None when the instance has no such state.
    pub fn export_state(
        &self,
        state: &str,
        range: KeyGroupRange,
    ) -> Result<Vec<CanonicalEntry>, StateError> {
        let own = self.range();
        let (start, end) = (range.start.max(own.start), range.end.min(own.end));
        if start >= end || !self.states()?.iter().any(|s| s == state) {
            return Ok(Vec::new());
        }
        let cf = StateCf::open(self, state)?;
        let (from, to) = crate::codec::key_group_range_bounds(KeyGroupRange::new(start, end)?);
        let mut out = Vec::new();
        for entry in cf.scan(&from, &to)? {
            let (key, value) = entry?;
            out.push((key.into_vec(), value.into_vec()));
        }
        Ok(out)
    }
}
