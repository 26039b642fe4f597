//! Shared helpers of the checkpoint tests: SST files from a model, manifest
//! building, and a storage wrapper that injects faults.

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

use spate_state::StateError;
use spate_state::checkpoint::{
    CheckpointStorage, FileKind, FileRef, KeyGroupSpan, LocalDirStorage, LocalFile, Manifest,
    PutSummary, SstWriter, StoredObject, SubtaskState, io_error,
};

/// A key in key group `kg`.
pub fn key(kg: u16, n: u32) -> Vec<u8> {
    let mut k = kg.to_be_bytes().to_vec();
    k.extend_from_slice(&n.to_be_bytes());
    k
}

/// Writes `entries` (sorted) to `dir/name` and returns its manifest entry
/// and local file.
pub fn write_sst(
    dir: &Path,
    name: &str,
    entries: &BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    kind: FileKind,
    checkpoint_id: u64,
) -> (FileRef, LocalFile) {
    let path = dir.join(name);
    let mut w = SstWriter::create(&path)
        .unwrap()
        .with_block_bytes_target(4096);
    for (k, v) in entries {
        w.add(k, v.as_deref()).unwrap();
    }
    let summary = w.finish_durable().unwrap();
    let file = FileRef {
        name: name.to_string(),
        size_bytes: summary.size_bytes,
        crc32c: summary.crc32c,
        kind,
        key_groups: KeyGroupSpan {
            start: summary.key_group_start,
            end: summary.key_group_end,
        },
        state: "counts".into(),
        added_in: checkpoint_id,
        local_name: None,
    };
    let local = LocalFile {
        name: name.to_string(),
        path,
    };
    (file, local)
}

/// A one-subtask manifest over `files` (a chain, oldest first).
pub fn manifest(checkpoint_id: u64, files: Vec<FileRef>) -> Manifest {
    Manifest {
        checkpoint_id,
        job_id: "test-job".into(),
        created_at_ms: 1_700_000_000_000 + checkpoint_id,
        state_schema_version: 1,
        max_parallelism: 128,
        subtasks: vec![SubtaskState {
            operator: "sum".into(),
            subtask: 0,
            key_groups: KeyGroupSpan { start: 0, end: 128 },
            files,
            source_offsets: vec![],
            states: vec![],
            sink_transactions: Vec::new(),
            counters: Default::default(),
            operator_values: Default::default(),
        }],
    }
}

/// Faults a [`FaultyStorage`] injects.
#[derive(Debug, Default)]
pub struct Faults {
    /// Puts of objects whose name contains this fail with this errno.
    pub fail_put: Option<(String, i32)>,
    /// Manifest writes fail (EIO).
    pub fail_manifest: bool,
    /// Puts wait until this is false.
    pub hold_puts: bool,
}

/// Local storage with injected faults, as a full disk or a failing device
/// would produce them.
#[derive(Debug)]
pub struct FaultyStorage {
    pub inner: LocalDirStorage,
    faults: Mutex<Faults>,
    released: Condvar,
}

impl FaultyStorage {
    pub fn new(root: &Path) -> Self {
        FaultyStorage {
            inner: LocalDirStorage::new(root).unwrap(),
            faults: Mutex::new(Faults::default()),
            released: Condvar::new(),
        }
    }

    pub fn set(&self, change: impl FnOnce(&mut Faults)) {
        change(&mut self.faults.lock().unwrap());
        self.released.notify_all();
    }

    fn before_put(&self, name: &str) -> Result<(), StateError> {
        let mut faults = self.faults.lock().unwrap();
        while faults.hold_puts {
            faults = self.released.wait(faults).unwrap();
        }
        match &faults.fail_put {
            Some((part, errno)) if name.contains(part.as_str()) => Err(io_error(
                "put",
                &format!("{}/{name}", self.inner.location()),
                &io::Error::from_raw_os_error(*errno),
            )),
            _ => Ok(()),
        }
    }
}

impl CheckpointStorage for FaultyStorage {
    fn location(&self) -> String {
        self.inner.location()
    }
    fn put_file(&self, name: &str, local: &Path) -> Result<PutSummary, StateError> {
        self.before_put(name)?;
        self.inner.put_file(name, local)
    }
    fn put_bytes(&self, name: &str, bytes: &[u8]) -> Result<PutSummary, StateError> {
        self.before_put(name)?;
        self.inner.put_bytes(name, bytes)
    }
    fn put_manifest(&self, name: &str, bytes: &[u8]) -> Result<(), StateError> {
        if self.faults.lock().unwrap().fail_manifest {
            return Err(io_error("put", name, &io::Error::from_raw_os_error(5)));
        }
        self.inner.put_manifest(name, bytes)
    }
    fn read_into(&self, name: &str, sink: &mut dyn Write) -> Result<u64, StateError> {
        self.inner.read_into(name, sink)
    }
    fn size(&self, name: &str) -> Result<Option<u64>, StateError> {
        self.inner.size(name)
    }
    fn list(&self, prefix: &str) -> Result<Vec<StoredObject>, StateError> {
        self.inner.list(prefix)
    }
    fn delete(&self, name: &str) -> Result<(), StateError> {
        self.inner.delete(name)
    }
}

/// Path of an object of a local storage.
pub fn object_path(root: &Path, name: &str) -> PathBuf {
    root.join(name)
}
