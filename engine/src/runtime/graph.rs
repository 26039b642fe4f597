//! The job graph: nodes (operators) and typed edges, as built by the API.
//! It is immutable and shared by every core, which instantiates its own
//! copy of each chain from it.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::channel::{Rx, SharedRx, SharedTx, local_pair, shared_pair};
use super::instantiate::Instantiator;
use super::output::BoxOutput;
use super::port::{ChannelPort, InputPort};
use super::remote::{RemoteFailure, RemoteReceiver, RemoteSender, inbound, pump_out};
use super::task::TaskRun;
use super::wire::WireCodec;
use crate::error::{Result, SpateError};
use crate::time::SystemClock;

pub(crate) type NodeId = usize;
pub(crate) type EdgeId = usize;

/// How an edge distributes records over the downstream subtasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Partition {
    Forward,
    Hash,
    Rebalance,
    Broadcast,
}

pub(crate) type SourceFactory =
    Arc<dyn Fn(&mut Instantiator<'_>) -> Result<Box<dyn TaskRun>> + Send + Sync>;

/// One operator of the job graph.
pub(crate) struct Node {
    pub(crate) name: String,
    pub(crate) inputs: Vec<EdgeId>,
    pub(crate) outputs: Vec<EdgeId>,
    pub(crate) source: Option<SourceFactory>,
    pub(crate) is_sink: bool,
    /// Commits a transactional sink's transactions (sinks only).
    pub(crate) committer: Option<Arc<dyn crate::sinks::Committer>>,
    /// Builders of the side outputs somebody consumes, by tag.
    pub(crate) side_outputs: Vec<(String, SideOutputFactory)>,
    /// The node's keyed state goes into checkpoints (a keyed node without
    /// it makes the job run without checkpoints).
    pub(crate) snapshots_state: bool,
}

pub(crate) type SideOutputFactory =
    Arc<dyn Fn(&mut Instantiator<'_>) -> Result<Box<dyn super::side::ErasedOutput>> + Send + Sync>;

/// One connection between two nodes.
pub(crate) struct Edge {
    /// The side-output tag the edge leaves from; `None` for the main output.
    pub(crate) tag: Option<String>,
    pub(crate) to: NodeId,
    pub(crate) partition: Partition,
    pub(crate) ops: Arc<dyn EdgeOps>,
}

pub(crate) type LocalFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// A sender towards another process (a connected `Tx<T>`) and the pump
/// future that drains it onto the link.
pub(crate) type RemoteTx = (Box<dyn Any>, LocalFuture<Result<()>>);

/// The typed operations of an edge, behind a trait object so the runtime can
/// wire channels without knowing the record type.
pub(crate) trait EdgeOps: Send + Sync {
    fn as_any(&self) -> &dyn Any;
    fn shared_pair(&self, capacity: usize) -> (Box<dyn Any + Send>, Box<dyn Any + Send>);
    fn local_pair(&self, capacity: usize) -> (Box<dyn Any>, Box<dyn Any>);
    fn connect_tx(&self, tx: Box<dyn Any + Send>) -> Result<LocalFuture<Box<dyn Any>>>;
    fn connect_rx(&self, rx: Box<dyn Any + Send>) -> Result<LocalFuture<Box<dyn Any>>>;
    fn input_port(
        &self,
        rxs: Vec<Box<dyn Any>>,
        inst: &mut Instantiator<'_>,
    ) -> Result<Box<dyn InputPort>>;
    /// A sender towards another process: a local channel (returned as a
    /// connected `Tx<T>`) drained by the returned pump future.
    fn remote_tx(
        &self,
        out: Box<dyn RemoteSender>,
        capacity: usize,
        subtask: usize,
    ) -> Result<RemoteTx>;
    /// A receiver from another process, as a connected `Rx<T>`.
    fn remote_rx(
        &self,
        input: Box<dyn RemoteReceiver>,
        clock: SystemClock,
        failure: RemoteFailure,
        subtask: usize,
    ) -> Result<Box<dyn Any>>;
}

/// How a stream enters an edge: its partitioning, and what routing by key
/// and crossing a process boundary need.
pub(crate) struct Exchange<T> {
    pub(crate) partition: Partition,
    pub(crate) key_hash: Option<HashFn<T>>,
    pub(crate) wire: Option<WireCodec<T>>,
}

impl<T> Exchange<T> {
    /// Same subtask, chained or local: never leaves the process.
    pub(crate) fn forward() -> Self {
        Self {
            partition: Partition::Forward,
            key_hash: None,
            wire: None,
        }
    }

    pub(crate) fn hash(key_hash: HashFn<T>, wire: WireCodec<T>) -> Self {
        Self {
            partition: Partition::Hash,
            key_hash: Some(key_hash),
            wire: Some(wire),
        }
    }

    pub(crate) fn rebalance(wire: WireCodec<T>) -> Self {
        Self {
            partition: Partition::Rebalance,
            key_hash: None,
            wire: Some(wire),
        }
    }

    pub(crate) fn broadcast(wire: WireCodec<T>) -> Self {
        Self {
            partition: Partition::Broadcast,
            key_hash: None,
            wire: Some(wire),
        }
    }
}

/// A record hash used to route records by key.
pub(crate) type HashFn<T> = Arc<dyn Fn(&T) -> u64 + Send + Sync>;

pub(crate) type ConsumerFactory<T> =
    Arc<dyn Fn(&mut Instantiator<'_>) -> Result<BoxOutput<T>> + Send + Sync>;

/// The typed payload of an edge carrying `T`.
pub(crate) struct EdgeTyped<T> {
    /// Builds the consumer's operator (and everything chained behind it).
    pub(crate) consumer: ConsumerFactory<T>,
    /// The key hash, for hash-partitioned edges.
    pub(crate) key_hash: Option<HashFn<T>>,
    /// The record codec, for edges that may cross a process boundary
    /// (every repartitioning edge; forward edges never leave their subtask).
    pub(crate) wire: Option<WireCodec<T>>,
}

impl<T: crate::Data> EdgeTyped<T> {
    fn codec(&self) -> Result<WireCodec<T>> {
        self.wire.ok_or_else(|| {
            SpateError::internal("a forward edge was asked to cross a process boundary")
        })
    }
}

fn wrong_type(what: &str) -> SpateError {
    SpateError::internal(format!(
        "edge endpoint of the wrong type while wiring {what}"
    ))
}

impl<T: crate::Data> EdgeOps for EdgeTyped<T> {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn shared_pair(&self, capacity: usize) -> (Box<dyn Any + Send>, Box<dyn Any + Send>) {
        let (tx, rx) = shared_pair::<T>(capacity);
        (Box::new(tx), Box::new(rx))
    }

    fn local_pair(&self, capacity: usize) -> (Box<dyn Any>, Box<dyn Any>) {
        let (tx, rx) = local_pair::<T>(capacity);
        (Box::new(tx), Box::new(rx))
    }

    fn connect_tx(&self, tx: Box<dyn Any + Send>) -> Result<LocalFuture<Box<dyn Any>>> {
        let tx = tx
            .downcast::<SharedTx<T>>()
            .map_err(|_| wrong_type("a sender"))?;
        Ok(Box::pin(async move {
            Box::new(tx.connect().await) as Box<dyn Any>
        }))
    }

    fn connect_rx(&self, rx: Box<dyn Any + Send>) -> Result<LocalFuture<Box<dyn Any>>> {
        let rx = rx
            .downcast::<SharedRx<T>>()
            .map_err(|_| wrong_type("a receiver"))?;
        Ok(Box::pin(async move {
            Box::new(rx.connect().await) as Box<dyn Any>
        }))
    }

    fn input_port(
        &self,
        rxs: Vec<Box<dyn Any>>,
        inst: &mut Instantiator<'_>,
    ) -> Result<Box<dyn InputPort>> {
        let rxs = rxs
            .into_iter()
            .map(|r| {
                r.downcast::<Rx<T>>()
                    .map(|b| *b)
                    .map_err(|_| wrong_type("an input"))
            })
            .collect::<Result<Vec<_>>>()?;
        let entry = (self.consumer)(inst)?;
        Ok(Box::new(ChannelPort::new(rxs, entry).with_wire(self.wire)))
    }

    fn remote_tx(
        &self,
        out: Box<dyn RemoteSender>,
        capacity: usize,
        subtask: usize,
    ) -> Result<RemoteTx> {
        let codec = self.codec()?;
        let (tx, rx) = local_pair::<T>(capacity);
        Ok((Box::new(tx), Box::pin(pump_out(rx, out, codec, subtask))))
    }

    fn remote_rx(
        &self,
        input: Box<dyn RemoteReceiver>,
        clock: SystemClock,
        failure: RemoteFailure,
        subtask: usize,
    ) -> Result<Box<dyn Any>> {
        let codec = self.codec()?;
        Ok(Box::new(inbound(input, codec, clock, failure, subtask)))
    }
}

/// The immutable job graph.
pub(crate) struct Graph {
    pub(crate) name: String,
    pub(crate) nodes: Vec<Node>,
    pub(crate) edges: Vec<Edge>,
}

impl Graph {
    /// An edge is chained (a direct call) when it is a forward edge into an
    /// operator with no other input.
    pub(crate) fn is_chained(&self, e: EdgeId) -> bool {
        match self.edges.get(e) {
            Some(edge) => {
                edge.partition == Partition::Forward
                    && self.nodes.get(edge.to).is_some_and(|n| n.inputs.len() == 1)
            }
            None => false,
        }
    }

    /// Source nodes; each runs one task per core.
    pub(crate) fn source_count(&self) -> usize {
        self.nodes.iter().filter(|n| n.source.is_some()).count()
    }

    /// Nodes that start a task: sources and nodes fed by channels.
    pub(crate) fn is_task_head(&self, n: NodeId) -> bool {
        match self.nodes.get(n) {
            Some(node) => {
                node.source.is_some()
                    || (!node.inputs.is_empty() && node.inputs.iter().all(|&e| !self.is_chained(e)))
            }
            None => false,
        }
    }

    /// Checks what the type system cannot: the job has a source and a sink,
    /// and every source reaches a sink.
    pub(crate) fn validate(&self) -> Result<()> {
        if !self.nodes.iter().any(|n| n.source.is_some()) {
            return Err(SpateError::invalid_job(
                "the job has no source; add one with `Job::source` or `Job::from_collection`",
            ));
        }
        if !self.nodes.iter().any(|n| n.is_sink) {
            return Err(SpateError::invalid_job(
                "the job has no sink, so it would compute nothing observable; \
                 end each stream you need with `.sink(...)`",
            ));
        }
        for (id, node) in self.nodes.iter().enumerate() {
            if node.source.is_some() && !self.reaches_sink(id) {
                return Err(SpateError::invalid_job(format!(
                    "source `{}` does not reach any sink; connect it to a sink or remove it",
                    node.name
                )));
            }
        }
        Ok(())
    }

    fn reaches_sink(&self, start: NodeId) -> bool {
        let mut stack = vec![start];
        let mut seen = vec![false; self.nodes.len()];
        while let Some(n) = stack.pop() {
            let Some(node) = self.nodes.get(n) else {
                continue;
            };
            if node.is_sink {
                return true;
            }
            if let Some(s) = seen.get_mut(n) {
                if *s {
                    continue;
                }
                *s = true;
            }
            for &e in &node.outputs {
                if let Some(edge) = self.edges.get(e) {
                    stack.push(edge.to);
                }
            }
        }
        false
    }
}
