//! A task's side of checkpointing: aligning barriers across its input
//! channels, snapshotting its operators, forwarding the barrier and
//! reporting to the checkpoint driver. The decisions come from the pure
//! [`BarrierAligner`]; this file does the effects.

use std::rc::Rc;
use std::sync::Arc;

use super::exchange::Flushable;
use super::output::TaskCx;
use super::port::InputPort;
use crate::checkpoint::{
    Alignment, BarrierAligner, CheckpointBarrier, CheckpointHub, SnapshotParticipant, TaskEvent,
    TaskKey, TaskSnapshot,
};
use crate::error::Result;
use crate::time::Clock;

/// Everything a task needs to take part in checkpoints.
pub(crate) struct TaskCheckpointing {
    pub(crate) hub: Arc<CheckpointHub>,
    pub(crate) key: TaskKey,
    pub(crate) participants: Vec<Rc<dyn SnapshotParticipant>>,
    aligner: BarrierAligner,
    /// Where each port's channels start in the task's channel numbering.
    channel_base: Vec<usize>,
    align_started_ns: Option<u64>,
    /// The newest barrier this task emitted (sources).
    pub(crate) last_injected: u64,
}

impl TaskCheckpointing {
    pub(crate) fn new(
        hub: Arc<CheckpointHub>,
        key: TaskKey,
        participants: Vec<Rc<dyn SnapshotParticipant>>,
        port_channels: &[usize],
    ) -> Self {
        let mut channel_base = Vec::with_capacity(port_channels.len());
        let mut total = 0;
        for n in port_channels {
            channel_base.push(total);
            total += n;
        }
        Self {
            hub,
            key,
            participants,
            aligner: BarrierAligner::new(total),
            channel_base,
            align_started_ns: None,
            last_injected: 0,
        }
    }

    /// Maps (port, channel) to the task's channel numbering and back.
    fn global(&self, port: usize, channel: usize) -> usize {
        self.channel_base.get(port).copied().unwrap_or(0) + channel
    }

    fn local(&self, global: usize) -> (usize, usize) {
        let port = self
            .channel_base
            .iter()
            .rposition(|&base| base <= global)
            .unwrap_or(0);
        (
            port,
            global - self.channel_base.get(port).copied().unwrap_or(0),
        )
    }

    fn unblock_all(&self, ports: &mut [Box<dyn InputPort>]) {
        for port in ports.iter_mut() {
            for c in 0..port.channels() {
                port.set_blocked(c, false);
            }
        }
    }

    fn block(&mut self, global: usize, ports: &mut [Box<dyn InputPort>], tcx: &TaskCx) {
        let (p, c) = self.local(global);
        if let Some(port) = ports.get_mut(p) {
            port.set_blocked(c, true);
        }
        self.align_started_ns.get_or_insert(tcx.clock.mono_ns());
    }

    /// A barrier arrived on channel `channel` of port `port`.
    pub(crate) fn on_barrier(
        &mut self,
        port: usize,
        channel: usize,
        barrier: CheckpointBarrier,
        ports: &mut [Box<dyn InputPort>],
        writers: &[Rc<dyn Flushable>],
        tcx: &mut TaskCx,
    ) -> Result<()> {
        let g = self.global(port, channel);
        let decision = self.aligner.on_barrier(g, barrier.id);
        self.apply(decision, barrier, ports, writers, tcx)
    }

    /// Channel `channel` of port `port` ended.
    pub(crate) fn on_channel_end(
        &mut self,
        port: usize,
        channel: usize,
        ports: &mut [Box<dyn InputPort>],
        writers: &[Rc<dyn Flushable>],
        tcx: &mut TaskCx,
    ) -> Result<()> {
        let g = self.global(port, channel);
        let Some(id) = self.aligner.aligning() else {
            self.aligner.on_end(g);
            return Ok(());
        };
        let decision = self.aligner.on_end(g);
        let barrier = CheckpointBarrier {
            id,
            triggered_at_ms: 0,
        };
        self.apply(decision, barrier, ports, writers, tcx)
    }

    fn apply(
        &mut self,
        decision: Alignment,
        barrier: CheckpointBarrier,
        ports: &mut [Box<dyn InputPort>],
        writers: &[Rc<dyn Flushable>],
        tcx: &mut TaskCx,
    ) -> Result<()> {
        match decision {
            Alignment::Continue => Ok(()),
            Alignment::Block(g) => {
                self.block(g, ports, tcx);
                Ok(())
            }
            Alignment::Aligned { id } => {
                self.unblock_all(ports);
                let alignment_ns = self
                    .align_started_ns
                    .take()
                    .map_or(0, |t| tcx.clock.mono_ns().saturating_sub(t));
                let barrier = CheckpointBarrier { id, ..barrier };
                self.checkpoint(barrier, TaskSnapshot::default(), alignment_ns, writers, tcx)
            }
            Alignment::Superseded { abandoned, block } => {
                self.unblock_all(ports);
                self.align_started_ns = None;
                self.hub.report(TaskEvent::Decline {
                    id: abandoned,
                    task: self.key,
                    reason: format!(
                        "task {}/{} saw a newer barrier before aligning checkpoint {abandoned}",
                        self.key.node, self.key.subtask
                    ),
                })?;
                if let Some(g) = block {
                    self.block(g, ports, tcx);
                }
                Ok(())
            }
        }
    }

    /// The task is at barrier `barrier`: snapshot every participant, put
    /// the barrier on every output channel, and acknowledge.
    pub(crate) fn checkpoint(
        &mut self,
        barrier: CheckpointBarrier,
        mut snapshot: TaskSnapshot,
        alignment_ns: u64,
        writers: &[Rc<dyn Flushable>],
        tcx: &mut TaskCx,
    ) -> Result<()> {
        let started = tcx.clock.mono_ns();
        let completed = self.hub.completed();
        for p in &self.participants {
            p.snapshot(barrier.id, completed, &mut snapshot)?;
        }
        let sync_ns = tcx.clock.mono_ns().saturating_sub(started);
        for w in writers {
            w.barrier(barrier);
        }
        self.last_injected = self.last_injected.max(barrier.id);
        self.hub.report(TaskEvent::Ack {
            id: barrier.id,
            task: self.key,
            snapshot,
            alignment_ns,
            sync_ns,
        })
    }

    /// Declines checkpoint `id` (a source that cannot report its position).
    pub(crate) fn decline(&mut self, id: u64, reason: String) -> Result<()> {
        self.last_injected = self.last_injected.max(id);
        self.hub.report(TaskEvent::Decline {
            id,
            task: self.key,
            reason,
        })
    }

    /// The task's input ended: pre-commit what is left and report.
    pub(crate) fn finish(&mut self) -> Result<()> {
        let mut snapshot = TaskSnapshot::default();
        for p in &self.participants {
            p.finish(&mut snapshot)?;
        }
        self.hub.report(TaskEvent::Finished {
            task: self.key,
            snapshot,
        })
    }
}
