//! A RocksDB backend in a temporary directory, removed when dropped.

#![allow(dead_code, reason = "each test file uses a different part")]

use std::path::{Path, PathBuf};

use spate_state::KeyGroupRange;
use spate_state::rocks::{RocksBackend, RocksOptions};
use tempfile::TempDir;

/// Small memory bounds: tests open many instances.
pub fn small_options() -> RocksOptions {
    RocksOptions {
        block_cache_bytes: 4 << 20,
        write_buffer_bytes: 4 << 20,
        memtable_bytes_max: 1 << 20,
        background_jobs: 1,
        ..RocksOptions::default()
    }
}

/// A backend and the directory it lives in.
pub struct TempBackend {
    pub backend: RocksBackend,
    // Declared after `backend`, so dropped after the instance closes.
    pub dir: TempDir,
}

impl TempBackend {
    pub fn new(range: KeyGroupRange) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let backend =
            RocksBackend::open(dir.path().join("db"), range, small_options()).expect("open");
        Self { backend, dir }
    }

    /// A path inside the temporary directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn db_dir(&self) -> &Path {
        self.backend.dir()
    }
}
