//! The column family of one state: what every RocksDB table builds on.

use rocksdb::{DBPinnableSlice, Direction, IteratorMode, ReadOptions, WriteBatch};

use super::db::RocksBackend;
use crate::codec::{CodecError, StateData, encode_state_key, key_group_prefix};
use crate::error::StateError;
use crate::key_group::{KeyGroup, KeyGroupRange, KeyRef};

/// A stored (key, value) pair read by a scan.
pub(crate) type RawEntry = (Box<[u8]>, Box<[u8]>);

/// What a cleanup visitor decided about one stored entry.
pub(crate) enum Swept {
    /// Leave it.
    Keep,
    /// Delete it; it held this many expired values.
    Delete(usize),
    /// Store these bytes instead; this many expired values were dropped.
    Replace(Vec<u8>, usize),
}

/// One state's column family in one instance.
pub(crate) struct StateCf {
    backend: RocksBackend,
    name: String,
    cf_name: String,
    /// Where the incremental TTL cleanup resumes.
    cleanup_cursor: Option<Vec<u8>>,
}

impl StateCf {
    /// The column family of state `name`, created if it does not exist.
    pub(crate) fn open(backend: &RocksBackend, name: &str) -> Result<Self, StateError> {
        let cf_name = backend.declare(name)?;
        Ok(Self {
            backend: backend.clone(),
            name: name.to_owned(),
            cf_name,
            cleanup_cursor: None,
        })
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn range(&self) -> KeyGroupRange {
        self.backend.range()
    }

    /// A codec error of this state.
    pub(crate) fn codec(&self, err: CodecError) -> StateError {
        err.in_state(&self.name)
    }

    /// The stored key of (key, ns); `KeyGroupOutOfRange` unless owned.
    #[inline]
    pub(crate) fn key<K: StateData, N: StateData>(
        &self,
        kr: KeyRef,
        key: &K,
        ns: &N,
    ) -> Result<Vec<u8>, StateError> {
        self.backend.check_key_group(kr.key_group)?;
        encode_state_key(kr.key_group, key, ns).map_err(|e| self.codec(e))
    }

    /// The byte range of key group `kg`; `KeyGroupOutOfRange` unless owned.
    pub(crate) fn key_group_bounds(&self, kg: KeyGroup) -> Result<([u8; 2], [u8; 2]), StateError> {
        self.backend.check_key_group(kg)?;
        // kg < end <= 2^15, so kg + 1 fits.
        Ok((key_group_prefix(kg), key_group_prefix(kg + 1)))
    }

    /// The byte range of every owned key group.
    pub(crate) fn owned_bounds(&self) -> ([u8; 2], [u8; 2]) {
        let range = self.range();
        (key_group_prefix(range.start), key_group_prefix(range.end))
    }

    #[inline]
    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<DBPinnableSlice<'_>>, StateError> {
        let inner = &self.backend.inner;
        let cf = self.backend.cf(&self.cf_name)?;
        inner
            .db
            .get_pinned_cf_opt(&cf, key, &inner.read)
            .map_err(|e| self.backend.storage_error("get", &e))
    }

    #[inline]
    pub(crate) fn put(&self, key: &[u8], value: &[u8]) -> Result<(), StateError> {
        let inner = &self.backend.inner;
        let cf = self.backend.cf(&self.cf_name)?;
        inner
            .db
            .put_cf_opt(&cf, key, value, &inner.write)
            .map_err(|e| self.backend.storage_error("put", &e))
    }

    #[inline]
    pub(crate) fn delete(&self, key: &[u8]) -> Result<(), StateError> {
        let inner = &self.backend.inner;
        let cf = self.backend.cf(&self.cf_name)?;
        inner
            .db
            .delete_cf_opt(&cf, key, &inner.write)
            .map_err(|e| self.backend.storage_error("delete", &e))
    }

    /// Appends `operand` through the list merge operator.
    #[inline]
    pub(crate) fn merge(&self, key: &[u8], operand: &[u8]) -> Result<(), StateError> {
        let inner = &self.backend.inner;
        let cf = self.backend.cf(&self.cf_name)?;
        inner
            .db
            .merge_cf_opt(&cf, key, operand, &inner.write)
            .map_err(|e| self.backend.storage_error("merge", &e))
    }

    /// Applies puts (`Some`) and deletes (`None`) atomically.
    pub(crate) fn write(&self, ops: Vec<(Vec<u8>, Option<Vec<u8>>)>) -> Result<(), StateError> {
        if ops.is_empty() {
            return Ok(());
        }
        let inner = &self.backend.inner;
        let cf = self.backend.cf(&self.cf_name)?;
        let mut batch = WriteBatch::default();
        for (key, value) in ops {
            match value {
                Some(value) => batch.put_cf(&cf, key, value),
                None => batch.delete_cf(&cf, key),
            }
        }
        inner
            .db
            .write_opt(batch, &inner.write)
            .map_err(|e| self.backend.storage_error("write batch", &e))
    }

    /// Deletes every key in `[from, to)`.
    pub(crate) fn delete_range(&self, from: &[u8], to: &[u8]) -> Result<(), StateError> {
        let inner = &self.backend.inner;
        let cf = self.backend.cf(&self.cf_name)?;
        inner
            .db
            .delete_range_cf_opt(&cf, from, to, &inner.write)
            .map_err(|e| self.backend.storage_error("delete range", &e))
    }

    /// The stored entries with keys in `[from, to)`, in key order.
    pub(crate) fn scan<'a>(
        &'a self,
        from: &[u8],
        to: &[u8],
    ) -> Result<impl Iterator<Item = Result<RawEntry, StateError>> + use<'a>, StateError> {
        let inner = &self.backend.inner;
        let cf = self.backend.cf(&self.cf_name)?;
        let mut read = ReadOptions::default();
        read.set_iterate_upper_bound(to);
        let iter =
            inner
                .db
                .iterator_cf_opt(&cf, read, IteratorMode::From(from, Direction::Forward));
        Ok(iter.map(move |item| item.map_err(|e| self.backend.storage_error("scan", &e))))
    }

    /// Whether any key lies in `[from, to)`.
    pub(crate) fn any_in(&self, from: &[u8], to: &[u8]) -> Result<bool, StateError> {
        Ok(self.scan(from, to)?.next().transpose()?.is_some())
    }

    /// Examines up to `entries_max` stored entries of the owned key groups,
    /// resuming after the last one examined by the previous call and going
    /// round at most once, and applies `visit`'s decision to each; returns
    /// how many values it removed.
    pub(crate) fn sweep(
        &mut self,
        entries_max: usize,
        mut visit: impl FnMut(&[u8], &[u8]) -> Result<Swept, StateError>,
    ) -> Result<usize, StateError> {
        let (start, end) = self.owned_bounds();
        let passes = match self.cleanup_cursor.take() {
            None => vec![(start.to_vec(), end.to_vec())],
            Some(cursor) => vec![(cursor.clone(), end.to_vec()), (start.to_vec(), cursor)],
        };
        let mut pass = SweepPass {
            entries_left: entries_max,
            removed: 0,
            ops: Vec::new(),
        };
        for (from, to) in passes {
            if let Some(next) = self.sweep_range(&from, &to, &mut pass, &mut visit)? {
                self.cleanup_cursor = Some(next);
                break;
            }
        }
        self.write(pass.ops)?;
        Ok(pass.removed)
    }

    /// Sweeps `[from, to)` until the budget runs out; returns the key to
    /// resume at, if it ran out.
    fn sweep_range(
        &self,
        from: &[u8],
        to: &[u8],
        pass: &mut SweepPass,
        visit: &mut impl FnMut(&[u8], &[u8]) -> Result<Swept, StateError>,
    ) -> Result<Option<Vec<u8>>, StateError> {
        for entry in self.scan(from, to)? {
            let (key, value) = entry?;
            if pass.entries_left == 0 {
                return Ok(Some(key.into_vec()));
            }
            pass.entries_left -= 1;
            match visit(&key, &value)? {
                Swept::Keep => {}
                Swept::Delete(n) => {
                    pass.removed += n;
                    pass.ops.push((key.into_vec(), None));
                }
                Swept::Replace(bytes, n) => {
                    pass.removed += n;
                    pass.ops.push((key.into_vec(), Some(bytes)));
                }
            }
        }
        Ok(None)
    }
}

/// The progress of one cleanup call.
struct SweepPass {
    entries_left: usize,
    removed: usize,
    ops: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}
