//! A RocksDB instance's own checkpoint in checkpoint storage: its files
//! are listed in the manifest as [`FileKind::RocksSst`] and
//! [`FileKind::RocksMeta`], each with the name it had in the instance's
//! directory, so a restore puts them back and RocksDB opens them as they
//! were. Every byte is checked against the manifest on the way.

use std::io::Write;
use std::path::Path;

use super::manifest::FileRef;
use super::storage::CheckpointStorage;
use crate::error::StateError;
use crate::key_group::KeyGroupRange;
use crate::rocks::{RocksBackend, RocksMemory, RocksOptions};

/// Writes the files of one instance's checkpoint into `dir` (created; it
/// must not hold another instance). Returns the bytes written.
pub fn download_instance(
    storage: &dyn CheckpointStorage,
    files: &[&FileRef],
    dir: &Path,
) -> Result<u64, StateError> {
    std::fs::create_dir_all(dir).map_err(|e| io("create directory", dir, &e))?;
    if !files
        .iter()
        .any(|f| f.local_name.as_deref() == Some("CURRENT"))
    {
        return Err(StateError::Storage {
            operation: "restore RocksDB checkpoint",
            path: dir.to_path_buf(),
            reason: "the manifest lists no CURRENT file for the instance, so its checkpoint \
                     is incomplete"
                .to_owned(),
        });
    }
    let mut bytes = 0;
    for file in files {
        bytes += download_file(storage, file, dir)?;
    }
    Ok(bytes)
}

/// Downloads the files of one instance's checkpoint into `dir` and opens
/// it for the key groups `range`, in `memory`.
pub fn open_instance(
    storage: &dyn CheckpointStorage,
    files: &[&FileRef],
    dir: &Path,
    range: KeyGroupRange,
    options: RocksOptions,
    memory: &RocksMemory,
) -> Result<RocksBackend, StateError> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| io("clear directory", dir, &e))?;
    }
    download_instance(storage, files, dir)?;
    RocksBackend::open_sharing(dir, range, options, memory)
}

fn download_file(
    storage: &dyn CheckpointStorage,
    file: &FileRef,
    dir: &Path,
) -> Result<u64, StateError> {
    let object = file.object_name();
    let local = file
        .local_name
        .as_deref()
        .filter(|n| file.kind.is_rocks() && !n.contains('/') && !n.starts_with('.'))
        .ok_or_else(|| StateError::Internal {
            reason: format!("{object} is not a RocksDB file with a local name"),
        })?;
    let path = dir.join(local);
    let out = std::fs::File::create(&path).map_err(|e| io("create", &path, &e))?;
    let mut sink = CrcWriter {
        out: std::io::BufWriter::with_capacity(1 << 20, out),
        crc: 0,
        bytes: 0,
    };
    storage.read_into(&object, &mut sink)?;
    sink.flush().map_err(|e| io("write", &path, &e))?;
    if (sink.bytes, sink.crc) != (file.size_bytes, file.crc32c) {
        return Err(StateError::Storage {
            operation: "restore RocksDB checkpoint",
            path: object.into(),
            reason: format!(
                "has {} bytes with CRC32C {:#010x}; the manifest says {} bytes with {:#010x}, \
                 so the file is damaged",
                sink.bytes, sink.crc, file.size_bytes, file.crc32c
            ),
        });
    }
    Ok(sink.bytes)
}

/// Writes through to a file, checksumming on the way.
struct CrcWriter<W> {
    out: W,
    crc: u32,
    bytes: u64,
}

impl<W: Write> Write for CrcWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.crc = crc32c::crc32c_append(self.crc, &buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// CRC32C and size of a local file, read in blocks.
pub fn file_crc32c(path: &Path) -> Result<(u64, u32), StateError> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| io("open", path, &e))?;
    let mut buf = vec![0u8; 1 << 20];
    let (mut crc, mut bytes) = (0u32, 0u64);
    loop {
        let n = f.read(&mut buf).map_err(|e| io("read", path, &e))?;
        if n == 0 {
            return Ok((bytes, crc));
        }
        crc = crc32c::crc32c_append(crc, &buf[..n]);
        bytes += n as u64;
    }
}

fn io(operation: &'static str, path: &Path, e: &std::io::Error) -> StateError {
    StateError::Storage {
        operation,
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{FileKind, KeyGroupSpan, LocalDirStorage};
    use crate::rocks::RocksValueTable;
    use crate::{KeyGroupRange, KeyRef};

    /// An instance with keys 0..100, checkpointed and put into storage;
    /// returns the storage's directory, the storage and the file list.
    fn stored_checkpoint(root: &Path) -> (LocalDirStorage, Vec<FileRef>) {
        let range = KeyGroupRange::all(128);
        let db = RocksBackend::open(root.join("db"), range, RocksOptions::default()).unwrap();
        let mut t: RocksValueTable<u64, (), u64> = RocksValueTable::open(&db, "0/n", None).unwrap();
        for k in 0..100u64 {
            t.put(KeyRef::of(&k, 128), k, (), k * 2, 0).unwrap();
        }
        let chk = db.checkpoint(root.join("chk")).unwrap();
        let storage = LocalDirStorage::new(root.join("storage")).unwrap();
        let files = chk
            .files
            .iter()
            .map(|f| {
                let name = format!("x-{}", f.name);
                let put = storage
                    .put_file(&format!("shared/{name}"), &chk.dir.join(&f.name))
                    .unwrap();
                FileRef {
                    name,
                    size_bytes: put.size_bytes,
                    crc32c: put.crc32c,
                    kind: match f.kind {
                        crate::rocks::FileKind::Sst => FileKind::RocksSst,
                        crate::rocks::FileKind::Metadata => FileKind::RocksMeta,
                    },
                    key_groups: KeyGroupSpan::from(range),
                    state: "0/#rocksdb".into(),
                    added_in: 1,
                    local_name: Some(f.name.clone()),
                }
            })
            .collect();
        (storage, files)
    }

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("spate-rocks-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn an_instance_comes_back_from_storage_as_it_was() {
        let root = scratch("back");
        let (storage, files) = stored_checkpoint(&root);
        let refs: Vec<&FileRef> = files.iter().collect();
        let options = RocksOptions::default();
        let db = open_instance(
            &storage,
            &refs,
            &root.join("restored"),
            KeyGroupRange::all(128),
            options,
            &RocksMemory::new(&options),
        )
        .unwrap();
        let entries = db.export_state("0/n", KeyGroupRange::all(128)).unwrap();
        assert_eq!(entries.len(), 100);
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn a_damaged_file_is_refused_naming_it() {
        let root = scratch("damaged");
        let (storage, files) = stored_checkpoint(&root);
        let sst = files.iter().find(|f| f.kind == FileKind::RocksSst).unwrap();
        let path = root.join("storage").join(sst.object_name());
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[10] ^= 0x40;
        std::fs::write(&path, bytes).unwrap();
        let refs: Vec<&FileRef> = files.iter().collect();
        let err = download_instance(&storage, &refs, &root.join("restored"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(&sst.name) && err.contains("damaged"), "{err}");
        let no_current: Vec<&FileRef> = files
            .iter()
            .filter(|f| f.local_name.as_deref() != Some("CURRENT"))
            .collect();
        let err = download_instance(&storage, &no_current, &root.join("other"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no CURRENT file"), "{err}");
        let _ = std::fs::remove_dir_all(&root);
    }
}
