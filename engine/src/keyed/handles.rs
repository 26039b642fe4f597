//! State handles. A handle is an index into the operator's
//! [`StateRegistry`](super::StateRegistry); every access is scoped to the
//! current key of the context passed in.

use std::hash::Hash;
use std::marker::PhantomData;

use spate_state::rocks::{
    RocksAggregatingTable, RocksListTable, RocksMapTable, RocksReducingTable, RocksValueTable,
};
use spate_state::{
    AggregateFunction, AggregatingTable, ListTable, MapTable, ReducingTable, StateData, ValueTable,
};

use super::KeyScope;
use super::registry::Table;
use crate::error::Result;

/// Runs `$heap` or `$rocks` on the handle's table, whichever backend the
/// job chose; both bind the table to `t`.
macro_rules! on_table {
    ($reg:expr, $id:expr, $h:ty, $r:ty, |$t:ident| $heap:expr, $rocks:expr) => {
        match $reg.table::<$h, $r>($id)? {
            Table::Heap($t) => $heap,
            Table::Rocks($t) => $rocks,
        }
    };
}

macro_rules! handle {
    ($(#[$doc:meta])* $name:ident <$($p:ident),*>) => {
        $(#[$doc])*
        pub struct $name<$($p),*> {
            pub(crate) id: usize,
            pub(crate) _p: PhantomData<fn() -> ($($p,)*)>,
        }
        impl<$($p),*> Clone for $name<$($p),*> {
            fn clone(&self) -> Self {
                *self
            }
        }
        impl<$($p),*> Copy for $name<$($p),*> {}
        impl<$($p),*> std::fmt::Debug for $name<$($p),*> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({})", stringify!($name), self.id)
            }
        }
    };
}

handle!(
    /// One value per key (Flink's `ValueState`).
    ValueState<K, V>
);
handle!(
    /// A list per key (Flink's `ListState`).
    ListState<K, V>
);
handle!(
    /// A map per key (Flink's `MapState`).
    MapState<K, UK, UV>
);
handle!(
    /// A value per key folded with a reduce function (Flink's `ReducingState`).
    ReducingState<K, V>
);
handle!(
    /// An accumulator per key (Flink's `AggregatingState`).
    AggregatingState<K, A>
);

impl<K: crate::Key, V: Clone + StateData + 'static> ValueState<K, V> {
    /// The current key's value.
    pub fn value(&self, s: &mut impl KeyScope<K>) -> Result<Option<V>> {
        let (key, kr, now, reg) = s.parts();
        Ok(
            on_table!(reg, self.id, ValueTable<K, (), V>, RocksValueTable<K, (), V>, |t|
            t.get(kr, key, &(), now)?.cloned(),
            t.get(kr, key, &(), now)?),
        )
    }

    /// Sets the current key's value.
    pub fn update(&self, s: &mut impl KeyScope<K>, value: V) -> Result<()> {
        let (key, kr, now, reg) = s.parts();
        on_table!(reg, self.id, ValueTable<K, (), V>, RocksValueTable<K, (), V>, |t|
            t.put(kr, key.clone(), (), value, now)?,
            t.put(kr, key.clone(), (), value, now)?);
        Ok(())
    }

    /// Reads and rewrites the current key's value with one lookup: `f` gets
    /// the value (if any) and may change it in place; returning `Some(v)`
    /// stores `v`, returning `None` keeps the value as changed (or absent).
    pub fn modify(
        &self,
        s: &mut impl KeyScope<K>,
        f: impl FnOnce(Option<&mut V>) -> Option<V>,
    ) -> Result<()> {
        let (key, kr, now, reg) = s.parts();
        on_table!(reg, self.id, ValueTable<K, (), V>, RocksValueTable<K, (), V>, |t|
            t.update(kr, key, &(), now, f)?,
            t.update(kr, key, &(), now, f)?);
        Ok(())
    }

    /// Changes the current key's value in place with one lookup, starting
    /// from `init()` when it has none (an operator's per-key state that it
    /// creates on the key's first record).
    pub fn modify_or_insert_with(
        &self,
        s: &mut impl KeyScope<K>,
        init: impl FnOnce() -> V,
        f: impl FnOnce(&mut V),
    ) -> Result<()> {
        self.modify(s, |cur| match cur {
            Some(v) => {
                f(v);
                None
            }
            None => {
                let mut v = init();
                f(&mut v);
                Some(v)
            }
        })
    }

    /// Removes the current key's value.
    pub fn clear(&self, s: &mut impl KeyScope<K>) -> Result<()> {
        let (key, kr, now, reg) = s.parts();
        on_table!(reg, self.id, ValueTable<K, (), V>, RocksValueTable<K, (), V>, |t|
            drop(t.remove(kr, key, &(), now)?),
            drop(t.remove(kr, key, &(), now)?));
        Ok(())
    }
}

impl<K: crate::Key, V: Clone + StateData + 'static> ListState<K, V> {
    /// The current key's list (empty when none).
    pub fn get(&self, s: &mut impl KeyScope<K>) -> Result<Vec<V>> {
        let (key, kr, now, reg) = s.parts();
        Ok(
            on_table!(reg, self.id, ListTable<K, (), V>, RocksListTable<K, (), V>, |t|
            t.get(kr, key, &(), now)?.cloned().collect(),
            t.get(kr, key, &(), now)?),
        )
    }

    /// Calls `f` with each element of the current key's list, in order,
    /// without copying them on the heap backend (a join probing the other
    /// side's rows for every record).
    pub fn for_each(&self, s: &mut impl KeyScope<K>, f: impl FnMut(&V)) -> Result<()> {
        let (key, kr, now, reg) = s.parts();
        on_table!(reg, self.id, ListTable<K, (), V>, RocksListTable<K, (), V>, |t|
            t.get(kr, key, &(), now)?.for_each(f),
            t.get(kr, key, &(), now)?.iter().for_each(f));
        Ok(())
    }

    /// Changes the current key's list in place: `f` gets the list (moved
    /// out of the heap backend, not copied) and what it leaves is stored;
    /// an empty list is removed. Returns what `f` returns.
    pub fn modify<R>(
        &self,
        s: &mut impl KeyScope<K>,
        f: impl FnOnce(&mut Vec<V>) -> R,
    ) -> Result<R> {
        let (key, kr, now, reg) = s.parts();
        Ok(
            on_table!(reg, self.id, ListTable<K, (), V>, RocksListTable<K, (), V>, |t| {
                let mut values = t.take(kr, key, &(), now)?;
                let r = f(&mut values);
                t.update(kr, key, &(), values, now)?;
                r
            }, {
                let mut values = t.get(kr, key, &(), now)?;
                let r = f(&mut values);
                t.update(kr, key, &(), values, now)?;
                r
            }),
        )
    }

    /// Appends to the current key's list.
    pub fn add(&self, s: &mut impl KeyScope<K>, value: V) -> Result<()> {
        let (key, kr, now, reg) = s.parts();
        on_table!(reg, self.id, ListTable<K, (), V>, RocksListTable<K, (), V>, |t|
            t.add(kr, key, &(), value, now)?,
            t.add(kr, key, &(), value, now)?);
        Ok(())
    }

    /// Replaces the current key's list.
    pub fn update(&self, s: &mut impl KeyScope<K>, values: Vec<V>) -> Result<()> {
        let (key, kr, now, reg) = s.parts();
        on_table!(reg, self.id, ListTable<K, (), V>, RocksListTable<K, (), V>, |t|
            t.update(kr, key, &(), values, now)?,
            t.update(kr, key, &(), values, now)?);
        Ok(())
    }

    /// Removes the current key's list.
    pub fn clear(&self, s: &mut impl KeyScope<K>) -> Result<()> {
        let (key, kr, _, reg) = s.parts();
        on_table!(reg, self.id, ListTable<K, (), V>, RocksListTable<K, (), V>, |t|
            t.clear(kr, key, &())?,
            t.clear(kr, key, &())?);
        Ok(())
    }
}

impl<K: crate::Key, UK: Hash + Eq + Clone + StateData + 'static, UV: Clone + StateData + 'static>
    MapState<K, UK, UV>
{
    /// The value under `user_key` for the current key.
    pub fn get(&self, s: &mut impl KeyScope<K>, user_key: &UK) -> Result<Option<UV>> {
        let (key, kr, now, reg) = s.parts();
        Ok(
            on_table!(reg, self.id, MapTable<K, (), UK, UV>, RocksMapTable<K, (), UK, UV>, |t|
            t.get(kr, key, &(), user_key, now)?.cloned(),
            t.get(kr, key, &(), user_key, now)?),
        )
    }

    /// Puts `user_key -> value` for the current key.
    pub fn put(&self, s: &mut impl KeyScope<K>, user_key: UK, value: UV) -> Result<()> {
        let (key, kr, now, reg) = s.parts();
        on_table!(reg, self.id, MapTable<K, (), UK, UV>, RocksMapTable<K, (), UK, UV>, |t|
            t.put(kr, key, &(), user_key, value, now)?,
            t.put(kr, key, &(), user_key, value, now)?);
        Ok(())
    }

    /// Removes `user_key` for the current key.
    pub fn remove(&self, s: &mut impl KeyScope<K>, user_key: &UK) -> Result<Option<UV>> {
        let (key, kr, now, reg) = s.parts();
        Ok(
            on_table!(reg, self.id, MapTable<K, (), UK, UV>, RocksMapTable<K, (), UK, UV>, |t|
            t.remove(kr, key, &(), user_key, now)?,
            t.remove(kr, key, &(), user_key, now)?),
        )
    }

    /// All entries of the current key's map.
    pub fn entries(&self, s: &mut impl KeyScope<K>) -> Result<Vec<(UK, UV)>> {
        let (key, kr, now, reg) = s.parts();
        Ok(
            on_table!(reg, self.id, MapTable<K, (), UK, UV>, RocksMapTable<K, (), UK, UV>, |t|
            t.iter(kr, key, &(), now)?
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            t.iter(kr, key, &(), now)?.collect()),
        )
    }

    /// Removes the current key's map.
    pub fn clear(&self, s: &mut impl KeyScope<K>) -> Result<()> {
        let (key, kr, _, reg) = s.parts();
        on_table!(reg, self.id, MapTable<K, (), UK, UV>, RocksMapTable<K, (), UK, UV>, |t|
            t.clear(kr, key, &())?,
            t.clear(kr, key, &())?);
        Ok(())
    }
}

impl<K: crate::Key, V: Clone + StateData + 'static> ReducingState<K, V> {
    /// Folds `value` into the current key's value.
    pub fn add(&self, s: &mut impl KeyScope<K>, value: V) -> Result<()> {
        let (key, kr, now, reg) = s.parts();
        on_table!(reg, self.id, ReducingTable<K, (), V>, RocksReducingTable<K, (), V>, |t|
            t.add(kr, key, &(), value, now)?,
            t.add(kr, key, &(), value, now)?);
        Ok(())
    }

    /// The current key's folded value.
    pub fn get(&self, s: &mut impl KeyScope<K>) -> Result<Option<V>> {
        let (key, kr, now, reg) = s.parts();
        Ok(
            on_table!(reg, self.id, ReducingTable<K, (), V>, RocksReducingTable<K, (), V>, |t|
            t.get(kr, key, &(), now)?.cloned(),
            t.get(kr, key, &(), now)?),
        )
    }

    /// Removes the current key's value.
    pub fn clear(&self, s: &mut impl KeyScope<K>) -> Result<()> {
        let (key, kr, _, reg) = s.parts();
        on_table!(reg, self.id, ReducingTable<K, (), V>, RocksReducingTable<K, (), V>, |t|
            t.clear(kr, key, &())?,
            t.clear(kr, key, &())?);
        Ok(())
    }
}

impl<K: crate::Key, A: AggregateFunction<Acc: StateData>> AggregatingState<K, A> {
    /// Adds `value` to the current key's accumulator.
    pub fn add(&self, s: &mut impl KeyScope<K>, value: A::In) -> Result<()> {
        let (key, kr, now, reg) = s.parts();
        on_table!(reg, self.id, AggregatingTable<K, (), A>, RocksAggregatingTable<K, (), A>, |t|
            t.add(kr, key, &(), value, now)?,
            t.add(kr, key, &(), value, now)?);
        Ok(())
    }

    /// The current key's result.
    pub fn get(&self, s: &mut impl KeyScope<K>) -> Result<Option<A::Out>> {
        let (key, kr, now, reg) = s.parts();
        Ok(
            on_table!(reg, self.id, AggregatingTable<K, (), A>, RocksAggregatingTable<K, (), A>, |t|
            t.get(kr, key, &(), now)?,
            t.get(kr, key, &(), now)?),
        )
    }

    /// Removes the current key's accumulator.
    pub fn clear(&self, s: &mut impl KeyScope<K>) -> Result<()> {
        let (key, kr, _, reg) = s.parts();
        on_table!(reg, self.id, AggregatingTable<K, (), A>, RocksAggregatingTable<K, (), A>, |t|
            t.clear(kr, key, &())?,
            t.clear(kr, key, &())?);
        Ok(())
    }
}
