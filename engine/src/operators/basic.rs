//! Stateless record-at-a-time operators: map, filter, flat_map.

use std::marker::PhantomData;

use crate::runtime::output::{BoxOutput, Output, TaskCx, forward_control};
use crate::time::Timestamp;

pub(crate) struct MapOp<F, U> {
    pub(crate) f: F,
    pub(crate) next: BoxOutput<U>,
}

impl<T, U: 'static, F: FnMut(T) -> U + 'static> Output<T> for MapOp<F, U> {
    #[inline]
    fn record(&mut self, cx: &mut TaskCx, value: T, ts: Timestamp) {
        let out = (self.f)(value);
        self.next.record(cx, out, ts);
    }
    forward_control!();
}

pub(crate) struct FilterOp<F, T> {
    pub(crate) f: F,
    pub(crate) next: BoxOutput<T>,
}

impl<T: 'static, F: FnMut(&T) -> bool + 'static> Output<T> for FilterOp<F, T> {
    #[inline]
    fn record(&mut self, cx: &mut TaskCx, value: T, ts: Timestamp) {
        if (self.f)(&value) {
            self.next.record(cx, value, ts);
        }
    }
    forward_control!();
}

pub(crate) struct FlatMapOp<F, U, I> {
    pub(crate) f: F,
    pub(crate) next: BoxOutput<U>,
    pub(crate) _i: PhantomData<fn() -> I>,
}

impl<T, U: 'static, I, F> Output<T> for FlatMapOp<F, U, I>
where
    I: IntoIterator<Item = U> + 'static,
    F: FnMut(T) -> I + 'static,
{
    #[inline]
    fn record(&mut self, cx: &mut TaskCx, value: T, ts: Timestamp) {
        for out in (self.f)(value) {
            self.next.record(cx, out, ts);
        }
    }
    forward_control!();
}
