//! Aggregating state: values added into an accumulator.

use std::fmt;
use std::hash::Hash;

use crate::error::StateError;
use crate::key_group::{KeyGroup, KeyGroupRange, KeyRef};
use crate::snapshot::ExpiringEntry;
use crate::ttl::StateTtl;
use crate::value::ValueTable;

/// An incremental aggregation (Flink's `AggregateFunction`).
pub trait AggregateFunction: 'static {
    /// Values added.
    type In;
    /// The accumulator kept in state.
    type Acc: Clone + 'static;
    /// The result read out.
    type Out;

    /// A new, empty accumulator.
    fn create_accumulator(&self) -> Self::Acc;
    /// Adds `value` to `acc`.
    fn add(&self, value: Self::In, acc: &mut Self::Acc);
    /// The result for `acc`.
    fn get_result(&self, acc: &Self::Acc) -> Self::Out;
    /// Combines two accumulators (needed when session windows merge).
    fn merge(&self, a: Self::Acc, b: Self::Acc) -> Self::Acc;
    /// Merges `other` into `acc`. The default merges copies; a function
    /// whose accumulator allocates merges in place (windows merge their
    /// slices' accumulators this way on every firing).
    fn merge_from(&self, acc: &mut Self::Acc, other: &Self::Acc) {
        let taken = std::mem::replace(acc, self.create_accumulator());
        *acc = self.merge(taken, other.clone());
    }
    /// How many input records `value` stands for: one, unless it is a
    /// partial aggregate of several (a local phase's output), which a
    /// late-record metric must count as the records it combined.
    fn input_records(&self, value: &Self::In) -> u64 {
        let _ = value;
        1
    }
}

/// Aggregating state (Flink's `AggregatingState`): an accumulator per (key,
/// namespace) that added values are folded into.
///
/// TTL applies to the accumulator as a whole; every `add` restarts it.
pub struct AggregatingTable<K, N, A: AggregateFunction> {
    accumulators: ValueTable<K, N, A::Acc>,
    function: A,
}

impl<K, N, A> AggregatingTable<K, N, A>
where
    K: Hash + Eq + Clone + 'static,
    N: Hash + Eq + Clone + 'static,
    A: AggregateFunction,
{
    /// An empty table for the key groups in `range`, aggregating with
    /// `function`.
    pub fn new(range: KeyGroupRange, ttl: Option<StateTtl>, function: A) -> Self {
        Self {
            accumulators: ValueTable::new(range, ttl),
            function,
        }
    }

    /// The key groups this table holds.
    pub fn range(&self) -> KeyGroupRange {
        self.accumulators.range()
    }

    /// The TTL configuration, if any.
    pub fn ttl(&self) -> Option<StateTtl> {
        self.accumulators.ttl()
    }

    /// The aggregate function.
    pub fn function(&self) -> &A {
        &self.function
    }

    /// Adds `value` to the accumulator of (key, ns), creating it first if
    /// needed; one hash probe.
    #[inline]
    pub fn add(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        value: A::In,
        now_ms: i64,
    ) -> Result<(), StateError> {
        let function = &self.function;
        let acc = self
            .accumulators
            .get_or_insert_with(kr, key, ns, now_ms, || function.create_accumulator())?;
        function.add(value, acc);
        Ok(())
    }

    /// The aggregate result of (key, ns), if it has a visible accumulator.
    pub fn get(
        &self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        now_ms: i64,
    ) -> Result<Option<A::Out>, StateError> {
        Ok(self
            .accumulators
            .get(kr, key, ns, now_ms)?
            .map(|acc| self.function.get_result(acc)))
    }

    /// The accumulator of (key, ns), if visible.
    pub fn get_accumulator(
        &self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        now_ms: i64,
    ) -> Result<Option<&A::Acc>, StateError> {
        self.accumulators.get(kr, key, ns, now_ms)
    }

    /// Sets the accumulator of (key, ns) (restores, or Flink's
    /// `updateInternal`).
    pub fn put_accumulator(
        &mut self,
        kr: KeyRef,
        key: K,
        ns: N,
        acc: A::Acc,
        now_ms: i64,
    ) -> Result<(), StateError> {
        self.accumulators.put(kr, key, ns, acc, now_ms)
    }

    /// Removes the accumulator of (key, ns), returning it if visible.
    pub fn take_accumulator(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
        now_ms: i64,
    ) -> Result<Option<A::Acc>, StateError> {
        self.accumulators.remove(kr, key, ns, now_ms)
    }

    /// Removes the accumulator of (key, ns).
    pub fn clear(&mut self, kr: KeyRef, key: &K, ns: &N) -> Result<(), StateError> {
        self.remove_namespace_for_key(kr, key, ns).map(drop)
    }

    /// Drops (key, ns); returns whether it was stored.
    pub fn remove_namespace_for_key(
        &mut self,
        kr: KeyRef,
        key: &K,
        ns: &N,
    ) -> Result<bool, StateError> {
        self.accumulators.remove_namespace_for_key(kr, key, ns)
    }

    /// Removes the accumulators of `sources` and merges them into `target`
    /// with [`AggregateFunction::merge`] (session-window merging).
    pub fn merge_namespaces(
        &mut self,
        kr: KeyRef,
        key: &K,
        sources: &[N],
        target: &N,
        now_ms: i64,
    ) -> Result<(), StateError> {
        let function = &self.function;
        self.accumulators
            .merge_namespaces_with(kr, key, sources, target, now_ms, |a, b| {
                function.merge(a, b)
            })
    }

    /// Puts a value restored from a snapshot, as [`ValueTable::restore`].
    pub fn restore(
        &mut self,
        kr: KeyRef,
        entry: crate::snapshot::Restored<K, N, A::Acc>,
        now_ms: i64,
    ) -> Result<(), StateError> {
        self.accumulators.restore(kr, entry, now_ms)
    }

    /// Number of stored accumulators.
    pub fn len(&self) -> usize {
        self.accumulators.len()
    }

    /// Whether no accumulator is stored.
    pub fn is_empty(&self) -> bool {
        self.accumulators.is_empty()
    }

    /// Drops every accumulator and releases the memory.
    pub fn clear_all(&mut self) {
        self.accumulators.clear_all();
    }

    /// Every stored accumulator of key group `kg` (for snapshots).
    pub fn iter_key_group(
        &self,
        kg: KeyGroup,
    ) -> Result<impl Iterator<Item = (&K, &N, &A::Acc)> + '_, StateError> {
        self.accumulators.iter_key_group(kg)
    }

    /// The table of accumulators.
    pub(crate) fn value_table(&self) -> &ValueTable<K, N, A::Acc> {
        &self.accumulators
    }

    /// The table of accumulators, mutably.
    pub(crate) fn value_table_mut(&mut self) -> &mut ValueTable<K, N, A::Acc> {
        &mut self.accumulators
    }

    /// Every stored accumulator of key group `kg` with its expiry.
    pub fn iter_key_group_with_expiry(
        &self,
        kg: KeyGroup,
    ) -> Result<impl Iterator<Item = ExpiringEntry<'_, K, N, &A::Acc>> + '_, StateError> {
        self.accumulators.iter_key_group_with_expiry(kg)
    }

    /// Incremental TTL cleanup, as [`ValueTable::cleanup_expired`].
    pub fn cleanup_expired(&mut self, now_ms: i64, entries_max: usize) -> usize {
        self.accumulators.cleanup_expired(now_ms, entries_max)
    }

    /// Estimated bytes held, as [`ValueTable::approx_bytes`].
    pub fn approx_bytes(&self) -> usize {
        size_of::<Self>() + self.accumulators.approx_bytes()
    }
}

impl<K, N, A> fmt::Debug for AggregatingTable<K, N, A>
where
    K: Hash + Eq + Clone + 'static,
    N: Hash + Eq + Clone + 'static,
    A: AggregateFunction,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AggregatingTable")
            .field("range", &self.range())
            .field("ttl", &self.ttl())
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MP: u16 = 128;

    fn kr(k: u64) -> KeyRef {
        KeyRef::of(&k, MP)
    }

    /// Average of i64s: accumulator (sum, count).
    struct Avg;

    impl AggregateFunction for Avg {
        type In = i64;
        type Acc = (i64, u64);
        type Out = f64;

        fn create_accumulator(&self) -> (i64, u64) {
            (0, 0)
        }
        fn add(&self, value: i64, acc: &mut (i64, u64)) {
            acc.0 += value;
            acc.1 += 1;
        }
        fn get_result(&self, acc: &(i64, u64)) -> f64 {
            acc.0 as f64 / acc.1 as f64
        }
        fn merge(&self, a: (i64, u64), b: (i64, u64)) -> (i64, u64) {
            (a.0 + b.0, a.1 + b.1)
        }
    }

    fn table(ttl: Option<StateTtl>) -> AggregatingTable<u64, u32, Avg> {
        AggregatingTable::new(KeyGroupRange::all(MP), ttl, Avg)
    }

    #[test]
    fn add_and_get_result() {
        let mut t = table(None);
        assert_eq!(t.get(kr(1), &1, &0, 0).unwrap(), None);
        for v in [1, 2, 3, 6] {
            t.add(kr(1), &1, &0, v, 0).unwrap();
        }
        assert_eq!(t.get(kr(1), &1, &0, 0).unwrap(), Some(3.0));
        assert_eq!(t.get_accumulator(kr(1), &1, &0, 0).unwrap(), Some(&(12, 4)));
        t.clear(kr(1), &1, &0).unwrap();
        assert!(t.is_empty());
    }

    #[test]
    fn merge_namespaces_merges_accumulators() {
        let mut t = table(None);
        t.add(kr(1), &1, &1, 10, 0).unwrap();
        t.add(kr(1), &1, &2, 20, 0).unwrap();
        t.add(kr(1), &1, &2, 30, 0).unwrap();
        t.add(kr(1), &1, &3, 40, 0).unwrap();
        t.merge_namespaces(kr(1), &1, &[2, 3], &1, 0).unwrap();
        assert_eq!(
            t.get_accumulator(kr(1), &1, &1, 0).unwrap(),
            Some(&(100, 4))
        );
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn ttl_expired_accumulator_starts_over() {
        let mut t = table(Some(StateTtl::new(100)));
        t.add(kr(1), &1, &0, 10, 0).unwrap();
        t.add(kr(1), &1, &0, 20, 50).unwrap();
        assert_eq!(
            t.get_accumulator(kr(1), &1, &0, 149).unwrap(),
            Some(&(30, 2))
        );
        t.add(kr(1), &1, &0, 5, 150).unwrap();
        assert_eq!(
            t.get_accumulator(kr(1), &1, &0, 150).unwrap(),
            Some(&(5, 1))
        );
        assert_eq!(t.get(kr(1), &1, &0, 250).unwrap(), None);
    }
}
