//! What a window computes: its contents (reduced, aggregated, or all
//! elements) and the function that turns them into output.

use std::marker::PhantomData;

use spate_state::{AggregateFunction, AggregatingTable, KeyRef, ListTable, ReducingTable};

use super::assigner::Window;
use crate::error::Result;

/// Collects the output of a [`ProcessWindowFunction`].
pub struct WindowCollector<'a, O> {
    pub(crate) out: &'a mut Vec<O>,
}

impl<O> WindowCollector<'_, O> {
    /// Emits one result (its timestamp is the window's last timestamp).
    pub fn collect(&mut self, value: O) {
        self.out.push(value);
    }
}

/// Computes a window's result from all its elements (Flink's
/// `ProcessWindowFunction`).
pub trait ProcessWindowFunction<K, W, T, O>: Clone + Send + Sync + 'static {
    /// Called when the window fires.
    fn process(
        &mut self,
        key: &K,
        window: &W,
        elements: &[T],
        out: &mut WindowCollector<'_, O>,
    ) -> Result<()>;
}

impl<K, W, T, O, F> ProcessWindowFunction<K, W, T, O> for F
where
    F: FnMut(&K, &W, &[T], &mut WindowCollector<'_, O>) -> Result<()>
        + Clone
        + Send
        + Sync
        + 'static,
{
    fn process(
        &mut self,
        key: &K,
        window: &W,
        elements: &[T],
        out: &mut WindowCollector<'_, O>,
    ) -> Result<()> {
        self(key, window, elements, out)
    }
}

/// The per key and window contents of a window operator.
pub(crate) trait WindowContents<K, W, T>: 'static {
    type Out;
    fn add(&mut self, kr: KeyRef, key: &K, w: &W, value: T, now_ms: i64) -> Result<()>;
    fn emit(
        &mut self,
        kr: KeyRef,
        key: &K,
        w: &W,
        now_ms: i64,
        out: &mut Vec<Self::Out>,
    ) -> Result<()>;
    fn clear(&mut self, kr: KeyRef, key: &K, w: &W, now_ms: i64) -> Result<()>;
    fn merge(&mut self, kr: KeyRef, key: &K, sources: &[W], target: &W, now_ms: i64) -> Result<()>;
}

/// Contents folded with a reduce function.
pub(crate) struct ReduceContents<K, W, T> {
    pub(crate) table: ReducingTable<K, W, T>,
}

impl<K: crate::Key, W: Window, T: Clone + 'static> WindowContents<K, W, T>
    for ReduceContents<K, W, T>
{
    type Out = T;
    fn add(&mut self, kr: KeyRef, key: &K, w: &W, value: T, now_ms: i64) -> Result<()> {
        Ok(self.table.add(kr, key, w, value, now_ms)?)
    }
    fn emit(&mut self, kr: KeyRef, key: &K, w: &W, now_ms: i64, out: &mut Vec<T>) -> Result<()> {
        if let Some(v) = self.table.get(kr, key, w, now_ms)? {
            out.push(v.clone());
        }
        Ok(())
    }
    fn clear(&mut self, kr: KeyRef, key: &K, w: &W, _now_ms: i64) -> Result<()> {
        self.table.clear(kr, key, w)?;
        Ok(())
    }
    fn merge(&mut self, kr: KeyRef, key: &K, sources: &[W], target: &W, now_ms: i64) -> Result<()> {
        Ok(self
            .table
            .merge_namespaces(kr, key, sources, target, now_ms)?)
    }
}

/// Contents kept as an accumulator, finished by `finish(key, window, result)`.
pub(crate) struct AggregateContents<K, W, A: AggregateFunction, F> {
    pub(crate) table: AggregatingTable<K, W, A>,
    pub(crate) finish: F,
}

impl<K, W, A, F, O> WindowContents<K, W, A::In> for AggregateContents<K, W, A, F>
where
    K: crate::Key,
    W: Window,
    A: AggregateFunction,
    F: FnMut(&K, &W, A::Out) -> O + 'static,
{
    type Out = O;
    fn add(&mut self, kr: KeyRef, key: &K, w: &W, value: A::In, now_ms: i64) -> Result<()> {
        Ok(self.table.add(kr, key, w, value, now_ms)?)
    }
    fn emit(&mut self, kr: KeyRef, key: &K, w: &W, now_ms: i64, out: &mut Vec<O>) -> Result<()> {
        if let Some(r) = self.table.get(kr, key, w, now_ms)? {
            out.push((self.finish)(key, w, r));
        }
        Ok(())
    }
    fn clear(&mut self, kr: KeyRef, key: &K, w: &W, _now_ms: i64) -> Result<()> {
        self.table.clear(kr, key, w)?;
        Ok(())
    }
    fn merge(&mut self, kr: KeyRef, key: &K, sources: &[W], target: &W, now_ms: i64) -> Result<()> {
        Ok(self
            .table
            .merge_namespaces(kr, key, sources, target, now_ms)?)
    }
}

/// Contents kept as the list of elements, for a process window function.
pub(crate) struct ProcessContents<K, W, T, F, O> {
    pub(crate) table: ListTable<K, W, T>,
    pub(crate) f: F,
    pub(crate) _o: PhantomData<fn() -> O>,
}

impl<K, W, T, F, O> WindowContents<K, W, T> for ProcessContents<K, W, T, F, O>
where
    K: crate::Key,
    W: Window,
    T: Clone + 'static,
    O: 'static,
    F: ProcessWindowFunction<K, W, T, O>,
{
    type Out = O;
    fn add(&mut self, kr: KeyRef, key: &K, w: &W, value: T, now_ms: i64) -> Result<()> {
        Ok(self.table.add(kr, key, w, value, now_ms)?)
    }
    fn emit(&mut self, kr: KeyRef, key: &K, w: &W, now_ms: i64, out: &mut Vec<O>) -> Result<()> {
        let elements: Vec<T> = self.table.get(kr, key, w, now_ms)?.cloned().collect();
        if !elements.is_empty() {
            self.f
                .process(key, w, &elements, &mut WindowCollector { out })?;
        }
        Ok(())
    }
    fn clear(&mut self, kr: KeyRef, key: &K, w: &W, _now_ms: i64) -> Result<()> {
        self.table.clear(kr, key, w)?;
        Ok(())
    }
    fn merge(&mut self, kr: KeyRef, key: &K, sources: &[W], target: &W, now_ms: i64) -> Result<()> {
        Ok(self
            .table
            .merge_namespaces(kr, key, sources, target, now_ms)?)
    }
}
