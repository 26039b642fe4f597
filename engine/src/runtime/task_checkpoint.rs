//! A task's side of checkpointing: aligning barriers across its input
//! channels (or, unaligned, recording the records they overtook),
//! snapshotting its operators, forwarding the barrier and reporting to the
//! checkpoint driver. The decisions come from the pure [`BarrierAligner`]
//! and [`UnalignedBarriers`]; this file does the effects.

use std::rc::Rc;
use std::sync::Arc;

use super::exchange::Flushable;
use super::output::TaskCx;
use super::port::InputPort;
use crate::checkpoint::{
    Alignment, BarrierAligner, CheckpointBarrier, CheckpointHub, InFlightBatch,
    SnapshotParticipant, TaskEvent, TaskKey, TaskSnapshot, Unaligned, UnalignedBarriers,
    in_flight_state,
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
    /// The copy-on-write captures are complete.
    captured: bool,
    /// Input channels still record the checkpoint's in-flight records.
    recording: bool,
}

/// Everything a task needs to take part in checkpoints.
pub(crate) struct TaskCheckpointing {
    pub(crate) hub: Arc<CheckpointHub>,
    pub(crate) key: TaskKey,
    pub(crate) participants: Vec<Rc<dyn SnapshotParticipant>>,
    aligner: BarrierAligner,
    unaligned: UnalignedBarriers,
    /// With unaligned checkpoints, the first key group of the task's range
    /// (where its in-flight records are stored); `None` when the task
    /// always aligns.
    in_flight: Option<spate_state::KeyGroup>,
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
            unaligned: UnalignedBarriers::new(total),
            in_flight: None,
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

    /// The task takes unaligned checkpoints: its in-flight records are
    /// stored under key group `first_key_group`, the first of its range.
    pub(crate) fn record_in_flight(&mut self, first_key_group: spate_state::KeyGroup) {
        self.in_flight = Some(first_key_group);
    }

    /// Whether a checkpoint's captures are still being encoded.
    pub(crate) fn capturing(&self) -> bool {
        self.pending.as_ref().is_some_and(|p| !p.captured)
    }

    /// Encodes more of the pending checkpoint's captures, spending at most
    /// `budget`; acknowledges the checkpoint once they are complete.
    pub(crate) fn continue_capture(&mut self, mut budget: usize) -> Result<()> {
        let Some(pending) = self.pending.as_mut().filter(|p| !p.captured) else {
            return Ok(());
        };
        for p in &self.participants {
            if !p.continue_snapshot(pending.id, &mut budget, &mut pending.snapshot)? {
                return Ok(());
            }
        }
        pending.captured = true;
        self.try_ack()
    }

    /// Acknowledges the pending checkpoint once its captures are complete
    /// and its in-flight records recorded.
    fn try_ack(&mut self) -> Result<()> {
        if !self
            .pending
            .as_ref()
            .is_some_and(|p| p.captured && !p.recording)
        {
            return Ok(());
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
            Some(p) if !p.captured => Err(crate::error::SpateError::internal(format!(
                "the captures of checkpoint {} did not complete with an unlimited budget",
                p.id
            ))),
            _ => Ok(()),
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
        if self.in_flight.is_some() && self.hub.unaligned(barrier.id) {
            let decision = self.unaligned.on_barrier(g, barrier.id);
            return self.apply_unaligned(decision, barrier, ports, writers, tcx);
        }
        let decision = self.aligner.on_barrier(g, barrier.id);
        self.apply(decision, barrier, ports, writers, tcx)
    }

    /// Starts the newest checkpoint a sender announced ahead of its queue,
    /// if the task records in-flight records and one is new.
    pub(crate) fn poll_announced(
        &mut self,
        ports: &mut [Box<dyn InputPort>],
        writers: &[Rc<dyn Flushable>],
        tcx: &mut TaskCx,
    ) -> Result<()> {
        if self.in_flight.is_none() {
            return Ok(());
        }
        for p in 0..ports.len() {
            let Some((channel, id)) = ports.get_mut(p).and_then(|port| port.take_announced())
            else {
                continue;
            };
            if !self.hub.unaligned(id) {
                continue;
            }
            let decision = self.unaligned.on_announce(self.global(p, channel), id);
            let barrier = CheckpointBarrier {
                id,
                triggered_at_ms: 0,
            };
            self.apply_unaligned(decision, barrier, ports, writers, tcx)?;
        }
        Ok(())
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
        let recorded = self.unaligned.on_end(g);
        let barrier = CheckpointBarrier {
            id: 0,
            triggered_at_ms: 0,
        };
        self.apply_unaligned(recorded, barrier, ports, writers, tcx)?;
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
                self.report_decline(
                    abandoned,
                    format!(
                        "task {}/{} saw a newer barrier before aligning checkpoint {abandoned}",
                        self.key.node, self.key.subtask
                    ),
                )?;
                if let Some(g) = block {
                    self.block(g, ports, tcx);
                }
                Ok(())
            }
        }
    }

    fn apply_unaligned(
        &mut self,
        decision: Unaligned,
        barrier: CheckpointBarrier,
        ports: &mut [Box<dyn InputPort>],
        writers: &[Rc<dyn Flushable>],
        tcx: &mut TaskCx,
    ) -> Result<()> {
        match decision {
            Unaligned::Continue => Ok(()),
            Unaligned::Start {
                id,
                record,
                abandoned,
            } => {
                if let Some(old) = abandoned {
                    self.abandon(old, ports)?;
                }
                let barrier = CheckpointBarrier { id, ..barrier };
                let recording = !record.is_empty();
                self.take(barrier, TaskSnapshot::default(), 0, recording, writers, tcx)?;
                // Everything these channels deliver from now until their
                // barrier was sent before it, and is not in the snapshot.
                for g in record {
                    let (p, c) = self.local(g);
                    if let Some(port) = ports.get_mut(p) {
                        port.set_recording(c, true);
                    }
                }
                Ok(())
            }
            Unaligned::Recorded {
                id,
                channel,
                complete,
            } => {
                let (p, c) = self.local(channel);
                if let Some(port) = ports.get_mut(p) {
                    port.set_recording(c, false);
                }
                if complete {
                    self.recorded(id, ports)?;
                }
                Ok(())
            }
        }
    }

    /// Every channel delivered checkpoint `id`'s barrier (or ended): its
    /// in-flight records join the snapshot.
    fn recorded(&mut self, id: u64, ports: &mut [Box<dyn InputPort>]) -> Result<()> {
        let batches = take_recorded(ports);
        let (Some(kg), Some(pending)) = (self.in_flight, self.pending.as_mut()) else {
            return Ok(());
        };
        if pending.id != id || !pending.recording {
            // Checkpoint `id` was declined when a newer one was taken.
            return Ok(());
        }
        pending
            .snapshot
            .states
            .push(in_flight_state(self.key.node, kg, batches));
        pending.recording = false;
        self.try_ack()
    }

    /// A newer barrier overtook checkpoint `old` while its in-flight records
    /// were recorded: give it up on this task.
    fn abandon(&mut self, old: u64, ports: &mut [Box<dyn InputPort>]) -> Result<()> {
        for port in ports.iter_mut() {
            for c in 0..port.channels() {
                port.set_recording(c, false);
            }
        }
        drop(take_recorded(ports));
        self.complete_capture()?;
        if self.pending.as_ref().is_some_and(|p| p.id == old) {
            self.pending = None;
        }
        self.report_decline(
            old,
            format!(
                "task {}/{} saw a newer barrier before recording checkpoint {old}'s \
                 in-flight records",
                self.key.node, self.key.subtask
            ),
        )
    }

    /// The task is at barrier `barrier`: snapshot every participant, put
    /// the barrier on every output channel, and acknowledge.
    pub(crate) fn checkpoint(
        &mut self,
        barrier: CheckpointBarrier,
        snapshot: TaskSnapshot,
        alignment_ns: u64,
        writers: &[Rc<dyn Flushable>],
        tcx: &mut TaskCx,
    ) -> Result<()> {
        self.take(barrier, snapshot, alignment_ns, false, writers, tcx)
    }

    /// Takes checkpoint `barrier`; with `recording`, its acknowledgement
    /// also waits for the in-flight records of the task's channels.
    fn take(
        &mut self,
        barrier: CheckpointBarrier,
        mut snapshot: TaskSnapshot,
        alignment_ns: u64,
        recording: bool,
        writers: &[Rc<dyn Flushable>],
        tcx: &mut TaskCx,
    ) -> Result<()> {
        // One capture at a time: the previous checkpoint's goes first, and
        // the barrier waits for it, so it counts in the synchronous part.
        let started = tcx.clock.mono_ns();
        let cpu_started = thread_cpu_ns();
        self.complete_capture()?;
        if let Some(old) = self.pending.take() {
            // Its in-flight records can no longer be completed in order.
            self.report_decline(
                old.id,
                format!(
                    "checkpoint {} overtook checkpoint {}'s in-flight records on task {}/{}",
                    barrier.id, old.id, self.key.node, self.key.subtask
                ),
            )?;
        }
        let completed = self.hub.completed();
        for p in &self.participants {
            p.snapshot(barrier.id, completed, &mut snapshot)?;
        }
        let sync_ns = tcx.clock.mono_ns().saturating_sub(started);
        let sync_cpu_ns = thread_cpu_ns().saturating_sub(cpu_started);
        // Unaligned, receivers may start the checkpoint before the barrier
        // reaches them through the records queued ahead of it.
        let announce = self.hub.unaligned(barrier.id);
        for w in writers {
            w.barrier(barrier, announce);
        }
        self.last_injected = self.last_injected.max(barrier.id);
        if let (Some(kg), false) = (self.in_flight, recording) {
            // An empty state, so no in-flight records of an earlier
            // checkpoint outlive it.
            snapshot
                .states
                .push(in_flight_state(self.key.node, kg, Vec::new()));
        }
        self.pending = Some(PendingAck {
            id: barrier.id,
            snapshot,
            alignment_ns,
            sync_ns,
            sync_cpu_ns,
            captured: false,
            recording,
        });
        // Captures with nothing to encode complete here; the rest in
        // slices, or now where the task does not drive slices.
        if self.sliced_captures {
            self.continue_capture(0)
        } else {
            self.complete_capture()
        }
    }

    /// Tells the driver this task gives checkpoint `id` up, and why.
    fn report_decline(&self, id: u64, reason: String) -> Result<()> {
        self.hub.report(TaskEvent::Decline {
            id,
            task: self.key,
            reason,
        })
    }

    /// Declines checkpoint `id` (a source that cannot report its position).
    pub(crate) fn decline(&mut self, id: u64, reason: String) -> Result<()> {
        self.last_injected = self.last_injected.max(id);
        self.report_decline(id, reason)
    }

    /// The task's input ended: pre-commit what is left and report.
    pub(crate) fn finish(&mut self) -> Result<()> {
        self.complete_capture()?;
        if let Some(old) = self.pending.take() {
            self.report_decline(
                old.id,
                format!(
                    "task {}/{} ended before checkpoint {}'s in-flight records were complete",
                    self.key.node, self.key.subtask, old.id
                ),
            )?;
        }
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

/// The batches every port recorded, numbered by port.
fn take_recorded(ports: &mut [Box<dyn InputPort>]) -> Vec<InFlightBatch> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    for (p, port) in ports.iter_mut().enumerate() {
        port.take_recorded(&mut buf);
        out.extend(buf.drain(..).map(|(c, bytes)| InFlightBatch {
            port: p as u32,
            channel: c as u32,
            bytes,
        }));
    }
    out
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
        fn barrier(&self, b: CheckpointBarrier, _announce: bool) {
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
        let (hub, rx) = CheckpointHub::new(16, 0, false, false);
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
        let (hub, rx) = CheckpointHub::new(16, 0, false, false);
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

#[cfg(test)]
mod unaligned_tests {
    use std::cell::Cell;
    use std::task::{Context, Poll, Waker};

    use super::*;
    use crate::checkpoint::{Captured, in_flight_batches};
    use crate::runtime::channel::local_pair;
    use crate::runtime::exchange::{ExchangeWriter, Route, WriterShared};
    use crate::runtime::output::Output;
    use crate::runtime::port::{ChannelPort, PortEvent};
    use crate::runtime::wire::WireCodec;
    use crate::time::Timestamp;

    /// Counts the records delivered into it.
    struct Counted(Rc<Cell<u64>>);

    impl Output<u64> for Counted {
        fn record(&mut self, _cx: &mut TaskCx, _value: u64, _ts: Timestamp) {
            self.0.set(self.0.get() + 1);
        }
        fn watermark(&mut self, _cx: &mut TaskCx, _wm: Timestamp) {}
        fn idle(&mut self, _cx: &mut TaskCx, _idle: bool) {}
        fn batch_end(&mut self, _cx: &mut TaskCx) {}
        fn tick(&mut self, _cx: &mut TaskCx) {}
        fn end(&mut self, _cx: &mut TaskCx) {}
    }

    /// A sender queues 12 records in 3 batches, then barrier 1 with its
    /// announcement. The receiver starts checkpoint 1 before taking any of
    /// them, processes them, and acknowledges at the barrier with exactly
    /// those records as the checkpoint's in-flight records.
    #[test]
    fn an_announced_barrier_starts_the_checkpoint_ahead_of_the_queued_records() {
        let (hub, events) = CheckpointHub::new(16, 0, false, true);
        let (tx, rx) = local_pair::<u64>(16);
        let mut tcx = TaskCx::for_tests();
        let writer = WriterShared::new(vec![tx], 4);
        let mut out = ExchangeWriter {
            shared: writer.clone(),
            route: Route::Forward,
        };
        for v in 0..12u64 {
            out.record(&mut tcx, v, 0);
        }
        writer.flush_all();
        writer.barrier(
            CheckpointBarrier {
                id: 1,
                triggered_at_ms: 0,
            },
            true,
        );
        let counted = Rc::new(Cell::new(0));
        let port = ChannelPort::new(vec![rx], Box::new(Counted(counted.clone())))
            .with_wire(Some(WireCodec::<u64>::of()));
        let mut ports: Vec<Box<dyn InputPort>> = vec![Box::new(port)];
        let key = TaskKey {
            node: 4,
            subtask: 0,
        };
        let mut ck = TaskCheckpointing::new(hub, key, Vec::new(), &[1]);
        ck.slice_captures();
        ck.record_in_flight(0);

        ck.poll_announced(&mut ports, &[], &mut tcx).unwrap();
        assert_eq!(counted.get(), 0, "the snapshot came before the records");
        assert!(events.try_recv().is_err(), "no ack while recording");

        let mut cx = Context::from_waker(Waker::noop());
        loop {
            let Some(port) = ports.first_mut() else {
                panic!("one port")
            };
            match port.poll_deliver(&mut tcx, &mut cx) {
                Poll::Ready(PortEvent::Barrier { channel, barrier }) => {
                    ck.on_barrier(0, channel, barrier, &mut ports, &[], &mut tcx)
                        .unwrap();
                    break;
                }
                Poll::Ready(_) => {}
                Poll::Pending => panic!("the barrier is queued"),
            }
        }
        assert_eq!(counted.get(), 12, "the records were processed as usual");
        let Ok(TaskEvent::Ack {
            id: 1, snapshot, ..
        }) = events.try_recv()
        else {
            panic!("checkpoint 1 is acknowledged at its barrier");
        };
        let [state] = snapshot.states.as_slice() else {
            panic!("one state: {:?}", snapshot.states);
        };
        let Captured::Whole(entries) = &state.entries else {
            panic!("captured whole");
        };
        let batches = in_flight_batches(4, entries.clone()).unwrap();
        let mut values = Vec::new();
        let mut scratch = rkyv::util::AlignedVec::new();
        for b in &batches {
            assert_eq!((b.port, b.channel), (0, 0));
            (WireCodec::<u64>::of().decode_each)(&b.bytes, &mut scratch, &mut |r| {
                values.push(r.value)
            })
            .unwrap();
        }
        assert_eq!(values, (0..12).collect::<Vec<_>>());
    }
}
