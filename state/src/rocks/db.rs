//! One RocksDB instance: opening, column families, and error mapping.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use rocksdb::{
    BoundColumnFamily, ColumnFamilyDescriptor, DBWithThreadMode, MultiThreaded, Options,
    ReadOptions, WriteOptions,
};

use super::options::{
    Memory, MemoryUsage, RocksMemory, RocksOptions, column_family_options, db_options,
};
use crate::error::StateError;
use crate::key_group::{KeyGroup, KeyGroupRange};

/// The RocksDB handle type: column families can be created through `&self`.
pub(crate) type Db = DBWithThreadMode<MultiThreaded>;

/// Column families of states carry this prefix, keeping RocksDB's
/// `default` family apart from any state name.
const STATE_CF_PREFIX: &str = "state/";

/// What every table and snapshot operation of one instance shares.
pub(crate) struct Instance {
    pub(crate) db: Db,
    pub(crate) dir: PathBuf,
    pub(crate) range: KeyGroupRange,
    pub(crate) cf_options: Options,
    pub(crate) read: ReadOptions,
    pub(crate) write: WriteOptions,
    /// Names of the states with a column family; the lock also serializes
    /// column-family creation (check, then create).
    states: Mutex<BTreeSet<String>>,
    memory: Arc<Memory>,
}

/// One RocksDB instance holding the keyed state of the key groups `range`
/// on one core; cheap to clone (a shared handle).
///
/// Tables are declared on it by state name ([`RocksValueTable::open`] and
/// siblings), one column family each; the name must be unique in the
/// instance (the engine should prefix it with the operator's id). Opening a
/// directory that holds an instance reopens its states.
///
/// [`RocksValueTable::open`]: super::RocksValueTable::open
#[derive(Clone)]
pub struct RocksBackend {
    pub(crate) inner: Arc<Instance>,
}

impl RocksBackend {
    /// Opens (or creates) the instance in `dir` for the key groups `range`.
    pub fn open(
        dir: impl AsRef<Path>,
        range: KeyGroupRange,
        options: RocksOptions,
    ) -> Result<Self, StateError> {
        let memory = RocksMemory::new(&options);
        Self::open_sharing(dir, range, options, &memory)
    }

    /// Opens (or creates) the instance in `dir` for the key groups
    /// `range`, holding its blocks and memtables in `memory`, which other
    /// instances (of the same core) share: the bound is `memory`'s, not
    /// this instance's.
    pub fn open_sharing(
        dir: impl AsRef<Path>,
        range: KeyGroupRange,
        options: RocksOptions,
        memory: &RocksMemory,
    ) -> Result<Self, StateError> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| io_error("create directory", &dir, &e))?;
        let memory = memory.shared();
        let db_opts = db_options(&options, &memory);
        let cf_options = column_family_options(&options, &memory);
        let existing = if dir.join("CURRENT").exists() {
            Db::list_cf(&db_opts, &dir).map_err(|e| storage("list column families", &dir, &e))?
        } else {
            Vec::new()
        };
        let states: BTreeSet<String> = existing
            .iter()
            .filter_map(|cf| cf.strip_prefix(STATE_CF_PREFIX).map(str::to_owned))
            .collect();
        let descriptors = existing
            .into_iter()
            .filter(|name| name != rocksdb::DEFAULT_COLUMN_FAMILY_NAME)
            .map(|name| ColumnFamilyDescriptor::new(name, cf_options.clone()));
        let db = Db::open_cf_descriptors(&db_opts, &dir, descriptors)
            .map_err(|e| storage("open", &dir, &e))?;
        let mut write = WriteOptions::default();
        write.disable_wal(!options.write_ahead_log);
        Ok(Self {
            inner: Arc::new(Instance {
                db,
                dir,
                range,
                cf_options,
                read: ReadOptions::default(),
                write,
                states: Mutex::new(states),
                memory,
            }),
        })
    }

    /// The key groups this instance owns.
    pub fn range(&self) -> KeyGroupRange {
        self.inner.range
    }

    /// The instance's directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Memory held now against the instance's bound.
    pub fn memory_usage(&self) -> MemoryUsage {
        self.inner.memory.usage()
    }

    /// The names of the states stored in the instance (declared, reopened
    /// or ingested), sorted.
    pub fn states(&self) -> Result<Vec<String>, StateError> {
        Ok(self.lock_states()?.iter().cloned().collect())
    }

    fn lock_states(&self) -> Result<MutexGuard<'_, BTreeSet<String>>, StateError> {
        self.inner.states.lock().map_err(|_| StateError::Internal {
            reason: "state registry lock poisoned".to_owned(),
        })
    }

    /// Creates the column family of state `name` unless it exists; returns
    /// its RocksDB name.
    pub(crate) fn declare(&self, name: &str) -> Result<String, StateError> {
        let cf_name = cf_name_of(name);
        let mut states = self.lock_states()?;
        if !states.contains(name) {
            let inner = &self.inner;
            inner
                .db
                .create_cf(&cf_name, &inner.cf_options)
                .map_err(|e| storage("create column family", &inner.dir, &e))?;
            states.insert(name.to_owned());
        }
        Ok(cf_name)
    }

    /// The column family `cf_name`.
    pub(crate) fn cf(&self, cf_name: &str) -> Result<Arc<BoundColumnFamily<'_>>, StateError> {
        self.inner
            .db
            .cf_handle(cf_name)
            .ok_or_else(|| StateError::Internal {
                reason: format!("column family {cf_name} is not open"),
            })
    }

    /// Every state column family as (state name, RocksDB name).
    pub(crate) fn state_cfs(&self) -> Result<Vec<(String, String)>, StateError> {
        Ok(self
            .states()?
            .into_iter()
            .map(|state| {
                let cf = cf_name_of(&state);
                (state, cf)
            })
            .collect())
    }

    /// `KeyGroupOutOfRange` unless the instance owns `kg`.
    #[inline]
    pub(crate) fn check_key_group(&self, kg: KeyGroup) -> Result<(), StateError> {
        let range = self.inner.range;
        if range.contains(kg) {
            Ok(())
        } else {
            Err(StateError::KeyGroupOutOfRange {
                key_group: kg,
                range,
            })
        }
    }

    /// A RocksDB error of `operation` on this instance.
    pub(crate) fn storage_error(
        &self,
        operation: &'static str,
        err: &rocksdb::Error,
    ) -> StateError {
        storage(operation, &self.inner.dir, err)
    }
}

impl std::fmt::Debug for RocksBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksBackend")
            .field("dir", &self.inner.dir)
            .field("range", &self.inner.range)
            .finish_non_exhaustive()
    }
}

/// The column family of state `name`.
fn cf_name_of(name: &str) -> String {
    format!("{STATE_CF_PREFIX}{name}")
}

/// A RocksDB error as a [`StateError::Storage`].
pub(crate) fn storage(operation: &'static str, path: &Path, err: &rocksdb::Error) -> StateError {
    StateError::Storage {
        operation,
        path: path.to_path_buf(),
        reason: err.to_string(),
    }
}

/// A file-system error as a [`StateError::Storage`].
pub(crate) fn io_error(operation: &'static str, path: &Path, err: &std::io::Error) -> StateError {
    StateError::Storage {
        operation,
        path: path.to_path_buf(),
        reason: err.to_string(),
    }
}
