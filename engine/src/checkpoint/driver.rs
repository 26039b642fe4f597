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

use spate_state::checkpoint::{
    CheckpointOutcome, CheckpointUploader, CompactionPolicy, FileKind, FileRef, KeyGroupSpan,
    LocalFile, Manifest, SinkTransactionRef, SourceOffset, SstWriter, StateDescriptor,
    SubtaskState, UploadRequest,
};
use spate_state::key_group_range_for_subtask;

use super::coordinator::{CheckpointCoordinator, CoordinatorSettings, Decision};
use super::hub::{CheckpointHub, TaskEvent};
use super::incremental::{PlannedFile, StateChains};
use super::operator_state::CapturedState;
use super::restore::operator_id;
use super::snapshot::{SinkTransaction, TaskKey, TaskSnapshot};
use crate::error::{Result, SpateError};
use crate::metrics::CheckpointMetrics;
use crate::sinks::Committer;

/// How often the driver looks at the clock when no task reports.
const TICK_MS: u64 = 2;

/// Counters of one task since the job started.
pub(crate) type Counters = BTreeMap<String, u64>;

/// What the driver needs to know about the job run.
pub(crate) struct DriverSetup {
    pub(crate) settings: CoordinatorSettings,
    pub(crate) tasks: usize,
    pub(crate) first_id: u64,
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
        let thread = std::thread::Builder::new()
            .name("spate-ckpt-driver".into())
            .spawn(move || DriverLoop::new(setup, hub).run(&events, &stop_flag))
            .map_err(|e| SpateError::Runtime {
                core: 0,
                reason: format!("cannot start the checkpoint driver thread: {e}"),
            })?;
        Ok(Self { stop, thread })
    }

    /// The run ended: handle what is left and return the report.
    pub(crate) fn finish(self) -> Result<DriverReport> {
        self.stop.store(true, Ordering::Release);
        self.thread
            .join()
            .map_err(|_| SpateError::internal("the checkpoint driver thread panicked"))
    }
}

/// What describes the job to the driver loop.
struct JobShape {
    job_id: String,
    max_parallelism: u16,
    parallelism: usize,
    node_names: Vec<String>,
    base: HashMap<TaskKey, Counters>,
    staging_dir: PathBuf,
}

struct DriverLoop {
    shape: JobShape,
    chains: StateChains,
    uploader: CheckpointUploader,
    coordinator: CheckpointCoordinator,
    started: Instant,
    tail: DriverTail,
}

impl DriverLoop {
    fn new(setup: DriverSetup, hub: Arc<CheckpointHub>) -> Self {
        let coordinator = CheckpointCoordinator::new(setup.settings, setup.tasks, setup.first_id);
        Self {
            shape: JobShape {
                job_id: setup.job_id,
                max_parallelism: setup.max_parallelism,
                parallelism: setup.parallelism,
                node_names: setup.node_names,
                base: setup.base,
                staging_dir: setup.staging_dir,
            },
            uploader: setup.uploader,
            chains: StateChains::new(CompactionPolicy::default()),
            coordinator,
            started: Instant::now(),
            tail: DriverTail {
                hub,
                committers: setup.committers,
                awaiting: BTreeMap::new(),
                staged: BTreeMap::new(),
                chains_invalid: false,
                triggered_at: HashMap::new(),
                report: DriverReport::default(),
            },
        }
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn run(mut self, events: &Receiver<TaskEvent>, stop: &AtomicBool) -> DriverReport {
        loop {
            let decisions = self.coordinator.on_tick(self.now_ms());
            self.apply(decisions);
            self.poll_uploads();
            match events.recv_timeout(Duration::from_millis(TICK_MS)) {
                Ok(event) => self.on_event(event),
                Err(RecvTimeoutError::Timeout) if stop.load(Ordering::Acquire) => break,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        while let Ok(event) = events.try_recv() {
            self.on_event(event);
        }
        let mut tail = self.tail;
        for outcome in self.uploader.shutdown() {
            tail.on_outcome(outcome);
        }
        tail.report
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
            } => {
                let m = &mut self.tail.report.metrics;
                m.alignment_ns_max = m.alignment_ns_max.max(alignment_ns);
                m.sync_ns_max = m.sync_ns_max.max(sync_ns);
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
            TaskEvent::Finished { task, snapshot } => {
                tracing::debug!(node = task.node, subtask = task.subtask, "task finished");
                self.tail
                    .report
                    .final_transactions
                    .extend(snapshot.sink_transactions);
                self.coordinator.on_task_finished(now)
            }
        };
        self.apply(decisions);
    }

    fn apply(&mut self, decisions: Vec<Decision>) {
        for d in decisions {
            match d {
                Decision::Trigger { id } => {
                    self.tail.triggered_at.insert(id, Instant::now());
                    self.tail.hub.trigger(id);
                }
                Decision::Abort { id, reason } => {
                    self.tail.triggered_at.remove(&id);
                    self.tail.report.metrics.aborted += 1;
                    tracing::warn!(checkpoint = id, "checkpoint aborted: {reason}");
                }
                Decision::Complete { id, snapshots } => self.complete(id, snapshots),
            }
        }
    }

    /// Every task acknowledged `id`: write the state files, then the
    /// manifest in the background.
    fn complete(&mut self, id: u64, snapshots: Vec<(TaskKey, TaskSnapshot)>) {
        if std::mem::take(&mut self.tail.chains_invalid) {
            self.chains.reset();
        }
        let mut transactions = Vec::new();
        let mut subtasks = Vec::with_capacity(snapshots.len());
        let mut local_files = Vec::new();
        for (key, mut snap) in snapshots {
            transactions.extend(snap.sink_transactions.iter().cloned());
            let states = std::mem::take(&mut snap.states);
            let mut state = self.subtask_state(key, snap);
            match self.stage_states(id, key, states, &mut state, &mut local_files) {
                Ok(()) => subtasks.push(state),
                Err(e) => {
                    self.discard_staged(&local_files);
                    self.chains.reset();
                    self.tail.report.metrics.aborted += 1;
                    tracing::warn!(checkpoint = id, "checkpoint aborted: {e}");
                    return;
                }
            }
        }
        let manifest = Manifest {
            checkpoint_id: id,
            job_id: self.shape.job_id.clone(),
            created_at_ms: unix_ms(),
            state_schema_version: 1,
            max_parallelism: self.shape.max_parallelism,
            subtasks,
        };
        let staged: Vec<PathBuf> = local_files
            .iter()
            .map(|f: &LocalFile| f.path.clone())
            .collect();
        let request = UploadRequest {
            manifest,
            local_files,
        };
        match self.uploader.try_submit(request) {
            Ok(()) => {
                self.tail.awaiting.insert(id, transactions);
                self.tail.staged.insert(id, staged);
            }
            Err(e) => {
                remove_files(&staged);
                self.chains.reset();
                self.tail.report.metrics.aborted += 1;
                tracing::warn!(checkpoint = id, "checkpoint aborted: {e}");
            }
        }
    }

    /// Writes what changed in each captured state of a task as one SST in
    /// the staging directory (a delta, or a full file when the chain is
    /// due for one) and lists the state's chain in the task's manifest
    /// entry.
    fn stage_states(
        &mut self,
        id: u64,
        key: TaskKey,
        states: Vec<CapturedState>,
        out: &mut SubtaskState,
        local_files: &mut Vec<LocalFile>,
    ) -> Result<()> {
        for st in states {
            if let Some(planned) = self.chains.plan(key, &st.name, st.entries) {
                let file = self.write_state_file(id, key, &st.name, planned, out.key_groups)?;
                local_files.push(LocalFile {
                    name: file.name.clone(),
                    path: self.shape.staging_dir.join(&file.name),
                });
                self.chains.written(key, &st.name, file);
            }
            let chain = self.chains.files(key, &st.name);
            if chain.is_empty() {
                continue;
            }
            out.files.extend(chain.iter().cloned());
            out.states.push(StateDescriptor {
                name: st.name,
                kind: st.kind,
                schema_version: 1,
            });
        }
        Ok(())
    }

    fn write_state_file(
        &self,
        id: u64,
        key: TaskKey,
        state: &str,
        planned: PlannedFile,
        key_groups: KeyGroupSpan,
    ) -> Result<FileRef> {
        let dir = &self.shape.staging_dir;
        std::fs::create_dir_all(dir).map_err(|e| SpateError::Checkpoint {
            reason: format!(
                "cannot create the checkpoint staging directory {}: {e}",
                dir.display()
            ),
        })?;
        let kind = match planned.kind {
            FileKind::Full => "full",
            FileKind::Delta => "delta",
        };
        let name = format!(
            "chk-{id:010}-task-{}-{}-{}-{kind}.sst",
            key.node,
            key.subtask,
            state.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        );
        let path = dir.join(&name);
        // A file left by an attempt that died is never reused.
        let _ = std::fs::remove_file(&path);
        let mut writer = SstWriter::create(&path)?;
        for (k, v) in &planned.entries {
            writer.add(k, v.as_deref())?;
        }
        let summary = writer.finish_durable()?;
        Ok(FileRef {
            name,
            size_bytes: summary.size_bytes,
            crc32c: summary.crc32c,
            kind: planned.kind,
            key_groups,
            state: state.to_owned(),
            added_in: id,
        })
    }

    fn discard_staged(&self, files: &[LocalFile]) {
        let paths: Vec<PathBuf> = files.iter().map(|f| f.path.clone()).collect();
        remove_files(&paths);
    }

    fn subtask_state(&self, key: TaskKey, snap: TaskSnapshot) -> SubtaskState {
        let shape = &self.shape;
        let name = shape.node_names.get(key.node).map_or("?", String::as_str);
        let range = key_group_range_for_subtask(
            shape.max_parallelism,
            shape.parallelism,
            key.subtask as usize,
        );
        let mut counters = shape.base.get(&key).cloned().unwrap_or_default();
        add_counters(&mut counters, &snap);
        SubtaskState {
            operator: operator_id(key.node, name),
            subtask: key.subtask,
            key_groups: KeyGroupSpan {
                start: range.start,
                end: range.end,
            },
            files: Vec::new(),
            source_offsets: snap
                .source_offsets
                .into_iter()
                .map(|o| SourceOffset {
                    split: o.split,
                    offset: o.offset,
                })
                .collect(),
            states: Vec::new(),
            operator_values: snap.operator_values,
            sink_transactions: snap
                .sink_transactions
                .into_iter()
                .map(|t| SinkTransactionRef {
                    sink: t.sink_node.to_string(),
                    checkpoint_id: t.checkpoint_id,
                    handle: t.handle,
                })
                .collect(),
            counters,
        }
    }

    fn poll_uploads(&mut self) {
        while let Some(outcome) = self.uploader.try_outcome() {
            self.tail.on_outcome(outcome);
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
    report: DriverReport,
}

impl DriverTail {
    fn on_outcome(&mut self, outcome: CheckpointOutcome) {
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
                if let Some(t) = self.triggered_at.remove(&id) {
                    m.duration_ms_max = m.duration_ms_max.max(t.elapsed().as_millis() as u64);
                }
                // Older checkpoints still uploading are subsumed by this one.
                self.awaiting.retain(|k, _| *k > id);
                match commit_all(&self.committers, &transactions) {
                    Ok(()) => self.hub.set_completed(id),
                    // The sinks keep the transactions and offer them again
                    // with the next checkpoint; recovery commits them too.
                    Err(e) => tracing::warn!(checkpoint = id, "committing the sinks failed: {e}"),
                }
            }
            CheckpointOutcome::Failed { error, .. } => {
                self.chains_invalid = true;
                self.triggered_at.remove(&id);
                self.report.metrics.aborted += 1;
                tracing::warn!(checkpoint = id, "storing the checkpoint failed: {error}");
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
        committer.commit(&t.handle)?;
    }
    Ok(())
}

/// Adds a task's counts in this run to `counters`.
pub(crate) fn add_counters(counters: &mut Counters, snap: &TaskSnapshot) {
    if snap.source_records > 0 || !snap.source_offsets.is_empty() {
        *counters.entry("source_records".into()).or_default() += snap.source_records;
    }
    for c in &snap.sink_counters {
        *counters
            .entry(format!("sink.{}.records", c.sink))
            .or_default() += c.records;
        let sum = counters
            .entry(format!("sink.{}.checksum", c.sink))
            .or_default();
        *sum = sum.wrapping_add(c.checksum);
    }
}

/// Staged files are copies: once uploaded (or given up) they go.
fn remove_files(paths: &[PathBuf]) {
    for p in paths {
        let _ = std::fs::remove_file(p);
    }
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
