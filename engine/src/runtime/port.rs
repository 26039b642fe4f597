//! The receiving side of an exchange edge: polls the edge's channels and
//! delivers their messages into the consumer's chain.

use std::collections::VecDeque;
use std::task::{Context, Poll};

use bytes::BytesMut;
use rkyv::util::AlignedVec;

use super::archived::ArchivedBatch;
use super::channel::{Received, Rx};
use super::message::Message;
use super::output::{BoxOutput, TaskCx};
use super::wire::WireCodec;
use crate::checkpoint::CheckpointBarrier;
use crate::time::{Clock, WATERMARK_MAX, WatermarkTracker};

/// What happened when a port was polled.
pub(crate) enum PortEvent {
    /// One message was delivered into the chain.
    Delivered,
    /// Every channel of the port has ended, and `end` was delivered.
    Ended,
    /// Channel `channel` delivered a checkpoint barrier; the task aligns.
    Barrier {
        channel: usize,
        barrier: CheckpointBarrier,
    },
    /// Channel `channel` ended (when it was the last, the next poll says `Ended`).
    ChannelEnded { channel: usize },
}

/// A type-erased input of a task.
pub(crate) trait InputPort {
    /// Takes at most one message from any channel and delivers it.
    fn poll_deliver(&mut self, tcx: &mut TaskCx, cx: &mut Context<'_>) -> Poll<PortEvent>;
    /// Passes a processing-time tick into the chain.
    fn tick(&mut self, tcx: &mut TaskCx);
    /// True once the port has ended.
    fn is_ended(&self) -> bool;
    /// The channels it reads (one per upstream subtask).
    fn channels(&self) -> usize;
    /// Stops (or resumes) taking messages from `channel` while the task
    /// aligns checkpoint barriers.
    fn set_blocked(&mut self, channel: usize, blocked: bool);
    /// Whether the port can record the batches it delivers (its records
    /// can be encoded), as unaligned checkpoints need.
    fn can_record(&self) -> bool;
    /// Starts (or stops) recording the batches `channel` delivers: the
    /// in-flight records of an unaligned checkpoint.
    fn set_recording(&mut self, channel: usize, on: bool);
    /// Moves the batches recorded so far, with their channel, into `out`.
    fn take_recorded(&mut self, out: &mut Vec<(usize, Vec<u8>)>);
    /// Queues a restored in-flight batch, delivered before any input.
    fn queue_replay(&mut self, bytes: Vec<u8>);
    /// Delivers the next queued restored batch; false when none is left.
    fn replay_next(&mut self, tcx: &mut TaskCx) -> bool;
    /// A checkpoint newer than any seen on this port whose barrier a live
    /// channel's sender announced ahead of its queue, with that channel.
    fn take_announced(&mut self) -> Option<(usize, u64)>;
}

/// One input edge of a task: its channels, one per upstream subtask.
pub(crate) struct ChannelPort<T: Send + 'static> {
    rxs: Vec<Rx<T>>,
    ended: Vec<bool>,
    blocked: Vec<bool>,
    live: usize,
    next: usize,
    tracker: WatermarkTracker,
    entry: BoxOutput<T>,
    done: bool,
    /// How the records are encoded, for edges that can leave the process.
    wire: Option<WireCodec<T>>,
    recording: Vec<bool>,
    recorded: Vec<(usize, Vec<u8>)>,
    replay: VecDeque<Vec<u8>>,
    /// The newest announced checkpoint [`InputPort::take_announced`] returned.
    announced: u64,
}

impl<T: Send + 'static> ChannelPort<T> {
    pub(crate) fn new(rxs: Vec<Rx<T>>, entry: BoxOutput<T>) -> Self {
        let n = rxs.len();
        Self {
            rxs,
            ended: vec![false; n],
            blocked: vec![false; n],
            live: n,
            next: 0,
            tracker: WatermarkTracker::new(n),
            entry,
            done: n == 0,
            wire: None,
            recording: vec![false; n],
            recorded: Vec::new(),
            replay: VecDeque::new(),
            announced: 0,
        }
    }

    /// The port's records can be encoded with `wire` (for recording).
    pub(crate) fn with_wire(mut self, wire: Option<WireCodec<T>>) -> Self {
        self.wire = wire;
        self
    }

    fn is_recording(&self, c: usize) -> bool {
        self.recording.get(c).copied().unwrap_or(false)
    }

    /// Keeps a copy of a batch `c` delivers while it is recorded.
    fn record_batch(&mut self, tcx: &mut TaskCx, c: usize, records: &[super::message::Rec<T>]) {
        let Some(wire) = self.wire else {
            return;
        };
        if records.is_empty() {
            return;
        }
        let mut buf = BytesMut::new();
        match (wire.encode)(records, &mut buf) {
            Ok(_) => self.recorded.push((c, buf.to_vec())),
            Err(reason) => tcx.fail(crate::error::SpateError::Runtime {
                core: tcx.subtask,
                reason: format!(
                    "an in-flight batch of an unaligned checkpoint could not be encoded: {reason}"
                ),
            }),
        }
    }

    /// Hands a batch from another process to the chain, still archived.
    fn deliver_archived(
        &mut self,
        tcx: &mut TaskCx,
        c: usize,
        batch: &ArchivedBatch<T>,
    ) -> PortEvent {
        if self.is_recording(c) {
            self.recorded.push((c, batch.bytes().to_vec()));
        }
        tcx.created_ns = batch.created_ns;
        tcx.refresh_now();
        self.entry.archived(tcx, batch);
        self.entry.batch_end(tcx);
        PortEvent::Delivered
    }

    /// Delivers one message; barriers and channel ends go to the task.
    fn deliver(&mut self, tcx: &mut TaskCx, c: usize, msg: Message<T>) -> PortEvent {
        let mut event = PortEvent::Delivered;
        match msg {
            Message::Batch(batch) => {
                tcx.created_ns = batch.created_ns;
                tcx.refresh_now();
                if let Some(wm) = batch.watermark_before {
                    self.watermark(tcx, c, wm);
                }
                if self.is_recording(c) {
                    self.record_batch(tcx, c, &batch.records);
                }
                for rec in batch.records {
                    self.entry.record(tcx, rec.value, rec.ts);
                }
                if let Some(wm) = batch.watermark_after {
                    self.watermark(tcx, c, wm);
                }
            }
            Message::Watermark { wm, created_ns } => {
                if created_ns != 0 {
                    tcx.created_ns = created_ns;
                }
                self.watermark(tcx, c, wm);
            }
            Message::Idle(idle) => {
                let was_idle = self.tracker.all_idle();
                if let Some(wm) = self.tracker.set_idle(c, idle) {
                    self.entry.watermark(tcx, wm);
                }
                let now_idle = self.tracker.all_idle();
                if now_idle != was_idle {
                    self.entry.idle(tcx, now_idle);
                }
            }
            Message::Barrier(barrier) => {
                event = PortEvent::Barrier {
                    channel: c,
                    barrier,
                }
            }
            Message::End => {
                self.end_channel(tcx, c);
                event = PortEvent::ChannelEnded { channel: c };
            }
        }
        self.entry.batch_end(tcx);
        event
    }

    fn watermark(&mut self, tcx: &mut TaskCx, c: usize, wm: i64) {
        if let Some(combined) = self.tracker.update(c, wm) {
            self.entry.watermark(tcx, combined);
        }
    }

    fn end_channel(&mut self, tcx: &mut TaskCx, c: usize) {
        if let Some(e) = self.ended.get_mut(c)
            && !*e
        {
            *e = true;
            self.live -= 1;
            // An ended channel holds nothing back, unless the job stops
            // to be resumed: then nothing fires that the savepoint keeps.
            if tcx.drains_on_end() {
                self.watermark(tcx, c, WATERMARK_MAX);
            }
        }
        if self.live == 0 && !self.done {
            self.done = true;
            self.entry.end(tcx);
        }
    }
}

impl<T: Send + 'static> InputPort for ChannelPort<T> {
    fn poll_deliver(&mut self, tcx: &mut TaskCx, cx: &mut Context<'_>) -> Poll<PortEvent> {
        if self.done {
            return Poll::Ready(PortEvent::Ended);
        }
        let n = self.rxs.len();
        for i in 0..n {
            let c = (self.next + i) % n;
            if self.ended.get(c).copied().unwrap_or(true)
                || self.blocked.get(c).copied().unwrap_or(false)
            {
                continue;
            }
            let Some(rx) = self.rxs.get_mut(c) else {
                continue;
            };
            match rx.poll_recv(cx) {
                Poll::Ready(Some(Received::Message(msg))) => {
                    self.next = (c + 1) % n;
                    return Poll::Ready(self.deliver(tcx, c, msg));
                }
                Poll::Ready(Some(Received::Archived(batch))) => {
                    self.next = (c + 1) % n;
                    return Poll::Ready(self.deliver_archived(tcx, c, &batch));
                }
                Poll::Ready(None) => {
                    // The sender vanished without End: only after a failure.
                    tcx.fail(crate::error::SpateError::Runtime {
                        core: tcx.subtask,
                        reason: format!("input channel {c} closed before its end marker"),
                    });
                    self.end_channel(tcx, c);
                    return Poll::Ready(PortEvent::Delivered);
                }
                Poll::Pending => {}
            }
        }
        Poll::Pending
    }

    fn tick(&mut self, tcx: &mut TaskCx) {
        if !self.done {
            self.entry.tick(tcx);
        }
    }

    fn is_ended(&self) -> bool {
        self.done
    }

    fn channels(&self) -> usize {
        self.rxs.len()
    }

    fn set_blocked(&mut self, channel: usize, blocked: bool) {
        if let Some(b) = self.blocked.get_mut(channel) {
            *b = blocked;
        }
    }

    fn can_record(&self) -> bool {
        self.wire.is_some()
    }

    fn set_recording(&mut self, channel: usize, on: bool) {
        if let Some(r) = self.recording.get_mut(channel) {
            *r = on;
        }
    }

    fn take_recorded(&mut self, out: &mut Vec<(usize, Vec<u8>)>) {
        out.append(&mut self.recorded);
    }

    fn take_announced(&mut self) -> Option<(usize, u64)> {
        let mut newest = None;
        for (c, rx) in self.rxs.iter().enumerate() {
            if self.ended.get(c).copied().unwrap_or(true) {
                continue;
            }
            let id = rx.announced();
            if id > self.announced && newest.is_none_or(|(_, n)| id > n) {
                newest = Some((c, id));
            }
        }
        if let Some((_, id)) = newest {
            self.announced = id;
        }
        newest
    }

    fn queue_replay(&mut self, bytes: Vec<u8>) {
        self.replay.push_back(bytes);
    }

    fn replay_next(&mut self, tcx: &mut TaskCx) -> bool {
        let Some(bytes) = self.replay.pop_front() else {
            return false;
        };
        let Some(wire) = self.wire else {
            tcx.fail(crate::error::SpateError::internal(
                "in-flight records were restored into an input that cannot decode them",
            ));
            return false;
        };
        tcx.created_ns = tcx.clock.mono_ns();
        tcx.refresh_now();
        let mut scratch = AlignedVec::new();
        let entry = &mut self.entry;
        let decoded = (wire.decode_each)(&bytes, &mut scratch, &mut |rec| {
            entry.record(tcx, rec.value, rec.ts)
        });
        if let Err(reason) = decoded {
            tcx.fail(crate::error::SpateError::Checkpoint {
                reason: format!(
                    "an in-flight batch restored from the checkpoint is damaged: {reason}"
                ),
            });
        }
        self.entry.batch_end(tcx);
        true
    }
}
