//! Builds one core's copy of the job: its channels' endpoints, its chains
//! and its tasks.

use std::any::Any;
use std::collections::HashMap;
use std::rc::Rc;

use super::channel::Tx;
use super::exchange::{ExchangeWriter, Flushable, Route, WriterShared};
use super::graph::{EdgeId, EdgeTyped, Graph, NodeId, Partition};
use super::output::{BoxOutput, Discard, Fanout, TaskCx};
use super::port::InputPort;
use super::settings::RunSettings;
use super::task::{Flushers, InputTask, TaskRun};
use super::task_checkpoint::TaskCheckpointing;
use crate::checkpoint::{
    IN_FLIGHT_STATE, RestoredOperator, SnapshotParticipant, TaskKey, in_flight_batches,
};
use crate::error::{Result, SpateError};
use crate::metrics::CoreMetrics;
use crate::time::{Clock, SystemClock};

/// The tasks of one core and the metrics they share.
pub(crate) type CoreTasks = (Vec<Box<dyn TaskRun>>, Rc<CoreMetrics>);

/// Per-core instantiation state.
pub(crate) struct Instantiator<'g> {
    pub(crate) graph: &'g Graph,
    pub(crate) core: usize,
    pub(crate) cores: usize,
    pub(crate) settings: &'g RunSettings,
    /// Connected senders of each exchange edge, indexed by destination subtask.
    txs: HashMap<EdgeId, Vec<Option<Box<dyn Any>>>>,
    /// Connected receivers of each exchange edge, indexed by source subtask.
    rxs: HashMap<EdgeId, Vec<Box<dyn Any>>>,
    /// Instances of multi-input operators, shared by their input adapters.
    shared: HashMap<NodeId, Box<dyn Any>>,
    writers: Vec<Rc<dyn Flushable>>,
    /// Operators of the task being built that take part in checkpoints.
    participants: Vec<Rc<dyn SnapshotParticipant>>,
    pub(crate) metrics: Rc<CoreMetrics>,
    clock: SystemClock,
    /// The memory budget of this core's RocksDB instances, made by the
    /// first keyed operator that needs one (state.backend = rocksdb).
    rocks_memory: Option<spate_state::rocks::RocksMemory>,
}

impl<'g> Instantiator<'g> {
    pub(crate) fn new(
        graph: &'g Graph,
        core: usize,
        settings: &'g RunSettings,
        txs: HashMap<EdgeId, Vec<Option<Box<dyn Any>>>>,
        rxs: HashMap<EdgeId, Vec<Box<dyn Any>>>,
        clock: SystemClock,
    ) -> Self {
        Self {
            graph,
            core,
            cores: settings.parallelism,
            settings,
            txs,
            rxs,
            shared: HashMap::new(),
            writers: Vec::new(),
            participants: Vec::new(),
            metrics: Rc::new(CoreMetrics::default()),
            clock,
            rocks_memory: None,
        }
    }

    /// A fresh context for a task of this core.
    pub(crate) fn task_cx(&self) -> TaskCx {
        TaskCx {
            clock: self.clock.clone(),
            created_ns: 0,
            subtask: self.core,
            next_proc_timer_ms: None,
            failure: None,
            metrics: self.metrics.clone(),
            now_ms_cached: self.clock.now_ms(),
            stopping: self.settings.stopping.clone(),
        }
    }

    /// The writers created since the last call, for the task being built.
    pub(crate) fn take_flushers(&mut self) -> Flushers {
        Flushers {
            writers: std::mem::take(&mut self.writers),
            policy: self.settings.flush,
        }
    }

    /// Registers an operator of the task being built with its checkpoints.
    pub(crate) fn add_participant(&mut self, p: Rc<dyn SnapshotParticipant>) {
        self.participants.push(p);
    }

    /// Processing time, for restoring state TTLs.
    pub(crate) fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The RocksDB instance of operator `node` on this core when the job
    /// keeps keyed state in RocksDB, for the key groups of this subtask;
    /// the core's instances share one memory budget. Restored as it was
    /// when the run restores a checkpoint with the same key groups.
    pub(crate) fn rocks_instance(
        &mut self,
        node: NodeId,
    ) -> Result<Option<crate::checkpoint::RocksInstance>> {
        let Some(run) = &self.settings.rocks else {
            return Ok(None);
        };
        let memory = self
            .rocks_memory
            .get_or_insert_with(|| spate_state::rocks::RocksMemory::new(&run.options))
            .clone();
        let range = crate::api::keyed::key_groups(self);
        let dir = run
            .root
            .join(format!("subtask-{}", self.core))
            .join(format!("operator-{node}"));
        crate::checkpoint::open_operator_instance(
            self.settings.restore.as_deref(),
            node,
            range,
            dir,
            run.options,
            &memory,
        )
        .map(Some)
    }

    /// True when the job runs with checkpoints.
    pub(crate) fn checkpointed(&self) -> bool {
        self.settings.checkpoints.is_some()
    }

    /// The checkpoint side of the task headed by `node`, whose input ports
    /// have `port_channels` channels each (none for a source).
    pub(crate) fn take_checkpointing(
        &mut self,
        node: NodeId,
        port_channels: &[usize],
    ) -> Option<TaskCheckpointing> {
        let participants = std::mem::take(&mut self.participants);
        let hub = self.settings.checkpoints.clone()?;
        let key = TaskKey {
            node,
            subtask: self.core as u32,
        };
        Some(TaskCheckpointing::new(
            hub,
            key,
            participants,
            port_channels,
        ))
    }

    /// How the source split heading `node` here restarts, if the run
    /// restores a checkpoint.
    pub(crate) fn restored_source(
        &self,
        node: NodeId,
    ) -> Option<crate::checkpoint::SourceRestore<'_>> {
        let key = TaskKey {
            node,
            subtask: self.core as u32,
        };
        self.settings.restore.as_ref()?.source_restore(key)
    }

    /// Adds an output that buffers records for the task being built (e.g.
    /// an embedded engine's result channel): the driver then waits for its
    /// room after each input message, as for an exchange writer.
    pub(crate) fn add_flushable(&mut self, output: Rc<dyn Flushable>) {
        self.writers.push(output);
    }

    /// The combined main output of `node`: everything its out-edges lead to.
    pub(crate) fn outputs_of<T: crate::Data>(&mut self, node: NodeId) -> Result<BoxOutput<T>> {
        self.tagged_outputs_of(node, None)
    }

    /// The combined output of `node` for side-output `tag` (`None`: main output).
    pub(crate) fn tagged_outputs_of<T: crate::Data>(
        &mut self,
        node: NodeId,
        tag: Option<&str>,
    ) -> Result<BoxOutput<T>> {
        let graph = self.graph;
        let out_edges: Vec<EdgeId> = match graph.nodes.get(node) {
            Some(n) => n
                .outputs
                .iter()
                .copied()
                .filter(|&e| {
                    graph
                        .edges
                        .get(e)
                        .is_some_and(|ed| ed.tag.as_deref() == tag)
                })
                .collect(),
            None => return Err(SpateError::internal(format!("no node {node}"))),
        };
        let mut outputs = Vec::with_capacity(out_edges.len());
        for e in out_edges {
            outputs.push(self.output_for_edge::<T>(e)?);
        }
        Ok(match outputs.len() {
            0 => Box::new(Discard),
            1 => outputs.pop().unwrap_or_else(|| Box::new(Discard)),
            _ => Box::new(Fanout { outputs }),
        })
    }

    fn output_for_edge<T: crate::Data>(&mut self, e: EdgeId) -> Result<BoxOutput<T>> {
        let graph = self.graph;
        let edge = graph
            .edges
            .get(e)
            .ok_or_else(|| SpateError::internal(format!("no edge {e}")))?;
        let typed = edge
            .ops
            .as_any()
            .downcast_ref::<EdgeTyped<T>>()
            .ok_or_else(|| SpateError::internal(format!("edge {e} carries another type")))?;
        if graph.is_chained(e) {
            return (typed.consumer)(self);
        }
        let txs = self
            .txs
            .remove(&e)
            .ok_or_else(|| SpateError::internal(format!("edge {e} has no senders on this core")))?
            .into_iter()
            .map(|t| {
                t.and_then(|b| b.downcast::<Tx<T>>().ok())
                    .map(|b| *b)
                    .ok_or_else(|| SpateError::internal(format!("edge {e}: bad sender")))
            })
            .collect::<Result<Vec<_>>>()?;
        let route = match edge.partition {
            Partition::Forward => Route::Forward,
            Partition::Hash => Route::Hash {
                hash: typed
                    .key_hash
                    .clone()
                    .ok_or_else(|| SpateError::internal(format!("edge {e}: no key")))?,
                max_parallelism: self.settings.max_parallelism,
            },
            Partition::Rebalance => Route::Rebalance { next: self.core },
            Partition::Broadcast => Route::Broadcast,
        };
        let shared = WriterShared::new(txs, self.settings.flush.batch_records_max);
        self.writers.push(shared.clone());
        Ok(Box::new(ExchangeWriter { shared, route }))
    }

    /// Returns the instance of a multi-input operator, creating it once.
    pub(crate) fn shared_node<S: 'static>(
        &mut self,
        node: NodeId,
        make: impl FnOnce(&mut Self) -> Result<Rc<S>>,
    ) -> Result<Rc<S>> {
        if let Some(existing) = self.shared.get(&node) {
            return existing
                .downcast_ref::<Rc<S>>()
                .cloned()
                .ok_or_else(|| SpateError::internal(format!("node {node} shared with two types")));
        }
        let made = make(self)?;
        self.shared.insert(node, Box::new(made.clone()));
        Ok(made)
    }

    /// Builds every task of this core.
    pub(crate) fn build_tasks(mut self) -> Result<CoreTasks> {
        let mut tasks: Vec<Box<dyn TaskRun>> = Vec::new();
        for (id, node) in self.graph.nodes.iter().enumerate() {
            if !self.graph.is_task_head(id) {
                continue;
            }
            self.writers.clear();
            self.participants.clear();
            if let Some(factory) = &node.source {
                tasks.push(factory(&mut self)?);
                continue;
            }
            let mut ports = Vec::with_capacity(node.inputs.len());
            for &e in &node.inputs {
                let rxs = self
                    .rxs
                    .remove(&e)
                    .ok_or_else(|| SpateError::internal(format!("edge {e} has no receivers")))?;
                let edge = self
                    .graph
                    .edges
                    .get(e)
                    .ok_or_else(|| SpateError::internal(format!("no edge {e}")))?;
                ports.push(edge.ops.input_port(rxs, &mut self)?);
            }
            let channels: Vec<usize> = ports.iter().map(|p| p.channels()).collect();
            let mut checkpointing = self.take_checkpointing(id, &channels);
            let range = crate::api::keyed::key_groups(&self);
            // Its loop drives the slices of copy-on-write captures.
            if let Some(ck) = checkpointing.as_mut() {
                ck.slice_captures();
                // Records of a forward edge cannot be encoded: such a task
                // aligns its barriers.
                if ck.hub.unaligned_mode() && ports.iter().all(|p| p.can_record()) {
                    ck.record_in_flight(range.start);
                }
            }
            self.queue_in_flight(id, range, &mut ports)?;
            tasks.push(Box::new(InputTask {
                ports,
                cx: self.task_cx(),
                flushers: self.take_flushers(),
                next_port: 0,
                checkpointing,
            }));
        }
        Ok((tasks, self.metrics))
    }
}

impl Instantiator<'_> {
    /// Queues the in-flight records an unaligned checkpoint stored for the
    /// task headed by `node` on its ports, when the run restores one.
    fn queue_in_flight(
        &self,
        node: NodeId,
        range: spate_state::KeyGroupRange,
        ports: &mut [Box<dyn InputPort>],
    ) -> Result<()> {
        let Some(from) = RestoredOperator::of(self.settings.restore.as_deref(), node, range) else {
            return Ok(());
        };
        let entries = from.entries(IN_FLIGHT_STATE)?;
        let inputs = ports.len();
        for batch in in_flight_batches(node, entries)? {
            let port =
                ports
                    .get_mut(batch.port as usize)
                    .ok_or_else(|| SpateError::Checkpoint {
                        reason: format!(
                            "the checkpoint holds in-flight records for input {} of node {node}, \
                         which has {} inputs; the job changed since",
                            batch.port, inputs
                        ),
                    })?;
            port.queue_replay(batch.bytes);
        }
        Ok(())
    }

    /// The side outputs of `node` that somebody consumes.
    pub(crate) fn side_outputs_of(&mut self, node: NodeId) -> Result<super::side::SideOutputs> {
        let factories = match self.graph.nodes.get(node) {
            Some(n) => n.side_outputs.clone(),
            None => return Err(SpateError::internal(format!("no node {node}"))),
        };
        let mut outs = Vec::with_capacity(factories.len());
        for (tag, make) in factories {
            outs.push((tag, make(self)?));
        }
        Ok(super::side::SideOutputs::new(outs))
    }
}
