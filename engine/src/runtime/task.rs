//! Task drivers: the loop that runs one chain on one core, fed by a source
//! or by input channels. Each is one cooperative glommio task, so a task
//! waiting for channel room never blocks the other tasks of its core.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use super::exchange::Flushable;
use super::message::Rec;
use super::output::{BoxOutput, TaskCx};
use super::port::{InputPort, PortEvent};
use super::task_checkpoint::{CAPTURE_SLICE_SLOTS, TaskCheckpointing};
use crate::checkpoint::{CheckpointBarrier, SplitOffset, TaskEvent, TaskSnapshot};
use crate::error::{Result, SpateError};
use crate::sources::{Source, SourceCollector, SourcePoll};
use crate::time::{Clock, WATERMARK_MAX, WATERMARK_MIN};

/// Flush settings shared by every task of a job.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FlushPolicy {
    pub(crate) batch_records_max: usize,
    pub(crate) buffer_timeout_ms: u64,
    pub(crate) flush_on_idle: bool,
}

/// How often a source whose input ended looks for a checkpoint to inject
/// or for the end of the final one.
const FINAL_CHECKPOINT_POLL_MS: u64 = 1;

/// How long an idle task sleeps between two slices of a checkpoint's
/// capture. A plain yield keeps the task runnable, and glommio polls its
/// reactor (timers, wake-ups from other cores) only once no task is
/// runnable or its preempt timer (100 ms) fires, so a paced source on the
/// same core would not run until the whole capture was encoded (~2 ms for
/// 5 000 keys: the p99.9 of a keyed job with checkpoints). A timer puts
/// the task in the reactor's hands, so the reactor runs between slices.
const CAPTURE_PAUSE_US: u64 = 1;

/// The fewest messages an input task delivers per turn before it yields
/// (see `InputTask::run_loop`).
const DELIVERIES_PER_TURN_MIN: usize = 64;

/// A runnable task, type-erased.
pub(crate) trait TaskRun {
    fn run(self: Box<Self>) -> Pin<Box<dyn Future<Output = Result<()>>>>;
}

/// What every driver does around its chain: flushing and draining writers.
pub(crate) struct Flushers {
    pub(crate) writers: Vec<Rc<dyn Flushable>>,
    pub(crate) policy: FlushPolicy,
}

impl Flushers {
    async fn drain(&self) -> Result<()> {
        for w in &self.writers {
            if w.has_pending() {
                w.drain().await?;
            }
        }
        Ok(())
    }

    fn flush_all(&self) {
        self.writers.iter().for_each(|w| w.flush_all());
    }

    /// Flushes buffers whose oldest record waited past the timeout.
    fn flush_expired(&self, now_ns: u64) {
        let timeout_ns = self.policy.buffer_timeout_ms.saturating_mul(1_000_000);
        for w in &self.writers {
            if let Some(oldest) = w.oldest_buffered_ns()
                && now_ns.saturating_sub(oldest) >= timeout_ns
            {
                w.flush_all();
            }
        }
    }

    /// After each message: honour the timeout, then wait for channel room.
    async fn after_message(&self, cx: &TaskCx) -> Result<()> {
        if !self.writers.is_empty() {
            self.flush_expired(cx.clock.mono_ns());
            self.drain().await?;
        }
        Ok(())
    }

    /// The task has nothing to do: flush partial buffers so latency stays low.
    async fn on_idle(&self) -> Result<()> {
        if self.policy.flush_on_idle {
            self.flush_all();
        }
        self.drain().await
    }
}

fn take_failure(cx: &mut TaskCx) -> Result<()> {
    match cx.failure.take() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn tick_due(cx: &mut TaskCx) -> bool {
    match cx.next_proc_timer_ms {
        Some(due) if cx.now_ms() >= due => {
            cx.next_proc_timer_ms = None;
            true
        }
        _ => false,
    }
}

/// Drives a source split and the chain behind it.
pub(crate) struct SourceTask<S: Source> {
    pub(crate) source: S,
    pub(crate) out: BoxOutput<S::Item>,
    pub(crate) cx: TaskCx,
    pub(crate) flushers: Flushers,
    pub(crate) name: String,
    pub(crate) checkpointing: Option<TaskCheckpointing>,
    /// Records produced in this run, for checkpoints.
    pub(crate) records: u64,
    /// The newest completed checkpoint the source was told of.
    pub(crate) completed_seen: u64,
}

impl<S: Source> TaskRun for SourceTask<S> {
    fn run(self: Box<Self>) -> Pin<Box<dyn Future<Output = Result<()>>>> {
        Box::pin(self.run_loop())
    }
}

impl<S: Source> SourceTask<S> {
    async fn run_loop(mut self: Box<Self>) -> Result<()> {
        let mut buf: Vec<Rec<S::Item>> = Vec::with_capacity(self.flushers.policy.batch_records_max);
        let mut last_wm = WATERMARK_MIN;
        let mut idle = false;
        loop {
            self.inject_barrier()?;
            self.notify_completed();
            buf.clear();
            let batch_max = self.flushers.policy.batch_records_max;
            let poll = self
                .source
                .poll(&mut SourceCollector { out: &mut buf }, batch_max)
                .map_err(|e| self.source_error(e))?;
            if !buf.is_empty() {
                // Active again before its records go out, so none of them
                // travels on a channel the watermark ignores.
                if idle {
                    idle = false;
                    self.out.idle(&mut self.cx, false);
                }
                self.cx.created_ns = self.cx.clock.mono_ns();
                self.cx.refresh_now();
                self.cx.metrics.add_source_records(buf.len() as u64);
                self.records += buf.len() as u64;
                for rec in buf.drain(..) {
                    self.out.record(&mut self.cx, rec.value, rec.ts);
                }
            }
            if let Some(wm) = self.source.watermark()
                && wm > last_wm
            {
                last_wm = wm;
                self.out.watermark(&mut self.cx, wm);
            }
            if self.source.is_idle() != idle {
                idle = !idle;
                self.out.idle(&mut self.cx, idle);
            }
            self.out.batch_end(&mut self.cx);
            if tick_due(&mut self.cx) {
                self.out.tick(&mut self.cx);
            }
            take_failure(&mut self.cx)?;
            match poll {
                SourcePoll::Ready => {
                    self.flushers.after_message(&self.cx).await?;
                    futures_lite::future::yield_now().await;
                }
                SourcePoll::Pending { retry_after_us } => {
                    self.flushers.on_idle().await?;
                    let source = &mut self.source;
                    let ready = futures_lite::future::poll_fn(|cx| source.poll_ready(cx));
                    let retry = glommio::timer::sleep(Duration::from_micros(retry_after_us.max(1)));
                    futures_lite::future::or(ready, retry).await;
                    self.out.tick(&mut self.cx);
                }
                SourcePoll::Exhausted => break,
                SourcePoll::Stopped => {
                    self.cx.stop_without_drain();
                    break;
                }
            }
        }
        self.cx.created_ns = self.cx.clock.mono_ns();
        if self.cx.drains_on_end() {
            self.out.watermark(&mut self.cx, WATERMARK_MAX);
            self.await_final_checkpoint().await?;
        }
        self.out.end(&mut self.cx);
        take_failure(&mut self.cx)?;
        self.flushers.flush_all();
        self.flushers.drain().await?;
        match self.checkpointing.as_mut() {
            Some(ck) => ck.finish(),
            None => Ok(()),
        }
    }

    /// With checkpoints on, a source that read all its input stays until
    /// the final checkpoint is committed. It keeps injecting barriers, so
    /// checkpoints go on while other sources still read, and what its
    /// records caused downstream (windows fired by the final watermark
    /// included) is in that checkpoint rather than only in memory.
    async fn await_final_checkpoint(&mut self) -> Result<()> {
        let Some(ck) = self.checkpointing.as_ref() else {
            return Ok(());
        };
        if !ck.hub.waits_for_final_checkpoint() {
            return Ok(());
        }
        let (hub, task) = (ck.hub.clone(), ck.key);
        self.out.batch_end(&mut self.cx);
        self.flushers.flush_all();
        self.flushers.drain().await?;
        take_failure(&mut self.cx)?;
        hub.report(TaskEvent::InputEnded { task })?;
        while !hub.input_released() && self.cx.drains_on_end() {
            self.inject_barrier()?;
            self.notify_completed();
            if tick_due(&mut self.cx) {
                self.out.tick(&mut self.cx);
            }
            take_failure(&mut self.cx)?;
            self.flushers.on_idle().await?;
            glommio::timer::sleep(Duration::from_millis(FINAL_CHECKPOINT_POLL_MS)).await;
        }
        self.notify_completed();
        Ok(())
    }

    /// Starts the newest triggered checkpoint: the source's position and
    /// its chain's state are taken between two batches, then the barrier
    /// follows the records produced so far.
    fn inject_barrier(&mut self) -> Result<()> {
        let Some(ck) = self.checkpointing.as_mut() else {
            return Ok(());
        };
        let id = ck.hub.triggered();
        if id <= ck.last_injected {
            return Ok(());
        }
        let Some(offset) = self.source.offset_at_barrier(id) else {
            let reason = format!(
                "source `{}` cannot be checkpointed: it does not report its position \
                 (Source::offset), so it could not be rewound after a failure",
                self.name
            );
            return ck.decline(id, reason);
        };
        let snapshot = TaskSnapshot {
            source_offsets: vec![SplitOffset {
                split: ck.key.subtask.to_string(),
                offset,
            }],
            source_records: self.records,
            ..TaskSnapshot::default()
        };
        let barrier = CheckpointBarrier {
            id,
            triggered_at_ms: self.cx.now_ms().max(0) as u64,
        };
        ck.checkpoint(barrier, snapshot, 0, &self.flushers.writers, &mut self.cx)
    }

    /// Tells the source once a newer checkpoint has completed.
    fn notify_completed(&mut self) {
        let Some(ck) = self.checkpointing.as_ref() else {
            return;
        };
        let completed = ck.hub.completed();
        if completed > self.completed_seen {
            self.completed_seen = completed;
            self.source.checkpoint_completed(completed);
        }
    }

    fn source_error(&self, e: SpateError) -> SpateError {
        match e {
            e @ (SpateError::BadInput { .. } | SpateError::Io { .. }) => e,
            other => SpateError::Operator {
                operator: self.name.clone(),
                reason: other.to_string(),
            },
        }
    }
}

/// Drives a chain fed by input channels (one port per input edge).
pub(crate) struct InputTask {
    pub(crate) ports: Vec<Box<dyn InputPort>>,
    pub(crate) cx: TaskCx,
    pub(crate) flushers: Flushers,
    pub(crate) next_port: usize,
    pub(crate) checkpointing: Option<TaskCheckpointing>,
}

impl TaskRun for InputTask {
    fn run(self: Box<Self>) -> Pin<Box<dyn Future<Output = Result<()>>>> {
        Box::pin(self.run_loop())
    }
}

impl InputTask {
    fn poll_ports(&mut self, cx: &mut Context<'_>) -> Poll<(usize, PortEvent)> {
        let n = self.ports.len();
        let mut ended = 0;
        for i in 0..n {
            let p = (self.next_port + i) % n;
            let Some(port) = self.ports.get_mut(p) else {
                continue;
            };
            if port.is_ended() {
                ended += 1;
                continue;
            }
            if let Poll::Ready(ev) = port.poll_deliver(&mut self.cx, cx) {
                self.next_port = (p + 1) % n;
                return Poll::Ready((
                    p,
                    match ev {
                        PortEvent::Ended if ended + 1 < n => PortEvent::Delivered,
                        ev => ev,
                    },
                ));
            }
        }
        if ended == n {
            Poll::Ready((0, PortEvent::Ended))
        } else {
            Poll::Pending
        }
    }

    fn tick_all(&mut self) {
        for p in &mut self.ports {
            p.tick(&mut self.cx);
        }
    }

    async fn run_loop(mut self: Box<Self>) -> Result<()> {
        // Poll with the task's own waker, never a no-op one: a channel may
        // keep the waker of a `Pending` poll as the one it wakes later.
        let waker = futures_lite::future::poll_fn(|cx| Poll::Ready(cx.waker().clone())).await;
        // Messages delivered per turn before yielding to the core's other
        // tasks. Taking one message per turn lets a producer on the same
        // core (a source sending one message per channel per turn) outpace
        // this task: the channels run full, back-pressure sets the pace, and
        // every record waits behind full channels (p99 grows with the
        // channel capacity). Draining first keeps the queues short;
        // the budget only stops a flood of input from starving the core's
        // other tasks. 64 drains a full low-latency channel in one turn,
        // and twice the fan-in covers one message from every upstream
        // subtask with room to catch up.
        let per_turn = self
            .ports
            .iter()
            .map(|p| p.channels())
            .sum::<usize>()
            .saturating_mul(2)
            .max(DELIVERIES_PER_TURN_MIN);
        self.replay_in_flight().await?;
        let mut delivered = 0;
        loop {
            // Unaligned, a barrier announced ahead of full channels starts
            // its checkpoint between two messages.
            if let Some(ck) = self.checkpointing.as_mut() {
                ck.poll_announced(&mut self.ports, &self.flushers.writers, &mut self.cx)?;
            }
            let ev = self.poll_ports(&mut Context::from_waker(&waker));
            let ev = match ev {
                Poll::Ready(ev) => ev,
                Poll::Pending => {
                    delivered = 0;
                    // Idle time goes to a checkpoint's capture first.
                    if let Some(ck) = self.checkpointing.as_mut().filter(|ck| ck.capturing()) {
                        ck.continue_capture(CAPTURE_SLICE_SLOTS)?;
                        glommio::timer::sleep(Duration::from_micros(CAPTURE_PAUSE_US)).await;
                        continue;
                    }
                    self.flushers.on_idle().await?;
                    self.wait_for_input().await
                }
            };
            if tick_due(&mut self.cx) {
                self.tick_all();
            }
            take_failure(&mut self.cx)?;
            let (port, ev) = ev;
            match ev {
                PortEvent::Barrier { channel, barrier } => {
                    if let Some(ck) = self.checkpointing.as_mut() {
                        let writers = &self.flushers.writers;
                        ck.on_barrier(
                            port,
                            channel,
                            barrier,
                            &mut self.ports,
                            writers,
                            &mut self.cx,
                        )?;
                    }
                    self.flushers.after_message(&self.cx).await?;
                }
                PortEvent::ChannelEnded { channel } => {
                    if let Some(ck) = self.checkpointing.as_mut() {
                        let writers = &self.flushers.writers;
                        ck.on_channel_end(port, channel, &mut self.ports, writers, &mut self.cx)?;
                    }
                    self.flushers.after_message(&self.cx).await?;
                }
                PortEvent::Delivered => {
                    self.flushers.after_message(&self.cx).await?;
                    delivered += 1;
                    if let Some(ck) = self.checkpointing.as_mut().filter(|ck| ck.capturing()) {
                        ck.continue_capture(CAPTURE_SLICE_SLOTS)?;
                    }
                    if delivered >= per_turn {
                        delivered = 0;
                        futures_lite::future::yield_now().await;
                    }
                }
                PortEvent::Ended => break,
            }
        }
        take_failure(&mut self.cx)?;
        self.flushers.flush_all();
        self.flushers.drain().await?;
        match self.checkpointing.as_mut() {
            Some(ck) => ck.finish(),
            None => Ok(()),
        }
    }

    /// Delivers the in-flight records a restored unaligned checkpoint
    /// stored, before any new input: they were sent before the barrier.
    async fn replay_in_flight(&mut self) -> Result<()> {
        let mut p = 0;
        while p < self.ports.len() {
            let cx = &mut self.cx;
            if self
                .ports
                .get_mut(p)
                .is_some_and(|port| port.replay_next(cx))
            {
                take_failure(&mut self.cx)?;
                self.flushers.after_message(&self.cx).await?;
            } else {
                p += 1;
            }
        }
        Ok(())
    }

    /// Waits for the next message, or for a processing-time timer or the
    /// buffer timeout, whichever comes first.
    async fn wait_for_input(&mut self) -> (usize, PortEvent) {
        let mut deadline_us: Option<u64> = None;
        if let Some(due) = self.cx.next_proc_timer_ms {
            let wait_ms = due.saturating_sub(self.cx.now_ms()).max(0) as u64;
            deadline_us = Some(wait_ms * 1000);
        }
        if !self.flushers.policy.flush_on_idle && !self.flushers.writers.is_empty() {
            let t = self.flushers.policy.buffer_timeout_ms * 1000;
            deadline_us = Some(deadline_us.map_or(t, |d| d.min(t)));
        }
        let this = &mut *self;
        let input = futures_lite::future::poll_fn(|cx| this.poll_ports(cx));
        match deadline_us {
            None => input.await,
            Some(us) => {
                let timer = async {
                    glommio::timer::sleep(Duration::from_micros(us.max(1))).await;
                    (0, PortEvent::Delivered)
                };
                futures_lite::future::or(input, timer).await
            }
        }
    }
}
