//! Record batches as rkyv archives: written in place into frame buffers,
//! read in place after checked validation.
//!
//! A batch payload is the archive of a `Vec<T>`: operators get a
//! `&ArchivedVec<T::Archived>` and read records without deserializing them.
//! Validation is always `rkyv::access` (checked), never the unchecked variant:
//! the bytes come from a socket.

use bytes::{Bytes, BytesMut};
use rkyv::api::high::{HighSerializer, HighValidator, to_bytes_in};
use rkyv::bytecheck::CheckBytes;
use rkyv::rancor::{self, Fallible};
use rkyv::ser::allocator::ArenaHandle;
use rkyv::ser::{Allocator, Positional, Writer};
use rkyv::util::AlignedVec;
use rkyv::vec::{ArchivedVec, VecResolver};
use rkyv::{Archive, Place, Serialize};

use crate::error::NetError;

/// Alignment of every buffer an archive is validated in. rkyv's checked
/// access rejects misaligned archives, and 16 covers every primitive
/// (`u128` included), matching `AlignedVec`'s default.
pub const PAYLOAD_ALIGN: usize = AlignedVec::<16>::ALIGNMENT;

/// An rkyv writer that appends to a `BytesMut`, so a batch is serialized
/// straight into the frame being built: no intermediate buffer, no copy.
#[derive(Debug)]
pub struct FrameWriter<'b> {
    buf: &'b mut BytesMut,
    start: usize,
}

impl Positional for FrameWriter<'_> {
    // Positions are relative to the payload's start: the archive must be
    // self-contained, whatever precedes it in the frame buffer.
    fn pos(&self) -> usize {
        self.buf.len() - self.start
    }
}

impl<E> Writer<E> for FrameWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> Result<(), E> {
        self.buf.extend_from_slice(bytes);
        Ok(())
    }
}

/// The serializer batches are written with.
pub type BatchSerializer<'a, 'b> = HighSerializer<FrameWriter<'b>, ArenaHandle<'a>, rancor::Error>;

/// A record type that can travel in a batch (any `#[derive(Archive,
/// Serialize)]` type qualifies).
pub trait BatchRecord: Archive + for<'a, 'b> Serialize<BatchSerializer<'a, 'b>> {}

impl<T> BatchRecord for T where T: Archive + for<'a, 'b> Serialize<BatchSerializer<'a, 'b>> {}

/// Archives a borrowed slice exactly as rkyv archives a `Vec<T>`, so the
/// sender need not own its records.
struct SliceAsVec<'r, T>(&'r [T]);

impl<T: Archive> Archive for SliceAsVec<'_, T> {
    type Archived = ArchivedVec<T::Archived>;
    type Resolver = VecResolver;

    fn resolve(&self, resolver: Self::Resolver, out: Place<Self::Archived>) {
        ArchivedVec::resolve_from_slice(self.0, resolver, out);
    }
}

impl<T, S> Serialize<S> for SliceAsVec<'_, T>
where
    T: Serialize<S>,
    S: Fallible + Allocator + Writer + ?Sized,
{
    fn serialize(&self, serializer: &mut S) -> Result<Self::Resolver, S::Error> {
        ArchivedVec::<T::Archived>::serialize_from_slice(self.0, serializer)
    }
}

/// Appends the archive of `records` to `dst` and returns its length. On
/// error `dst` is left as it was.
pub fn write_batch<T: BatchRecord>(records: &[T], dst: &mut BytesMut) -> Result<usize, NetError> {
    let start = dst.len();
    let writer = FrameWriter { buf: dst, start };
    match to_bytes_in::<_, rancor::Error>(&SliceAsVec(records), writer) {
        Ok(writer) => Ok(writer.pos()),
        Err(err) => {
            dst.truncate(start);
            Err(NetError::Encode {
                reason: err.to_string(),
            })
        }
    }
}

/// Archives `records` into a standalone payload.
pub fn encode_batch<T: BatchRecord>(records: &[T]) -> Result<Bytes, NetError> {
    let mut buf = BytesMut::new();
    write_batch(records, &mut buf)?;
    Ok(buf.freeze())
}

/// Whether `bytes` starts on a [`PAYLOAD_ALIGN`] boundary.
pub fn is_aligned(bytes: &[u8]) -> bool {
    // A mask, not `is_multiple_of`: the workspace supports Rust 1.85.
    bytes.as_ptr().addr() & (PAYLOAD_ALIGN - 1) == 0
}

/// Validates `payload` as a batch of `T` and returns it for reading in place.
///
/// An aligned payload is read where it lies; a misaligned one is first copied
/// into `scratch` (a reused, aligned buffer), since rkyv must not read
/// misaligned archives.
pub fn access_batch<'a, T>(
    payload: &'a [u8],
    scratch: &'a mut AlignedVec,
) -> Result<&'a ArchivedVec<T::Archived>, NetError>
where
    T: Archive,
    ArchivedVec<T::Archived>: for<'v> CheckBytes<HighValidator<'v, rancor::Error>>,
{
    if is_aligned(payload) {
        return access_aligned::<T>(payload);
    }
    scratch.clear();
    scratch.extend_from_slice(payload);
    access_aligned::<T>(scratch.as_slice())
}

/// Checked access to an archive known to be aligned (misalignment would
/// still be caught by rkyv, as an error).
pub(crate) fn access_aligned<T>(payload: &[u8]) -> Result<&ArchivedVec<T::Archived>, NetError>
where
    T: Archive,
    ArchivedVec<T::Archived>: for<'v> CheckBytes<HighValidator<'v, rancor::Error>>,
{
    rkyv::access::<ArchivedVec<T::Archived>, rancor::Error>(payload).map_err(|err| {
        NetError::InvalidArchive {
            channel: 0,
            seq: 0,
            reason: err.to_string(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    type Rec = (u64, u64, [u8; 32]);

    fn records(n: u64) -> Vec<Rec> {
        (0..n).map(|i| (i, i * 3, [i as u8; 32])).collect()
    }

    #[test]
    fn batch_round_trips_in_place() {
        let recs = records(1024);
        let bytes = encode_batch(&recs).expect("encode");
        let mut scratch = AlignedVec::new();
        let batch = access_batch::<Rec>(&bytes, &mut scratch).expect("access");
        assert_eq!(batch.len(), recs.len());
        for (archived, original) in batch.iter().zip(&recs) {
            assert_eq!(archived.0.to_native(), original.0);
            assert_eq!(archived.1.to_native(), original.1);
            assert_eq!(archived.2, original.2);
        }
    }

    #[test]
    fn misaligned_payload_is_copied_then_validated() {
        let recs = records(10);
        let bytes = encode_batch(&recs).expect("encode");
        let mut shifted = AlignedVec::<16>::new();
        shifted.push(0);
        shifted.extend_from_slice(&bytes);
        let misaligned = &shifted[1..];
        assert!(!is_aligned(misaligned));
        // Direct access must fail cleanly (rkyv checks alignment) ...
        assert!(access_aligned::<Rec>(misaligned).is_err());
        // ... and the copying path must succeed.
        let mut scratch = AlignedVec::new();
        let batch = access_batch::<Rec>(misaligned, &mut scratch).expect("access");
        assert_eq!(batch.len(), 10);
    }

    #[test]
    fn empty_batch_and_appending_after_other_bytes() {
        let mut buf = BytesMut::from(&b"prefix"[..]);
        let len = write_batch::<Rec>(&[], &mut buf).expect("encode");
        assert_eq!(buf.len(), 6 + len);
        let mut scratch = AlignedVec::new();
        let batch = access_batch::<Rec>(&buf[6..], &mut scratch).expect("access");
        assert!(batch.is_empty());
    }

    #[test]
    fn garbage_is_an_invalid_archive_not_a_panic() {
        let mut scratch = AlignedVec::new();
        for garbage in [&[][..], &[0xff; 3], &[0xff; 8], &[0x7f; 64]] {
            let result = access_batch::<Rec>(garbage, &mut scratch);
            assert!(
                matches!(result, Err(NetError::InvalidArchive { .. })),
                "{result:?}"
            );
        }
    }
}
