//! Connected streams: two streams of possibly different types processed by
//! one function (Flink's `ConnectedStreams`).

use super::keyed::{KeyedStream, open_context};
use super::stream::{DataStream, UserFn};
use crate::operators::co_process::{
    CoContext, CoProcessFunction, CoProcessOp, KeyedCoProcessFunction, KeyedCoProcessOp,
};
use crate::operators::two_input::{TwoInputOperator, two_input_consumers};
use crate::runtime::graph::{Exchange, NodeId};
use crate::runtime::instantiate::Instantiator;
use crate::runtime::wire::ExchangeData;

/// Two streams connected for a [`CoProcessFunction`]; made by
/// [`DataStream::connect`].
pub struct ConnectedStreams<A, B> {
    first: DataStream<A>,
    second: DataStream<B>,
}

/// Two keyed streams with the same key type, connected for a
/// [`KeyedCoProcessFunction`]; made by [`KeyedStream::connect`].
pub struct ConnectedKeyedStreams<K, A, B> {
    first: KeyedStream<K, A>,
    second: KeyedStream<K, B>,
}

impl<A: crate::Data> DataStream<A> {
    /// Connects this stream with `other`: a function over both sees the
    /// records of each, with their own types. Each subtask processes the
    /// records of both inputs that are on its core (no repartitioning).
    pub fn connect<B: crate::Data>(&self, other: &DataStream<B>) -> ConnectedStreams<A, B> {
        ConnectedStreams {
            first: self.clone(),
            second: other.clone(),
        }
    }
}

impl<K: crate::Key, A: crate::Data> KeyedStream<K, A> {
    /// Connects this keyed stream with another of the same key type: records
    /// of both with equal keys meet on one subtask, where a
    /// [`KeyedCoProcessFunction`] sees them with shared keyed state and timers.
    pub fn connect<B: crate::Data>(
        &self,
        other: &KeyedStream<K, B>,
    ) -> ConnectedKeyedStreams<K, A, B> {
        ConnectedKeyedStreams {
            first: self.clone(),
            second: other.clone(),
        }
    }
}

/// Adds a two-input node fed by `first` and `second`, each through its own
/// partitioning, and returns its output stream.
#[allow(clippy::type_complexity)]
pub(crate) fn two_input_node<A, B, O, Op, M>(
    name: &str,
    first: (&DataStream<A>, Exchange<A>),
    second: (&DataStream<B>, Exchange<B>),
    has_time: bool,
    make: M,
) -> DataStream<O>
where
    A: crate::Data,
    B: crate::Data,
    O: crate::Data,
    Op: TwoInputOperator<In1 = A, In2 = B>,
    M: Fn(&mut Instantiator<'_>, NodeId) -> crate::Result<Op> + Send + Sync + 'static,
{
    let g = first.0.g.clone();
    let node = g.borrow_mut().add_node(name, None, false);
    let (c1, c2) = two_input_consumers(node, make);
    first.0.connect_to(node, first.1, c1);
    if std::rc::Rc::ptr_eq(&g, &second.0.g) {
        second.0.connect_to(node, second.1, c2);
    } else {
        // An edge across builders would name a node of another graph.
        g.borrow_mut().errors.push(format!(
            "`{name}` connects streams of two different job builders; build both inputs from one `Job::builder`"
        ));
    }
    DataStream::new(g, node, None).with_time(has_time)
}

impl<A: crate::Data, B: crate::Data> ConnectedStreams<A, B> {
    /// The first input.
    pub fn first_input(&self) -> &DataStream<A> {
        &self.first
    }

    /// The second input.
    pub fn second_input(&self) -> &DataStream<B> {
        &self.second
    }

    /// Applies `f` to the records of both inputs. The output has event time
    /// when both inputs have; its watermark is the minimum of theirs.
    pub fn process<O: crate::Data>(&self, f: impl CoProcessFunction<A, B, O>) -> DataStream<O> {
        let has_time = self.first.has_time && self.second.has_time;
        two_input_node(
            "co_process",
            (&self.first, Exchange::forward()),
            (&self.second, Exchange::forward()),
            has_time,
            move |inst, node| {
                Ok(CoProcessOp::new(
                    f.clone(),
                    inst.outputs_of::<O>(node)?,
                    inst.side_outputs_of(node)?,
                ))
            },
        )
    }

    /// Maps the records of the first input with `f1` and those of the
    /// second with `f2` into one stream (Flink's `CoMapFunction`).
    pub fn map<O: crate::Data>(
        &self,
        f1: impl Fn(A) -> O + UserFn,
        f2: impl Fn(B) -> O + UserFn,
    ) -> DataStream<O> {
        self.process(CoMap { f1, f2 })
    }

    /// Partitions both inputs by key, for keyed state and timers shared by
    /// both (Flink's `ConnectedStreams.keyBy`).
    pub fn key_by<K: crate::Key>(
        &self,
        key1: impl Fn(&A) -> K + UserFn,
        key2: impl Fn(&B) -> K + UserFn,
    ) -> ConnectedKeyedStreams<K, A, B>
    where
        A: ExchangeData,
        B: ExchangeData,
    {
        self.first.key_by(key1).connect(&self.second.key_by(key2))
    }
}

#[derive(Clone)]
struct CoMap<F1, F2> {
    f1: F1,
    f2: F2,
}

impl<A, B, O, F1, F2> CoProcessFunction<A, B, O> for CoMap<F1, F2>
where
    O: 'static,
    F1: Fn(A) -> O + UserFn,
    F2: Fn(B) -> O + UserFn,
{
    fn process_element1(&mut self, value: A, ctx: &mut CoContext<'_, O>) {
        ctx.collect((self.f1)(value));
    }
    fn process_element2(&mut self, value: B, ctx: &mut CoContext<'_, O>) {
        ctx.collect((self.f2)(value));
    }
}

impl<K: crate::Key, A: crate::Data, B: crate::Data> ConnectedKeyedStreams<K, A, B> {
    /// The first input.
    pub fn first_input(&self) -> &KeyedStream<K, A> {
        &self.first
    }

    /// The second input.
    pub fn second_input(&self) -> &KeyedStream<K, B> {
        &self.second
    }

    /// Applies `f` to the records of both inputs, per key, with keyed state
    /// and timers shared by both. Event-time timers fire when the minimum of
    /// both inputs' watermarks passes them.
    pub fn process<O: crate::Data>(
        &self,
        f: impl KeyedCoProcessFunction<K, A, B, O>,
    ) -> DataStream<O> {
        let has_time = self.first.stream.has_time && self.second.stream.has_time;
        let (key1, key2) = (self.first.key_fn.clone(), self.second.key_fn.clone());
        let out = two_input_node(
            "keyed_co_process",
            (&self.first.stream, self.first.exchange()),
            (&self.second.stream, self.second.exchange()),
            has_time,
            move |inst, node| {
                KeyedCoProcessOp::new(
                    f.clone(),
                    key1.clone(),
                    key2.clone(),
                    inst.outputs_of::<O>(node)?,
                    inst.side_outputs_of(node)?,
                    open_context(inst, node)?,
                    inst.settings.max_parallelism,
                )
            },
        );
        out.g.borrow_mut().mark_snapshots_state(out.node);
        out
    }
}
