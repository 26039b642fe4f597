//! Checkpoint and rescaling primitives of a RocksDB instance.
//!
//! - [`RocksBackend::checkpoint`]: flush, then RocksDB's hard-link
//!   checkpoint. SST files are immutable and their names are never reused
//!   by an instance, so the files of a checkpoint absent from the previous
//!   one ([`RocksCheckpoint::new_since`]) are all a checkpoint has to upload.
//! - [`RocksBackend::restore_from_checkpoint`]: a new instance from a
//!   checkpoint directory, keeping only the key groups it owns.
//! - [`RocksBackend::export_key_groups`], [`RocksBackend::ingest`],
//!   [`RocksBackend::drop_key_groups`]: rescaling moves whole key-group
//!   ranges as SST files instead of replaying records.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use rocksdb::checkpoint::Checkpoint;
use rocksdb::{FlushOptions, IngestExternalFileOptions, IteratorMode, ReadOptions, SstFileWriter};

use super::db::{RocksBackend, io_error, storage};
use super::options::RocksOptions;
use crate::codec::key_group_range_bounds;
use crate::error::StateError;
use crate::key_group::KeyGroupRange;

/// What a checkpoint file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// An immutable table file, shared between checkpoints.
    Sst,
    /// Metadata (MANIFEST, CURRENT, OPTIONS, WAL): small, rewritten by
    /// every checkpoint.
    Metadata,
}

/// One file of a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CheckpointFile {
    /// File name inside the checkpoint directory.
    pub name: String,
    /// Size in bytes.
    pub size_bytes: u64,
    /// SST or metadata.
    pub kind: FileKind,
}

/// A checkpoint of one instance: a directory RocksDB can open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RocksCheckpoint {
    /// Where it lies.
    pub dir: PathBuf,
    /// Its files, sorted by name.
    pub files: Vec<CheckpointFile>,
}

impl RocksCheckpoint {
    /// The SST files of this checkpoint that `previous` (of the same
    /// instance) does not hold: what an incremental checkpoint uploads.
    pub fn new_since(&self, previous: &RocksCheckpoint) -> Vec<&CheckpointFile> {
        let old: HashSet<&str> = previous.files.iter().map(|f| f.name.as_str()).collect();
        self.ssts()
            .filter(|f| !old.contains(f.name.as_str()))
            .collect()
    }

    /// The SST files.
    pub fn ssts(&self) -> impl Iterator<Item = &CheckpointFile> {
        self.files.iter().filter(|f| f.kind == FileKind::Sst)
    }
}

/// One SST file holding one state's entries of a key-group range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportedSst {
    /// The state the entries belong to.
    pub state: String,
    /// The key groups whose entries it holds (all of them).
    pub range: KeyGroupRange,
    /// The file.
    pub path: PathBuf,
    /// Number of entries.
    pub entries: u64,
    /// Size in bytes.
    pub size_bytes: u64,
}

impl RocksBackend {
    /// Flushes every memtable, then writes a RocksDB checkpoint into `dir`
    /// (which must not exist): SST files are hard-linked, metadata copied.
    /// This is the synchronous part of a checkpoint; uploading the files is
    /// not done here.
    pub fn checkpoint(&self, dir: impl AsRef<Path>) -> Result<RocksCheckpoint, StateError> {
        let dir = dir.as_ref();
        self.flush()?;
        let db = &self.inner.db;
        Checkpoint::new(db)
            .and_then(|c| c.create_checkpoint(dir))
            .map_err(|e| storage("checkpoint", dir, &e))?;
        crate::crash_point::hit(crate::crash_point::ROCKS_AFTER_HARD_LINK);
        Ok(RocksCheckpoint {
            dir: dir.to_path_buf(),
            files: list_files(dir)?,
        })
    }

    /// Writes every memtable to SST files and waits for it.
    pub fn flush(&self) -> Result<(), StateError> {
        let cfs = self
            .state_cfs()?
            .into_iter()
            .map(|(_, cf)| self.cf(&cf))
            .collect::<Result<Vec<_>, _>>()?;
        if cfs.is_empty() {
            return Ok(());
        }
        let mut opts = FlushOptions::default();
        opts.set_wait(true);
        let refs: Vec<_> = cfs.iter().collect();
        self.inner
            .db
            .flush_cfs_opt(&refs, &opts)
            .map_err(|e| self.storage_error("flush", &e))
    }

    /// Opens a new instance in `dir` (absent or empty) from the checkpoint
    /// in `checkpoint_dir`, whose files are hard-linked (copied across file
    /// systems). Key groups outside `range` are dropped, so a checkpoint of
    /// a larger range restores the part a rescaled subtask owns.
    pub fn restore_from_checkpoint(
        checkpoint_dir: impl AsRef<Path>,
        dir: impl AsRef<Path>,
        range: KeyGroupRange,
        options: RocksOptions,
    ) -> Result<Self, StateError> {
        let (from, dir) = (checkpoint_dir.as_ref(), dir.as_ref());
        link_or_copy_dir(from, dir)?;
        let backend = Self::open(dir, range, options)?;
        backend.drop_outside(range)?;
        Ok(backend)
    }

    /// Deletes every key group outside `range`.
    fn drop_outside(&self, range: KeyGroupRange) -> Result<(), StateError> {
        let below = KeyGroupRange::new(0, range.start)?;
        let above = KeyGroupRange::new(range.end, crate::key_group::MAX_PARALLELISM_LIMIT)?;
        for part in [below, above] {
            if !part.is_empty() {
                self.drop_key_groups(part)?;
            }
        }
        Ok(())
    }

    /// Deletes the entries of every key group in `range` from every state:
    /// whole SST files inside the range are dropped, the rest is covered by
    /// a range tombstone per column family.
    pub fn drop_key_groups(&self, range: KeyGroupRange) -> Result<(), StateError> {
        let (from, to) = key_group_range_bounds(range);
        let inner = &self.inner;
        for (_, cf_name) in self.state_cfs()? {
            let cf = self.cf(&cf_name)?;
            inner
                .db
                .delete_file_in_range_cf(&cf, from, to)
                .map_err(|e| self.storage_error("delete files in range", &e))?;
            inner
                .db
                .delete_range_cf_opt(&cf, from, to, &inner.write)
                .map_err(|e| self.storage_error("delete range", &e))?;
        }
        Ok(())
    }

    /// Writes the entries of the key groups `range` into SST files in `dir`
    /// (created if needed), one file per state that has any; returns them.
    /// Expired entries not yet cleaned up are exported too, with their
    /// expiry, as checkpoints keep them.
    pub fn export_key_groups(
        &self,
        range: KeyGroupRange,
        dir: impl AsRef<Path>,
    ) -> Result<Vec<ExportedSst>, StateError> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| io_error("create directory", dir, &e))?;
        let mut exported = Vec::new();
        for (index, (state, cf_name)) in self.state_cfs()?.into_iter().enumerate() {
            // Index-named: state names may hold any character.
            let path = dir.join(format!("{index:05}.sst"));
            if let Some(entries) = self.export_cf(&cf_name, range, &path)? {
                let size_bytes = std::fs::metadata(&path)
                    .map_err(|e| io_error("stat exported file", &path, &e))?
                    .len();
                exported.push(ExportedSst {
                    state,
                    range,
                    path,
                    entries,
                    size_bytes,
                });
            }
        }
        Ok(exported)
    }

    /// Writes one column family's entries of `range` to `path`; returns
    /// their number, or `None` (and no file) when there are none.
    fn export_cf(
        &self,
        cf_name: &str,
        range: KeyGroupRange,
        path: &Path,
    ) -> Result<Option<u64>, StateError> {
        let (from, to) = key_group_range_bounds(range);
        let inner = &self.inner;
        let cf = self.cf(cf_name)?;
        let mut read = ReadOptions::default();
        read.set_iterate_upper_bound(to);
        // Blocks read for an export are not worth caching.
        read.fill_cache(false);
        let iter = inner.db.iterator_cf_opt(
            &cf,
            read,
            IteratorMode::From(&from, rocksdb::Direction::Forward),
        );
        let mut writer = SstFileWriter::create(&inner.cf_options);
        let mut entries = 0u64;
        for item in iter {
            let (key, value) = item.map_err(|e| self.storage_error("export scan", &e))?;
            if entries == 0 {
                writer
                    .open(path)
                    .map_err(|e| storage("create SST", path, &e))?;
            }
            writer
                .put(&key, &value)
                .map_err(|e| storage("write SST", path, &e))?;
            entries += 1;
        }
        if entries == 0 {
            return Ok(None);
        }
        writer
            .finish()
            .map_err(|e| storage("finish SST", path, &e))?;
        Ok(Some(entries))
    }

    /// Ingests exported SST files (their states' column families are
    /// created if needed). Each file's key groups must lie in this
    /// instance's range; the files are hard-linked (or copied) in, so they
    /// must not be ingested twice.
    pub fn ingest(&self, files: &[ExportedSst]) -> Result<(), StateError> {
        let owned = self.range();
        for file in files {
            let outside = file.range.iter().find(|kg| !owned.contains(*kg));
            if let Some(key_group) = outside {
                return Err(StateError::KeyGroupOutOfRange {
                    key_group,
                    range: owned,
                });
            }
        }
        let mut opts = IngestExternalFileOptions::default();
        opts.set_move_files(true);
        for file in files {
            let cf_name = self.declare(&file.state)?;
            let cf = self.cf(&cf_name)?;
            self.inner
                .db
                .ingest_external_file_cf_opts(&cf, &opts, vec![&file.path])
                .map_err(|e| storage("ingest SST", &file.path, &e))?;
        }
        Ok(())
    }
}

/// The files of a checkpoint directory, sorted by name.
fn list_files(dir: &Path) -> Result<Vec<CheckpointFile>, StateError> {
    let entries = std::fs::read_dir(dir).map_err(|e| io_error("list checkpoint", dir, &e))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_error("list checkpoint", dir, &e))?;
        let path = entry.path();
        let size_bytes = entry
            .metadata()
            .map_err(|e| io_error("stat checkpoint file", &path, &e))?
            .len();
        let name = entry.file_name().to_string_lossy().into_owned();
        let kind = if name.ends_with(".sst") {
            FileKind::Sst
        } else {
            FileKind::Metadata
        };
        files.push(CheckpointFile {
            name,
            size_bytes,
            kind,
        });
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

/// Hard-links (or copies, across file systems) the SST files of `from` into
/// `to`, which must be absent or empty, and copies the others.
fn link_or_copy_dir(from: &Path, to: &Path) -> Result<(), StateError> {
    std::fs::create_dir_all(to).map_err(|e| io_error("create directory", to, &e))?;
    let mut existing = std::fs::read_dir(to).map_err(|e| io_error("list directory", to, &e))?;
    if existing.next().is_some() {
        return Err(StateError::Storage {
            operation: "restore",
            path: to.to_path_buf(),
            reason: "the target directory is not empty".to_owned(),
        });
    }
    let entries = std::fs::read_dir(from).map_err(|e| io_error("list checkpoint", from, &e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io_error("list checkpoint", from, &e))?;
        let source = entry.path();
        let target = to.join(entry.file_name());
        // Only immutable SSTs are shared: RocksDB may append to the others
        // (MANIFEST), which must not change the checkpoint.
        let is_sst = source.extension().is_some_and(|ext| ext == "sst");
        if !is_sst || std::fs::hard_link(&source, &target).is_err() {
            std::fs::copy(&source, &target).map_err(|e| io_error("copy", &source, &e))?;
        }
    }
    Ok(())
}
