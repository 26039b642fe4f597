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

    /// The contents' state table, for checkpoints.
    fn table(&self) -> &dyn spate_state::CanonicalState;
    /// The same, for restores.
    fn table_mut(&mut self) -> &mut dyn spate_state::CanonicalState;

    /// The partial result of one window slice, for contents whose partial
    /// results merge (`()` for the others).
    type Partial: spate_state::StateData + 'static;
    /// Whether a window's result can be merged from the partial results of
    /// its slices without changing it. Only an aggregate function promises
    /// that (its `merge`); a reduce function may depend on arrival order
    /// (e.g. "keep the last"), which slices would change.
    fn merges_partials(&self) -> bool {
        false
    }
    /// A partial result that holds `value`.
    fn partial(&self, value: T) -> Self::Partial;
    /// Folds `value` into `partial`.
    fn partial_add(&self, partial: &mut Self::Partial, value: T);
    /// How many input records `value` stands for (see
    /// [`AggregateFunction::input_records`]); late records count these.
    fn input_records(&self, value: &T) -> u64 {
        let _ = value;
        1
    }
    /// Emits the result of window `w` merged from `partials`, oldest slice
    /// first; nothing when there are none.
    fn emit_partials<'p>(
        &mut self,
        key: &K,
        w: &W,
        partials: impl Iterator<Item = &'p Self::Partial>,
        out: &mut Vec<Self::Out>,
    );
}

/// Implements `add`, `clear` and `merge` of [`WindowContents`] on the
/// contents' state table (`self.table`): the same for every kind.
macro_rules! table_methods {
    ($t:ty) => {
        fn table(&self) -> &dyn spate_state::CanonicalState {
            &self.table
        }
        fn table_mut(&mut self) -> &mut dyn spate_state::CanonicalState {
            &mut self.table
        }
        fn add(&mut self, kr: KeyRef, key: &K, w: &W, value: $t, now_ms: i64) -> Result<()> {
            Ok(self.table.add(kr, key, w, value, now_ms)?)
        }
        fn clear(&mut self, kr: KeyRef, key: &K, w: &W, _now_ms: i64) -> Result<()> {
            self.table.clear(kr, key, w)?;
            Ok(())
        }
        fn merge(
            &mut self,
            kr: KeyRef,
            key: &K,
            sources: &[W],
            target: &W,
            now_ms: i64,
        ) -> Result<()> {
            Ok(self
                .table
                .merge_namespaces(kr, key, sources, target, now_ms)?)
        }
    };
}

/// Implements the partial-result methods of [`WindowContents`] for contents
/// that do not merge partial results.
macro_rules! no_partials {
    ($t:ty) => {
        type Partial = ();
        fn partial(&self, _: $t) {}
        fn partial_add(&self, _: &mut (), _: $t) {}
        fn emit_partials<'p>(
            &mut self,
            _: &K,
            _: &W,
            _: impl Iterator<Item = &'p Self::Partial>,
            _: &mut Vec<Self::Out>,
        ) {
        }
    };
}

/// Contents folded with a reduce function.
pub(crate) struct ReduceContents<K, W, T> {
    pub(crate) table: ReducingTable<K, W, T>,
}

impl<K: crate::Key, W: Window, T: Clone + spate_state::StateData + 'static> WindowContents<K, W, T>
    for ReduceContents<K, W, T>
{
    type Out = T;
    table_methods!(T);
    fn emit(&mut self, kr: KeyRef, key: &K, w: &W, now_ms: i64, out: &mut Vec<T>) -> Result<()> {
        if let Some(v) = self.table.get(kr, key, w, now_ms)? {
            out.push(v.clone());
        }
        Ok(())
    }
    no_partials!(T);
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
    A: AggregateFunction<Acc: spate_state::StateData>,
    F: FnMut(&K, &W, A::Out) -> O + 'static,
{
    type Out = O;
    table_methods!(A::In);
    fn emit(&mut self, kr: KeyRef, key: &K, w: &W, now_ms: i64, out: &mut Vec<O>) -> Result<()> {
        if let Some(r) = self.table.get(kr, key, w, now_ms)? {
            out.push((self.finish)(key, w, r));
        }
        Ok(())
    }

    type Partial = A::Acc;
    fn merges_partials(&self) -> bool {
        true
    }
    fn partial(&self, value: A::In) -> A::Acc {
        let f = self.table.function();
        let mut acc = f.create_accumulator();
        f.add(value, &mut acc);
        acc
    }
    fn partial_add(&self, acc: &mut A::Acc, value: A::In) {
        self.table.function().add(value, acc);
    }
    fn input_records(&self, value: &A::In) -> u64 {
        self.table.function().input_records(value)
    }
    fn emit_partials<'p>(
        &mut self,
        key: &K,
        w: &W,
        mut partials: impl Iterator<Item = &'p A::Acc>,
        out: &mut Vec<O>,
    ) {
        let Some(first) = partials.next() else {
            return;
        };
        let f = self.table.function();
        let mut acc = first.clone();
        for p in partials {
            f.merge_from(&mut acc, p);
        }
        let result = f.get_result(&acc);
        out.push((self.finish)(key, w, result));
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
    T: Clone + spate_state::StateData + 'static,
    O: 'static,
    F: ProcessWindowFunction<K, W, T, O>,
{
    type Out = O;
    table_methods!(T);
    fn emit(&mut self, kr: KeyRef, key: &K, w: &W, now_ms: i64, out: &mut Vec<O>) -> Result<()> {
        let elements: Vec<T> = self.table.get(kr, key, w, now_ms)?.cloned().collect();
        if !elements.is_empty() {
            self.f
                .process(key, w, &elements, &mut WindowCollector { out })?;
        }
        Ok(())
    }
    no_partials!(T);
}

/// Counts the records of a window (or of a key, as rolling state): an
/// aggregate function with a `u64` count as accumulator and result.
pub struct Count<T>(PhantomData<fn(T)>);

impl<T> Count<T> {
    /// A counter of `T` records.
    pub fn new() -> Self {
        Self(PhantomData)
    }
}

impl<T> Default for Count<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for Count<T> {
    fn clone(&self) -> Self {
        Self::new()
    }
}

impl<T> std::fmt::Debug for Count<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Count")
    }
}

impl<T: 'static> AggregateFunction for Count<T> {
    type In = T;
    type Acc = u64;
    type Out = u64;
    fn create_accumulator(&self) -> u64 {
        0
    }
    fn add(&self, _: T, acc: &mut u64) {
        *acc += 1;
    }
    fn get_result(&self, acc: &u64) -> u64 {
        *acc
    }
    fn merge(&self, a: u64, b: u64) -> u64 {
        a + b
    }
}
