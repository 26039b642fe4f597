//! The byte layout of stored values.
//!
//! A stored value is a one-byte tag, then (with TTL) its expiry, then the
//! rkyv archive:
//!
//! ```text
//! 0x00 | archive                      no expiry
//! 0x01 | expires_at_ms (i64 BE) | archive
//! ```
//!
//! The tag makes a value readable whatever the TTL setting of the table
//! that reads it, so enabling or disabling TTL across a restore works.
//!
//! A list is a sequence of records `len (varint) | stored value`, one per
//! element. Appending is a RocksDB merge whose operand is the new records;
//! the merge operator concatenates, so an `add` writes without reading the
//! list (one entry per element under a sequence suffix would need a read
//! per add to find the next sequence number, and a range scan per get).

use rocksdb::MergeOperands;

use crate::codec::{CodecError, DataPart, StateData, decode, encode, get_varint, put_varint};

/// Name of the list-append merge operator, recorded by RocksDB in its
/// OPTIONS file.
pub(crate) const LIST_MERGE_OPERATOR: &str = "spate-list-append";

const TAG_PLAIN: u8 = 0;
const TAG_EXPIRING: u8 = 1;
const EXPIRY_BYTES: usize = 8;

/// Appends `value` as a stored value.
pub(crate) fn put_stored<V: StateData>(
    value: &V,
    expires_at_ms: Option<i64>,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    match expires_at_ms {
        None => out.push(TAG_PLAIN),
        Some(at) => {
            out.push(TAG_EXPIRING);
            out.extend_from_slice(&at.to_be_bytes());
        }
    }
    encode(value, DataPart::Value, out)
}

/// `value` as a stored value.
pub(crate) fn stored_bytes<V: StateData>(
    value: &V,
    expires_at_ms: Option<i64>,
) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    put_stored(value, expires_at_ms, &mut out)?;
    Ok(out)
}

/// A stored value split into its expiry and archive.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stored<'a> {
    pub(crate) expires_at_ms: Option<i64>,
    archive: &'a [u8],
    archive_offset: usize,
}

impl<'a> Stored<'a> {
    /// Splits a stored value; fails on an unknown tag or a cut expiry.
    pub(crate) fn parse(bytes: &'a [u8]) -> Result<Self, CodecError> {
        match bytes.split_first() {
            Some((&TAG_PLAIN, archive)) => Ok(Self {
                expires_at_ms: None,
                archive,
                archive_offset: 1,
            }),
            Some((&TAG_EXPIRING, rest)) => {
                let Some((expiry, archive)) = rest.split_first_chunk::<EXPIRY_BYTES>() else {
                    return Err(CodecError::new(
                        DataPart::ValueLayout,
                        1,
                        "expiry is cut short",
                    ));
                };
                Ok(Self {
                    expires_at_ms: Some(i64::from_be_bytes(*expiry)),
                    archive,
                    archive_offset: 1 + EXPIRY_BYTES,
                })
            }
            Some((tag, _)) => Err(CodecError::new(
                DataPart::ValueLayout,
                0,
                format!("unknown value tag {tag:#04x}"),
            )),
            None => Err(CodecError::new(DataPart::ValueLayout, 0, "empty value")),
        }
    }

    /// Decodes the value.
    pub(crate) fn decode<V: StateData>(&self) -> Result<V, CodecError> {
        decode(self.archive, DataPart::Value).map_err(|e| e.shifted(self.archive_offset))
    }

    /// The same value with another expiry (no re-encoding).
    pub(crate) fn with_expiry(&self, expires_at_ms: Option<i64>, out: &mut Vec<u8>) {
        match expires_at_ms {
            None => out.push(TAG_PLAIN),
            Some(at) => {
                out.push(TAG_EXPIRING);
                out.extend_from_slice(&at.to_be_bytes());
            }
        }
        out.extend_from_slice(self.archive);
    }
}

/// Appends a list record holding the stored value `stored`.
pub(crate) fn put_list_record(stored: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
    let len = u32::try_from(stored.len())
        .map_err(|_| CodecError::new(DataPart::ValueLayout, out.len(), "element over 4 GiB"))?;
    put_varint(len, out);
    out.extend_from_slice(stored);
    Ok(())
}

/// The records of a stored list, each as (offset, stored value).
pub(crate) fn list_records(
    bytes: &[u8],
) -> impl Iterator<Item = Result<(usize, Stored<'_>), CodecError>> + '_ {
    let mut offset = 0usize;
    std::iter::from_fn(move || {
        let rest = bytes.get(offset..).filter(|r| !r.is_empty())?;
        let record = next_record(rest, offset);
        offset = match &record {
            Ok((_, _, next)) => *next,
            // Stop after the first error.
            Err(_) => bytes.len(),
        };
        Some(record.map(|(at, stored, _)| (at, stored)))
    })
}

/// Parses the record at the start of `rest` (found at `offset`); returns its
/// value's offset, the value and the offset of the next record.
fn next_record(rest: &[u8], offset: usize) -> Result<(usize, Stored<'_>, usize), CodecError> {
    let (len, varint_len) =
        get_varint(rest, DataPart::ValueLayout).map_err(|e| e.shifted(offset))?;
    let start = varint_len;
    let end = start.saturating_add(len as usize);
    let Some(body) = rest.get(start..end) else {
        return Err(CodecError::new(
            DataPart::ValueLayout,
            offset,
            format!("list element of {len} bytes runs past the end"),
        ));
    };
    let stored = Stored::parse(body).map_err(|e| e.shifted(offset + start))?;
    Ok((offset + start, stored, offset + end))
}

/// The list-append merge operator: existing records, then each operand's.
/// Concatenation is associative, so it serves as full and partial merge.
pub(crate) fn concat_records(
    _key: &[u8],
    existing: Option<&[u8]>,
    operands: &MergeOperands,
) -> Option<Vec<u8>> {
    let len = existing.map_or(0, <[u8]>::len) + operands.iter().map(<[u8]>::len).sum::<usize>();
    let mut out = Vec::with_capacity(len);
    if let Some(existing) = existing {
        out.extend_from_slice(existing);
    }
    for operand in operands {
        out.extend_from_slice(operand);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_values_round_trip_with_and_without_expiry() {
        for expiry in [None, Some(-5), Some(i64::MAX)] {
            let bytes = stored_bytes(&"v".to_owned(), expiry).unwrap();
            let stored = Stored::parse(&bytes).unwrap();
            assert_eq!(stored.expires_at_ms, expiry);
            assert_eq!(stored.decode::<String>().unwrap(), "v");
            let mut moved = Vec::new();
            stored.with_expiry(Some(9), &mut moved);
            assert_eq!(Stored::parse(&moved).unwrap().expires_at_ms, Some(9));
            assert_eq!(
                Stored::parse(&moved).unwrap().decode::<String>().unwrap(),
                "v"
            );
        }
    }

    #[test]
    fn bad_layouts_are_errors() {
        assert!(Stored::parse(&[]).is_err());
        assert!(Stored::parse(&[7, 1, 2]).is_err());
        assert!(Stored::parse(&[1, 0, 0]).is_err());
        let mut list = Vec::new();
        put_list_record(&stored_bytes(&1u32, None).unwrap(), &mut list).unwrap();
        list.push(9); // a record claiming 9 bytes, with none behind it
        let records: Vec<_> = list_records(&list).collect();
        assert_eq!(records.len(), 2);
        assert!(records[0].is_ok());
        assert_eq!(records[1].as_ref().unwrap_err().offset, list.len() - 1);
    }

    #[test]
    fn list_records_iterate_in_order() {
        let mut list = Vec::new();
        for v in 0u32..5 {
            put_list_record(&stored_bytes(&v, Some(i64::from(v))).unwrap(), &mut list).unwrap();
        }
        let got: Vec<(u32, Option<i64>)> = list_records(&list)
            .map(|r| {
                let (_, s) = r.unwrap();
                (s.decode().unwrap(), s.expires_at_ms)
            })
            .collect();
        assert_eq!(
            got,
            (0..5).map(|v| (v, Some(i64::from(v)))).collect::<Vec<_>>()
        );
    }
}
