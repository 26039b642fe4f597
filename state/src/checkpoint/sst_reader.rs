//! Reads an SST file: checks the footer and index on open, then streams
//! entries one block at a time, checking every block's CRC, the entry
//! counts and the key order as it goes. Damage is an error naming the file,
//! the byte offset and the reason, never a panic and never wrong data.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::sst_format::{
    BLOCK_BYTES_MAX, BLOCK_CRC_BYTES, Cursor, FOOTER_BYTES, Footer, INDEX_BYTES_MAX, Index,
    SstEntry, TAG_TOMBSTONE, TAG_VALUE, VALUE_BYTES_MAX, check_crc_trailer, corrupt,
    key_group_of_key, key_problem,
};
use super::sst_writer::{SstSummary, hex};
use super::storage::io_error;
use crate::error::StateError;
use crate::key_group::KeyGroupRange;

/// Random-access bytes an SST is read from: a file or a buffer.
pub trait SstSource {
    /// Total length in bytes.
    fn len_bytes(&self) -> io::Result<u64>;
    /// Fills `buf` from `offset`; the reader only asks for ranges inside
    /// `len_bytes`.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
}

impl SstSource for File {
    fn len_bytes(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        FileExt::read_exact_at(self, buf, offset)
    }
}

impl SstSource for &[u8] {
    fn len_bytes(&self) -> io::Result<u64> {
        Ok(self.len() as u64)
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| io::ErrorKind::UnexpectedEof)?;
        let src = start
            .checked_add(buf.len())
            .and_then(|end| self.get(start..end))
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

impl SstSource for Vec<u8> {
    fn len_bytes(&self) -> io::Result<u64> {
        Ok(self.len() as u64)
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.as_slice().read_exact_at(buf, offset)
    }
}

/// An open, structurally checked SST.
#[derive(Debug)]
pub struct SstReader<S> {
    src: S,
    file: String,
    len: u64,
    footer: Footer,
    index: Index,
}

impl SstReader<File> {
    /// Opens and checks the file at `path`.
    pub fn open(path: &Path) -> Result<Self, StateError> {
        let name = path.display().to_string();
        let file = File::open(path).map_err(|e| io_error("open", &name, &e))?;
        SstReader::new(file, name)
    }
}

/// Reads and fully checks an SST held in memory: every block, CRC and key.
/// Meant for fuzzers and for checking downloaded bytes; never panics.
pub fn verify_sst_bytes(file: &str, bytes: &[u8]) -> Result<SstSummary, StateError> {
    SstReader::new(bytes, file)?.verify()
}

impl<S: SstSource> SstReader<S> {
    /// Reads the footer and the index of `src`; `file` names it in errors.
    pub fn new(src: S, file: impl Into<String>) -> Result<Self, StateError> {
        let file = file.into();
        let len = src.len_bytes().map_err(|e| io_error("stat", &file, &e))?;
        if len < FOOTER_BYTES as u64 {
            return Err(corrupt(
                &file,
                0,
                format!("truncated: {len} bytes, shorter than the {FOOTER_BYTES}-byte footer"),
            ));
        }
        let footer_offset = len - FOOTER_BYTES as u64;
        let mut footer_bytes = [0u8; FOOTER_BYTES];
        src.read_exact_at(&mut footer_bytes, footer_offset)
            .map_err(|e| io_error("read", &file, &e))?;
        let footer = Footer::decode(&file, footer_offset, &footer_bytes)?;
        let index_end = footer.index_offset.checked_add(u64::from(footer.index_len));
        if index_end != Some(footer_offset) || footer.index_len as usize > INDEX_BYTES_MAX {
            return Err(corrupt(
                &file,
                footer_offset,
                format!(
                    "index of {} bytes at {} does not end where the footer starts ({footer_offset}); truncated or damaged file",
                    footer.index_len, footer.index_offset
                ),
            ));
        }
        let mut index_bytes = vec![0u8; footer.index_len as usize];
        src.read_exact_at(&mut index_bytes, footer.index_offset)
            .map_err(|e| io_error("read", &file, &e))?;
        let index = Index::decode(&file, footer.index_offset, &index_bytes)?;
        check_index(&file, &footer, &index)?;
        Ok(SstReader {
            src,
            file,
            len,
            footer,
            index,
        })
    }

    /// The file's name as used in errors.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The decoded footer: entry count, key-group range.
    pub fn footer(&self) -> &Footer {
        &self.footer
    }

    /// File size in bytes.
    pub fn size_bytes(&self) -> u64 {
        self.len
    }

    /// Every entry in key order.
    pub fn iter(&self) -> SstIter<'_, S> {
        SstIter::new(self, 0, None, None)
    }

    /// Entries with `key >= from`, in key order.
    pub fn seek(&self, from: &[u8]) -> SstIter<'_, S> {
        let start = self.block_for(from);
        SstIter::new(self, start, Some(from.to_vec()), None)
    }

    /// Entries in `[from, to)`.
    pub fn range(&self, from: &[u8], to: &[u8]) -> SstIter<'_, S> {
        let start = self.block_for(from);
        SstIter::new(self, start, Some(from.to_vec()), Some(to.to_vec()))
    }

    /// Entries of the key groups in `range`: a contiguous key range, since
    /// every key starts with its big-endian key group.
    pub fn key_groups(&self, range: KeyGroupRange) -> SstIter<'_, S> {
        self.range(&range.start.to_be_bytes(), &range.end.to_be_bytes())
    }

    /// Reads the whole file, checking everything, and returns its summary
    /// (with the CRC32C of all its bytes).
    pub fn verify(&self) -> Result<SstSummary, StateError> {
        let mut entries = 0u64;
        for entry in self.iter() {
            entry?;
            entries += 1;
        }
        let mut crc = 0u32;
        let mut buf = vec![0u8; 1 << 20];
        let mut offset = 0u64;
        while offset < self.len {
            let n = (self.len - offset).min(buf.len() as u64) as usize;
            let chunk = buf.get_mut(..n).unwrap_or_default();
            self.src
                .read_exact_at(chunk, offset)
                .map_err(|e| io_error("read", &self.file, &e))?;
            crc = crc32c::crc32c_append(crc, chunk);
            offset += n as u64;
        }
        Ok(SstSummary {
            entries,
            size_bytes: self.len,
            crc32c: crc,
            key_group_start: self.footer.key_group_start,
            key_group_end: self.footer.key_group_end,
        })
    }

    /// The block that would hold `key`.
    fn block_for(&self, key: &[u8]) -> usize {
        self.index
            .blocks
            .partition_point(|b| b.first_key.as_slice() <= key)
            .saturating_sub(1)
    }

    fn read_block(&self, block: usize) -> Result<Vec<u8>, StateError> {
        let Some(handle) = self.index.blocks.get(block) else {
            return Err(StateError::Internal {
                reason: format!("block {block} of {} does not exist", self.file),
            });
        };
        let mut bytes = vec![0u8; handle.len as usize];
        self.src
            .read_exact_at(&mut bytes, handle.offset)
            .map_err(|e| io_error("read", &self.file, &e))?;
        check_crc_trailer(&self.file, handle.offset, &bytes, "data block")?;
        bytes.truncate(bytes.len() - BLOCK_CRC_BYTES);
        Ok(bytes)
    }
}

/// Checks that the index fits the footer: blocks tile the data region,
/// first keys increase, counts add up.
fn check_index(file: &str, footer: &Footer, index: &Index) -> Result<(), StateError> {
    let at = footer.index_offset;
    let fail = |reason: String| Err(corrupt(file, at, reason));
    if index.blocks.len() != footer.block_count as usize {
        return fail(format!(
            "index lists {} blocks, footer says {}",
            index.blocks.len(),
            footer.block_count
        ));
    }
    let mut expected_offset = 0u64;
    let mut entries = 0u64;
    let mut prev_first: Option<&[u8]> = None;
    for (i, b) in index.blocks.iter().enumerate() {
        if b.offset != expected_offset {
            return fail(format!(
                "block {i} starts at {}, expected {expected_offset}",
                b.offset
            ));
        }
        if (b.len as usize) <= BLOCK_CRC_BYTES || b.len as usize > BLOCK_BYTES_MAX || b.entries == 0
        {
            return fail(format!(
                "block {i} has {} bytes and {} entries",
                b.len, b.entries
            ));
        }
        if let Some(p) = key_problem(&b.first_key) {
            return fail(format!("block {i} first key: {p}"));
        }
        if prev_first.is_some_and(|p| p >= b.first_key.as_slice()) {
            return fail(format!("block {i} first key is out of order"));
        }
        prev_first = Some(&b.first_key);
        expected_offset += u64::from(b.len);
        entries += u64::from(b.entries);
    }
    if expected_offset != footer.index_offset {
        return fail(format!(
            "data blocks end at {expected_offset}, the index starts at {}",
            footer.index_offset
        ));
    }
    if entries != footer.entry_count {
        return fail(format!(
            "blocks hold {entries} entries, footer says {}",
            footer.entry_count
        ));
    }
    check_key_range(file, footer, index)
}

fn check_key_range(file: &str, footer: &Footer, index: &Index) -> Result<(), StateError> {
    let at = footer.index_offset;
    let (start, end) = match index.blocks.first() {
        None if index.last_key.is_empty() => (0, 0),
        None => return Err(corrupt(file, at, "empty file with a last key")),
        Some(first) => {
            if index.last_key.as_slice() < first.first_key.as_slice() {
                return Err(corrupt(file, at, "last key is before the first key"));
            }
            let last_block = index.blocks.last().map_or(&[][..], |b| &b.first_key);
            if index.last_key.as_slice() < last_block {
                return Err(corrupt(
                    file,
                    at,
                    "last key is before the last block's first key",
                ));
            }
            if let Some(p) = key_problem(&index.last_key) {
                return Err(corrupt(file, at, format!("last key: {p}")));
            }
            let first_kg = key_group_of_key(&first.first_key).unwrap_or(0);
            let last_kg = key_group_of_key(&index.last_key).unwrap_or(0);
            (first_kg, last_kg + 1)
        }
    };
    if (footer.key_group_start, footer.key_group_end) != (start, end) {
        return Err(corrupt(
            file,
            at,
            format!(
                "footer key groups [{}, {}) differ from the keys' [{start}, {end})",
                footer.key_group_start, footer.key_group_end
            ),
        ));
    }
    Ok(())
}

/// Streams the entries of an [`SstReader`], one block in memory at a time.
/// After the first error it yields nothing more.
#[derive(Debug)]
pub struct SstIter<'a, S> {
    reader: &'a SstReader<S>,
    next_block: usize,
    block: Vec<u8>,
    block_offset: u64,
    pos: usize,
    entries_left: u32,
    first_in_block: bool,
    prev_key: Option<Vec<u8>>,
    lower: Option<Vec<u8>>,
    upper: Option<Vec<u8>>,
    done: bool,
}

impl<'a, S: SstSource> SstIter<'a, S> {
    fn new(
        reader: &'a SstReader<S>,
        start_block: usize,
        lower: Option<Vec<u8>>,
        upper: Option<Vec<u8>>,
    ) -> Self {
        let empty_range = matches!((&lower, &upper), (Some(l), Some(u)) if l >= u);
        SstIter {
            reader,
            next_block: start_block,
            block: Vec::new(),
            block_offset: 0,
            pos: 0,
            entries_left: 0,
            first_in_block: false,
            prev_key: None,
            lower,
            upper,
            done: empty_range,
        }
    }

    /// The next entry of the file, or `None` at its end.
    fn next_entry(&mut self) -> Result<Option<SstEntry>, StateError> {
        if self.entries_left == 0 && !self.load_next_block()? {
            return Ok(None);
        }
        let entry = self.decode_entry()?;
        self.entries_left -= 1;
        if self.entries_left == 0 && self.pos != self.block.len() {
            return Err(self.corrupt_here(format!(
                "block has {} bytes after its last entry",
                self.block.len() - self.pos
            )));
        }
        Ok(Some(entry))
    }

    /// Loads the next block; `false` at the end of the file.
    fn load_next_block(&mut self) -> Result<bool, StateError> {
        let blocks = &self.reader.index.blocks;
        let Some(handle) = blocks.get(self.next_block) else {
            let last = &self.reader.index.last_key;
            if !blocks.is_empty() && self.prev_key.as_ref() != Some(last) {
                return Err(corrupt(
                    &self.reader.file,
                    self.reader.footer.index_offset,
                    "the last entry differs from the index's last key",
                ));
            }
            return Ok(false);
        };
        self.block = self.reader.read_block(self.next_block)?;
        self.block_offset = handle.offset;
        self.entries_left = handle.entries;
        self.pos = 0;
        self.first_in_block = true;
        self.next_block += 1;
        Ok(true)
    }

    fn decode_entry(&mut self) -> Result<SstEntry, StateError> {
        let file = &self.reader.file;
        let start = self.block_offset + self.pos as u64;
        let mut c = Cursor::new(file, start, self.block.get(self.pos..).unwrap_or_default());
        let key_len = c.u32("key length")? as usize;
        let tag = c.u8("value tag")?;
        let value_len = match tag {
            TAG_TOMBSTONE => None,
            TAG_VALUE => Some(c.u32("value length")? as usize),
            other => {
                return Err(corrupt(
                    file,
                    start + 4,
                    format!("unknown value tag {other}"),
                ));
            }
        };
        if value_len.is_some_and(|n| n > VALUE_BYTES_MAX) {
            return Err(corrupt(file, start + 5, "value length exceeds the limit"));
        }
        let key = c.take(key_len, "key")?.to_vec();
        let value = match value_len {
            None => None,
            Some(n) => Some(c.take(n, "value")?.to_vec()),
        };
        self.pos += (c.offset() - start) as usize;
        self.check_key(&key, start)?;
        Ok(SstEntry { key, value })
    }

    fn check_key(&mut self, key: &[u8], at: u64) -> Result<(), StateError> {
        let file = &self.reader.file;
        if let Some(p) = key_problem(key) {
            return Err(corrupt(file, at, p));
        }
        if self.first_in_block {
            let handle_key = self
                .reader
                .index
                .blocks
                .get(self.next_block - 1)
                .map(|b| b.first_key.as_slice());
            if handle_key != Some(key) {
                return Err(corrupt(
                    file,
                    at,
                    "block's first key differs from the index",
                ));
            }
            self.first_in_block = false;
        }
        if let Some(prev) = &self.prev_key
            && key <= prev.as_slice()
        {
            return Err(corrupt(
                file,
                at,
                format!("out-of-order keys: {} after {}", hex(key), hex(prev)),
            ));
        }
        match &mut self.prev_key {
            Some(prev) => {
                prev.clear();
                prev.extend_from_slice(key);
            }
            None => self.prev_key = Some(key.to_vec()),
        }
        Ok(())
    }

    fn corrupt_here(&self, reason: String) -> StateError {
        corrupt(
            &self.reader.file,
            self.block_offset + self.pos as u64,
            reason,
        )
    }
}

impl<S: SstSource> Iterator for SstIter<'_, S> {
    type Item = Result<SstEntry, StateError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            match self.next_entry() {
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
                Ok(None) => self.done = true,
                Ok(Some(entry)) => {
                    if self
                        .lower
                        .as_deref()
                        .is_some_and(|l| entry.key.as_slice() < l)
                    {
                        continue;
                    }
                    if self
                        .upper
                        .as_deref()
                        .is_some_and(|u| entry.key.as_slice() >= u)
                    {
                        self.done = true;
                        return None;
                    }
                    return Some(Ok(entry));
                }
            }
        }
        None
    }
}
