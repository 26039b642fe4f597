//! Serialization of state keys, namespaces and values, and the byte layout
//! of a stored state key.
//!
//! Everything is serialized with rkyv, as records crossing processes are, so
//! a user type derives one set of traits
//! (`#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]`) and is
//! then [`StateData`]. Decoding is always checked: the bytes come back from
//! disk and checkpoints, and bad bytes give a [`CodecError`], never a panic.
//!
//! A stored key is
//!
//! ```text
//! key group (u16, big-endian) | len(key) | key | len(ns) | ns | rest
//! ```
//!
//! with each length an unsigned LEB128 varint and `rest` the encoded user key
//! of map state (empty otherwise). Hence (key group), (key group, key) and
//! (key group, key, namespace) are byte prefixes of every entry they hold,
//! keys sort by key group first, and a key-group range is one contiguous
//! byte range: `[start as u16 BE, end as u16 BE)`.
//!
//! Keys must encode deterministically: equal keys must give equal bytes.
//! rkyv zeroes padding, so plain data, strings, vectors and tuples do;
//! hash-ordered collections (`HashMap`, `HashSet`) do not and must not be
//! used as keys or namespaces.

use std::cell::RefCell;
use std::fmt;

use rkyv::api::high::{HighDeserializer, HighSerializer, HighValidator};
use rkyv::bytecheck::CheckBytes;
use rkyv::rancor;
use rkyv::ser::allocator::ArenaHandle;
use rkyv::util::AlignedVec;
use rkyv::{Archive, Deserialize, Serialize};

use crate::key_group::{KeyGroup, KeyGroupRange};

/// A type that can be stored in serialized state: implemented for every type
/// that derives rkyv's `Archive`, `Serialize` and `Deserialize` (with
/// `bytecheck`, which rkyv's derive enables by default).
pub trait StateData:
    Archive<
        Archived: for<'v> CheckBytes<HighValidator<'v, rancor::Error>>
                      + Deserialize<Self, HighDeserializer<rancor::Error>>,
    > + for<'a> Serialize<HighSerializer<AlignedVec, ArenaHandle<'a>, rancor::Error>>
    + Sized
{
}

impl<T> StateData for T
where
    T: Archive + for<'a> Serialize<HighSerializer<AlignedVec, ArenaHandle<'a>, rancor::Error>>,
    T::Archived: for<'v> CheckBytes<HighValidator<'v, rancor::Error>>
        + Deserialize<T, HighDeserializer<rancor::Error>>,
{
}

/// Which part of a stored entry a codec error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DataPart {
    /// The framing of a stored key (key group, lengths).
    KeyLayout,
    /// The key.
    Key,
    /// The namespace.
    Namespace,
    /// A map state's user key.
    UserKey,
    /// The framing of a stored value (header, expiry, list records).
    ValueLayout,
    /// A value (a list element, a map value, an accumulator...).
    Value,
}

impl fmt::Display for DataPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DataPart::KeyLayout => "key layout",
            DataPart::Key => "key",
            DataPart::Namespace => "namespace",
            DataPart::UserKey => "user key",
            DataPart::ValueLayout => "value layout",
            DataPart::Value => "value",
        })
    }
}

/// Bytes that do not encode or decode as expected. A table turns it into
/// [`StateError::Codec`](crate::StateError::Codec) naming its state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodecError {
    /// What was being encoded or decoded.
    pub part: DataPart,
    /// Offset of the part (or of the bad byte) in the stored key or value.
    pub offset: usize,
    /// What is wrong.
    pub reason: String,
}

impl CodecError {
    pub(crate) fn new(part: DataPart, offset: usize, reason: impl Into<String>) -> Self {
        Self {
            part,
            offset,
            reason: reason.into(),
        }
    }

    /// The same error, `delta` bytes further into the enclosing buffer.
    pub(crate) fn shifted(self, delta: usize) -> Self {
        Self {
            offset: self.offset.saturating_add(delta),
            ..self
        }
    }

    /// This error as a [`StateError`](crate::StateError) of state `state`.
    pub fn in_state(self, state: &str) -> crate::StateError {
        crate::StateError::Codec {
            state: state.to_owned(),
            part: self.part,
            offset: self.offset,
            reason: self.reason,
        }
    }
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}: {}", self.part, self.offset, self.reason)
    }
}

/// Longest LEB128 encoding of a `u32`.
const VARINT_BYTES_MAX: usize = 5;

/// Bytes of the key-group prefix.
pub const KEY_GROUP_PREFIX_BYTES: usize = 2;

/// Appends the rkyv encoding of `value` to `out`.
pub fn encode<T: StateData>(
    value: &T,
    part: DataPart,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    // rkyv aligns relative to the writer's start, so the archive is built in
    // its own buffer: its bytes must not depend on what precedes it in `out`.
    let bytes = rkyv::to_bytes::<rancor::Error>(value)
        .map_err(|err| CodecError::new(part, out.len(), format!("cannot encode: {err}")))?;
    out.extend_from_slice(&bytes);
    Ok(())
}

/// The rkyv encoding of `value`.
pub fn encode_to_vec<T: StateData>(value: &T, part: DataPart) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    encode(value, part, &mut out)?;
    Ok(out)
}

thread_local! {
    /// Aligned scratch space for decoding: stored bytes are rarely aligned
    /// for rkyv, which must not read misaligned archives.
    static SCRATCH: RefCell<AlignedVec> = RefCell::new(AlignedVec::new());
}

/// Decodes `bytes` (a whole rkyv archive) as a `T`, validating it first.
pub fn decode<T: StateData>(bytes: &[u8], part: DataPart) -> Result<T, CodecError> {
    let decode_aligned = |aligned: &[u8]| {
        rkyv::from_bytes::<T, rancor::Error>(aligned)
            .map_err(|err| CodecError::new(part, 0, format!("invalid archive: {err}")))
    };
    SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            buf.extend_from_slice(bytes);
            decode_aligned(buf.as_slice())
        }
        // A `Deserialize` impl that decodes state itself: use a fresh buffer.
        Err(_) => {
            let mut buf = AlignedVec::<16>::with_capacity(bytes.len());
            buf.extend_from_slice(bytes);
            decode_aligned(buf.as_slice())
        }
    })
}

/// Appends `value` as an unsigned LEB128 varint.
pub(crate) fn put_varint(mut value: u32, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Reads a minimal unsigned LEB128 varint at the start of `bytes`; returns
/// the value and its length in bytes.
pub(crate) fn get_varint(bytes: &[u8], part: DataPart) -> Result<(u32, usize), CodecError> {
    let mut value = 0u32;
    for (i, &byte) in bytes.iter().take(VARINT_BYTES_MAX).enumerate() {
        let bits = u32::from(byte & 0x7f);
        let shift = 7 * i as u32;
        if shift == 28 && bits > 0x0f {
            return Err(CodecError::new(part, i, "length overflows u32"));
        }
        value |= bits << shift;
        if byte & 0x80 == 0 {
            // Only the minimal encoding is accepted, so bytes and lengths
            // map one to one.
            if byte == 0 && i > 0 {
                return Err(CodecError::new(part, i, "length is not minimally encoded"));
            }
            return Ok((value, i + 1));
        }
    }
    let reason = if bytes.len() < VARINT_BYTES_MAX {
        "length is truncated"
    } else {
        "length is longer than 5 bytes"
    };
    Err(CodecError::new(part, 0, reason))
}

/// Appends `bytes` preceded by their length.
fn put_length_prefixed(bytes: &[u8], part: DataPart, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let len = u32::try_from(bytes.len())
        .map_err(|_| CodecError::new(part, out.len(), "longer than 4 GiB"))?;
    put_varint(len, out);
    out.extend_from_slice(bytes);
    Ok(())
}

/// The two-byte prefix of every key of key group `kg`.
pub fn key_group_prefix(kg: KeyGroup) -> [u8; KEY_GROUP_PREFIX_BYTES] {
    kg.to_be_bytes()
}

/// The byte range `[start, end)` holding exactly the keys of `range`.
pub fn key_group_range_bounds(range: KeyGroupRange) -> ([u8; 2], [u8; 2]) {
    (key_group_prefix(range.start), key_group_prefix(range.end))
}

/// Appends the stored-key prefix of (key group, key, namespace) to `out`,
/// the key and namespace given already encoded.
pub fn put_state_key_prefix(
    kg: KeyGroup,
    key: &[u8],
    ns: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    out.extend_from_slice(&key_group_prefix(kg));
    put_length_prefixed(key, DataPart::Key, out)?;
    put_length_prefixed(ns, DataPart::Namespace, out)
}

/// Encodes (key group, key, namespace) as a stored-key prefix.
pub fn encode_state_key<K: StateData, N: StateData>(
    kg: KeyGroup,
    key: &K,
    ns: &N,
) -> Result<Vec<u8>, CodecError> {
    let key = encode_to_vec(key, DataPart::Key)?;
    let ns = encode_to_vec(ns, DataPart::Namespace)?;
    let mut out = Vec::with_capacity(KEY_GROUP_PREFIX_BYTES + 2 + key.len() + ns.len());
    put_state_key_prefix(kg, &key, &ns, &mut out)?;
    Ok(out)
}

/// A stored key split into its parts, without decoding them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateKeyParts<'a> {
    /// The key group.
    pub key_group: KeyGroup,
    /// The encoded key.
    pub key: &'a [u8],
    /// The encoded namespace.
    pub namespace: &'a [u8],
    /// What follows the namespace (a map state's encoded user key).
    pub rest: &'a [u8],
    /// Offset of `key` in the stored key.
    pub key_offset: usize,
    /// Offset of `namespace` in the stored key.
    pub namespace_offset: usize,
    /// Offset of `rest` in the stored key.
    pub rest_offset: usize,
}

impl<'a> StateKeyParts<'a> {
    /// Splits a stored key; fails on a truncated or malformed layout.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, CodecError> {
        let Some((kg, after_kg)) = bytes.split_first_chunk::<KEY_GROUP_PREFIX_BYTES>() else {
            return Err(CodecError::new(
                DataPart::KeyLayout,
                0,
                "shorter than the key-group prefix",
            ));
        };
        let key_group = KeyGroup::from_be_bytes(*kg);
        let (key, key_offset, after_key) = length_prefixed(after_kg, KEY_GROUP_PREFIX_BYTES)?;
        let ns_start = key_offset + key.len();
        let (namespace, namespace_offset, rest) = length_prefixed(after_key, ns_start)?;
        Ok(Self {
            key_group,
            key,
            namespace,
            rest,
            key_offset,
            namespace_offset,
            rest_offset: namespace_offset + namespace.len(),
        })
    }

    /// Decodes the key.
    pub fn decode_key<K: StateData>(&self) -> Result<K, CodecError> {
        decode(self.key, DataPart::Key).map_err(|e| e.shifted(self.key_offset))
    }

    /// Decodes the namespace.
    pub fn decode_namespace<N: StateData>(&self) -> Result<N, CodecError> {
        decode(self.namespace, DataPart::Namespace).map_err(|e| e.shifted(self.namespace_offset))
    }

    /// Decodes `rest` as a map state's user key.
    pub fn decode_user_key<UK: StateData>(&self) -> Result<UK, CodecError> {
        decode(self.rest, DataPart::UserKey).map_err(|e| e.shifted(self.rest_offset))
    }
}

/// Splits `len | bytes | tail` found at `offset` of a stored key into
/// (bytes, offset of bytes, tail).
fn length_prefixed(bytes: &[u8], offset: usize) -> Result<(&[u8], usize, &[u8]), CodecError> {
    let (len, varint_len) =
        get_varint(bytes, DataPart::KeyLayout).map_err(|e| e.shifted(offset))?;
    let body = bytes.get(varint_len..).unwrap_or_default();
    let len = len as usize;
    if body.len() < len {
        return Err(CodecError::new(
            DataPart::KeyLayout,
            offset,
            format!("length {len} runs past the end ({} bytes left)", body.len()),
        ));
    }
    let (part, tail) = body.split_at(len);
    Ok((part, offset + varint_len, tail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_trips_and_rejects_bad_encodings() {
        for v in [0u32, 1, 127, 128, 300, 16_383, 16_384, u32::MAX] {
            let mut out = Vec::new();
            put_varint(v, &mut out);
            assert_eq!(get_varint(&out, DataPart::KeyLayout), Ok((v, out.len())));
        }
        assert!(get_varint(&[], DataPart::KeyLayout).is_err());
        assert!(get_varint(&[0x80], DataPart::KeyLayout).is_err());
        assert!(
            get_varint(&[0x80, 0x00], DataPart::KeyLayout).is_err(),
            "non-minimal"
        );
        assert!(get_varint(&[0xff, 0xff, 0xff, 0xff, 0x1f], DataPart::KeyLayout).is_err());
        assert!(get_varint(&[0xff; 6], DataPart::KeyLayout).is_err());
    }

    #[test]
    fn values_round_trip_including_unit_and_strings() {
        let unit = encode_to_vec(&(), DataPart::Namespace).unwrap();
        assert!(unit.is_empty());
        decode::<()>(&unit, DataPart::Namespace).unwrap();
        let s = "a string longer than the inline representation".to_owned();
        let bytes = encode_to_vec(&s, DataPart::Value).unwrap();
        assert_eq!(decode::<String>(&bytes, DataPart::Value).unwrap(), s);
        let v: Vec<(u64, String)> = vec![(1, "x".into()), (2, "yy".into())];
        let bytes = encode_to_vec(&v, DataPart::Value).unwrap();
        assert_eq!(
            decode::<Vec<(u64, String)>>(&bytes, DataPart::Value).unwrap(),
            v
        );
    }

    #[test]
    fn corrupt_bytes_give_an_error_not_a_panic() {
        let bytes = encode_to_vec(&"hello world, long enough".to_owned(), DataPart::Value).unwrap();
        let mut bad = bytes.clone();
        // The root of a string archive is its last 8 bytes: a huge length.
        let n = bad.len();
        bad[n - 4..].copy_from_slice(&[0xff, 0xff, 0xff, 0x7f]);
        assert!(decode::<String>(&bad, DataPart::Value).is_err());
        assert!(decode::<u64>(&[1, 2, 3], DataPart::Value).is_err());
        assert!(StateKeyParts::parse(&[0]).is_err());
        assert!(StateKeyParts::parse(&[0, 0, 9, 1]).is_err());
    }

    #[test]
    fn parse_splits_the_layout() {
        let stored = encode_state_key(300, &7u64, &"ns".to_owned()).unwrap();
        let parts = StateKeyParts::parse(&stored).unwrap();
        assert_eq!(parts.key_group, 300);
        assert_eq!(parts.decode_key::<u64>().unwrap(), 7);
        assert_eq!(parts.decode_namespace::<String>().unwrap(), "ns");
        assert!(parts.rest.is_empty());
        assert_eq!(parts.rest_offset, stored.len());
    }
}
