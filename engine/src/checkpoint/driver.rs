//! The checkpoint driver: a thread per job run that feeds the
//! [`CheckpointCoordinator`] with time and the tasks' reports, triggers
//! barriers, hands completed checkpoints to the uploader, and commits sink
//! transactions once their manifest is durable. It never blocks a core.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use spate_state::checkpoint::{CheckpointOutcome, CheckpointUploader, ThreadClass, UploadRequest};

use super::coordinator::{CheckpointCoordinator, CoordinatorSettings, Decision};
use super::hub::{CheckpointHub, TaskEvent};
use super::savepoint::{SavepointBook, SavepointInbox};
use super::snapshot::{SinkTransaction, TaskKey, TaskSnapshot};
use super::staging::{JobShape, Stager, remove_files};
use crate::error::{Result, SpateError};
use crate::metrics::CheckpointMetrics;
use crate::sinks::Committer;

/// How often the driver looks for upload outcomes while one is in flight.
const UPLOAD_POLL_MS: u64 = 2;

/// The longest the driver sleeps otherwise, waiting for the coordinator's
/// next deadline or an event: how late it sees a savepoint request. Every
/// wake-up takes a core from the tasks for a moment (they keep every core
/// busy), so an idle driver sleeps until it has something to do.
const IDLE_WAIT_MS_MAX: u64 = 20;

/// Counters of one task since the job started.
pub(crate) type Counters = BTreeMap<String, u64>;

/// What the driver needs to know about the job run.
pub(crate) struct DriverSetup {
    pub(crate) settings: CoordinatorSettings,
    pub(crate) tasks: usize,
    /// Source tasks: each reports once when its input ended.
    pub(crate) sources: usize,
    pub(crate) first_id: u64,
    /// The run restored a checkpoint: its first checkpoint starts at once.
    pub(crate) restored: bool,
    pub(crate) job_id: String,
    pub(crate) max_parallelism: u16,
    pub(crate) parallelism: usize,
    pub(crate) node_names: Vec<String>,
    pub(crate) committers: HashMap<usize, Arc<dyn Committer>>,
    /// Counters restored from the checkpoint the run started from.
    pub(crate) base: HashMap<TaskKey, Counters>,
    pub(crate) uploader: CheckpointUploader,
    /// A local directory for the state files before they are uploaded.
    pub(crate) staging_dir: PathBuf,
    /// Savepoints asked for while the job runs.
    pub(crate) savepoints: Option<SavepointInbox>,
    /// How the driver's thread is scheduled.
    pub(crate) class: ThreadClass,
}

/// What the driver saw, returned when the run ends.
#[derive(Debug, Default)]
pub(crate) struct DriverReport {
    pub(crate) metrics: CheckpointMetrics,
    /// Transactions the tasks pre-committed when their input ended; the
    /// caller commits them if the run succeeded.
    pub(crate) final_transactions: Vec<SinkTransaction>,
}

/// The running driver.
pub(crate) struct Driver {
    stop: Arc<AtomicBool>,
    hub: Arc<CheckpointHub>,
    thread: JoinHandle<DriverReport>,
}

impl Driver {
    /// Starts the driver thread.
    pub(crate) fn start(
        setup: DriverSetup,
        hub: Arc<CheckpointHub>,
        events: Receiver<TaskEvent>,
    ) -> Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = stop.clone();
        let driver_hub = hub.clone();
        let thread = std::thread::Builder::new()
            .name("spate-ckpt-driver".into())
            .spawn(move || {
                setup.class.enter();
                DriverLoop::new(setup, driver_hub).run(&events, &stop_flag)
            })
            .map_err(|e| SpateError::Runtime {
                core: 0,
                reason: format!("cannot start the checkpoint driver thread: {e}"),
            })?;
        Ok(Self { stop, hub, thread })
    }

    /// The run ended: handle what is left and return the report.
    pub(crate) fn finish(self) -> Result<DriverReport> {
        self.stop.store(true, Ordering::Release);
        self.hub.wake_driver();
        self.thread
            .join()
            .map_err(|_| SpateError::internal("the checkpoint driver thread panicked"))
    }
}

struct DriverLoop {
    savepoints: Option<SavepointInbox>,
    stager: Stager,
    uploader: CheckpointUploader,
    coordinator: CheckpointCoordinator,
    started: Instant,
    tail: DriverTail,
    sources: usize,
    /// Sources that read all their input.
    sources_ended: usize,
}

impl DriverLoop {
    fn new(setup: DriverSetup, hub: Arc<CheckpointHub>) -> Self {
        let coordinator = CheckpointCoordinator::new(setup.settings, setup.tasks, setup.first_id)
            .started_at(0, setup.restored);
        Self {
            savepoints: setup.savepoints,
            stager: Stager::new(
                JobShape {
                    job_id: setup.job_id,
                    max_parallelism: setup.max_parallelism,
                    parallelism: setup.parallelism,
                    node_names: setup.node_names,
                    base: setup.base,
                    staging_dir: setup.staging_dir,
                },
                "chk".into(),
            ),
            uploader: setup.uploader,
            coordinator,
            started: Instant::now(),
            sources: setup.sources,
            sources_ended: 0,
            tail: DriverTail {
                hub,
                committers: setup.committers,
                awaiting: BTreeMap::new(),
                staged: BTreeMap::new(),
                chains_invalid: false,
                triggered_at: HashMap::new(),
                sync_ns: BTreeMap::new(),
                report: DriverReport::default(),
                book: SavepointBook::default(),
            },
        }
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn run(mut self, events: &Receiver<TaskEvent>, stop: &AtomicBool) -> DriverReport {
        loop {
            self.poll_savepoints();
            let decisions = self.coordinator.on_tick(self.now_ms());
            self.apply(decisions);
            self.poll_uploads();
            match events.recv_timeout(Duration::from_millis(self.wait_ms())) {
                Ok(event) => self.on_event(event),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            // What the tasks reported before they ended is still queued;
            // it is handled below.
            if stop.load(Ordering::Acquire) {
                break;
            }
        }
        while let Ok(event) = events.try_recv() {
            self.on_event(event);
        }
        let mut tail = self.tail;
        for outcome in self.uploader.shutdown() {
            tail.on_outcome(outcome);
        }
        tail.book.fail_all("the job ended first");
        tail.report
    }

    /// How long to wait for the next event: until the coordinator's next
    /// deadline, polling while an upload is in flight (its outcome comes on
    /// the uploader's own queue).
    fn wait_ms(&self) -> u64 {
        let cap = if self.tail.staged.is_empty() {
            IDLE_WAIT_MS_MAX
        } else {
            UPLOAD_POLL_MS
        };
        match self.coordinator.next_tick_ms() {
            Some(t) => t.saturating_sub(self.now_ms()).clamp(1, cap),
            None => cap,
        }
    }

    fn poll_savepoints(&mut self) {
        let Some(inbox) = &self.savepoints else {
            return;
        };
        while let Some(request) = inbox.try_next() {
            if self.tail.book.add(request) && !self.coordinator.request_now() {
                self.tail.book.fail_all("the job's input has ended");
            }
        }
    }

    fn on_event(&mut self, event: TaskEvent) {
        let now = self.now_ms();
        let decisions = match event {
            TaskEvent::Ack {
                id,
                task,
                snapshot,
                alignment_ns,
                sync_ns,
                sync_cpu_ns,
            } => {
                tracing::debug!(
                    checkpoint = id,
                    node = task.node,
                    subtask = task.subtask,
                    sync_us = sync_ns / 1000,
                    sync_cpu_us = sync_cpu_ns / 1000,
                    alignment_us = alignment_ns / 1000,
                    "acknowledged"
                );
                let m = &mut self.tail.report.metrics;
                m.alignment_ns_max = m.alignment_ns_max.max(alignment_ns);
                m.sync_ns_max = m.sync_ns_max.max(sync_ns);
                let longest = self.tail.sync_ns.entry(id).or_default();
                *longest = (*longest).max(sync_ns);
                self.coordinator.on_ack(id, task, snapshot, now)
            }
            TaskEvent::Decline { id, task, reason } => {
                tracing::warn!(
                    checkpoint = id,
                    node = task.node,
                    subtask = task.subtask,
                    "{reason}"
                );
                self.coordinator.on_decline(id, reason, now)
            }
            TaskEvent::InputEnded { task } => {
                tracing::debug!(node = task.node, subtask = task.subtask, "input ended");
                self.sources_ended += 1;
                if self.sources_ended < self.sources {
                    return;
                }
                self.coordinator.on_input_ended()
            }
            TaskEvent::Wake => return,
            TaskEvent::Finished { task, snapshot } => {
                tracing::debug!(node = task.node, subtask = task.subtask, "task finished");
                self.tail
                    .report
                    .final_transactions
                    .extend(snapshot.sink_transactions);
                let decisions = self.coordinator.on_task_finished(now);
                if self.tail.book.has_waiting() {
                    self.tail.book.fail_all("a task finished its input");
                }
                decisions
            }
        };
        self.apply(decisions);
    }

    fn apply(&mut self, decisions: Vec<Decision>) {
        for d in decisions {
            match d {
                Decision::Trigger { id } => {
                    tracing::debug!(checkpoint = id, "triggered");
                    self.tail.triggered_at.insert(id, Instant::now());
                    // Savepoints restore anywhere, so they hold no
                    // in-flight records.
                    if self.tail.book.has_waiting() {
                        self.tail.hub.align_only(id);
                    }
                    self.tail.book.started(id);
                    self.tail.hub.trigger(id);
                }
                Decision::Abort { id, reason } => {
                    self.tail.triggered_at.remove(&id);
                    self.tail.book.failed(id, &reason);
                    self.tail.report.metrics.aborted += 1;
                    tracing::warn!(checkpoint = id, "checkpoint aborted: {reason}");
                }
                Decision::Complete { id, snapshots } => {
                    self.record_sync(id);
                    if !self.complete(id, snapshots) {
                        let now = self.now_ms();
                        let more = self.coordinator.on_stored(id, false, now);
                        self.apply(more);
                    }
                }
                Decision::EndInput { final_checkpoint } => {
                    match final_checkpoint {
                        Some(id) => tracing::debug!(checkpoint = id, "final checkpoint committed"),
                        None => tracing::warn!(
                            "the sources end without a final checkpoint; the output after the \
                             last checkpoint is committed when the job ends"
                        ),
                    }
                    self.tail.hub.release_input();
                }
            }
        }
    }

    /// Keeps checkpoint `id`'s longest synchronous part; forgets those of
    /// checkpoints that will never complete.
    fn record_sync(&mut self, id: u64) {
        if let Some(ns) = self.tail.sync_ns.remove(&id) {
            let history = &mut self.tail.report.metrics.sync_ns_by_checkpoint;
            crate::metrics::extend_history(history, &[ns]);
        }
        self.tail.sync_ns.retain(|&other, _| other > id);
    }

    /// Every task acknowledged `id`: write the state files, then the
    /// manifest in the background. False if it failed at once.
    fn complete(&mut self, id: u64, snapshots: Vec<(TaskKey, TaskSnapshot)>) -> bool {
        if std::mem::take(&mut self.tail.chains_invalid) {
            self.stager.reset();
        }
        let started = Instant::now();
        let staged = match self.stager.stage(id, snapshots) {
            Ok(staged) => {
                tracing::debug!(
                    checkpoint = id,
                    files = staged.local_files.len(),
                    staged_ms = started.elapsed().as_millis() as u64,
                    "state files written"
                );
                staged
            }
            Err(e) => {
                self.tail.report.metrics.aborted += 1;
                self.tail.book.failed(id, &e.to_string());
                tracing::warn!(checkpoint = id, "checkpoint aborted: {e}");
                return false;
            }
        };
        let manifest = self.stager.manifest(id, staged.subtasks);
        let paths: Vec<PathBuf> = staged.local_files.iter().map(|f| f.path.clone()).collect();
        let request = UploadRequest {
            manifest,
            local_files: staged.local_files,
            savepoint_to: self.tail.book.targets(id),
        };
        match self.uploader.try_submit(request) {
            Ok(()) => {
                self.tail.awaiting.insert(id, staged.transactions);
                self.tail.staged.insert(id, paths);
                true
            }
            Err(e) => {
                remove_files(&paths);
                self.stager.reset();
                self.tail.report.metrics.aborted += 1;
                self.tail.book.failed(id, &e.to_string());
                tracing::warn!(checkpoint = id, "checkpoint aborted: {e}");
                false
            }
        }
    }

    fn poll_uploads(&mut self) {
        while let Some(outcome) = self.uploader.try_outcome() {
            let (id, ok) = self.tail.on_outcome(outcome);
            let now = self.now_ms();
            let decisions = self.coordinator.on_stored(id, ok, now);
            self.apply(decisions);
        }
    }
}

/// The part of the driver that handles upload outcomes (it outlives the
/// uploader at shutdown).
struct DriverTail {
    hub: Arc<CheckpointHub>,
    committers: HashMap<usize, Arc<dyn Committer>>,
    awaiting: BTreeMap<u64, Vec<SinkTransaction>>,
    /// State files staged for each checkpoint being uploaded.
    staged: BTreeMap<u64, Vec<PathBuf>>,
    /// A checkpoint failed after its files were planned: the next one
    /// starts every chain again.
    chains_invalid: bool,
    triggered_at: HashMap<u64, Instant>,
    /// The longest synchronous part so far of each checkpoint in flight.
    sync_ns: BTreeMap<u64, u64>,
    report: DriverReport,
    book: SavepointBook,
}

impl DriverTail {
    /// Handles a stored (or failed) checkpoint; its id, and whether it is
    /// stored and its sinks committed.
    fn on_outcome(&mut self, outcome: CheckpointOutcome) -> (u64, bool) {
        let id = outcome.checkpoint_id();
        let transactions = self.awaiting.remove(&id).unwrap_or_default();
        if let Some(files) = self.staged.remove(&id) {
            remove_files(&files);
        }
        match outcome {
            CheckpointOutcome::Completed(done) => {
                let m = &mut self.report.metrics;
                m.completed += 1;
                m.last_completed_id = Some(id);
                m.uploaded_bytes += done.uploaded_bytes;
                crate::metrics::extend_history(
                    &mut m.uploaded_bytes_by_checkpoint,
                    &[done.uploaded_bytes],
                );
                if let Some(t) = self.triggered_at.remove(&id) {
                    let since_trigger_ms = t.elapsed().as_millis() as u64;
                    tracing::debug!(
                        checkpoint = id,
                        uploaded_bytes = done.uploaded_bytes,
                        since_trigger_ms,
                        "stored"
                    );
                    m.duration_ms_max = m.duration_ms_max.max(since_trigger_ms);
                }
                self.book.written(id, done.savepoints);
                // Older checkpoints still uploading are subsumed by this one.
                self.awaiting.retain(|k, _| *k > id);
                match commit_all(&self.committers, &transactions) {
                    Ok(()) => {
                        self.hub.set_completed(id);
                        (id, true)
                    }
                    // The sinks keep the transactions and offer them again
                    // with the next checkpoint; recovery commits them too.
                    Err(e) => {
                        tracing::warn!(checkpoint = id, "committing the sinks failed: {e}");
                        (id, false)
                    }
                }
            }
            CheckpointOutcome::Failed { error, .. } => {
                self.chains_invalid = true;
                self.triggered_at.remove(&id);
                self.report.metrics.aborted += 1;
                self.book.failed(id, &error.to_string());
                tracing::warn!(checkpoint = id, "storing the checkpoint failed: {error}");
                (id, false)
            }
        }
    }
}

/// Commits `transactions` in order; they are idempotent.
pub(crate) fn commit_all(
    committers: &HashMap<usize, Arc<dyn Committer>>,
    transactions: &[SinkTransaction],
) -> Result<()> {
    for t in transactions {
        let committer = committers.get(&t.sink_node).ok_or_else(|| {
            SpateError::internal(format!("sink node {} has no committer", t.sink_node))
        })?;
        spate_state::crash_point::hit(spate_state::crash_point::SINK_BEFORE_COMMIT);
        committer.commit(&t.handle)?;
    }
    Ok(())
}
