//! Keyed operators on RocksDB in checkpoints: each operator subtask has an
//! instance of its own (Flink's layout), so its checkpoint is RocksDB's
//! own: at the barrier, a flush and a hard-link checkpoint, both on the
//! core and both short; the stager then uploads only the table files that
//! storage does not hold yet, plus the small metadata files.
//!
//! A restore with the same key groups downloads the instance's files and
//! opens them as they are, with no entry rewritten. A rescale opens the
//! old instances in a scratch directory and ingests table files of the new
//! key groups written from them; a restore onto the heap reads the states
//! out of them in the canonical form.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use spate_state::KeyGroupRange;
use spate_state::checkpoint::{FileKind, FileRef, SubtaskState, open_instance};
use spate_state::rocks::{RocksBackend, RocksCheckpoint, RocksMemory, RocksOptions};

use super::restore::RestoredPositions;
use crate::error::{Result, SpateError};

/// The kind under which an instance's files are listed.
pub(crate) const INSTANCE_KIND: &str = "rocksdb";

/// The name under which the files of node `node`'s instance are listed
/// in a manifest (their `state`).
pub(crate) fn instance_state_name(node: usize) -> String {
    format!("{node}/#rocksdb")
}

/// One operator subtask's RocksDB instance.
#[derive(Debug)]
pub(crate) struct RocksInstance {
    pub(crate) backend: RocksBackend,
    /// The files it was restored from as they are, if it was, until the
    /// first capture: that checkpoint uploads none of them again.
    pub(crate) restored_files: Vec<FileRef>,
    /// Whether the instance's tables hold their restored state already:
    /// it came back as it was, or the old instances' table files of its
    /// key groups were ingested.
    holds_restored_state: bool,
}

impl RocksInstance {
    pub(crate) fn holds_restored_state(&self) -> bool {
        self.holds_restored_state
    }
}

/// What an instance's capture holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RocksCapture {
    /// The hard-link checkpoint, on the local disk.
    pub(crate) checkpoint: RocksCheckpoint,
    /// Files of the checkpoint the instance was restored from; the stager
    /// knows them as uploaded already.
    pub(crate) restored: Vec<FileRef>,
    /// The states in the instance: (name in checkpoints, kind).
    pub(crate) states: Vec<(String, String)>,
}

/// Opens the instance of operator `node` for the key groups `range` in
/// `dir`. When the run restores a checkpoint in which one subtask of the
/// node had exactly these key groups in an instance, its files come back
/// as they are.
pub(crate) fn open_operator_instance(
    restore: Option<&RestoredPositions>,
    node: usize,
    range: KeyGroupRange,
    dir: PathBuf,
    options: RocksOptions,
    memory: &RocksMemory,
) -> Result<RocksInstance> {
    let name = instance_state_name(node);
    let same = restore.and_then(|r| {
        r.manifest
            .subtasks
            .iter()
            .filter(|st| super::restore::node_of(&st.operator) == Some(node))
            .find(|st| st.key_groups.range().is_ok_and(|r| r == range))
            .map(|st| (r, st))
    });
    if let Some((restored, st)) = same {
        let files = instance_files(st, &name);
        if !files.is_empty() {
            let backend = open_instance(&*restored.storage, &files, &dir, range, options, memory)?;
            return Ok(RocksInstance {
                backend,
                restored_files: files.into_iter().cloned().collect(),
                holds_restored_state: true,
            });
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let backend = RocksBackend::open_sharing(&dir, range, options, memory)?;
    let ingested = match restore {
        Some(restored) => ingest_overlapping(restored, node, &backend)?,
        None => false,
    };
    Ok(RocksInstance {
        backend,
        restored_files: Vec::new(),
        holds_restored_state: ingested,
    })
}

/// Rescaling: moves the key groups of `backend` out of every old instance
/// of node `node` that held some of them, as table files written from the
/// old instance and ingested whole, rather than entry by entry. False when
/// the checkpoint holds no instance of the node.
fn ingest_overlapping(
    restored: &RestoredPositions,
    node: usize,
    backend: &RocksBackend,
) -> Result<bool> {
    let name = instance_state_name(node);
    let range = backend.range();
    let mut ingested = false;
    for st in restored
        .manifest
        .subtasks
        .iter()
        .filter(|st| super::restore::node_of(&st.operator) == Some(node))
        .filter(|st| !instance_files(st, &name).is_empty())
    {
        let old = st.key_groups.range()?;
        let (start, end) = (old.start.max(range.start), old.end.min(range.end));
        if start >= end {
            continue;
        }
        let from = restored.scratch.instance(restored, st, &name)?;
        let mut dir = backend.dir().as_os_str().to_os_string();
        dir.push(format!(".ingest-{}", st.subtask));
        let dir = PathBuf::from(dir);
        let files = from.export_key_groups(KeyGroupRange::new(start, end)?, &dir);
        let done = files.and_then(|files| backend.ingest(&files).map(|()| files.len()));
        let _ = std::fs::remove_dir_all(&dir);
        restored
            .scratch
            .ingested_files
            .fetch_add(done? as u64, std::sync::atomic::Ordering::Relaxed);
        ingested = true;
    }
    Ok(ingested)
}

/// The files of instance `name` in subtask `st`.
pub(crate) fn instance_files<'a>(st: &'a SubtaskState, name: &str) -> Vec<&'a FileRef> {
    st.files
        .iter()
        .filter(|f| f.state == name && f.kind.is_rocks())
        .collect()
}

/// Takes the instance's checkpoint `id` on the core: a flush and hard
/// links, into a directory beside the instance's.
pub(crate) fn capture_instance(instance: &mut RocksInstance, id: u64) -> Result<RocksCheckpoint> {
    let dir = instance.backend.dir();
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".chk-{id}"));
    let at = dir.with_file_name(name);
    // Left by a capture whose checkpoint was abandoned.
    let _ = std::fs::remove_dir_all(&at);
    Ok(instance.backend.checkpoint(&at)?)
}

/// The kind of file of a checkpoint's entry.
pub(crate) fn file_kind(file: &spate_state::rocks::CheckpointFile) -> FileKind {
    match file.kind {
        spate_state::rocks::FileKind::Sst => FileKind::RocksSst,
        spate_state::rocks::FileKind::Metadata => FileKind::RocksMeta,
    }
}

/// Starts the name of a restore's scratch directory, then `<pid>-<n>`.
const SCRATCH_DIR_PREFIX: &str = "spate-restore-";

/// Old instances a restore reads states out of, each opened once in a
/// scratch directory and removed when the restore is done.
#[derive(Debug)]
pub(crate) struct ScratchInstances {
    root: PathBuf,
    open: Mutex<HashMap<(String, u32), RocksBackend>>,
    /// Table files a rescale ingested into new instances.
    ingested_files: std::sync::atomic::AtomicU64,
}

impl ScratchInstances {
    /// Scratch instances under `local_dir` (`state.rocksdb_local_dir`).
    pub(crate) fn new(local_dir: &std::path::Path) -> Self {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if n == 0 {
            crate::runtime::settings::remove_dirs_of_dead_processes(local_dir, SCRATCH_DIR_PREFIX);
        }
        Self {
            root: local_dir.join(format!("{SCRATCH_DIR_PREFIX}{}-{n}", std::process::id())),
            open: Mutex::new(HashMap::new()),
            ingested_files: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Table files a rescale ingested into new instances so far.
    pub(crate) fn ingested_files(&self) -> u64 {
        self.ingested_files
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The entries of state `state` (its name in checkpoints) in the key
    /// groups `range`, out of the instance `instance` of old subtask `st`.
    pub(crate) fn entries(
        &self,
        restored: &RestoredPositions,
        st: &SubtaskState,
        instance: &str,
        state: &str,
        range: KeyGroupRange,
    ) -> Result<Vec<spate_state::CanonicalEntry>> {
        let backend = self.instance(restored, st, instance)?;
        Ok(backend.export_state(state, range)?)
    }

    /// Old subtask `st`'s instance `instance`, opened on first use.
    pub(crate) fn instance(
        &self,
        restored: &RestoredPositions,
        st: &SubtaskState,
        instance: &str,
    ) -> Result<RocksBackend> {
        let mut open = self
            .open
            .lock()
            .map_err(|_| SpateError::internal("scratch instance lock poisoned"))?;
        let key = (st.operator.clone(), st.subtask);
        if let Some(b) = open.get(&key) {
            return Ok(b.clone());
        }
        let files = instance_files(st, instance);
        let dir = self.root.join(format!(
            "{}-{}",
            super::location::path_safe(&st.operator),
            st.subtask
        ));
        let options = RocksOptions::default();
        let memory = RocksMemory::new(&options);
        let backend = open_instance(
            &*restored.storage,
            &files,
            &dir,
            st.key_groups.range()?,
            options,
            &memory,
        )?;
        open.insert(key, backend.clone());
        Ok(backend)
    }
}

impl Drop for ScratchInstances {
    fn drop(&mut self) {
        if let Ok(open) = self.open.get_mut() {
            open.clear();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_instances_open_under_the_local_dir_and_leave_nothing() {
        let local =
            std::env::temp_dir().join(format!("spate-scratch-local-{}", std::process::id()));
        std::fs::create_dir_all(&local).unwrap();
        let scratch = ScratchInstances::new(&local);
        assert!(
            scratch.root.starts_with(&local),
            "{}",
            scratch.root.display()
        );
        std::fs::create_dir_all(scratch.root.join("old-0")).unwrap();
        drop(scratch);
        assert_eq!(std::fs::read_dir(&local).unwrap().count(), 0);
        std::fs::remove_dir_all(&local).unwrap();
    }
}
