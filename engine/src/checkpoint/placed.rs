//! One process's share of the checkpoints of a job spread over several
//! processes. The cluster coordinator triggers and completes checkpoints;
//! this process injects the barriers at its sources, collects its tasks'
//! acknowledgements, writes and uploads its state files, and reports its
//! manifest entries. Completing a checkpoint commits this process's sink
//! transactions. A restarted attempt restores its subtasks from the
//! checkpoint the coordinator names.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use spate_state::checkpoint::{CheckpointStorage, ThreadClass, read_manifest, shared_object_name};

use super::driver::commit_all;
use super::hub::{CheckpointHub, TaskEvent};
use super::recovery::transactions_of;
use super::restore::RestoredPositions;
use super::snapshot::{SinkTransaction, TaskKey, TaskSnapshot};
use super::staging::{Stager, remove_files};
use crate::config::BackgroundPriority;
use crate::error::{Result, SpateError};
use crate::sinks::Committer;

/// How often the agent looks for commands when its tasks are quiet.
const POLL_MS: u64 = 2;

/// What the coordinator tells this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointCommand {
    /// Inject barrier `id` at this process's sources.
    Trigger {
        /// The checkpoint.
        id: u64,
    },
    /// Checkpoint `id` is complete (its manifest is durable): commit.
    Complete {
        /// The checkpoint.
        id: u64,
    },
    /// The final checkpoint is committed (or could not be taken): sources
    /// that read all their input may end.
    EndInput,
}

/// What this process tells the coordinator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointReport {
    /// Every task of this process took its part of checkpoint `id`, and its
    /// state files are in storage.
    Acked {
        /// The checkpoint.
        id: u64,
        /// This process's manifest entries (`Vec<SubtaskState>` as JSON).
        subtasks_json: String,
    },
    /// This process cannot take part in checkpoint `id`.
    Declined {
        /// The checkpoint.
        id: u64,
        /// Why, as a sentence.
        reason: String,
    },
    /// Every source of this process read all its input and waits for the
    /// final checkpoint ([`CheckpointCommand::EndInput`]).
    InputEnded,
}

/// How one process of a cluster job takes part in its checkpoints.
pub struct PlacedCheckpoints {
    /// Where the job's checkpoints are; every process reaches the same
    /// directory (a shared file system; object storage is next).
    pub run_dir: PathBuf,
    /// The checkpoint this attempt restores, if it restarts after a failure
    /// or starts from a savepoint.
    pub restore: Option<u64>,
    /// Where the checkpoint to restore is when it is not in `run_dir`: a
    /// savepoint's location.
    pub restore_from: Option<PathBuf>,
    /// Names this attempt's state files: objects are never replaced.
    pub attempt: u64,
    /// Commands from the coordinator.
    pub commands: Receiver<CheckpointCommand>,
    /// Sends reports to the coordinator.
    pub reports: Box<dyn FnMut(CheckpointReport) + Send>,
    /// Where to leave the transactions the sinks pre-committed at the end
    /// of input, for the caller to commit once every process's share
    /// succeeded; `None` commits them when this share ends.
    pub final_commit: Option<FinalCommitSlot>,
    /// Sources that read all their input wait for the final checkpoint
    /// (`checkpoint.final_checkpoint`).
    pub final_checkpoint: bool,
    /// How the agent thread, which writes this process's state files, is
    /// scheduled (`checkpoint.background_priority`).
    pub background_priority: BackgroundPriority,
}

/// The transactions a share's sinks pre-committed at the end of input:
/// committing them publishes the share's last output.
pub struct FinalCommit {
    committers: std::collections::HashMap<usize, Arc<dyn Committer>>,
    transactions: Vec<SinkTransaction>,
}

impl FinalCommit {
    /// Publishes the output (idempotent).
    pub fn commit(self) -> Result<()> {
        commit_all(&self.committers, &self.transactions)
    }
}

/// Where a share leaves its [`FinalCommit`].
pub type FinalCommitSlot = Arc<std::sync::Mutex<Option<FinalCommit>>>;

/// Restores checkpoint `id` for the subtasks `[offset, offset + cores)`:
/// commits their sink transactions again (idempotent) and returns what
/// their operators restore.
pub(crate) fn restore_placed(
    storage: Arc<dyn CheckpointStorage>,
    (id, savepoint_of): (u64, Option<(&crate::runtime::graph::Graph, u16)>),
    settings: &crate::runtime::settings::RunSettings,
    own: std::ops::Range<u32>,
    committers: &std::collections::HashMap<usize, Arc<dyn Committer>>,
) -> Result<RestoredPositions> {
    let manifest = read_manifest(&*storage, id)?;
    // A savepoint may come from another job: check before committing.
    if let Some((graph, max_parallelism)) = savepoint_of {
        let location = storage.location();
        super::recovery::check_restorable(&manifest, graph, max_parallelism, &location)?;
    }
    // Each old subtask's transactions are committed by one process, also
    // when the parallelism changed.
    let fold = settings.parallelism.max(1) as u32;
    let mine = manifest
        .subtasks
        .iter()
        .filter(|s| own.contains(&(s.subtask % fold)));
    commit_all(committers, &transactions_of(id, mine)?)?;
    let mut restored = RestoredPositions::from_manifest(
        manifest,
        storage,
        settings.parallelism,
        &settings.rocks_local_dir,
    )?;
    // Counters of other processes' subtasks are theirs to report.
    restored.counters.retain(|k, _| own.contains(&k.subtask));
    Ok(restored)
}

/// The agent thread of one process.
pub(crate) struct PlacedAgent {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<SinkTransaction>>,
}

/// What the agent works with.
pub(crate) struct AgentSetup {
    pub(crate) hub: Arc<CheckpointHub>,
    pub(crate) events: Receiver<TaskEvent>,
    pub(crate) commands: Receiver<CheckpointCommand>,
    pub(crate) reports: Box<dyn FnMut(CheckpointReport) + Send>,
    pub(crate) stager: Stager,
    pub(crate) storage: Arc<dyn CheckpointStorage>,
    pub(crate) committers: std::collections::HashMap<usize, Arc<dyn Committer>>,
    /// Tasks of this process: each acknowledges every checkpoint.
    pub(crate) tasks: usize,
    /// Source tasks of this process: each reports when its input ended.
    pub(crate) sources: usize,
    pub(crate) class: ThreadClass,
}

impl PlacedAgent {
    pub(crate) fn start(setup: AgentSetup) -> Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("spate-ckpt-agent".into())
            .spawn(move || {
                setup.class.enter();
                AgentLoop::new(setup).run(&flag)
            })
            .map_err(|e| SpateError::Runtime {
                core: 0,
                reason: format!("cannot start the checkpoint agent thread: {e}"),
            })?;
        Ok(Self { stop, thread })
    }

    /// The share ended: returns the transactions its sinks pre-committed
    /// at the end of input.
    pub(crate) fn finish(self) -> Result<Vec<SinkTransaction>> {
        self.stop.store(true, Ordering::Release);
        self.thread
            .join()
            .map_err(|_| SpateError::internal("the checkpoint agent thread panicked"))
    }
}

struct AgentLoop {
    setup: AgentSetup,
    acks: BTreeMap<u64, Vec<(TaskKey, TaskSnapshot)>>,
    /// Transactions of acknowledged checkpoints, committed on completion.
    pending: BTreeMap<u64, Vec<SinkTransaction>>,
    finals: Vec<SinkTransaction>,
    /// Sources of this process that read all their input.
    sources_ended: usize,
}

impl AgentLoop {
    fn new(setup: AgentSetup) -> Self {
        Self {
            setup,
            acks: BTreeMap::new(),
            pending: BTreeMap::new(),
            finals: Vec::new(),
            sources_ended: 0,
        }
    }

    fn run(mut self, stop: &AtomicBool) -> Vec<SinkTransaction> {
        loop {
            while let Ok(cmd) = self.setup.commands.try_recv() {
                self.on_command(cmd);
            }
            match self
                .setup
                .events
                .recv_timeout(Duration::from_millis(POLL_MS))
            {
                Ok(event) => self.on_event(event),
                Err(RecvTimeoutError::Timeout) if stop.load(Ordering::Acquire) => break,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        while let Ok(event) = self.setup.events.try_recv() {
            self.on_event(event);
        }
        self.finals
    }

    fn on_command(&mut self, cmd: CheckpointCommand) {
        match cmd {
            CheckpointCommand::Trigger { id } => self.setup.hub.trigger(id),
            CheckpointCommand::Complete { id } => {
                let done: Vec<u64> = self.pending.range(..=id).map(|(k, _)| *k).collect();
                let mut transactions = Vec::new();
                for k in done {
                    transactions.extend(self.pending.remove(&k).unwrap_or_default());
                }
                match commit_all(&self.setup.committers, &transactions) {
                    Ok(()) => self.setup.hub.set_completed(id),
                    Err(e) => tracing::warn!(checkpoint = id, "committing the sinks failed: {e}"),
                }
            }
            CheckpointCommand::EndInput => self.setup.hub.release_input(),
        }
    }

    fn on_event(&mut self, event: TaskEvent) {
        match event {
            TaskEvent::Ack {
                id, task, snapshot, ..
            } => {
                let acks = self.acks.entry(id).or_default();
                acks.push((task, snapshot));
                if acks.len() >= self.setup.tasks {
                    let acks = self.acks.remove(&id).unwrap_or_default();
                    // Older checkpoints still collecting were superseded.
                    self.acks.retain(|k, _| *k > id);
                    self.acknowledge(id, acks);
                }
            }
            TaskEvent::Decline { id, reason, .. } => {
                self.acks.remove(&id);
                (self.setup.reports)(CheckpointReport::Declined { id, reason });
            }
            TaskEvent::InputEnded { .. } => {
                self.sources_ended += 1;
                if self.sources_ended == self.setup.sources {
                    (self.setup.reports)(CheckpointReport::InputEnded);
                }
            }
            TaskEvent::Finished { snapshot, .. } => {
                self.finals.extend(snapshot.sink_transactions);
            }
            TaskEvent::Wake => {}
        }
    }

    /// Stages, uploads and reports this process's part of checkpoint `id`.
    fn acknowledge(&mut self, id: u64, acks: Vec<(TaskKey, TaskSnapshot)>) {
        match self.upload(id, acks) {
            Ok((subtasks_json, transactions)) => {
                self.pending.insert(id, transactions);
                (self.setup.reports)(CheckpointReport::Acked { id, subtasks_json });
            }
            Err(e) => {
                self.setup.stager.reset();
                (self.setup.reports)(CheckpointReport::Declined {
                    id,
                    reason: format!("storing this process's state failed: {e}"),
                });
            }
        }
    }

    fn upload(
        &mut self,
        id: u64,
        acks: Vec<(TaskKey, TaskSnapshot)>,
    ) -> Result<(String, Vec<SinkTransaction>)> {
        let staged = self.setup.stager.stage(id, acks)?;
        let paths: Vec<PathBuf> = staged.local_files.iter().map(|f| f.path.clone()).collect();
        let uploaded = staged.local_files.iter().try_for_each(|f| {
            self.setup
                .storage
                .put_file(&shared_object_name(&f.name), &f.path)
                .map(drop)
        });
        remove_files(&paths);
        uploaded?;
        let json = serde_json::to_string(&staged.subtasks)
            .map_err(|e| SpateError::internal(format!("cannot encode manifest entries: {e}")))?;
        Ok((json, staged.transactions))
    }
}

/// Runs one process's share of `graph` with checkpoints driven by the
/// cluster coordinator through `ckpt`; with `unaligned`, tasks do not
/// align barriers (the coordinator's checkpoints, savepoints included,
/// may then hold in-flight records).
pub(crate) fn run_placed_with_checkpoints(
    graph: Arc<crate::runtime::graph::Graph>,
    mut settings: crate::runtime::settings::RunSettings,
    links: crate::runtime::executor::LinkSetup,
    ckpt: PlacedCheckpoints,
    unaligned: bool,
) -> Result<crate::metrics::JobMetrics> {
    let storage = super::location::open_storage(&ckpt.run_dir)?;
    let ckpt_final = ckpt.final_commit.clone();
    let committers = super::recovery::committers_of(&graph);
    let cores = settings.cores.max(1);
    let offset = settings.subtask_offset as u32;
    let own = offset..offset + cores as u32;
    let restore_storage = match &ckpt.restore_from {
        Some(location) => super::location::open_storage(location)?,
        None => storage.clone(),
    };
    let savepoint_of = ckpt
        .restore_from
        .as_ref()
        .map(|_| (&*graph, settings.max_parallelism));
    let restored = match ckpt.restore {
        Some(id) => Some(Arc::new(restore_placed(
            restore_storage,
            (id, savepoint_of),
            &settings,
            own,
            &committers,
        )?)),
        None => None,
    };
    let heads = (0..graph.nodes.len())
        .filter(|&n| graph.is_task_head(n))
        .count();
    let tasks = heads * cores;
    let sources = graph.source_count() * cores;
    let completed = ckpt.restore.unwrap_or(0);
    let (hub, events) =
        CheckpointHub::new(tasks * 5 + 8, completed, ckpt.final_checkpoint, unaligned);
    let staging_dir = super::location::staging_dir(
        &ckpt.run_dir,
        &format!("staging-{}-{}", ckpt.attempt, offset),
    );
    let stager = Stager::new(
        super::staging::JobShape {
            job_id: graph.name.clone(),
            max_parallelism: settings.max_parallelism,
            parallelism: settings.parallelism,
            node_names: graph.nodes.iter().map(|n| n.name.clone()).collect(),
            base: restored
                .as_ref()
                .map(|r| r.counters.clone())
                .unwrap_or_default(),
            staging_dir: staging_dir.clone(),
        },
        format!("a{}-s{offset}", ckpt.attempt),
    );
    let agent = PlacedAgent::start(AgentSetup {
        hub: hub.clone(),
        events,
        commands: ckpt.commands,
        reports: ckpt.reports,
        stager,
        storage,
        committers: committers.clone(),
        tasks,
        sources,
        class: ThreadClass::from(ckpt.background_priority),
    })?;
    settings.checkpoints = Some(hub.clone());
    settings.restore = restored.clone();
    let result = crate::runtime::executor::run_graph(graph, settings, Some(links));
    drop(hub);
    let finals = agent.finish();
    // Staged files are copies of uploaded (or abandoned) ones.
    let _ = std::fs::remove_dir_all(&staging_dir);
    let finals = finals?;
    let mut metrics = result?;
    // This process's sinks pre-committed the rest of their output when the
    // input ended; its share succeeded. On a cluster the output is
    // published once every share succeeded: a later failure of another
    // share restarts this one from the last checkpoint too.
    let finals = FinalCommit {
        committers,
        transactions: finals,
    };
    match &ckpt_final {
        Some(slot) => *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(finals),
        None => finals.commit()?,
    }
    super::recovery::add_restored_counters(&mut metrics, restored.as_deref());
    metrics.checkpoints.restored_from = ckpt.restore;
    Ok(metrics)
}
