//! `DataStream<T>`: a stream of records and the operators on it.

use std::marker::PhantomData;
use std::sync::Arc;

use spate_state::checksum_hash;

use super::job::SharedBuilder;
use super::keyed::KeyedStream;
use super::side_output::OutputTag;
use crate::operators::basic::{FilterOp, FlatMapOp, MapOp};
use crate::operators::in_place::{FilterInPlaceOp, FlatMapInPlaceOp};
use crate::operators::process::{ProcessFunction, ProcessOp};
use crate::operators::timestamps::TimestampsOp;
use crate::operators::union::union_input;
use crate::runtime::graph::{ConsumerFactory, EdgeTyped, Exchange, HashFn, NodeId};
use crate::runtime::instantiate::Instantiator;
use crate::runtime::output::BoxOutput;
use crate::runtime::side::TypedSide;
use crate::runtime::wire::{ExchangeData, WireCodec};
use crate::sinks::{Sink, SinkOp};
use crate::time::WatermarkStrategy;

/// A stream of records of type `T`.
pub struct DataStream<T> {
    pub(crate) g: SharedBuilder,
    pub(crate) node: NodeId,
    /// The side-output tag this stream reads from, `None` for the main output.
    pub(crate) tag: Option<String>,
    /// True once timestamps and watermarks are assigned upstream.
    pub(crate) has_time: bool,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for DataStream<T> {
    fn clone(&self) -> Self {
        Self {
            g: self.g.clone(),
            node: self.node,
            tag: self.tag.clone(),
            has_time: self.has_time,
            _t: PhantomData,
        }
    }
}

/// A user function that can be copied to every core.
pub trait UserFn: Clone + Send + Sync + 'static {}
impl<F: Clone + Send + Sync + 'static> UserFn for F {}

impl<T: crate::Data> DataStream<T> {
    pub(crate) fn new(g: SharedBuilder, node: NodeId, tag: Option<String>) -> Self {
        Self {
            g,
            node,
            tag,
            has_time: false,
            _t: PhantomData,
        }
    }

    pub(crate) fn with_time(mut self, has_time: bool) -> Self {
        self.has_time = has_time;
        self
    }

    /// Adds a node fed by this stream through `partition` and returns its
    /// node id. `make` builds the node's operator on each core, given its
    /// node id.
    pub(crate) fn connect_node<F>(&self, name: &str, exchange: Exchange<T>, make: F) -> NodeId
    where
        F: Fn(&mut Instantiator<'_>, NodeId) -> crate::Result<BoxOutput<T>> + Send + Sync + 'static,
    {
        let mut g = self.g.borrow_mut();
        let node = g.add_node(name, None, false);
        let consumer: ConsumerFactory<T> = Arc::new(move |inst| make(inst, node));
        g.add_edge(
            self.node,
            self.tag.clone(),
            node,
            exchange.partition,
            EdgeTyped {
                consumer,
                key_hash: exchange.key_hash,
                wire: exchange.wire,
            },
        );
        node
    }

    /// Connects this stream as one more input of an existing node.
    pub(crate) fn connect_to(
        &self,
        node: NodeId,
        exchange: Exchange<T>,
        consumer: ConsumerFactory<T>,
    ) {
        self.g.borrow_mut().add_edge(
            self.node,
            self.tag.clone(),
            node,
            exchange.partition,
            EdgeTyped {
                consumer,
                key_hash: exchange.key_hash,
                wire: exchange.wire,
            },
        );
    }

    /// Adds a chained single-input operator producing `U`.
    pub(crate) fn then<U, F>(&self, name: &str, make: F) -> DataStream<U>
    where
        U: crate::Data,
        F: Fn(&mut Instantiator<'_>, NodeId) -> crate::Result<BoxOutput<T>> + Send + Sync + 'static,
    {
        let node = self.connect_node(name, Exchange::forward(), make);
        DataStream::new(self.g.clone(), node, None).with_time(self.has_time)
    }

    /// Applies `f` to every record.
    pub fn map<U: crate::Data>(&self, f: impl FnMut(T) -> U + UserFn) -> DataStream<U> {
        self.then("map", move |inst, node| {
            Ok(Box::new(MapOp {
                f: f.clone(),
                next: inst.outputs_of::<U>(node)?,
            }))
        })
    }

    /// Keeps the records for which `f` is true.
    pub fn filter(&self, f: impl FnMut(&T) -> bool + UserFn) -> DataStream<T> {
        self.then("filter", move |inst, node| {
            Ok(Box::new(FilterOp {
                f: f.clone(),
                next: inst.outputs_of::<T>(node)?,
            }))
        })
    }

    /// Keeps the records for which the predicate is true, like
    /// [`DataStream::filter`], reading records from another process in
    /// place: the predicate has two forms, `f` over a record and
    /// `f_archived` over its archive (`T::Archived`, see [`ExchangeData`]),
    /// and they must agree. Right after an exchange that crosses processes
    /// (`rebalance`, `broadcast`, `key_by`), each received batch is read in
    /// its receive buffer with `f_archived` and only the records kept are
    /// deserialized; records from the same process, never archived, meet
    /// `f`.
    ///
    /// ```
    /// # use spate::Job;
    /// type Visit = (u64, String);
    /// let job = Job::builder("in-place");
    /// let long_paths = job
    ///     .from_collection(vec![(1u64, "/".to_string()), (2, "/cart".to_string())])
    ///     .rebalance()
    ///     .filter_in_place(
    ///         |v: &Visit| v.1.len() > 1,
    ///         |v: &<Visit as spate::rkyv::Archive>::Archived| v.1.len() > 1,
    ///     );
    /// # let _ = long_paths;
    /// ```
    pub fn filter_in_place(
        &self,
        f: impl FnMut(&T) -> bool + UserFn,
        f_archived: impl FnMut(&T::Archived) -> bool + UserFn,
    ) -> DataStream<T>
    where
        T: ExchangeData,
    {
        self.then("filter_in_place", move |inst, node| {
            Ok(Box::new(FilterInPlaceOp {
                f: f.clone(),
                fa: f_archived.clone(),
                next: inst.outputs_of::<T>(node)?,
                scratch: Default::default(),
            }))
        })
    }

    /// Maps every record like [`DataStream::map`], with two forms of the
    /// function that must agree: `f` over a record from the same process,
    /// `f_archived` over the archive of a record from another process, read
    /// in its receive buffer and never deserialized (a projection of a few
    /// fields of a wide record copies only those).
    pub fn map_in_place<U: crate::Data>(
        &self,
        f: impl FnMut(&T) -> U + UserFn,
        f_archived: impl FnMut(&T::Archived) -> U + UserFn,
    ) -> DataStream<U>
    where
        T: ExchangeData,
    {
        let (mut f, mut fa) = (f, f_archived);
        self.flat_map_in_place(move |t: &T| Some(f(t)), move |a: &T::Archived| Some(fa(a)))
    }

    /// Maps every record to zero or more records like
    /// [`DataStream::flat_map`], with two forms of the function that must
    /// agree (see [`DataStream::map_in_place`]): a filter and a projection
    /// in one, with no record from another process deserialized.
    pub fn flat_map_in_place<U, I>(
        &self,
        f: impl FnMut(&T) -> I + UserFn,
        f_archived: impl FnMut(&T::Archived) -> I + UserFn,
    ) -> DataStream<U>
    where
        T: ExchangeData,
        U: crate::Data,
        I: IntoIterator<Item = U> + 'static,
    {
        self.then("flat_map_in_place", move |inst, node| {
            Ok(Box::new(FlatMapInPlaceOp {
                f: f.clone(),
                fa: f_archived.clone(),
                next: inst.outputs_of::<U>(node)?,
                scratch: Default::default(),
                _i: PhantomData,
            }))
        })
    }

    /// Maps every record to zero or more records.
    pub fn flat_map<U, I>(&self, f: impl FnMut(T) -> I + UserFn) -> DataStream<U>
    where
        U: crate::Data,
        I: IntoIterator<Item = U> + 'static,
    {
        self.then("flat_map", move |inst, node| {
            Ok(Box::new(FlatMapOp {
                f: f.clone(),
                next: inst.outputs_of::<U>(node)?,
                _i: PhantomData,
            }))
        })
    }

    /// A general per-record function with timers, side outputs and event time.
    pub fn process<O: crate::Data>(&self, f: impl ProcessFunction<T, O>) -> DataStream<O> {
        self.then("process", move |inst, node| {
            Ok(Box::new(ProcessOp::new(
                f.clone(),
                inst.outputs_of::<O>(node)?,
                inst.side_outputs_of(node)?,
            )))
        })
    }

    /// Assigns event timestamps and generates watermarks from the data.
    pub fn assign_timestamps_and_watermarks(
        &self,
        strategy: WatermarkStrategy<T>,
    ) -> DataStream<T> {
        self.then("timestamps", move |inst, node| {
            Ok(Box::new(TimestampsOp::new(
                strategy.clone(),
                inst.outputs_of::<T>(node)?,
            )))
        })
        .with_time(true)
    }

    /// Partitions the stream by key: records with the same key go to the same
    /// subtask, and keyed state and timers become available.
    pub fn key_by<K: crate::Key>(&self, key: impl Fn(&T) -> K + UserFn) -> KeyedStream<K, T>
    where
        T: ExchangeData,
    {
        KeyedStream::new(self.clone(), Arc::new(key), WireCodec::of())
    }

    /// Spreads records round robin over the subtasks.
    pub fn rebalance(&self) -> DataStream<T>
    where
        T: ExchangeData,
    {
        let exchange = Exchange::rebalance(WireCodec::of());
        let node = self.connect_node("rebalance", exchange, |inst, node| {
            inst.outputs_of::<T>(node)
        });
        DataStream::new(self.g.clone(), node, None).with_time(self.has_time)
    }

    /// Sends every record to every subtask.
    pub fn broadcast(&self) -> DataStream<T>
    where
        T: ExchangeData,
    {
        let exchange = Exchange::broadcast(WireCodec::of());
        let node = self.connect_node("broadcast", exchange, |inst, node| {
            inst.outputs_of::<T>(node)
        });
        DataStream::new(self.g.clone(), node, None).with_time(self.has_time)
    }

    /// Merges streams of the same type. The watermark is the minimum of the inputs'.
    pub fn union(&self, others: &[DataStream<T>]) -> DataStream<T> {
        let node = self.g.borrow_mut().add_node("union", None, false);
        let inputs = others.len() + 1;
        for (i, s) in std::iter::once(self).chain(others.iter()).enumerate() {
            s.connect_to(node, Exchange::forward(), union_input::<T>(node, i, inputs));
        }
        let has_time = self.has_time && others.iter().all(|o| o.has_time);
        DataStream::new(self.g.clone(), node, None).with_time(has_time)
    }

    /// The records an upstream operator emitted on side output `tag`.
    pub fn side_output<X: crate::Data>(&self, tag: &OutputTag<X>) -> DataStream<X> {
        let name = tag.name().to_string();
        let node = self.node;
        let mut g = self.g.borrow_mut();
        let registered = g
            .nodes
            .get(node)
            .is_some_and(|n| n.side_outputs.iter().any(|(t, _)| *t == name));
        if !registered {
            let tag_for_factory = name.clone();
            let factory: crate::runtime::graph::SideOutputFactory = Arc::new(move |inst| {
                let out = inst.tagged_outputs_of::<X>(node, Some(&tag_for_factory))?;
                Ok(Box::new(TypedSide(out)) as Box<dyn crate::runtime::side::ErasedOutput>)
            });
            if let Some(n) = g.nodes.get_mut(node) {
                n.side_outputs.push((name.clone(), factory));
            }
        }
        drop(g);
        DataStream::new(self.g.clone(), node, Some(name)).with_time(self.has_time)
    }

    /// Ends the stream in a sink. The sink's metrics are reported under `name`.
    pub fn sink(&self, name: &str, sink: impl Sink<T> + Clone + Send + Sync) {
        self.add_sink(name, sink, None)
    }

    /// Like [`DataStream::sink`], and also keeps an order-independent checksum
    /// of the records, so runs can be compared for equal results.
    pub fn sink_with_checksum(&self, name: &str, sink: impl Sink<T> + Clone + Send + Sync)
    where
        T: std::hash::Hash,
    {
        self.add_sink(name, sink, Some(Arc::new(|v: &T| checksum_hash(v))))
    }

    /// Like [`DataStream::sink_with_checksum`], with the record's share of
    /// the checksum computed by `share` (the checksum is the wrapping sum
    /// of the shares): a changelog's retraction can take back its row's
    /// share, so the checksum is that of the result it leaves, whatever the
    /// order its changes came in.
    pub fn sink_with_checksum_by(
        &self,
        name: &str,
        sink: impl Sink<T> + Clone + Send + Sync,
        share: impl Fn(&T) -> u64 + Send + Sync + 'static,
    ) {
        self.add_sink(name, sink, Some(Arc::new(share)))
    }

    fn add_sink<S: Sink<T> + Clone + Send + Sync>(
        &self,
        name: &str,
        sink: S,
        checksum: Option<HashFn<T>>,
    ) {
        let sink_name = name.to_string();
        let committer = sink.committer();
        let node = self.connect_node(name, Exchange::forward(), move |inst, node| {
            let (op, participant) = SinkOp::new(
                sink_name.clone(),
                node,
                sink.clone(),
                checksum.clone(),
                inst,
            )?;
            inst.add_participant(participant);
            Ok(Box::new(op))
        });
        if let Some(n) = self.g.borrow_mut().nodes.get_mut(node) {
            n.is_sink = true;
            n.committer = committer;
        }
    }
}
