//! The control protocol between coordinator, workers and clients. Every
//! message is one `Control` frame whose payload is an rkyv archive of one of
//! these enums, validated (checked) on receipt.

// rkyv's derives generate archived twins of these types whose fields carry
// no docs; the documented originals are the API.
#![allow(missing_docs)]

use rkyv::{Archive, Deserialize, Serialize};
use spate::metrics::WireMetrics;

/// What to run: a job of the catalog, by name, with its arguments and
/// configuration overrides (`section.key=value`).
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Archive,
    Serialize,
    Deserialize,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct JobSpec {
    /// The catalog's name for the job (e.g. `nexmark`).
    pub name: String,
    /// The job's own arguments (e.g. `--query q5 --events 1000000`).
    pub args: Vec<String>,
    /// Configuration overrides applied on every worker.
    pub settings: Vec<String>,
    /// The savepoint the job starts from, if any.
    pub from_savepoint: Option<SavepointRef>,
}

/// A savepoint: where it is, and the checkpoint in it to restore.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    Archive,
    Serialize,
    Deserialize,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct SavepointRef {
    /// A directory every worker reaches, or `s3://bucket/prefix`.
    pub location: String,
    /// The checkpoint it holds.
    pub checkpoint_id: u64,
}

/// A job's checkpoint settings, as the workers' config resolves them.
#[derive(Debug, Clone, PartialEq, Eq, Archive, Serialize, Deserialize)]
pub struct CheckpointPlan {
    /// Time between checkpoints.
    pub interval_ms: u64,
    /// A checkpoint not complete after this long is aborted.
    pub timeout_ms: u64,
    /// Least time between the end of one checkpoint and the next.
    pub pause_min_ms: u64,
    /// The directory of this job's checkpoints, shared by every attempt.
    pub dir: String,
    /// Completed checkpoints kept.
    pub retained: u32,
    /// Restarts from a checkpoint before the job fails.
    pub restarts_max: u32,
}

/// A finished job's checkpoints, over all its attempts.
#[derive(Debug, Clone, PartialEq, Eq, Archive, Serialize, Deserialize)]
pub struct CheckpointSummary {
    /// Where they are.
    pub dir: String,
    /// Checkpoints completed.
    pub completed: u64,
    /// Restarts after failures.
    pub restarts: u32,
    /// The checkpoint the last restart restored.
    pub restored_from: Option<u64>,
}

/// Where one subtask runs and how its peers reach it.
#[derive(Debug, Clone, PartialEq, Eq, Archive, Serialize, Deserialize)]
pub struct SubtaskSlot {
    /// The worker running it.
    pub worker: u32,
    /// Its core within that worker.
    pub core: u16,
    /// The data address of that core (`host:port`), empty until known.
    pub addr: String,
}

/// One worker's share of a job, as the coordinator planned it.
#[derive(Debug, Clone, PartialEq, Eq, Archive, Serialize, Deserialize)]
pub struct Assignment {
    /// The worker.
    pub worker: u32,
    /// Its first global subtask.
    pub subtask_offset: u32,
    /// How many subtasks (cores) it runs.
    pub cores: u32,
    /// The key groups its subtasks own, `[start, end)`.
    pub key_groups: (u32, u32),
}

/// A worker as the coordinator reports it.
#[derive(Debug, Clone, PartialEq, Eq, Archive, Serialize, Deserialize)]
pub struct WorkerStatus {
    /// The worker's id.
    pub worker: u32,
    /// Its registration epoch.
    pub epoch: u64,
    /// Its cores.
    pub cores: u32,
    /// Its process id, as it reported it.
    pub pid: u32,
    /// Milliseconds since its last heartbeat.
    pub since_heartbeat_ms: u64,
    /// The job it runs, if any.
    pub job: Option<u64>,
}

/// The cluster as the coordinator sees it.
#[derive(Debug, Clone, PartialEq, Archive, Serialize, Deserialize)]
pub struct StatusReport {
    /// Registered, live workers.
    pub workers: Vec<WorkerStatus>,
    /// The running job: id, name and state.
    pub running: Option<(u64, String, String)>,
    /// Jobs finished since the coordinator started: id, name, outcome.
    pub finished: Vec<(u64, String, String)>,
    /// More about the running job, for the operations API.
    pub running_detail: Option<RunningJob>,
    /// Completed checkpoints, oldest first, of the running job and recent
    /// ones (bounded).
    pub checkpoints: Vec<CheckpointInfo>,
    /// The running job's channels as its workers last reported them:
    /// worker and channel.
    pub backpressure: Vec<(u32, ChannelPressure)>,
}

/// The running job, beyond its id, name and phase.
#[derive(Debug, Clone, PartialEq, Eq, Archive, Serialize, Deserialize)]
pub struct RunningJob {
    /// Subtasks per chain.
    pub parallelism: u32,
    /// Milliseconds since its first attempt started.
    pub uptime_ms: u64,
    /// Restarts after failures.
    pub restarts: u32,
    /// Checkpoints completed over every attempt.
    pub checkpoints_completed: u64,
    /// The checkpoint this attempt restored.
    pub restored_from: Option<u64>,
    /// Where its checkpoints go, once the workers reported the plan.
    pub checkpoint_dir: Option<String>,
    /// Which worker runs which subtasks.
    pub plan: Vec<Assignment>,
}

/// A completed checkpoint, as far as the coordinator knows it.
#[derive(Debug, Clone, PartialEq, Eq, Archive, Serialize, Deserialize)]
pub struct CheckpointInfo {
    /// The job (attempt) that took it.
    pub job: u64,
    /// The checkpoint.
    pub id: u64,
    /// When its manifest was stored, ms since the Unix epoch.
    pub completed_unix_ms: u64,
    /// From trigger to stored manifest.
    pub duration_ms: u64,
    /// State files the manifest references.
    pub files: u64,
    /// Bytes of those files (shared files of earlier checkpoints included).
    pub bytes: u64,
}

/// One sending channel's flow control, as a worker samples it.
#[derive(Debug, Clone, PartialEq, Archive, Serialize, Deserialize)]
pub struct ChannelPressure {
    /// The sending subtask (global index).
    pub subtask: u32,
    /// The receiving subtask at the other end of the link.
    pub peer: u32,
    /// The channel on that link.
    pub channel: u32,
    /// Share of the channel's open time spent waiting for credit (0..=1).
    pub backpressure_ratio: f64,
    /// Credit the sender may still use.
    pub outstanding_credit: u64,
    /// Data frames waiting to be written.
    pub queued_frames: u64,
}

/// Sent to the coordinator (by workers and by clients).
#[derive(Debug, Clone, PartialEq, Archive, Serialize, Deserialize)]
pub enum ToCoordinator {
    /// A worker announces itself.
    Register {
        /// Cores it offers.
        cores: u32,
        /// Its process id (for status and for the launcher).
        pid: u32,
        /// The launcher's token for it, if a launcher started it.
        launch_token: Option<u64>,
    },
    /// A worker is alive.
    Heartbeat {
        /// Its id.
        worker: u32,
        /// The epoch it registered with.
        epoch: u64,
    },
    /// A worker's cores listen for the job's data links.
    DataReady {
        /// The job.
        job: u64,
        /// The worker.
        worker: u32,
        /// Its epoch.
        epoch: u64,
        /// The data address of each of its cores, in core order.
        addrs: Vec<String>,
        /// The job's checkpoint settings, as the worker's config says;
        /// `None` when the job runs without checkpoints.
        checkpoints: Option<CheckpointPlan>,
    },
    /// Every task of a worker took its part of a checkpoint, and its state
    /// files are in checkpoint storage.
    CheckpointAck {
        /// The job.
        job: u64,
        /// The worker.
        worker: u32,
        /// Its epoch.
        epoch: u64,
        /// The checkpoint.
        id: u64,
        /// The worker's manifest entries (JSON `Vec<SubtaskState>`).
        subtasks_json: String,
    },
    /// Every source of a worker read all its input and waits for the
    /// final checkpoint.
    InputEnded {
        /// The job.
        job: u64,
        /// The worker.
        worker: u32,
        /// Its epoch.
        epoch: u64,
    },
    /// A worker cannot take part in a checkpoint.
    CheckpointDeclined {
        /// The job.
        job: u64,
        /// The worker.
        worker: u32,
        /// Its epoch.
        epoch: u64,
        /// The checkpoint.
        id: u64,
        /// Why, as a sentence.
        reason: String,
    },
    /// A worker finished its share of a job.
    JobDone {
        /// The job.
        job: u64,
        /// The worker.
        worker: u32,
        /// Its epoch.
        epoch: u64,
        /// Its share's metrics.
        metrics: WireMetrics,
    },
    /// A worker published its share's end-of-input output (`CommitFinal`),
    /// or could not.
    FinalCommitted {
        /// The job.
        job: u64,
        /// The worker.
        worker: u32,
        /// Its epoch.
        epoch: u64,
        /// Why publishing failed, if it did.
        error: Option<String>,
    },
    /// A worker's share of a job failed.
    JobFailed {
        /// The job.
        job: u64,
        /// The worker.
        worker: u32,
        /// Its epoch.
        epoch: u64,
        /// Why, as a sentence.
        reason: String,
    },
    /// A worker's sending channels of a running job, the most
    /// backpressured first (bounded by the worker).
    ChannelReport {
        /// The job.
        job: u64,
        /// The worker.
        worker: u32,
        /// Its epoch.
        epoch: u64,
        /// The channels.
        channels: Vec<ChannelPressure>,
    },
    /// A client submits a job.
    Submit {
        /// What to run.
        spec: JobSpec,
        /// Subtasks per chain over the whole cluster.
        parallelism: u32,
    },
    /// A client asks for a savepoint of a running job.
    Savepoint {
        /// The job's id; 0 for whichever job runs.
        job: u64,
        /// Where to write it: a directory every process reaches, or
        /// `s3://bucket/prefix`.
        target: String,
    },
    /// A client asks for the cluster's status.
    Status,
    /// A client asks the coordinator (and its workers) to stop.
    Shutdown,
    /// A client that lost its connection (e.g. the coordinator restarted)
    /// asks to hear the end of the job it submitted.
    Attach {
        /// The id of the job's first attempt (the id `Accepted` gave first).
        root: u64,
    },
}

/// Sent by the coordinator to a worker.
#[derive(Debug, Clone, PartialEq, Eq, Archive, Serialize, Deserialize)]
pub enum ToWorker {
    /// Registration accepted.
    Registered {
        /// The worker's id.
        worker: u32,
        /// Its epoch: every later message carries it.
        epoch: u64,
        /// How often to send heartbeats.
        heartbeat_interval_ms: u64,
    },
    /// Prepare a share of a job: build it and open the data listeners.
    Deploy {
        /// The job (also the data links' session).
        job: u64,
        /// What to run.
        spec: JobSpec,
        /// The first global subtask this worker runs.
        subtask_offset: u32,
        /// How many cores it uses.
        cores: u32,
        /// The job's parallelism.
        parallelism: u32,
        /// The first attempt's job id: names the checkpoint directory that
        /// every attempt of the job shares.
        checkpoint_run: u64,
        /// The checkpoint to restore (a restart after a failure).
        restore_checkpoint: Option<u64>,
    },
    /// Inject the barrier of checkpoint `id` at the sources.
    TriggerCheckpoint {
        /// The job.
        job: u64,
        /// The checkpoint.
        id: u64,
    },
    /// Checkpoint `id`'s manifest is durable: commit its sink transactions.
    CheckpointComplete {
        /// The job.
        job: u64,
        /// The checkpoint.
        id: u64,
    },
    /// The job's final checkpoint is committed (or could not be taken):
    /// sources that read all their input may end.
    EndInput {
        /// The job.
        job: u64,
    },
    /// Every share of the job succeeded: publish the output the sinks
    /// pre-committed at the end of input.
    CommitFinal {
        /// The job.
        job: u64,
    },
    /// Every worker listens: connect the links and run.
    Start {
        /// The job.
        job: u64,
        /// Every global subtask's slot, in subtask order.
        slots: Vec<SubtaskSlot>,
    },
    /// Stop the job: another worker failed or the client went away.
    Cancel {
        /// The job.
        job: u64,
        /// Why.
        reason: String,
    },
    /// This worker's epoch is stale (it missed its heartbeats): it must stop.
    Fenced {
        /// Why.
        reason: String,
    },
    /// The cluster is shutting down.
    Shutdown,
}

/// Sent by the coordinator to a client.
#[derive(Debug, Clone, PartialEq, Archive, Serialize, Deserialize)]
pub enum ToClient {
    /// The job was planned and deployed.
    Accepted {
        /// Its id.
        job: u64,
        /// Which worker runs which subtasks and key groups.
        plan: Vec<Assignment>,
    },
    /// The job finished on every worker.
    Finished {
        /// Its id.
        job: u64,
        /// The merged metrics of all workers.
        metrics: WireMetrics,
        /// From deployment to the last worker's report, in ms.
        wall_ms: u64,
        /// What its checkpoints did; `None` without checkpoints.
        checkpoints: Option<CheckpointSummary>,
    },
    /// The job failed.
    Failed {
        /// Its id (0 if it never got one).
        job: u64,
        /// Why, as a sentence.
        reason: String,
    },
    /// The savepoint asked for is written.
    SavepointWritten {
        /// The job.
        job: u64,
        /// Where it is and the checkpoint it holds.
        savepoint: SavepointRef,
        /// State files in it.
        files: u64,
        /// Bytes of state files in it.
        bytes: u64,
    },
    /// No savepoint was written.
    SavepointFailed {
        /// Why, as a sentence.
        reason: String,
    },
    /// The answer to `Status`.
    Status(StatusReport),
    /// The answer to `Shutdown`.
    ShuttingDown,
    /// The answer to `Attach`: this connection now hears the job's end.
    Attached {
        /// The job's first attempt's id, as the client asked.
        root: u64,
        /// The attempt running now; 0 while it waits for workers.
        job: u64,
    },
}
