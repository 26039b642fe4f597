//! `WindowedStream`: a keyed stream cut into windows.

use std::marker::PhantomData;

use spate_state::{AggregateFunction, AggregatingTable, ListTable, ReducingTable};

use super::keyed::{KeyedStream, key_groups};
use super::side_output::OutputTag;
use super::stream::{DataStream, UserFn};
use crate::checkpoint::stateful_op;
use crate::window::{
    AggregateContents, DefaultTrigger, ProcessContents, ProcessWindowFunction, ReduceContents,
    Trigger, WindowAssigner, WindowContents, WindowOp, WindowSpec,
};

/// A keyed stream with a window assigner, before its window function.
pub struct WindowedStream<K, T, A, Tr> {
    keyed: KeyedStream<K, T>,
    spec: WindowSpec<A, Tr>,
    custom_trigger: bool,
}

impl<K: crate::Key, T: crate::Data> KeyedStream<K, T> {
    /// Cuts each key's records into the windows of `assigner`.
    pub fn window<A: WindowAssigner<T>>(
        &self,
        assigner: A,
    ) -> WindowedStream<K, T, A, DefaultTrigger> {
        let event_time = assigner.is_event_time();
        WindowedStream {
            keyed: self.clone(),
            spec: WindowSpec {
                assigner,
                trigger: DefaultTrigger { event_time },
                allowed_lateness_ms: 0,
                late_tag: None,
            },
            custom_trigger: false,
        }
    }
}

impl<K, T, A, Tr> WindowedStream<K, T, A, Tr>
where
    K: crate::Key,
    T: crate::Data,
    A: WindowAssigner<T>,
    Tr: Trigger<T, A::W>,
{
    /// Replaces the default trigger.
    pub fn trigger<Tr2: Trigger<T, A::W>>(self, trigger: Tr2) -> WindowedStream<K, T, A, Tr2> {
        WindowedStream {
            keyed: self.keyed,
            spec: WindowSpec {
                assigner: self.spec.assigner,
                trigger,
                allowed_lateness_ms: self.spec.allowed_lateness_ms,
                late_tag: self.spec.late_tag,
            },
            custom_trigger: true,
        }
    }

    /// Keeps windows this long after they end; late records within it
    /// update the result (the window fires again).
    pub fn allowed_lateness_ms(mut self, ms: u64) -> Self {
        self.spec.allowed_lateness_ms = ms.min(i64::MAX as u64) as i64;
        self
    }

    /// Sends records too late for any window to a side output.
    pub fn side_output_late_data(mut self, tag: &OutputTag<T>) -> Self {
        self.spec.late_tag = Some(tag.name().to_string());
        self
    }

    /// Checks what the types cannot; a problem is reported by `build()`.
    fn validate(&self) {
        let stream = &self.keyed.stream;
        let problem = if self.spec.assigner.is_event_time() && !stream.has_time {
            Some(
                "an event-time window is applied to a stream without event time; call \
                 `assign_timestamps_and_watermarks` on the stream (or use a source that \
                 emits timestamps) before `key_by(...).window(...)`",
            )
        } else if !self.custom_trigger && !self.spec.assigner.is_event_time() && self.is_global() {
            Some(
                "a global window never fires by itself; give it a trigger with `.trigger(CountTrigger::of(n))` or your own",
            )
        } else {
            None
        };
        if let Some(p) = problem {
            stream.g.borrow_mut().errors.push(p.to_string());
        }
    }

    fn is_global(&self) -> bool {
        std::any::type_name::<A::W>() == std::any::type_name::<crate::window::GlobalWindow>()
    }

    fn build<C, F>(self, name: &str, make_contents: F) -> DataStream<C::Out>
    where
        C: WindowContents<K, A::W, T>,
        C::Out: crate::Data,
        F: Fn(spate_state::KeyGroupRange) -> C + Send + Sync + 'static,
    {
        self.validate();
        let spec = self.spec;
        let key_fn = self.keyed.key_fn.clone();
        let has_time = self.keyed.stream.has_time;
        let node = self.keyed.keyed_node(name, move |inst, node| {
            let range = key_groups(inst);
            let op = WindowOp::new(
                spec.clone(),
                key_fn.clone(),
                make_contents(range),
                range,
                inst.outputs_of::<C::Out>(node)?,
                inst.side_outputs_of(node)?,
                inst.settings.max_parallelism,
            );
            stateful_op(inst, node, range, op)
        });
        self.keyed.stream.g.borrow_mut().mark_snapshots_state(node);
        DataStream::new(self.keyed.stream.g.clone(), node, None).with_time(has_time)
    }

    /// Folds each window's records with `f`; emits the folded value.
    pub fn reduce(self, f: impl Fn(&T, &T) -> T + UserFn) -> DataStream<T>
    where
        T: crate::StateData,
    {
        self.build("window_reduce", move |range| ReduceContents {
            table: ReducingTable::new(range, None, {
                let f = f.clone();
                move |a: &T, b: &T| f(a, b)
            }),
        })
    }

    /// Aggregates each window incrementally; emits the aggregate's result.
    pub fn aggregate<Ag>(self, agg: Ag) -> DataStream<Ag::Out>
    where
        Ag: AggregateFunction<In = T, Acc: crate::StateData> + Clone + Send + Sync,
        Ag::Out: crate::Data,
    {
        self.aggregate_with(agg, |_k: &K, _w: &A::W, r: Ag::Out| r)
    }

    /// Aggregates each window incrementally, then `finish(key, window, result)`.
    pub fn aggregate_with<Ag, O>(
        self,
        agg: Ag,
        finish: impl Fn(&K, &A::W, Ag::Out) -> O + UserFn,
    ) -> DataStream<O>
    where
        Ag: AggregateFunction<In = T, Acc: crate::StateData> + Clone + Send + Sync,
        O: crate::Data,
    {
        self.build("window_aggregate", move |range| AggregateContents {
            table: AggregatingTable::new(range, None, agg.clone()),
            finish: finish.clone(),
        })
    }

    /// Keeps each window's records and hands them all to `f` when it fires.
    pub fn process<O: crate::Data>(
        self,
        f: impl ProcessWindowFunction<K, A::W, T, O>,
    ) -> DataStream<O>
    where
        T: crate::StateData,
    {
        self.build("window_process", move |range| ProcessContents {
            table: ListTable::new(range, None),
            f: f.clone(),
            _o: PhantomData,
        })
    }
}
