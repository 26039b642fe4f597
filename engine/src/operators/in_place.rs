//! Operators with two forms of their function: one over the archived
//! record, for a batch from another process, read in its receive buffer
//! (only the records a filter keeps are deserialized; a projection builds
//! its output straight from the archive), and one over the record itself,
//! for records from the same process, which never were archived.

use std::marker::PhantomData;

use rkyv::vec::ArchivedVec;

use crate::runtime::archived::{ArchivedBatch, fail_invalid_batch};
use crate::runtime::output::{BoxOutput, Output, TaskCx, forward_control};
use crate::runtime::wire::{ArchivedRecOf, ExchangeData};
use crate::time::Timestamp;

/// Reusable space for a misaligned payload (pool buffers are aligned).
type Scratch = rkyv::util::AlignedVec;

/// The batch's records, validated and counted as read in place; `None`
/// (and the task failed with the reason) when the archive is invalid.
fn read_in_place<'a, T: ExchangeData>(
    cx: &mut TaskCx,
    batch: &'a ArchivedBatch<T>,
    scratch: &'a mut Scratch,
) -> Option<&'a ArchivedVec<ArchivedRecOf<T>>> {
    match T::access_records(batch.bytes(), scratch) {
        Ok(records) => {
            cx.metrics
                .add_remote_records_read_in_place(records.len() as u64);
            Some(records)
        }
        Err(e) => {
            fail_invalid_batch(cx, &e);
            None
        }
    }
}

/// Keeps the records that satisfy `f` (or, archived, `fa`).
pub(crate) struct FilterInPlaceOp<F, Fa, T> {
    pub(crate) f: F,
    pub(crate) fa: Fa,
    pub(crate) next: BoxOutput<T>,
    pub(crate) scratch: Scratch,
}

impl<T, F, Fa> Output<T> for FilterInPlaceOp<F, Fa, T>
where
    T: ExchangeData,
    F: FnMut(&T) -> bool + 'static,
    Fa: FnMut(&T::Archived) -> bool + 'static,
{
    #[inline]
    fn record(&mut self, cx: &mut TaskCx, value: T, ts: Timestamp) {
        if (self.f)(&value) {
            self.next.record(cx, value, ts);
        }
    }

    fn archived(&mut self, cx: &mut TaskCx, batch: &ArchivedBatch<T>) {
        let Self {
            fa: f,
            next,
            scratch,
            ..
        } = self;
        let Some(records) = read_in_place(cx, batch, scratch) else {
            return;
        };
        let mut kept = 0;
        for archived in records.iter().filter(|r| f(&r.value)) {
            match T::deserialize_record(archived) {
                Ok(rec) => next.record(cx, rec.value, rec.ts),
                Err(e) => return fail_invalid_batch(cx, &e),
            }
            kept += 1;
        }
        cx.metrics.add_remote_records_deserialized(kept);
    }

    forward_control!();
}

/// Builds zero or more output records from each input record with `f`
/// (or, archived, `fa`).
pub(crate) struct FlatMapInPlaceOp<F, Fa, U, I> {
    pub(crate) f: F,
    pub(crate) fa: Fa,
    pub(crate) next: BoxOutput<U>,
    pub(crate) scratch: Scratch,
    pub(crate) _i: PhantomData<fn() -> I>,
}

impl<T, U, I, F, Fa> Output<T> for FlatMapInPlaceOp<F, Fa, U, I>
where
    T: ExchangeData,
    U: 'static,
    I: IntoIterator<Item = U> + 'static,
    F: FnMut(&T) -> I + 'static,
    Fa: FnMut(&T::Archived) -> I + 'static,
{
    #[inline]
    fn record(&mut self, cx: &mut TaskCx, value: T, ts: Timestamp) {
        for u in (self.f)(&value) {
            self.next.record(cx, u, ts);
        }
    }

    fn archived(&mut self, cx: &mut TaskCx, batch: &ArchivedBatch<T>) {
        let Self {
            fa: f,
            next,
            scratch,
            ..
        } = self;
        let Some(records) = read_in_place(cx, batch, scratch) else {
            return;
        };
        for archived in records.iter() {
            let ts = archived.ts.to_native();
            for u in f(&archived.value) {
                next.record(cx, u, ts);
            }
        }
    }

    forward_control!();
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use rkyv::util::AlignedVec;

    use super::*;
    use crate::runtime::message::Rec;
    use crate::runtime::output::{Collected as Collect, Seen};
    use crate::runtime::wire::WireCodec;

    /// A wide record, like a Nexmark bid: a projection keeps two fields.
    type Bid = (u64, u64, String);

    fn bids(n: u64) -> Vec<Rec<Bid>> {
        (0..n)
            .map(|i| Rec {
                ts: i as i64 * 10,
                value: (i % 7, i * 100, format!("channel-{i}")),
            })
            .collect()
    }

    /// `records` as they arrive from another process.
    fn received(records: &[Rec<Bid>]) -> ArchivedBatch<Bid> {
        let codec = WireCodec::<Bid>::of();
        let mut buf = BytesMut::new();
        (codec.encode)(records, &mut buf).unwrap();
        let mut aligned = AlignedVec::<16>::new();
        aligned.extend_from_slice(&buf);
        ArchivedBatch::new(Box::new(aligned), codec.decode_each, 0)
    }

    fn filter(seen: &Seen<Bid>) -> impl Output<Bid> {
        FilterInPlaceOp {
            f: |b: &Bid| b.0 == 3,
            fa: |b: &<Bid as rkyv::Archive>::Archived| b.0 == 3,
            next: Box::new(Collect(seen.clone())),
            scratch: Scratch::new(),
        }
    }

    fn expected_kept(input: &[Rec<Bid>]) -> Vec<(Bid, Timestamp)> {
        input
            .iter()
            .filter(|r| r.value.0 == 3)
            .map(|r| (r.value.clone(), r.ts))
            .collect()
    }

    #[test]
    fn a_received_batch_is_filtered_in_place_and_only_kept_records_are_deserialized() {
        let input = bids(700);
        let seen = Seen::default();
        let mut op = filter(&seen);
        let mut cx = TaskCx::for_tests();
        op.archived(&mut cx, &received(&input));
        assert!(cx.failure.is_none());
        assert_eq!(*seen.borrow(), expected_kept(&input));
        let m = cx.metrics.snapshot();
        assert_eq!(m.remote_records_read_in_place, 700);
        assert_eq!(m.remote_records_deserialized, 100);
    }

    #[test]
    fn a_local_record_meets_the_owned_form_of_the_predicate() {
        let input = bids(50);
        let seen = Seen::default();
        let mut op = filter(&seen);
        let mut cx = TaskCx::for_tests();
        for r in input.clone() {
            op.record(&mut cx, r.value, r.ts);
        }
        assert!(cx.failure.is_none());
        assert_eq!(*seen.borrow(), expected_kept(&input));
        assert_eq!(cx.metrics.snapshot().remote_records_read_in_place, 0);
    }

    #[test]
    fn a_projection_builds_its_output_from_the_archive_alone() {
        let input = bids(300);
        let seen = Seen::default();
        let mut op = FlatMapInPlaceOp {
            f: |b: &Bid| Some((b.0, b.1)),
            fa: |b: &<Bid as rkyv::Archive>::Archived| Some((b.0.to_native(), b.1.to_native())),
            next: Box::new(Collect(seen.clone())),
            scratch: Scratch::new(),
            _i: PhantomData,
        };
        let mut cx = TaskCx::for_tests();
        op.archived(&mut cx, &received(&input[..200]));
        for r in input[200..].iter().cloned() {
            op.record(&mut cx, r.value, r.ts);
        }
        let want: Vec<_> = input
            .iter()
            .map(|r| ((r.value.0, r.value.1), r.ts))
            .collect();
        assert_eq!(*seen.borrow(), want);
        let m = cx.metrics.snapshot();
        assert_eq!(m.remote_records_read_in_place, 200);
        assert_eq!(m.remote_records_deserialized, 0);
    }

    #[test]
    fn a_corrupt_batch_fails_the_task_with_a_sentence() {
        let codec = WireCodec::<Bid>::of();
        let mut buf = BytesMut::new();
        (codec.encode)(&bids(20), &mut buf).unwrap();
        let mut aligned = AlignedVec::<16>::new();
        aligned.extend_from_slice(&buf[..buf.len() / 2]);
        let batch = ArchivedBatch::new(Box::new(aligned), codec.decode_each, 0);
        let seen = Seen::default();
        let mut op = filter(&seen);
        let mut cx = TaskCx::for_tests();
        op.archived(&mut cx, &batch);
        let err = cx.failure.expect("the task fails").to_string();
        assert!(err.contains("failed validation"), "{err}");
        assert!(seen.borrow().is_empty());
    }

    /// Without an in-place operator, the chain gets every record deserialized.
    #[test]
    fn other_operators_get_received_records_deserialized() {
        let input = bids(64);
        let seen = Seen::default();
        let mut op: BoxOutput<Bid> = Box::new(Collect(seen.clone()));
        let mut cx = TaskCx::for_tests();
        op.archived(&mut cx, &received(&input));
        let want: Vec<_> = input.iter().map(|r| (r.value.clone(), r.ts)).collect();
        assert_eq!(*seen.borrow(), want);
        let m = cx.metrics.snapshot();
        assert_eq!(m.remote_records_deserialized, 64);
        assert_eq!(m.remote_records_read_in_place, 0);
    }
}
