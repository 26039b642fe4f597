//! `KeyedStream<K, T>`: a stream partitioned by key.

use std::sync::Arc;

use spate_state::{AggregateFunction, key_group_range_for_subtask, stable_hash};

use super::stream::{DataStream, UserFn};
use crate::StateData;
use crate::checkpoint::stateful_op;
use crate::error::Result;
use crate::keyed::{AggregatingState, KeyedContext, OpenContext, ReducingState};
use crate::operators::keyed_process::{KeyedProcessFunction, KeyedProcessOp};
use crate::runtime::graph::{Exchange, NodeId};
use crate::runtime::instantiate::Instantiator;
use crate::runtime::wire::WireCodec;

/// A stream whose records are routed by key, so each key's records meet
/// on one subtask together with that key's state and timers.
pub struct KeyedStream<K, T> {
    pub(crate) stream: DataStream<T>,
    pub(crate) key_fn: Arc<dyn Fn(&T) -> K + Send + Sync>,
    /// Captured by `key_by`, where `T: ExchangeData` is known.
    pub(crate) wire: WireCodec<T>,
}

impl<K, T> Clone for KeyedStream<K, T> {
    fn clone(&self) -> Self {
        Self {
            stream: self.stream.clone(),
            key_fn: self.key_fn.clone(),
            wire: self.wire,
        }
    }
}

/// The key groups of subtask `inst.core`.
pub(crate) fn key_groups(inst: &Instantiator<'_>) -> spate_state::KeyGroupRange {
    key_group_range_for_subtask(inst.settings.max_parallelism, inst.cores, inst.core)
}

/// The state-creation context of operator `node` on subtask `inst.core`,
/// in the job's state backend.
pub(crate) fn open_context(inst: &mut Instantiator<'_>, node: NodeId) -> Result<OpenContext> {
    let mut open = OpenContext::new(key_groups(inst), inst.core);
    if inst.checkpointed() && inst.settings.capture_changes {
        open.registry.track_changes();
    }
    Ok(match inst.rocks_instance(node)? {
        Some(instance) => open.in_rocks(instance, node.to_string()),
        None => open,
    })
}

impl<K: crate::Key, T: crate::Data> KeyedStream<K, T> {
    pub(crate) fn new(
        stream: DataStream<T>,
        key_fn: Arc<dyn Fn(&T) -> K + Send + Sync>,
        wire: WireCodec<T>,
    ) -> Self {
        Self {
            stream,
            key_fn,
            wire,
        }
    }

    /// The hash exchange on the key that feeds every keyed operator.
    pub(crate) fn exchange(&self) -> Exchange<T> {
        Exchange::hash(self.key_hash(), self.wire)
    }

    /// The hash the exchange routes by; the same one keyed state uses.
    pub(crate) fn key_hash(&self) -> Arc<dyn Fn(&T) -> u64 + Send + Sync> {
        let key_fn = self.key_fn.clone();
        Arc::new(move |v: &T| stable_hash(&key_fn(v)))
    }

    /// Adds a node fed by a hash exchange on the key.
    pub(crate) fn keyed_node<F>(&self, name: &str, make: F) -> NodeId
    where
        F: Fn(&mut Instantiator<'_>, NodeId) -> Result<crate::runtime::output::BoxOutput<T>>
            + Send
            + Sync
            + 'static,
    {
        self.stream.connect_node(name, self.exchange(), make)
    }

    /// The key selector.
    pub fn key_selector(&self) -> Arc<dyn Fn(&T) -> K + Send + Sync> {
        self.key_fn.clone()
    }

    /// Per-record logic with keyed state and timers.
    pub fn process<O: crate::Data>(&self, f: impl KeyedProcessFunction<K, T, O>) -> DataStream<O> {
        let key_fn = self.key_fn.clone();
        let node = self.keyed_node("keyed_process", move |inst, node| {
            let open = open_context(inst, node)?;
            let range = open.key_group_range();
            let op = KeyedProcessOp::new(
                f.clone(),
                key_fn.clone(),
                inst.outputs_of::<O>(node)?,
                inst.side_outputs_of(node)?,
                open,
                inst.settings.max_parallelism,
            )?;
            stateful_op(inst, node, range, op)
        });
        self.stream.g.borrow_mut().mark_snapshots_state(node);
        DataStream::new(self.stream.g.clone(), node, None).with_time(self.stream.has_time)
    }

    /// A rolling reduce: emits the key's reduced value after every record.
    pub fn reduce(&self, f: impl Fn(&T, &T) -> T + UserFn) -> DataStream<T>
    where
        T: StateData,
    {
        self.process(RollingReduce { f, state: None })
    }

    /// A rolling aggregate: emits the key's result after every record.
    pub fn aggregate<A>(&self, agg: A) -> DataStream<A::Out>
    where
        A: AggregateFunction<In = T, Acc: StateData> + Clone + Send + Sync,
        A::Out: crate::Data,
    {
        self.process(RollingAggregate { agg, state: None })
    }
}

struct RollingReduce<K, T, F> {
    f: F,
    state: Option<ReducingState<K, T>>,
}

impl<K, T, F: Clone> Clone for RollingReduce<K, T, F> {
    fn clone(&self) -> Self {
        Self {
            f: self.f.clone(),
            state: self.state,
        }
    }
}

impl<K: crate::Key, T: crate::Data + StateData, F: Fn(&T, &T) -> T + UserFn>
    KeyedProcessFunction<K, T, T> for RollingReduce<K, T, F>
{
    fn open(&mut self, ctx: &mut OpenContext) -> Result<()> {
        let f = self.f.clone();
        self.state = Some(ctx.reducing_state("reduce", move |a, b| f(a, b), None)?);
        Ok(())
    }

    fn process_element(&mut self, value: T, ctx: &mut KeyedContext<'_, K, T>) -> Result<()> {
        let state = self
            .state
            .ok_or_else(|| crate::SpateError::internal("reduce state not opened"))?;
        state.add(ctx, value)?;
        if let Some(v) = state.get(ctx)? {
            ctx.collect(v);
        }
        Ok(())
    }
}

struct RollingAggregate<K, A: AggregateFunction> {
    agg: A,
    state: Option<AggregatingState<K, A>>,
}

impl<K, A: AggregateFunction + Clone> Clone for RollingAggregate<K, A> {
    fn clone(&self) -> Self {
        Self {
            agg: self.agg.clone(),
            state: self.state,
        }
    }
}

impl<K, T, A> KeyedProcessFunction<K, T, A::Out> for RollingAggregate<K, A>
where
    K: crate::Key,
    T: crate::Data,
    A: AggregateFunction<In = T, Acc: StateData> + Clone + Send + Sync,
    A::Out: crate::Data,
{
    fn open(&mut self, ctx: &mut OpenContext) -> Result<()> {
        self.state = Some(ctx.aggregating_state("aggregate", self.agg.clone(), None)?);
        Ok(())
    }

    fn process_element(&mut self, value: T, ctx: &mut KeyedContext<'_, K, A::Out>) -> Result<()> {
        let state = self
            .state
            .ok_or_else(|| crate::SpateError::internal("aggregate state not opened"))?;
        state.add(ctx, value)?;
        if let Some(v) = state.get(ctx)? {
            ctx.collect(v);
        }
        Ok(())
    }
}
