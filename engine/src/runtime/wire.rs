//! How a channel's messages cross a process boundary: record batches as
//! rkyv archives in data frames (they need credit), watermarks and idleness
//! as channel events (ordered with the data, outside credit), and the end
//! of a channel as an end-of-channel event.

use bytes::{Bytes, BytesMut};
use rkyv::api::high::{HighDeserializer, HighValidator};
use rkyv::bytecheck::CheckBytes;
use rkyv::rancor;
use rkyv::util::AlignedVec;
use rkyv::vec::ArchivedVec;
use rkyv::{Archive, Deserialize};
use spate_net::{BatchRecord, access_batch, write_batch};

use super::message::Rec;
use crate::time::Timestamp;

/// A record type that can cross a process boundary: any [`crate::Data`]
/// type deriving `rkyv::Archive`, `rkyv::Serialize` and `rkyv::Deserialize`
/// qualifies (primitives, `String`, tuples, `Vec`s and `Option`s of such
/// types do already).
///
/// Exchanges that repartition (`key_by`, `rebalance`, `broadcast`) require
/// it, so a job that runs on one process runs unchanged on a cluster. Its
/// archived form ([`rkyv::Archive::Archived`]) is what in-place operators
/// such as [`crate::DataStream::filter_in_place`] read.
pub trait ExchangeData: crate::Data + Archive {
    /// Appends the archive of `records` to `dst`; returns its length.
    #[doc(hidden)]
    fn encode_records(records: &[Rec<Self>], dst: &mut BytesMut) -> Result<usize, String>;
    /// Validates an archive (checked: the bytes come from a socket) and
    /// returns its records, in place.
    #[doc(hidden)]
    fn access_records<'a>(
        payload: &'a [u8],
        scratch: &'a mut AlignedVec,
    ) -> Result<&'a ArchivedVec<ArchivedRecOf<Self>>, String>;
    /// Builds an owned record from its archive.
    #[doc(hidden)]
    fn deserialize_record(archived: &ArchivedRecOf<Self>) -> Result<Rec<Self>, String>;
    /// Validates an archive and hands each record, deserialized, to `f`;
    /// returns how many it handed over.
    #[doc(hidden)]
    fn decode_each(
        payload: &[u8],
        scratch: &mut AlignedVec,
        f: &mut dyn FnMut(Rec<Self>),
    ) -> Result<u64, String> {
        let archived = Self::access_records(payload, scratch)?;
        for r in archived.iter() {
            f(Self::deserialize_record(r)?);
        }
        Ok(archived.len() as u64)
    }
}

/// The archive of a record: in generic code where `Rec<T>: Archive` is
/// only a bound, rustc keeps this projection abstract (elsewhere it is
/// [`crate::ArchivedRec`]).
pub type ArchivedRecOf<T> = <Rec<T> as Archive>::Archived;

impl<T> ExchangeData for T
where
    T: crate::Data + Archive,
    Rec<T>: BatchRecord,
    ArchivedVec<ArchivedRecOf<T>>: for<'v> CheckBytes<HighValidator<'v, rancor::Error>>,
    ArchivedRecOf<T>: Deserialize<Rec<T>, HighDeserializer<rancor::Error>>,
{
    fn encode_records(records: &[Rec<Self>], dst: &mut BytesMut) -> Result<usize, String> {
        write_batch(records, dst).map_err(|e| e.to_string())
    }

    fn access_records<'a>(
        payload: &'a [u8],
        scratch: &'a mut AlignedVec,
    ) -> Result<&'a ArchivedVec<ArchivedRecOf<Self>>, String> {
        access_batch::<Rec<T>>(payload, scratch).map_err(|e| e.to_string())
    }

    fn deserialize_record(archived: &ArchivedRecOf<Self>) -> Result<Rec<Self>, String> {
        rkyv::deserialize::<Rec<T>, rancor::Error>(archived).map_err(|e| e.to_string())
    }
}

/// The codec of one edge's record type, captured where the type is known to
/// be [`ExchangeData`] and carried type-erased-free through the graph.
pub(crate) struct WireCodec<T> {
    pub(crate) encode: EncodeFn<T>,
    pub(crate) decode_each: DecodeEachFn<T>,
}

type EncodeFn<T> = fn(&[Rec<T>], &mut BytesMut) -> Result<usize, String>;
pub(crate) type DecodeEachFn<T> =
    fn(&[u8], &mut AlignedVec, &mut dyn FnMut(Rec<T>)) -> Result<u64, String>;

impl<T> Clone for WireCodec<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for WireCodec<T> {}

impl<T: ExchangeData> WireCodec<T> {
    pub(crate) fn of() -> Self {
        Self {
            encode: T::encode_records,
            decode_each: T::decode_each,
        }
    }
}

/// A channel event other than the end of the channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub(crate) enum WireEvent {
    /// A watermark with no records between it and the previous frame.
    Watermark(Timestamp),
    /// The sender became idle (true) or active again (false).
    Idle(bool),
    /// Checkpoint barrier `id`, triggered at `triggered_at_ms`.
    Barrier {
        /// The checkpoint.
        id: u64,
        /// When the coordinator triggered it (Unix ms).
        triggered_at_ms: u64,
    },
}

impl WireEvent {
    pub(crate) fn encode(self) -> Result<Bytes, String> {
        rkyv::to_bytes::<rancor::Error>(&self)
            .map(|v| Bytes::copy_from_slice(v.as_slice()))
            .map_err(|e| e.to_string())
    }

    pub(crate) fn decode(payload: &[u8]) -> Result<Self, String> {
        // Events are a few bytes: copying into an aligned buffer is cheaper
        // than asking the peer to align them.
        let mut aligned = AlignedVec::<16>::with_capacity(payload.len());
        aligned.extend_from_slice(payload);
        rkyv::from_bytes::<WireEvent, rancor::Error>(&aligned).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recs(n: i64) -> Vec<Rec<(u64, String)>> {
        (0..n)
            .map(|i| Rec {
                ts: i * 10,
                value: (i as u64, format!("v{i}")),
            })
            .collect()
    }

    #[test]
    fn records_round_trip() {
        let codec = WireCodec::<(u64, String)>::of();
        let mut buf = BytesMut::new();
        let input = recs(1000);
        let len = (codec.encode)(&input, &mut buf).unwrap();
        assert_eq!(len, buf.len());
        let mut scratch = AlignedVec::new();
        let mut out = Vec::new();
        let n = (codec.decode_each)(&buf, &mut scratch, &mut |r| out.push(r)).unwrap();
        assert_eq!(n, 1000);
        assert_eq!(out, input);
    }

    #[test]
    fn corrupt_archive_is_an_error_not_a_panic() {
        let codec = WireCodec::<(u64, String)>::of();
        let mut buf = BytesMut::new();
        (codec.encode)(&recs(3), &mut buf).unwrap();
        let mut scratch = AlignedVec::new();
        for i in 0..buf.len() {
            let mut bad = buf.to_vec();
            bad[i] ^= 0xff;
            // Some flips land in padding or in a value and still validate;
            // none may panic.
            let _ = (codec.decode_each)(&bad, &mut scratch, &mut |_| {});
        }
        assert!((codec.decode_each)(&buf[..buf.len() / 2], &mut scratch, &mut |_| {}).is_err());
    }

    #[test]
    fn events_round_trip() {
        for ev in [
            WireEvent::Watermark(i64::MIN),
            WireEvent::Watermark(42),
            WireEvent::Idle(true),
            WireEvent::Idle(false),
            WireEvent::Barrier {
                id: 7,
                triggered_at_ms: 1_700_000_000_000,
            },
        ] {
            assert_eq!(WireEvent::decode(&ev.encode().unwrap()).unwrap(), ev);
        }
        assert!(WireEvent::decode(&[0xff; 3]).is_err());
    }
}
