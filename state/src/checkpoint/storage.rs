//! Where checkpoints are kept: the storage trait that the local directory
//! and S3 implement, object-name rules, and I/O error conversion.
//!
//! Objects are immutable: every put refuses to replace an existing object,
//! so a failing checkpoint can never damage the files of an earlier one.
//! Implementations may block; they are called from the uploader's and the
//! recovery's threads, never from an executor.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::error::StateError;

/// An object found by [`CheckpointStorage::list`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredObject {
    /// Object name, `/`-separated, relative to the storage root.
    pub name: String,
    /// Size in bytes.
    pub size_bytes: u64,
}

/// What a put stored, measured while streaming it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PutSummary {
    /// Bytes stored.
    pub size_bytes: u64,
    /// CRC32C of the bytes stored.
    pub crc32c: u32,
}

/// A checkpoint store: a local directory, an S3 bucket, or a test double.
pub trait CheckpointStorage: Send + Sync + std::fmt::Debug {
    /// Where the storage is, for messages (`/data/cp`, `s3://bucket/prefix`).
    fn location(&self) -> String;

    /// Stores the local file `local` as `name`. Fails if `name` exists.
    fn put_file(&self, name: &str, local: &Path) -> Result<PutSummary, StateError>;

    /// Stores `bytes` as `name`. Fails if `name` exists.
    fn put_bytes(&self, name: &str, bytes: &[u8]) -> Result<PutSummary, StateError>;

    /// Stores a manifest so that it appears whole or not at all, and only
    /// once it is durable. Fails if `name` exists.
    fn put_manifest(&self, name: &str, bytes: &[u8]) -> Result<(), StateError>;

    /// Streams object `name` into `sink`; returns the bytes written.
    fn read_into(&self, name: &str, sink: &mut dyn Write) -> Result<u64, StateError>;

    /// The size of `name`, or `None` if it does not exist.
    fn size(&self, name: &str) -> Result<Option<u64>, StateError>;

    /// Every object whose name starts with `prefix`, sorted by name.
    fn list(&self, prefix: &str) -> Result<Vec<StoredObject>, StateError>;

    /// Deletes `name`; deleting a missing object is not an error.
    fn delete(&self, name: &str) -> Result<(), StateError>;

    /// Reads a whole object of at most `bytes_max` bytes into memory.
    fn read(&self, name: &str, bytes_max: u64) -> Result<Vec<u8>, StateError> {
        let mut sink = LimitedVec {
            bytes: Vec::new(),
            bytes_max,
        };
        match self.read_into(name, &mut sink) {
            Ok(_) => Ok(sink.bytes),
            Err(StateError::Storage { reason, .. }) if reason.contains(TOO_LARGE) => {
                Err(StateError::Storage {
                    operation: "read",
                    path: PathBuf::from(name),
                    reason: format!("object is larger than {bytes_max} bytes"),
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Size and CRC32C of a stored object, read in full.
    fn checksum(&self, name: &str) -> Result<PutSummary, StateError> {
        let mut sink = CrcSink::default();
        self.read_into(name, &mut sink)?;
        Ok(PutSummary {
            size_bytes: sink.len,
            crc32c: sink.crc,
        })
    }
}

const TOO_LARGE: &str = "object exceeds the read limit";

struct LimitedVec {
    bytes: Vec<u8>,
    bytes_max: u64,
}

impl Write for LimitedVec {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if (self.bytes.len() + buf.len()) as u64 > self.bytes_max {
            return Err(io::Error::other(TOO_LARGE));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A sink that only measures: size and CRC32C.
#[derive(Debug, Default)]
pub struct CrcSink {
    /// Bytes seen.
    pub len: u64,
    /// CRC32C of the bytes seen.
    pub crc: u32,
}

impl Write for CrcSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.crc = crc32c::crc32c_append(self.crc, buf);
        self.len += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Object names are relative, `/`-separated, made of `[A-Za-z0-9._-]`
/// segments that are not `.` or `..`: safe as local paths and S3 keys.
pub fn validate_object_name(name: &str) -> Result<(), String> {
    const NAME_BYTES_MAX: usize = 512;
    if name.is_empty() || name.len() > NAME_BYTES_MAX {
        return Err(format!("name must have 1..={NAME_BYTES_MAX} bytes"));
    }
    for segment in name.split('/') {
        let ok_chars = segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if segment.is_empty() || segment == "." || segment == ".." || !ok_chars {
            return Err(format!(
                "segment `{segment}` is not a plain name ([A-Za-z0-9._-], not `.` or `..`)"
            ));
        }
    }
    Ok(())
}

/// The error for a name that fails [`validate_object_name`].
pub(crate) fn check_name(operation: &'static str, name: &str) -> Result<(), StateError> {
    validate_object_name(name).map_err(|reason| StateError::Storage {
        operation,
        path: PathBuf::from(name),
        reason: format!("invalid object name: {reason}"),
    })
}

/// Converts an I/O error into a `Storage` error naming the file; a full
/// disk and a device error are spelled out.
pub fn io_error(operation: &'static str, path: &str, e: &io::Error) -> StateError {
    const ENOSPC: i32 = 28;
    const EIO: i32 = 5;
    const EDQUOT: i32 = 122;
    let reason = match e.raw_os_error() {
        Some(ENOSPC) => format!("no space left on device (ENOSPC): {e}"),
        Some(EDQUOT) => format!("disk quota exceeded (EDQUOT): {e}"),
        Some(EIO) => format!("I/O error from the device (EIO): {e}"),
        _ => e.to_string(),
    };
    StateError::Storage {
        operation,
        path: PathBuf::from(path),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names_stay_inside_the_root() {
        assert!(validate_object_name("shared/a-1_b.sst").is_ok());
        for bad in [
            "", "/abs", "a//b", "../x", "a/./b", "a b", "a\\b", "shared/",
        ] {
            assert!(validate_object_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn full_disk_is_spelled_out_with_the_file() {
        let e = io::Error::from_raw_os_error(28);
        let err = io_error("write", "/cp/shared/x.sst", &e).to_string();
        assert!(err.contains("ENOSPC"), "{err}");
        assert!(err.contains("/cp/shared/x.sst"), "{err}");
        assert!(err.starts_with("write failed"), "{err}");
    }
}
