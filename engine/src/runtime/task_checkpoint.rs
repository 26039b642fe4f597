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
use crate::time::thread_cpu::thread_cpu_ns;

/// Slots of a copy-on-write capture a task encodes between two record
/// batches (a few tenths of a microsecond each), so a slice adds at most
/// about a hundred microseconds to a record's latency.
pub(crate) const CAPTURE_SLICE_SLOTS: usize = 512;

/// A checkpoint whose barrier went on while its captures are still being
/// encoded; acknowledged once they are complete.
struct PendingAck {
    id: u64,
    snapshot: TaskSnapshot,
    alignment_ns: u64,
    sync_ns: u64,
    sync_cpu_ns: u64,
}

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
    /// Whether captures are encoded in slices after the barrier went on
    /// (tasks fed by channels, which call [`Self::continue_capture`]), or
    /// at the barrier.
    sliced_captures: bool,
    pending: Option<PendingAck>,
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
            sliced_captures: false,
            pending: None,
        }
    }

    /// Captures are encoded in slices between record batches, which the
    /// task's loop drives with [`Self::continue_capture`].
    pub(crate) fn slice_captures(&mut self) {
        self.sliced_captures = true;
    }

    /// Whether a checkpoint's captures are still being encoded.
    pub(crate) fn capturing(&self) -> bool {
        self.pending.is_some()
    }

    /// Encodes more of the pending checkpoint's captures, spending at most
    /// `budget`; acknowledges the checkpoint once they are complete.
    pub(crate) fn continue_capture(&mut self, mut budget: usize) -> Result<()> {
        let Some(pending) = self.pending.as_mut() else {
            return Ok(());
        };
        for p in &self.participants {
            if !p.continue_snapshot(pending.id, &mut budget, &mut pending.snapshot)? {
                return Ok(());
            }
        }
        let Some(done) = self.pending.take() else {
            return Ok(());
        };
        self.hub.report(TaskEvent::Ack {
            id: done.id,
            task: self.key,
            snapshot: done.snapshot,
            alignment_ns: done.alignment_ns,
            sync_ns: done.sync_ns,
            sync_cpu_ns: done.sync_cpu_ns,
        })
    }

    /// Completes the pending checkpoint's captures at once.
    fn complete_capture(&mut self) -> Result<()> {
        self.continue_capture(usize::MAX)?;
        match &self.pending {
            None => Ok(()),
            Some(p) => Err(crate::error::SpateError::internal(format!(
                "the captures of checkpoint {} did not complete with an unlimited budget",
                p.id
            ))),
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
        // One capture at a time: the previous checkpoint's goes first, and
        // the barrier waits for it, so it counts in the synchronous part.
        let started = tcx.clock.mono_ns();
        let cpu_started = thread_cpu_ns();
        self.complete_capture()?;
        let completed = self.hub.completed();
        for p in &self.participants {
            p.snapshot(barrier.id, completed, &mut snapshot)?;
        }
        let sync_ns = tcx.clock.mono_ns().saturating_sub(started);
        let sync_cpu_ns = thread_cpu_ns().saturating_sub(cpu_started);
        for w in writers {
            w.barrier(barrier);
        }
        self.last_injected = self.last_injected.max(barrier.id);
        self.pending = Some(PendingAck {
            id: barrier.id,
            snapshot,
            alignment_ns,
            sync_ns,
            sync_cpu_ns,
        });
        // Captures with nothing to encode complete here; the rest in
        // slices, or now where the task does not drive slices.
        if self.sliced_captures {
            self.continue_capture(0)
        } else {
            self.complete_capture()
        }
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
        self.complete_capture()?;
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

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};
    use std::future::Future;
    use std::pin::Pin;

    use super::*;
    use crate::error::SpateError;

    /// A participant whose capture needs `slices` budget units after the
    /// barrier before it is complete.
    struct Slow {
        slices: u64,
        left: Cell<u64>,
    }

    impl SnapshotParticipant for Slow {
        fn snapshot(&self, _id: u64, _completed: u64, _out: &mut TaskSnapshot) -> Result<()> {
            self.left.set(self.slices);
            Ok(())
        }

        fn continue_snapshot(
            &self,
            id: u64,
            budget: &mut usize,
            out: &mut TaskSnapshot,
        ) -> Result<bool> {
            while *budget > 0 && self.left.get() > 0 {
                *budget -= 1;
                self.left.set(self.left.get() - 1);
            }
            if self.left.get() > 0 {
                return Ok(false);
            }
            out.operator_values.insert("captured".into(), id as i64);
            Ok(true)
        }

        fn finish(&self, _out: &mut TaskSnapshot) -> Result<()> {
            Ok(())
        }
    }

    /// Records the barriers put on its channels.
    #[derive(Default)]
    struct Barriers(RefCell<Vec<u64>>);

    impl Flushable for Barriers {
        fn flush_all(&self) {}
        fn has_pending(&self) -> bool {
            false
        }
        fn oldest_buffered_ns(&self) -> Option<u64> {
            None
        }
        fn barrier(&self, b: CheckpointBarrier) {
            self.0.borrow_mut().push(b.id);
        }
        fn drain(&self) -> Pin<Box<dyn Future<Output = std::result::Result<(), SpateError>> + '_>> {
            Box::pin(async { Ok(()) })
        }
    }

    fn acks(rx: &std::sync::mpsc::Receiver<TaskEvent>) -> Vec<(u64, Option<i64>)> {
        rx.try_iter()
            .filter_map(|e| match e {
                TaskEvent::Ack { id, snapshot, .. } => {
                    Some((id, snapshot.operator_values.get("captured").copied()))
                }
                _ => None,
            })
            .collect()
    }

    fn barrier(id: u64) -> CheckpointBarrier {
        CheckpointBarrier {
            id,
            triggered_at_ms: 0,
        }
    }

    #[test]
    fn the_barrier_goes_on_at_once_and_the_ack_waits_for_the_capture() {
        let (hub, rx) = CheckpointHub::new(16, 0, false);
        let key = TaskKey {
            node: 1,
            subtask: 0,
        };
        let slow: Rc<dyn SnapshotParticipant> = Rc::new(Slow {
            slices: 10,
            left: Cell::new(0),
        });
        let mut ck = TaskCheckpointing::new(hub, key, vec![slow], &[1]);
        ck.slice_captures();
        let out = Rc::new(Barriers::default());
        let writers: Vec<Rc<dyn Flushable>> = vec![out.clone()];
        let mut tcx = TaskCx::for_tests();
        ck.checkpoint(barrier(1), TaskSnapshot::default(), 0, &writers, &mut tcx)
            .unwrap();
        assert_eq!(
            *out.0.borrow(),
            vec![1],
            "the barrier went on before the capture"
        );
        assert!(ck.capturing());
        assert!(
            acks(&rx).is_empty(),
            "no ack before the capture is complete"
        );
        for _ in 0..2 {
            ck.continue_capture(4).unwrap();
        }
        assert!(ck.capturing() && acks(&rx).is_empty());
        ck.continue_capture(4).unwrap();
        assert!(!ck.capturing());
        assert_eq!(acks(&rx), vec![(1, Some(1))]);
        // A barrier while a capture is pending completes it first.
        ck.checkpoint(barrier(2), TaskSnapshot::default(), 0, &writers, &mut tcx)
            .unwrap();
        ck.continue_capture(1).unwrap();
        ck.checkpoint(barrier(3), TaskSnapshot::default(), 0, &writers, &mut tcx)
            .unwrap();
        assert_eq!(acks(&rx), vec![(2, Some(2))]);
        assert_eq!(*out.0.borrow(), vec![1, 2, 3]);
        ck.finish().unwrap();
        let events: Vec<TaskEvent> = rx.try_iter().collect();
        assert!(
            matches!(
                events.as_slice(),
                [TaskEvent::Ack { id: 3, .. }, TaskEvent::Finished { .. }]
            ),
            "the last capture completes before the task finishes: {events:?}"
        );
    }

    #[test]
    fn without_slices_the_capture_completes_at_the_barrier() {
        let (hub, rx) = CheckpointHub::new(16, 0, false);
        let key = TaskKey {
            node: 1,
            subtask: 0,
        };
        let slow: Rc<dyn SnapshotParticipant> = Rc::new(Slow {
            slices: 1_000,
            left: Cell::new(0),
        });
        let mut ck = TaskCheckpointing::new(hub, key, vec![slow], &[1]);
        let mut tcx = TaskCx::for_tests();
        ck.checkpoint(barrier(7), TaskSnapshot::default(), 0, &[], &mut tcx)
            .unwrap();
        assert!(!ck.capturing());
        assert_eq!(acks(&rx), vec![(7, Some(7))]);
    }
}
