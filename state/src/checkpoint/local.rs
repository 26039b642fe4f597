//! Checkpoint storage in a local directory (the default).
//!
//! Every object is written to a temporary file in its final directory,
//! fsynced, then linked to its name with `link(2)`, which is atomic like
//! `rename(2)` but fails when the name exists, so nothing is ever replaced;
//! then the directory is fsynced so the new name survives a crash.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::storage::{CheckpointStorage, CrcSink, PutSummary, StoredObject, check_name, io_error};
use crate::error::StateError;

/// Prefix of temporary files; a crash can leave them behind, and the
/// registry's garbage collection removes them.
pub const TEMP_PREFIX: &str = ".tmp-";

/// A directory holding `manifests/` and `shared/`.
#[derive(Debug)]
pub struct LocalDirStorage {
    root: PathBuf,
    temp_seq: AtomicU64,
}

impl LocalDirStorage {
    /// Uses (and creates if needed) the directory `root`.
    pub fn new(root: impl Into<PathBuf>) -> Result<Self, StateError> {
        let root = root.into();
        fs::create_dir_all(&root)
            .map_err(|e| io_error("create directory", &root.display().to_string(), &e))?;
        Ok(LocalDirStorage {
            root,
            temp_seq: AtomicU64::new(0),
        })
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, operation: &'static str, name: &str) -> Result<PathBuf, StateError> {
        check_name(operation, name)?;
        Ok(self.root.join(name))
    }

    /// Writes through `fill` into a temporary file, then publishes it as
    /// `name` without replacing anything.
    fn put_new(
        &self,
        name: &str,
        fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> Result<PutSummary, StateError> {
        let path = self.path_of("put", name)?;
        let shown = path.display().to_string();
        let dir = path.parent().unwrap_or(&self.root).to_path_buf();
        fs::create_dir_all(&dir)
            .map_err(|e| io_error("create directory", &dir.display().to_string(), &e))?;
        let temp = dir.join(format!(
            "{TEMP_PREFIX}{}-{}",
            std::process::id(),
            self.temp_seq.fetch_add(1, Ordering::Relaxed)
        ));
        let result = write_temp(&temp, fill).and_then(|summary| {
            if name.starts_with(super::manifest::MANIFEST_DIR) {
                crate::crash_point::hit(crate::crash_point::MANIFEST_BEFORE_RENAME);
            }
            fs::hard_link(&temp, &path).map_err(|e| {
                if e.kind() == io::ErrorKind::AlreadyExists {
                    io::Error::new(
                        e.kind(),
                        "object exists; checkpoint objects are never replaced",
                    )
                } else {
                    e
                }
            })?;
            Ok(summary)
        });
        let _ignored = fs::remove_file(&temp);
        let summary = result.map_err(|e| io_error("put", &shown, &e))?;
        crate::crash_point::hit(crate::crash_point::OBJECT_BEFORE_DIR_FSYNC);
        sync_dir(&dir).map_err(|e| io_error("fsync directory", &dir.display().to_string(), &e))?;
        Ok(summary)
    }
}

fn write_temp(
    temp: &Path,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<PutSummary> {
    let file = OpenOptions::new().write(true).create_new(true).open(temp)?;
    let mut out = CrcWriter {
        inner: io::BufWriter::with_capacity(1 << 20, file),
        sink: CrcSink::default(),
    };
    fill(&mut out)?;
    let file = out
        .inner
        .into_inner()
        .map_err(io::IntoInnerError::into_error)?;
    crate::crash_point::io_error(crate::crash_point::CHECKPOINT_FSYNC_EIO)?;
    file.sync_all()?;
    Ok(PutSummary {
        size_bytes: out.sink.len,
        crc32c: out.sink.crc,
    })
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Measures what passes through it.
struct CrcWriter<W> {
    inner: W,
    sink: CrcSink,
}

impl<W: Write> Write for CrcWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sink.write_all(buf.get(..n).unwrap_or_default())?;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl CheckpointStorage for LocalDirStorage {
    fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn put_file(&self, name: &str, local: &Path) -> Result<PutSummary, StateError> {
        let mut src =
            File::open(local).map_err(|e| io_error("open", &local.display().to_string(), &e))?;
        self.put_new(name, |out| io::copy(&mut src, out).map(|_| ()))
    }

    fn put_bytes(&self, name: &str, bytes: &[u8]) -> Result<PutSummary, StateError> {
        self.put_new(name, |out| out.write_all(bytes))
    }

    fn put_manifest(&self, name: &str, bytes: &[u8]) -> Result<(), StateError> {
        self.put_new(name, |out| out.write_all(bytes)).map(|_| ())
    }

    fn read_into(&self, name: &str, sink: &mut dyn Write) -> Result<u64, StateError> {
        let path = self.path_of("read", name)?;
        let shown = path.display().to_string();
        let mut file = File::open(&path).map_err(|e| io_error("read", &shown, &e))?;
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        loop {
            let n = file
                .read(&mut buf)
                .map_err(|e| io_error("read", &shown, &e))?;
            if n == 0 {
                return Ok(total);
            }
            sink.write_all(buf.get(..n).unwrap_or_default())
                .map_err(|e| io_error("read", &shown, &e))?;
            total += n as u64;
        }
    }

    fn size(&self, name: &str) -> Result<Option<u64>, StateError> {
        let path = self.path_of("stat", name)?;
        match fs::metadata(&path) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error("stat", &path.display().to_string(), &e)),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<StoredObject>, StateError> {
        let mut out = Vec::new();
        walk(&self.root, "", &mut out)?;
        out.retain(|o| o.name.starts_with(prefix));
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn delete(&self, name: &str) -> Result<(), StateError> {
        let path = self.path_of("delete", name)?;
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("delete", &path.display().to_string(), &e)),
        }
    }
}

/// Lists the regular files below `dir` with `/`-separated names.
fn walk(dir: &Path, prefix: &str, out: &mut Vec<StoredObject>) -> Result<(), StateError> {
    let shown = || dir.display().to_string();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_error("list", &shown(), &e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| io_error("list", &shown(), &e))?;
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        let name = format!("{prefix}{file_name}");
        let meta = entry.metadata().map_err(|e| io_error("list", &name, &e))?;
        if meta.is_dir() {
            walk(&entry.path(), &format!("{name}/"), out)?;
        } else if meta.is_file() {
            out.push(StoredObject {
                name,
                size_bytes: meta.len(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn puts_never_replace_and_list_is_sorted() {
        let dir = tempfile::tempdir().unwrap();
        let s = LocalDirStorage::new(dir.path()).unwrap();
        let put = s.put_bytes("shared/b.sst", b"bbb").unwrap();
        assert_eq!(put.size_bytes, 3);
        assert_eq!(put.crc32c, crc32c::crc32c(b"bbb"));
        s.put_bytes("shared/a.sst", b"a").unwrap();
        let err = s
            .put_bytes("shared/b.sst", b"other")
            .unwrap_err()
            .to_string();
        assert!(err.contains("never replaced"), "{err}");
        assert_eq!(s.read("shared/b.sst", 10).unwrap(), b"bbb");
        let names: Vec<_> = s
            .list("shared/")
            .unwrap()
            .into_iter()
            .map(|o| o.name)
            .collect();
        assert_eq!(names, ["shared/a.sst", "shared/b.sst"]);
        assert_eq!(s.size("shared/a.sst").unwrap(), Some(1));
        s.delete("shared/a.sst").unwrap();
        s.delete("shared/a.sst").unwrap();
        assert_eq!(s.size("shared/a.sst").unwrap(), None);
        assert!(s.read("shared/b.sst", 2).is_err());
        assert!(s.put_bytes("../escape", b"x").is_err());
    }
}
