//! The on-disk layout of a checkpoint SST file, shared by the writer and
//! the reader.
//!
//! ```text
//! [data block 0] … [data block n-1] [index block] [footer: 48 bytes]
//! data block  = entries, then CRC32C (u32 LE) of the entries
//! entry       = key_len u32 | tag u8 (0 tombstone, 1 value) | [value_len u32] | key | value
//! index block = block_count u32
//!               per block: offset u64 | len u32 | entries u32 | first_key_len u32 | first_key
//!               last_key_len u32 | last_key
//!               CRC32C (u32) of everything before it
//! footer      = magic "SPATESST" | version u32 | entry_count u64 | block_count u32
//!               | key_group_start u16 | key_group_end u16 (exclusive)
//!               | index_offset u64 | index_len u32 | reserved u32 (0) | CRC32C u32
//! ```
//!
//! All integers are little-endian. Every byte of the file is covered by one
//! CRC32C, and the block offsets in the index must tile the data region
//! exactly, so a flipped byte or a truncation is always an error.

use crate::error::StateError;
use crate::key_group::{KeyGroup, MAX_PARALLELISM_LIMIT};

/// First bytes of the footer.
pub const SST_MAGIC: [u8; 8] = *b"SPATESST";
/// The format version this crate writes and reads.
pub const SST_FORMAT_VERSION: u32 = 1;
/// Size of the fixed footer.
pub const FOOTER_BYTES: usize = 48;
/// Size of a block's CRC trailer.
pub const BLOCK_CRC_BYTES: usize = 4;
/// Default size at which the writer closes a data block.
pub const BLOCK_BYTES_TARGET_DEFAULT: usize = 64 * 1024;
/// Every key starts with its key group, big-endian, so a key-group range is
/// a contiguous key range.
pub const KEY_GROUP_PREFIX_BYTES: usize = 2;
/// Largest accepted key.
pub const KEY_BYTES_MAX: usize = 64 * 1024;
/// Largest accepted value.
pub const VALUE_BYTES_MAX: usize = 16 * 1024 * 1024;
/// Largest block a reader accepts: a full target block plus one maximal
/// entry (a large entry is written alone in its block).
pub const BLOCK_BYTES_MAX: usize = 32 * 1024 * 1024;
/// Largest index block a reader accepts (first keys of every block).
pub const INDEX_BYTES_MAX: usize = 256 * 1024 * 1024;

pub(crate) const TAG_TOMBSTONE: u8 = 0;
pub(crate) const TAG_VALUE: u8 = 1;

/// One stored entry: a key and its value, or a tombstone (`None`) that
/// deletes the key from older files of the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SstEntry {
    /// Key bytes, starting with the 2-byte big-endian key group.
    pub key: Vec<u8>,
    /// The value, or `None` for a deletion.
    pub value: Option<Vec<u8>>,
}

impl SstEntry {
    /// The key group in the key's first two bytes.
    pub fn key_group(&self) -> KeyGroup {
        key_group_of_key(&self.key).unwrap_or(0)
    }
}

/// The key group of a stored key, or `None` if the key is too short.
pub fn key_group_of_key(key: &[u8]) -> Option<KeyGroup> {
    match key {
        [hi, lo, ..] => Some(u16::from_be_bytes([*hi, *lo])),
        _ => None,
    }
}

/// Why a key cannot be stored, or `None` if it can.
pub(crate) fn key_problem(key: &[u8]) -> Option<String> {
    match key_group_of_key(key) {
        None => Some(format!(
            "key of {} bytes is shorter than the {KEY_GROUP_PREFIX_BYTES}-byte key-group prefix",
            key.len()
        )),
        Some(kg) if kg >= MAX_PARALLELISM_LIMIT => Some(format!(
            "key group {kg} in the key prefix is not below {MAX_PARALLELISM_LIMIT}"
        )),
        Some(_) if key.len() > KEY_BYTES_MAX => Some(format!(
            "key of {} bytes exceeds {KEY_BYTES_MAX} bytes",
            key.len()
        )),
        Some(_) => None,
    }
}

/// What every file records about its contents, also returned by the writer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Footer {
    /// Number of entries (values and tombstones).
    pub entry_count: u64,
    /// Number of data blocks.
    pub block_count: u32,
    /// First key group present (0 for an empty file).
    pub key_group_start: KeyGroup,
    /// One past the last key group present (0 for an empty file).
    pub key_group_end: KeyGroup,
    /// Where the index block starts.
    pub index_offset: u64,
    /// Length of the index block, CRC included.
    pub index_len: u32,
}

impl Footer {
    pub(crate) fn encode(&self) -> [u8; FOOTER_BYTES] {
        let mut out = [0u8; FOOTER_BYTES];
        let mut w = SliceWriter {
            out: &mut out,
            pos: 0,
        };
        w.put(&SST_MAGIC);
        w.put(&SST_FORMAT_VERSION.to_le_bytes());
        w.put(&self.entry_count.to_le_bytes());
        w.put(&self.block_count.to_le_bytes());
        w.put(&self.key_group_start.to_le_bytes());
        w.put(&self.key_group_end.to_le_bytes());
        w.put(&self.index_offset.to_le_bytes());
        w.put(&self.index_len.to_le_bytes());
        w.put(&0u32.to_le_bytes());
        let crc = crc32c::crc32c(&w.out[..FOOTER_BYTES - 4]);
        w.put(&crc.to_le_bytes());
        out
    }

    /// Decodes and checks the footer found at `offset` of `file`.
    pub(crate) fn decode(file: &str, offset: u64, bytes: &[u8]) -> Result<Footer, StateError> {
        let mut c = Cursor::new(file, offset, bytes);
        let magic = c.take(SST_MAGIC.len(), "footer magic")?;
        if magic != SST_MAGIC {
            return Err(corrupt(file, offset, "bad magic: not a spate SST file"));
        }
        let stored_crc = bytes
            .get(FOOTER_BYTES - 4..FOOTER_BYTES)
            .map(le_u32)
            .unwrap_or_default();
        let actual_crc = crc32c::crc32c(bytes.get(..FOOTER_BYTES - 4).unwrap_or_default());
        if stored_crc != actual_crc {
            return Err(corrupt(
                file,
                offset,
                format!(
                    "footer CRC mismatch: stored {stored_crc:#010x}, computed {actual_crc:#010x}"
                ),
            ));
        }
        let version = c.u32("format version")?;
        if version != SST_FORMAT_VERSION {
            return Err(corrupt(
                file,
                offset + 8,
                format!("format version {version}, this build reads {SST_FORMAT_VERSION}"),
            ));
        }
        Ok(Footer {
            entry_count: c.u64("entry count")?,
            block_count: c.u32("block count")?,
            key_group_start: c.u16("key group start")?,
            key_group_end: c.u16("key group end")?,
            index_offset: c.u64("index offset")?,
            index_len: c.u32("index length")?,
        })
    }
}

/// One block's entry in the index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BlockHandle {
    pub offset: u64,
    /// Bytes of the block, CRC trailer included.
    pub len: u32,
    pub entries: u32,
    pub first_key: Vec<u8>,
}

/// The decoded index block.
#[derive(Clone, Debug, Default)]
pub(crate) struct Index {
    pub blocks: Vec<BlockHandle>,
    pub last_key: Vec<u8>,
}

impl Index {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&len_u32(self.blocks.len()).to_le_bytes());
        for b in &self.blocks {
            out.extend_from_slice(&b.offset.to_le_bytes());
            out.extend_from_slice(&b.len.to_le_bytes());
            out.extend_from_slice(&b.entries.to_le_bytes());
            out.extend_from_slice(&len_u32(b.first_key.len()).to_le_bytes());
            out.extend_from_slice(&b.first_key);
        }
        out.extend_from_slice(&len_u32(self.last_key.len()).to_le_bytes());
        out.extend_from_slice(&self.last_key);
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes the index block found at `offset`; checks its CRC only (the
    /// reader checks how it fits the footer).
    pub(crate) fn decode(file: &str, offset: u64, bytes: &[u8]) -> Result<Index, StateError> {
        let body = check_crc_trailer(file, offset, bytes, "index block")?;
        let mut c = Cursor::new(file, offset, body);
        let count = c.u32("index block count")?;
        // Each handle takes at least 20 bytes: bounds the allocation below.
        if u64::from(count) * 20 > body.len() as u64 {
            return Err(corrupt(
                file,
                offset,
                format!(
                    "index claims {count} blocks but holds only {} bytes",
                    body.len()
                ),
            ));
        }
        let mut blocks = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let block_offset = c.u64("block offset")?;
            let len = c.u32("block length")?;
            let entries = c.u32("block entry count")?;
            let key_len = c.u32("first key length")? as usize;
            let first_key = c.take(key_len, "first key")?.to_vec();
            blocks.push(BlockHandle {
                offset: block_offset,
                len,
                entries,
                first_key,
            });
        }
        let last_len = c.u32("last key length")? as usize;
        let last_key = c.take(last_len, "last key")?.to_vec();
        if c.remaining() != 0 {
            return Err(corrupt(
                file,
                c.offset(),
                format!("{} unexpected bytes after the index", c.remaining()),
            ));
        }
        Ok(Index { blocks, last_key })
    }
}

/// Appends one encoded entry to `out`.
pub(crate) fn encode_entry(out: &mut Vec<u8>, key: &[u8], value: Option<&[u8]>) {
    out.extend_from_slice(&len_u32(key.len()).to_le_bytes());
    match value {
        None => out.push(TAG_TOMBSTONE),
        Some(v) => {
            out.push(TAG_VALUE);
            out.extend_from_slice(&len_u32(v.len()).to_le_bytes());
        }
    }
    out.extend_from_slice(key);
    if let Some(v) = value {
        out.extend_from_slice(v);
    }
}

/// Splits `bytes` into its body and checks the CRC32C trailer.
pub(crate) fn check_crc_trailer<'a>(
    file: &str,
    offset: u64,
    bytes: &'a [u8],
    what: &str,
) -> Result<&'a [u8], StateError> {
    let Some(body_len) = bytes.len().checked_sub(BLOCK_CRC_BYTES) else {
        return Err(corrupt(
            file,
            offset,
            format!(
                "truncated {what}: {} bytes, too short for its CRC",
                bytes.len()
            ),
        ));
    };
    let (body, trailer) = bytes.split_at(body_len);
    let stored = le_u32(trailer);
    let actual = crc32c::crc32c(body);
    if stored != actual {
        return Err(corrupt(
            file,
            offset,
            format!("{what} CRC mismatch: stored {stored:#010x}, computed {actual:#010x}"),
        ));
    }
    Ok(body)
}

/// A `CorruptFile` error.
pub(crate) fn corrupt(file: &str, offset: u64, reason: impl Into<String>) -> StateError {
    StateError::CorruptFile {
        file: file.to_string(),
        offset,
        reason: reason.into(),
    }
}

/// Lengths written by this crate are bounded by `KEY_BYTES_MAX`,
/// `VALUE_BYTES_MAX` and the index limits, all far below `u32::MAX`.
pub(crate) fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

fn le_u32(bytes: &[u8]) -> u32 {
    let mut b = [0u8; 4];
    for (dst, src) in b.iter_mut().zip(bytes) {
        *dst = *src;
    }
    u32::from_le_bytes(b)
}

struct SliceWriter<'a> {
    out: &'a mut [u8],
    pos: usize,
}

impl SliceWriter<'_> {
    fn put(&mut self, bytes: &[u8]) {
        let end = self.pos + bytes.len();
        if let Some(dst) = self.out.get_mut(self.pos..end) {
            dst.copy_from_slice(bytes);
        }
        self.pos = end;
    }
}

/// A bounds-checked reader over a byte slice that reports the file offset
/// of whatever it fails to read.
pub(crate) struct Cursor<'a> {
    file: &'a str,
    base: u64,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(file: &'a str, base: u64, bytes: &'a [u8]) -> Self {
        Cursor {
            file,
            base,
            bytes,
            pos: 0,
        }
    }

    /// File offset of the next byte.
    pub(crate) fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    pub(crate) fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], StateError> {
        let bytes = self.bytes;
        match self
            .pos
            .checked_add(n)
            .and_then(|end| bytes.get(self.pos..end))
        {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => Err(corrupt(
                self.file,
                self.offset(),
                format!(
                    "truncated: {what} needs {n} bytes, {} remain",
                    self.remaining()
                ),
            )),
        }
    }

    pub(crate) fn u8(&mut self, what: &str) -> Result<u8, StateError> {
        Ok(self.take(1, what)?.first().copied().unwrap_or_default())
    }

    pub(crate) fn u16(&mut self, what: &str) -> Result<u16, StateError> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([
            b.first().copied().unwrap_or_default(),
            b.get(1).copied().unwrap_or_default(),
        ]))
    }

    pub(crate) fn u32(&mut self, what: &str) -> Result<u32, StateError> {
        Ok(le_u32(self.take(4, what)?))
    }

    pub(crate) fn u64(&mut self, what: &str) -> Result<u64, StateError> {
        let b = self.take(8, what)?;
        let mut out = [0u8; 8];
        out.copy_from_slice(b);
        Ok(u64::from_le_bytes(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footer_round_trips_and_is_48_bytes() {
        let footer = Footer {
            entry_count: 7,
            block_count: 2,
            key_group_start: 3,
            key_group_end: 9,
            index_offset: 1234,
            index_len: 56,
        };
        let bytes = footer.encode();
        assert_eq!(bytes.len(), FOOTER_BYTES);
        assert_eq!(Footer::decode("f", 0, &bytes), Ok(footer));
    }

    #[test]
    fn footer_with_a_flipped_bit_is_rejected() {
        let footer = Footer {
            entry_count: 1,
            block_count: 1,
            key_group_start: 0,
            key_group_end: 1,
            index_offset: 10,
            index_len: 20,
        };
        let mut bytes = footer.encode();
        bytes[20] ^= 0x10;
        let err = Footer::decode("f.sst", 100, &bytes).unwrap_err();
        assert!(err.to_string().contains("footer CRC mismatch"), "{err}");
        assert!(err.to_string().contains("f.sst at byte 100"), "{err}");
    }

    #[test]
    fn keys_need_a_key_group_prefix_below_the_limit() {
        assert!(key_problem(&[0]).is_some());
        assert!(key_problem(&[0x80, 0x00]).is_some());
        assert_eq!(key_problem(&[0x7f, 0xff, 1]), None);
        assert_eq!(key_group_of_key(&[1, 2, 3]), Some(258));
    }
}
