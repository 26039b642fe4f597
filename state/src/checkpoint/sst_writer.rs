//! Writes an immutable SST file: entries in strictly increasing key order,
//! packed into CRC-checked blocks, then the index and the footer.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::Path;

use super::sst_format::{
    BLOCK_BYTES_TARGET_DEFAULT, BlockHandle, Footer, Index, VALUE_BYTES_MAX, encode_entry,
    key_group_of_key, key_problem, len_u32,
};
use super::storage::io_error;
use crate::error::StateError;
use crate::key_group::KeyGroup;

/// What a finished file holds: the manifest records these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SstSummary {
    /// Entries written (values and tombstones).
    pub entries: u64,
    /// Size of the whole file.
    pub size_bytes: u64,
    /// CRC32C of the whole file.
    pub crc32c: u32,
    /// First key group present (0 when empty).
    pub key_group_start: KeyGroup,
    /// One past the last key group present (0 when empty).
    pub key_group_end: KeyGroup,
}

/// Streams entries into an SST. Nothing is buffered beyond one block.
#[derive(Debug)]
pub struct SstWriter<W: Write> {
    out: W,
    file: String,
    block_bytes_target: usize,
    block: Vec<u8>,
    block_first_key: Vec<u8>,
    block_entries: u32,
    index: Index,
    last_key: Option<Vec<u8>>,
    written_bytes: u64,
    entries: u64,
    file_crc: u32,
}

impl SstWriter<BufWriter<File>> {
    /// Creates `path`, which must not exist yet (files are immutable).
    pub fn create(path: &Path) -> Result<Self, StateError> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| io_error("create", &path.display().to_string(), &e))?;
        Ok(SstWriter::new(
            BufWriter::with_capacity(BLOCK_BYTES_TARGET_DEFAULT, file),
            path.display().to_string(),
        ))
    }

    /// Finishes the file and makes it durable (fsync): a checkpoint may
    /// reference it as soon as this returns.
    pub fn finish_durable(self) -> Result<SstSummary, StateError> {
        let name = self.file.clone();
        let (buffered, summary) = self.finish()?;
        let file = buffered
            .into_inner()
            .map_err(|e| io_error("write", &name, e.error()))?;
        file.sync_all().map_err(|e| io_error("fsync", &name, &e))?;
        Ok(summary)
    }
}

impl<W: Write> SstWriter<W> {
    /// A writer into `out`; `file` names the file in errors.
    pub fn new(out: W, file: impl Into<String>) -> Self {
        SstWriter {
            out,
            file: file.into(),
            block_bytes_target: BLOCK_BYTES_TARGET_DEFAULT,
            block: Vec::new(),
            block_first_key: Vec::new(),
            block_entries: 0,
            index: Index::default(),
            last_key: None,
            written_bytes: 0,
            entries: 0,
            file_crc: 0,
        }
    }

    /// Closes data blocks once they reach `bytes` (at least 1); tests use
    /// small blocks to exercise multi-block files.
    pub fn with_block_bytes_target(mut self, bytes: usize) -> Self {
        self.block_bytes_target = bytes.max(1);
        self
    }

    /// Adds a value for `key`.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StateError> {
        self.add(key, Some(value))
    }

    /// Adds a tombstone: `key` is deleted from older files of the chain.
    pub fn delete(&mut self, key: &[u8]) -> Result<(), StateError> {
        self.add(key, None)
    }

    /// Adds one entry; keys must be strictly increasing.
    pub fn add(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), StateError> {
        self.check_entry(key, value)?;
        if self.block_entries == 0 {
            self.block_first_key.clear();
            self.block_first_key.extend_from_slice(key);
        }
        encode_entry(&mut self.block, key, value);
        self.block_entries += 1;
        self.entries += 1;
        match &mut self.last_key {
            Some(last) => {
                last.clear();
                last.extend_from_slice(key);
            }
            None => self.last_key = Some(key.to_vec()),
        }
        if self.block.len() >= self.block_bytes_target {
            self.flush_block()?;
        }
        Ok(())
    }

    /// Entries added so far.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Bytes the file will have at least (written plus the open block).
    pub fn estimated_bytes(&self) -> u64 {
        self.written_bytes + self.block.len() as u64
    }

    /// Writes the last block, the index and the footer.
    pub fn finish(mut self) -> Result<(W, SstSummary), StateError> {
        self.flush_block()?;
        self.index.last_key = self.last_key.take().unwrap_or_default();
        let index_offset = self.written_bytes;
        let index = self.index.encode();
        self.write(&index)?;
        let first_kg = self
            .index
            .blocks
            .first()
            .and_then(|b| key_group_of_key(&b.first_key));
        let last_kg = key_group_of_key(&self.index.last_key);
        let footer = Footer {
            entry_count: self.entries,
            block_count: len_u32(self.index.blocks.len()),
            key_group_start: first_kg.unwrap_or(0),
            key_group_end: last_kg.map_or(0, |kg| kg + 1),
            index_offset,
            index_len: len_u32(index.len()),
        };
        self.write(&footer.encode())?;
        self.out
            .flush()
            .map_err(|e| io_error("write", &self.file, &e))?;
        let summary = SstSummary {
            entries: self.entries,
            size_bytes: self.written_bytes,
            crc32c: self.file_crc,
            key_group_start: footer.key_group_start,
            key_group_end: footer.key_group_end,
        };
        Ok((self.out, summary))
    }

    fn check_entry(&self, key: &[u8], value: Option<&[u8]>) -> Result<(), StateError> {
        let problem = if let Some(p) = key_problem(key) {
            Some(p)
        } else if value.is_some_and(|v| v.len() > VALUE_BYTES_MAX) {
            Some(format!("value exceeds {VALUE_BYTES_MAX} bytes"))
        } else {
            match &self.last_key {
                Some(last) if key <= last.as_slice() => Some(format!(
                    "key {} is not after the previous key {}: keys must be strictly increasing",
                    hex(key),
                    hex(last)
                )),
                _ => None,
            }
        };
        match problem {
            None => Ok(()),
            Some(reason) => Err(StateError::InvalidSstEntry {
                file: self.file.clone(),
                entry: self.entries,
                reason,
            }),
        }
    }

    fn flush_block(&mut self) -> Result<(), StateError> {
        if self.block_entries == 0 {
            return Ok(());
        }
        let crc = crc32c::crc32c(&self.block);
        self.block.extend_from_slice(&crc.to_le_bytes());
        let handle = BlockHandle {
            offset: self.written_bytes,
            len: len_u32(self.block.len()),
            entries: self.block_entries,
            first_key: std::mem::take(&mut self.block_first_key),
        };
        let block = std::mem::take(&mut self.block);
        self.write(&block)?;
        self.block = block;
        self.block.clear();
        self.index.blocks.push(handle);
        self.block_entries = 0;
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), StateError> {
        self.out
            .write_all(bytes)
            .map_err(|e| io_error("write", &self.file, &e))?;
        self.file_crc = crc32c::crc32c_append(self.file_crc, bytes);
        self.written_bytes += bytes.len() as u64;
        Ok(())
    }
}

/// Bytes in hex, shortened: error messages name keys without dumping them.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const SHOWN_BYTES_MAX: usize = 16;
    let mut s: String = bytes
        .iter()
        .take(SHOWN_BYTES_MAX)
        .map(|b| format!("{b:02x}"))
        .collect();
    if bytes.len() > SHOWN_BYTES_MAX {
        s.push_str(&format!("…({} bytes)", bytes.len()));
    }
    s
}
