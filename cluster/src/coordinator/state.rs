//! The coordinator's control logic as a pure state machine: events in
//! (messages, disconnections, clock ticks), actions out (messages to send,
//! connections to close, workers to launch). No sockets, no clock: the
//! server feeds it, and tests drive it deterministically.

use std::collections::{BTreeMap, VecDeque};

use spate::checkpoint::{
    CheckpointCoordinator, CoordinatorSettings, Decision, TaskKey, TaskSnapshot,
};
use spate::metrics::{JobMetrics, WireMetrics};

use super::job_record::JobRecord;
use crate::plan::{FreeWorker, plan};
use crate::protocol::{
    Assignment, ChannelPressure, CheckpointInfo, CheckpointPlan, CheckpointSummary, JobSpec,
    RunningJob, SavepointRef, StatusReport, SubtaskSlot, ToClient, ToCoordinator, ToWorker,
    WorkerStatus,
};

/// Completed checkpoints kept for the operations API, over all jobs.
pub const CHECKPOINTS_KEPT_MAX: usize = 256;
/// Channels kept per worker report: the most backpressured ones matter.
pub const CHANNELS_REPORTED_MAX: usize = 64;

/// A connection, as the server numbers them.
pub type ConnId = u64;

/// No connection (the server numbers them from 1): a job the coordinator
/// resumed after a restart has no client until one attaches.
pub const NO_CLIENT: ConnId = 0;

/// Ends of jobs no client heard, kept for a client that attaches later.
const UNCLAIMED_ENDS_MAX: usize = 16;

/// A savepoint written from a checkpoint: its files and bytes, or why it
/// was not written.
pub type SavepointOutcome = Result<(u64, u64), String>;

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A message arrived on a connection.
    Message {
        /// The connection.
        conn: ConnId,
        /// The message.
        msg: ToCoordinator,
    },
    /// A connection closed (or failed).
    Disconnected {
        /// The connection.
        conn: ConnId,
    },
    /// Time passed (the server ticks every few ms).
    Tick,
    /// The server stored a checkpoint's manifest (or failed to).
    CheckpointStored {
        /// The job.
        job: u64,
        /// The checkpoint.
        id: u64,
        /// Why storing failed, if it did.
        error: Option<String>,
        /// The savepoints written from it, one per
        /// [`Action::StoreCheckpoint::savepoint_to`], in order: files and
        /// bytes, or why it failed.
        savepoints: Vec<SavepointOutcome>,
    },
}

/// What the server must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send a message to a worker.
    ToWorker {
        /// Its connection.
        conn: ConnId,
        /// The message.
        msg: ToWorker,
    },
    /// Send a message to a client.
    ToClient {
        /// Its connection.
        conn: ConnId,
        /// The message.
        msg: ToClient,
    },
    /// Close a connection.
    Close {
        /// The connection.
        conn: ConnId,
    },
    /// Ask the resource launcher for this many more workers.
    Launch {
        /// How many.
        count: u32,
    },
    /// Write checkpoint `id`'s manifest from the workers' entries, apply
    /// retention, and answer with [`Event::CheckpointStored`].
    StoreCheckpoint {
        /// The job.
        job: u64,
        /// The job's name (the manifest's job id).
        name: String,
        /// The checkpoint.
        id: u64,
        /// The job's checkpoint directory.
        dir: String,
        /// Completed checkpoints kept.
        retained: u32,
        /// Key groups of the job.
        max_parallelism: u16,
        /// Each worker's manifest entries (JSON).
        parts: Vec<String>,
        /// Where to write the checkpoint as a savepoint once it is stored.
        savepoint_to: Vec<String>,
    },
    /// Make this record of the job durable before carrying out the
    /// actions after it: a restarted coordinator resumes the job from it.
    PersistJob {
        /// The job as it stands.
        record: JobRecord,
    },
    /// The job ended (finished or failed): no restart resumes it.
    ForgetJob,
    /// Something worth a log line.
    Log {
        /// The sentence.
        line: String,
    },
    /// Stop the coordinator.
    Exit,
}

/// The coordinator's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoordinatorConfig {
    /// How often workers send heartbeats.
    pub heartbeat_interval_ms: u64,
    /// A worker silent this long is declared dead and fenced.
    pub heartbeat_timeout_ms: u64,
    /// Key groups of every job.
    pub max_parallelism: u16,
    /// How long a submitted job waits for enough workers.
    pub worker_wait_ms: u64,
    /// How long deployment (every worker listening) may take.
    pub deploy_timeout_ms: u64,
    /// Workers the launcher keeps running (0: workers are started by hand).
    pub workers_target: u32,
    /// Finished jobs kept for `status`.
    pub finished_jobs_max: usize,
    /// The Unix time, in ms, of the clock's zero: completed checkpoints
    /// are reported in Unix time (0 in simulations).
    pub origin_unix_ms: u64,
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        Self {
            heartbeat_interval_ms: 500,
            heartbeat_timeout_ms: 5_000,
            max_parallelism: 128,
            worker_wait_ms: 30_000,
            deploy_timeout_ms: 30_000,
            workers_target: 0,
            finished_jobs_max: 64,
            origin_unix_ms: 0,
        }
    }
}

struct Worker {
    conn: ConnId,
    cores: u32,
    epoch: u64,
    pid: u32,
    last_heartbeat_ms: u64,
    job: Option<u64>,
}

enum Phase {
    /// Waiting for every worker's data addresses.
    Deploying {
        ready: BTreeMap<u32, Vec<String>>,
        deadline_ms: u64,
    },
    Running,
    /// Every share succeeded; waiting for every worker to publish its
    /// end-of-input output before the client hears the job finished.
    Committing {
        committed: std::collections::BTreeSet<u32>,
    },
}

struct Job {
    id: u64,
    client: ConnId,
    spec: JobSpec,
    parallelism: u32,
    plan: Vec<Assignment>,
    phase: Phase,
    done: BTreeMap<u32, WireMetrics>,
    started_ms: u64,
    resume: Resume,
    /// The checkpoint this attempt restored.
    restored_from: Option<u64>,
    checkpoints: Option<JobCheckpoints>,
    savepoints: SavepointRequests,
}

/// Clients waiting for savepoints of the running job.
#[derive(Default)]
struct SavepointRequests {
    /// Waiting for the next checkpoint to start: client and target.
    waiting: Vec<(ConnId, String)>,
    /// Riding on a checkpoint in flight.
    riding: BTreeMap<u64, Vec<(ConnId, String)>>,
}

impl SavepointRequests {
    fn fail_all(&mut self, reason: &str, out: &mut Vec<Action>) {
        let riding = std::mem::take(&mut self.riding).into_values().flatten();
        for (conn, _) in std::mem::take(&mut self.waiting).into_iter().chain(riding) {
            out.push(Action::ToClient {
                conn,
                msg: ToClient::SavepointFailed {
                    reason: reason.to_string(),
                },
            });
        }
    }

    fn fail(&mut self, id: u64, reason: &str, out: &mut Vec<Action>) {
        for (conn, _) in self.riding.remove(&id).unwrap_or_default() {
            out.push(Action::ToClient {
                conn,
                msg: ToClient::SavepointFailed {
                    reason: format!("its checkpoint {id} failed: {reason}"),
                },
            });
        }
    }
}

/// What carries over from one attempt of a job to the next (and, through
/// the job record, to a restarted coordinator).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Resume {
    /// The first attempt's id: names the checkpoint directory.
    root: u64,
    /// Restarts so far.
    restarts: u32,
    /// The newest completed checkpoint.
    last_completed: Option<u64>,
    /// When the first attempt started.
    started_ms: u64,
    /// Checkpoints completed over every attempt.
    completed: u64,
    /// The restart limit of the job's checkpoint plan, once an attempt
    /// reported it: an attempt that breaks while it is still being deployed
    /// (before its workers report the plan again) restarts under it too.
    restarts_max: Option<u32>,
    /// The job's checkpoint directory, once an attempt reported it.
    checkpoint_dir: Option<String>,
    /// The final checkpoint, taken once every source read all its input.
    final_checkpoint: Option<u64>,
}

impl Resume {
    fn record(
        &self,
        attempt: u64,
        spec: &JobSpec,
        parallelism: u32,
        publishing: bool,
    ) -> JobRecord {
        JobRecord {
            root: self.root,
            attempt,
            spec: spec.clone(),
            parallelism,
            restarts: self.restarts,
            restarts_max: self.restarts_max,
            checkpoint_dir: self.checkpoint_dir.clone(),
            last_completed: self.last_completed,
            completed: self.completed,
            publishing,
            final_checkpoint: self.final_checkpoint,
        }
    }
}

/// A running job's checkpoints: the engine's pure coordinator, with one
/// "task" per worker (a worker acknowledges for all its tasks).
struct JobCheckpoints {
    plan: CheckpointPlan,
    coordinator: CheckpointCoordinator,
    parts: BTreeMap<u64, Vec<String>>,
    /// When each checkpoint in flight was triggered.
    triggered_ms: BTreeMap<u64, u64>,
    /// Files and bytes of each completed checkpoint being stored.
    sizes: BTreeMap<u64, (u64, u64)>,
    /// Workers whose sources all read their input.
    inputs_ended: std::collections::BTreeSet<u32>,
}

struct Pending {
    client: ConnId,
    spec: JobSpec,
    parallelism: u32,
    deadline_ms: u64,
    resume: Option<Resume>,
}

/// The coordinator's state.
pub struct Coordinator {
    cfg: CoordinatorConfig,
    now_ms: u64,
    workers: BTreeMap<u32, Worker>,
    next_worker: u32,
    next_epoch: u64,
    next_job: u64,
    job: Option<Job>,
    pending: Option<Pending>,
    /// Ended attempts, oldest first: the job's first attempt's id (what a
    /// client reattaches to), the attempt's id, its name and how it ended.
    finished: VecDeque<(u64, u64, String, String)>,
    /// How jobs ended that no client heard (a job a restarted coordinator
    /// resumed can end before its client attaches again), by root; the
    /// newest [`UNCLAIMED_ENDS_MAX`] kept.
    unclaimed: VecDeque<(u64, ToClient)>,
    checkpoints: VecDeque<CheckpointInfo>,
    /// The running job's channels, per worker, as last reported.
    pressure: BTreeMap<u32, Vec<ChannelPressure>>,
}

impl Coordinator {
    /// A coordinator with no workers. With a worker target, its first
    /// actions launch them.
    pub fn new(cfg: CoordinatorConfig, now_ms: u64) -> (Self, Vec<Action>) {
        let me = Self {
            cfg,
            now_ms,
            workers: BTreeMap::new(),
            next_worker: 1,
            next_epoch: 1,
            next_job: 1,
            job: None,
            pending: None,
            finished: VecDeque::new(),
            unclaimed: VecDeque::new(),
            checkpoints: VecDeque::new(),
            pressure: BTreeMap::new(),
        };
        let mut out = Vec::new();
        if cfg.workers_target > 0 {
            out.push(Action::Launch {
                count: cfg.workers_target,
            });
        }
        (me, out)
    }

    /// Resumes the job of `record`, which ran when an earlier coordinator
    /// stopped, from checkpoint `restore` (the newest usable one of its
    /// directory): it waits for workers like a restart, with no client until
    /// one attaches. Call before any event.
    pub fn recover(&mut self, record: JobRecord, restore: Option<u64>) -> Vec<Action> {
        let mut out = Vec::new();
        self.next_job = self.next_job.max(record.attempt + 1);
        let name = record.spec.name.clone();
        // With a final checkpoint the output up to the end is in it, and
        // resuming from it publishes that output again (idempotent).
        let final_restorable =
            record.final_checkpoint.is_some() && restore == record.final_checkpoint;
        if record.publishing && !final_restorable {
            // The shares' end-of-input output lived in the workers' memory,
            // and some of it may be published: a restart would write it twice.
            let outcome = format!(
                "failed: the coordinator stopped while the workers published the job's \
                 end-of-input output; the output of job {} may be incomplete",
                record.root
            );
            out.push(Action::ForgetJob);
            self.record_end(record.root, record.attempt, name, outcome, &mut out);
            return out;
        }
        let resume = Resume {
            root: record.root,
            restarts: record.restarts + 1,
            last_completed: restore,
            started_ms: self.now_ms,
            completed: record.completed,
            restarts_max: record.restarts_max,
            checkpoint_dir: record.checkpoint_dir,
            final_checkpoint: record.final_checkpoint,
        };
        let from = restore.map_or("the beginning (no checkpoint completed)".to_string(), |c| {
            format!("checkpoint {c}")
        });
        out.push(Action::Log {
            line: format!(
                "resuming job {} ({name}), which ran when the coordinator stopped, from {from}",
                record.root
            ),
        });
        self.pending = Some(Pending {
            client: NO_CLIENT,
            spec: record.spec,
            parallelism: record.parallelism,
            deadline_ms: self.now_ms + self.cfg.worker_wait_ms,
            resume: Some(resume),
        });
        self.try_start_pending(&mut out);
        out
    }

    /// A client that lost its connection attaches again to the job whose
    /// first attempt was `root`.
    fn attach(&mut self, conn: ConnId, root: u64, out: &mut Vec<Action>) {
        let attached = if let Some(j) = self.job.as_mut().filter(|j| j.resume.root == root) {
            j.client = conn;
            Some(j.id)
        } else if let Some(p) = self
            .pending
            .as_mut()
            .filter(|p| p.resume.as_ref().is_some_and(|r| r.root == root))
        {
            p.client = conn;
            Some(0)
        } else {
            None
        };
        if attached.is_none()
            && let Some(at) = self.unclaimed.iter().position(|(r, _)| *r == root)
            && let Some((_, end)) = self.unclaimed.remove(at)
        {
            let job = match &end {
                ToClient::Finished { job, .. } | ToClient::Failed { job, .. } => *job,
                _ => root,
            };
            out.push(Action::ToClient {
                conn,
                msg: ToClient::Attached { root, job },
            });
            out.push(Action::ToClient { conn, msg: end });
            return;
        }
        let msg = match attached {
            Some(job) => ToClient::Attached { root, job },
            None => {
                // Not running: the newest attempt of `root` is how it ended.
                let reason = match self.finished.iter().rev().find(|f| f.0 == root) {
                    Some((_, _, _, outcome)) => format!(
                        "job {root} {outcome} while this client was away; its summary is lost"
                    ),
                    None => format!(
                        "this coordinator knows no job {root}: it ended before the coordinator \
                         restarted, or the coordinator keeps no job record (--state-dir)"
                    ),
                };
                ToClient::Failed { job: root, reason }
            }
        };
        out.push(Action::ToClient { conn, msg });
    }

    /// Handles one event at time `now_ms` (never earlier than the last).
    pub fn on(&mut self, now_ms: u64, event: Event) -> Vec<Action> {
        self.now_ms = self.now_ms.max(now_ms);
        let mut out = Vec::new();
        match event {
            Event::Message { conn, msg } => self.on_message(conn, msg, &mut out),
            Event::Disconnected { conn } => self.on_disconnect(conn, &mut out),
            Event::Tick => self.on_tick(&mut out),
            Event::CheckpointStored {
                job,
                id,
                error,
                savepoints,
            } => self.checkpoint_stored(job, id, (error, savepoints), &mut out),
        }
        out
    }

    fn on_message(&mut self, conn: ConnId, msg: ToCoordinator, out: &mut Vec<Action>) {
        match msg {
            ToCoordinator::Register {
                cores,
                pid,
                launch_token: _,
            } => self.register(conn, cores, pid, out),
            ToCoordinator::Heartbeat { worker, epoch } => {
                if self.check_worker(conn, worker, epoch, out)
                    && let Some(w) = self.workers.get_mut(&worker)
                {
                    w.last_heartbeat_ms = self.now_ms;
                }
            }
            ToCoordinator::DataReady {
                job,
                worker,
                epoch,
                addrs,
                checkpoints,
            } => {
                if self.check_worker(conn, worker, epoch, out) {
                    self.data_ready(job, worker, (addrs, checkpoints), out);
                }
            }
            ToCoordinator::CheckpointAck {
                job,
                worker,
                epoch,
                id,
                subtasks_json,
            } => {
                if self.check_worker(conn, worker, epoch, out) {
                    self.checkpoint_acked(job, worker, id, subtasks_json, out);
                }
            }
            ToCoordinator::CheckpointDeclined {
                job,
                worker,
                epoch,
                id,
                reason,
            } => {
                if self.check_worker(conn, worker, epoch, out) && self.job_is(job) {
                    let reason = format!("worker {worker} declined: {reason}");
                    self.checkpoint_decisions(out, |c, now| c.on_decline(id, reason, now));
                }
            }
            ToCoordinator::InputEnded { job, worker, epoch } => {
                if self.check_worker(conn, worker, epoch, out) && self.job_is(job) {
                    self.input_ended(worker, out);
                }
            }
            ToCoordinator::JobDone {
                job,
                worker,
                epoch,
                metrics,
            } => {
                if self.check_worker(conn, worker, epoch, out) {
                    self.job_done(job, worker, metrics, out);
                }
            }
            ToCoordinator::FinalCommitted {
                job,
                worker,
                epoch,
                error,
            } => {
                if self.check_worker(conn, worker, epoch, out) {
                    self.final_committed(job, worker, error, out);
                }
            }
            ToCoordinator::JobFailed {
                job,
                worker,
                epoch,
                reason,
            } => {
                if self.check_worker(conn, worker, epoch, out) && self.job_is(job) {
                    self.job_broke(format!("worker {worker} failed: {reason}"), out);
                }
            }
            ToCoordinator::ChannelReport {
                job,
                worker,
                epoch,
                mut channels,
            } => {
                if self.check_worker(conn, worker, epoch, out) && self.job_is(job) {
                    channels.truncate(CHANNELS_REPORTED_MAX);
                    self.pressure.insert(worker, channels);
                }
            }
            ToCoordinator::Submit { spec, parallelism } => {
                self.submit(conn, spec, parallelism, out)
            }
            ToCoordinator::Savepoint { job, target } => {
                self.savepoint_requested(conn, job, target, out)
            }
            ToCoordinator::Status => out.push(Action::ToClient {
                conn,
                msg: ToClient::Status(self.status()),
            }),
            ToCoordinator::Shutdown => self.shutdown(conn, out),
            ToCoordinator::Attach { root } => self.attach(conn, root, out),
        }
    }

    fn register(&mut self, conn: ConnId, cores: u32, pid: u32, out: &mut Vec<Action>) {
        if cores == 0 {
            out.push(Action::ToWorker {
                conn,
                msg: ToWorker::Fenced {
                    reason: "a worker must offer at least one core".into(),
                },
            });
            out.push(Action::Close { conn });
            return;
        }
        let (worker, epoch) = (self.next_worker, self.next_epoch);
        self.next_worker += 1;
        self.next_epoch += 1;
        self.workers.insert(
            worker,
            Worker {
                conn,
                cores,
                epoch,
                pid,
                last_heartbeat_ms: self.now_ms,
                job: None,
            },
        );
        out.push(Action::ToWorker {
            conn,
            msg: ToWorker::Registered {
                worker,
                epoch,
                heartbeat_interval_ms: self.cfg.heartbeat_interval_ms,
            },
        });
        out.push(Action::Log {
            line: format!("worker {worker} (pid {pid}, {cores} cores) registered, epoch {epoch}"),
        });
        self.try_start_pending(out);
    }

    /// True when the message comes from the live registration it claims;
    /// otherwise the sender is fenced.
    fn check_worker(&self, conn: ConnId, worker: u32, epoch: u64, out: &mut Vec<Action>) -> bool {
        let reason = match self.workers.get(&worker) {
            Some(w) if w.epoch == epoch && w.conn == conn => return true,
            Some(w) if w.epoch != epoch => format!(
                "worker {worker} sent epoch {epoch}, but its current epoch is {}",
                w.epoch
            ),
            Some(_) => format!("worker {worker}'s messages must come on its own connection"),
            None => format!(
                "worker {worker} (epoch {epoch}) is not registered: it was declared dead \
                 after missing heartbeats, or never registered"
            ),
        };
        out.push(Action::ToWorker {
            conn,
            msg: ToWorker::Fenced {
                reason: reason.clone(),
            },
        });
        out.push(Action::Close { conn });
        out.push(Action::Log {
            line: format!("fenced: {reason}"),
        });
        false
    }

    fn job_is(&self, id: u64) -> bool {
        self.job.as_ref().is_some_and(|j| j.id == id)
    }

    fn submit(&mut self, conn: ConnId, spec: JobSpec, parallelism: u32, out: &mut Vec<Action>) {
        if self.job.is_some() || self.pending.is_some() {
            let running = self.job.as_ref().map_or(0, |j| j.id);
            out.push(Action::ToClient {
                conn,
                msg: ToClient::Failed {
                    job: 0,
                    reason: format!(
                        "the cluster is busy with job {running}; submit again when it has finished"
                    ),
                },
            });
            return;
        }
        self.pending = Some(Pending {
            client: conn,
            spec,
            parallelism,
            deadline_ms: self.now_ms + self.cfg.worker_wait_ms,
            resume: None,
        });
        self.try_start_pending(out);
    }

    fn free_workers(&self) -> Vec<FreeWorker> {
        self.workers
            .iter()
            .filter(|(_, w)| w.job.is_none())
            .map(|(&worker, w)| FreeWorker {
                worker,
                cores: w.cores,
            })
            .collect()
    }

    fn try_start_pending(&mut self, out: &mut Vec<Action>) {
        let Some(p) = self.pending.as_ref() else {
            return;
        };
        let free = self.free_workers();
        let cores: u32 = free.iter().map(|w| w.cores).sum();
        if cores < p.parallelism && p.parallelism <= u32::from(self.cfg.max_parallelism) {
            return; // Wait for more workers, until the deadline.
        }
        let Some(p) = self.pending.take() else {
            return;
        };
        match plan(&free, p.parallelism, self.cfg.max_parallelism) {
            Ok(assignments) => self.deploy(p, assignments, out),
            Err(e) => self.pending_failed(p, e.to_string(), out),
        }
    }

    fn deploy(&mut self, p: Pending, plan: Vec<Assignment>, out: &mut Vec<Action>) {
        let id = self.next_job;
        self.next_job += 1;
        let restored_from = p.resume.as_ref().and_then(|r| r.last_completed).or(p
            .spec
            .from_savepoint
            .as_ref()
            .map(|s| s.checkpoint_id));
        let resume = p.resume.unwrap_or(Resume {
            root: id,
            restarts: 0,
            last_completed: None,
            started_ms: self.now_ms,
            completed: 0,
            restarts_max: None,
            checkpoint_dir: None,
            final_checkpoint: None,
        });
        // Durable before any worker hears of the attempt: its id names files.
        out.push(Action::PersistJob {
            record: resume.record(id, &p.spec, p.parallelism, false),
        });
        for a in &plan {
            if let Some(w) = self.workers.get_mut(&a.worker) {
                w.job = Some(id);
                out.push(Action::ToWorker {
                    conn: w.conn,
                    msg: ToWorker::Deploy {
                        job: id,
                        spec: p.spec.clone(),
                        subtask_offset: a.subtask_offset,
                        cores: a.cores,
                        parallelism: p.parallelism,
                        checkpoint_run: resume.root,
                        restore_checkpoint: resume.last_completed,
                    },
                });
            }
        }
        out.push(Action::ToClient {
            conn: p.client,
            msg: ToClient::Accepted {
                job: id,
                plan: plan.clone(),
            },
        });
        out.push(Action::Log {
            line: format!(
                "job {id} ({}) deployed with parallelism {} on {} workers",
                p.spec.name,
                p.parallelism,
                plan.len()
            ),
        });
        self.job = Some(Job {
            id,
            client: p.client,
            spec: p.spec,
            parallelism: p.parallelism,
            plan,
            phase: Phase::Deploying {
                ready: BTreeMap::new(),
                deadline_ms: self.now_ms + self.cfg.deploy_timeout_ms,
            },
            done: BTreeMap::new(),
            started_ms: resume.started_ms,
            resume,
            restored_from,
            checkpoints: None,
            savepoints: SavepointRequests::default(),
        });
    }

    fn data_ready(
        &mut self,
        id: u64,
        worker: u32,
        (addrs, checkpoints): (Vec<String>, Option<CheckpointPlan>),
        out: &mut Vec<Action>,
    ) {
        let Some(job) = self.job.as_mut().filter(|j| j.id == id) else {
            return; // A late report for a job that already ended.
        };
        let Phase::Deploying { ready, .. } = &mut job.phase else {
            return;
        };
        let expected = job
            .plan
            .iter()
            .find(|a| a.worker == worker)
            .map(|a| a.cores);
        if expected != Some(addrs.len() as u32) {
            let reason = format!(
                "worker {worker} reported {} data addresses for job {id}, expected {expected:?}",
                addrs.len()
            );
            self.fail_job(reason, out);
            return;
        }
        ready.insert(worker, addrs);
        if let Some(plan) = checkpoints
            && job.checkpoints.is_none()
        {
            let settings = CoordinatorSettings {
                interval_ms: plan.interval_ms,
                timeout_ms: plan.timeout_ms,
                concurrent_max: 1,
                pause_min_ms: plan.pause_min_ms,
            };
            // Ids go on from a restored savepoint's: epochs only increase.
            let savepoint = job.spec.from_savepoint.as_ref().map(|s| s.checkpoint_id);
            let first = job
                .resume
                .last_completed
                .max(savepoint)
                .map_or(1, |c| c + 1);
            job.resume.restarts_max = Some(plan.restarts_max);
            if job.resume.checkpoint_dir.as_ref() != Some(&plan.dir) {
                job.resume.checkpoint_dir = Some(plan.dir.clone());
                out.push(Action::PersistJob {
                    record: job.resume.record(id, &job.spec, job.parallelism, false),
                });
            }
            job.checkpoints = Some(JobCheckpoints {
                coordinator: CheckpointCoordinator::new(settings, job.plan.len(), first)
                    .started_at(self.now_ms, job.restored_from.is_some()),
                plan,
                parts: BTreeMap::new(),
                triggered_ms: BTreeMap::new(),
                sizes: BTreeMap::new(),
                inputs_ended: std::collections::BTreeSet::new(),
            });
        }
        if ready.len() < job.plan.len() {
            return;
        }
        let mut slots = Vec::new();
        for a in &job.plan {
            let addrs = ready.get(&a.worker).cloned().unwrap_or_default();
            for (core, addr) in addrs.into_iter().enumerate() {
                slots.push(SubtaskSlot {
                    worker: a.worker,
                    core: core as u16,
                    addr,
                });
            }
        }
        for a in &job.plan {
            if let Some(w) = self.workers.get(&a.worker) {
                out.push(Action::ToWorker {
                    conn: w.conn,
                    msg: ToWorker::Start {
                        job: id,
                        slots: slots.clone(),
                    },
                });
            }
        }
        job.phase = Phase::Running;
    }

    fn job_done(&mut self, id: u64, worker: u32, metrics: WireMetrics, out: &mut Vec<Action>) {
        let Some(job) = self.job.as_mut().filter(|j| j.id == id) else {
            return;
        };
        job.done.insert(worker, metrics);
        if let Some(w) = self.workers.get_mut(&worker) {
            w.job = None;
        }
        if job.done.len() < job.plan.len() {
            return;
        }
        out.push(Action::PersistJob {
            record: job.resume.record(id, &job.spec, job.parallelism, true),
        });
        for a in &job.plan {
            if let Some(w) = self.workers.get(&a.worker) {
                out.push(Action::ToWorker {
                    conn: w.conn,
                    msg: ToWorker::CommitFinal { job: id },
                });
            }
        }
        job.phase = Phase::Committing {
            committed: std::collections::BTreeSet::new(),
        };
    }

    /// A worker published its end-of-input output: once all did, the
    /// client hears the job finished (before, `spate submit` could return
    /// while the last output files were still being renamed into place,
    /// found by `spate-torture`'s checker reading right after it).
    fn final_committed(
        &mut self,
        id: u64,
        worker: u32,
        error: Option<String>,
        out: &mut Vec<Action>,
    ) {
        let Some(job) = self.job.as_mut().filter(|j| j.id == id) else {
            return;
        };
        let Phase::Committing { committed } = &mut job.phase else {
            return;
        };
        if let Some(e) = error {
            let reason = format!("worker {worker} could not publish its end-of-input output: {e}");
            self.fail_job(reason, out);
            return;
        }
        committed.insert(worker);
        if committed.len() < job.plan.len() {
            return;
        }
        let mut merged = JobMetrics::default();
        for m in job.done.values() {
            merged.merge(&JobMetrics::from_wire(m));
        }
        // Forgotten before the client hears: a restart must not resume it.
        out.push(Action::ForgetJob);
        let (client, root) = (job.client, job.resume.root);
        let end = ToClient::Finished {
            job: id,
            metrics: merged.to_wire(),
            wall_ms: self.now_ms.saturating_sub(job.started_ms),
            checkpoints: job.checkpoints.as_ref().map(|c| CheckpointSummary {
                dir: c.plan.dir.clone(),
                completed: job.resume.completed,
                restarts: job.resume.restarts,
                restored_from: job.restored_from,
            }),
        };
        let name = job.spec.name.clone();
        self.tell_end(client, root, end, out);
        self.end_job(id, name, "finished".into(), out);
    }

    /// Fails the running job: the client hears why, its workers are told
    /// to cancel, and they are free again.
    fn fail_job(&mut self, reason: String, out: &mut Vec<Action>) {
        let Some(job) = self.job.as_ref() else {
            return;
        };
        out.push(Action::ForgetJob);
        let (id, name, client, root) = (job.id, job.spec.name.clone(), job.client, job.resume.root);
        for a in &job.plan {
            if let Some(w) = self.workers.get_mut(&a.worker) {
                if w.job == Some(id) {
                    out.push(Action::ToWorker {
                        conn: w.conn,
                        msg: ToWorker::Cancel {
                            job: id,
                            reason: reason.clone(),
                        },
                    });
                }
                w.job = None;
            }
        }
        let end = ToClient::Failed {
            job: id,
            reason: reason.clone(),
        };
        self.tell_end(client, root, end, out);
        self.end_job(id, name, format!("failed: {reason}"), out);
    }

    /// Tells the client how job `root` ended; with none attached, the
    /// message waits for one to attach.
    fn tell_end(&mut self, client: ConnId, root: u64, end: ToClient, out: &mut Vec<Action>) {
        if client != NO_CLIENT {
            out.push(Action::ToClient {
                conn: client,
                msg: end,
            });
            return;
        }
        self.unclaimed.push_back((root, end));
        while self.unclaimed.len() > UNCLAIMED_ENDS_MAX {
            self.unclaimed.pop_front();
        }
    }

    fn end_job(&mut self, id: u64, name: String, outcome: String, out: &mut Vec<Action>) {
        self.pressure.clear();
        let mut root = id;
        if let Some(mut job) = self.job.take() {
            job.savepoints
                .fail_all(&format!("job {id} {outcome} first"), out);
            root = job.resume.root;
        }
        self.record_end(root, id, name, outcome, out);
        self.try_start_pending(out);
    }

    /// Keeps how attempt `id` of job `root` ended, for status and for a
    /// client that reattaches.
    fn record_end(
        &mut self,
        root: u64,
        id: u64,
        name: String,
        outcome: String,
        out: &mut Vec<Action>,
    ) {
        out.push(Action::Log {
            line: format!("job {id} ({name}) {outcome}"),
        });
        self.push_finished((root, id, name, outcome));
    }

    /// Keeps an ended attempt, dropping the oldest beyond the limit.
    fn push_finished(&mut self, attempt: (u64, u64, String, String)) {
        self.finished.push_back(attempt);
        while self.finished.len() > self.cfg.finished_jobs_max {
            self.finished.pop_front();
        }
    }

    fn on_disconnect(&mut self, conn: ConnId, out: &mut Vec<Action>) {
        let gone: Vec<u32> = self
            .workers
            .iter()
            .filter(|(_, w)| w.conn == conn)
            .map(|(&id, _)| id)
            .collect();
        for worker in gone {
            self.worker_lost(worker, format!("worker {worker} disconnected"), out);
        }
    }

    fn worker_lost(&mut self, worker: u32, reason: String, out: &mut Vec<Action>) {
        let Some(w) = self.workers.remove(&worker) else {
            return;
        };
        self.pressure.remove(&worker);
        out.push(Action::Log {
            line: format!("{reason} (pid {}, epoch {} fenced)", w.pid, w.epoch),
        });
        out.push(Action::Close { conn: w.conn });
        // Publishing output that only its memory held: no final checkpoint
        // has it (with one, a restart from it publishes the output again).
        let output_lost = self.job.as_ref().is_some_and(|j| {
            matches!(&j.phase, Phase::Committing { committed } if !committed.contains(&worker))
                && j.plan.iter().any(|a| a.worker == worker)
                && j.resume.final_checkpoint.is_none()
        });
        if output_lost {
            // Its end-of-input output lived in its memory and is gone; the
            // others' is published already, so a restart would write it twice.
            self.fail_job(
                format!(
                    "{reason} before it published its end-of-input output; the job's output \
                     is incomplete"
                ),
                out,
            );
        } else if w.job.is_some_and(|j| self.job_is(j))
            || self
                .job
                .as_ref()
                .is_some_and(|j| j.done.contains_key(&worker))
        {
            // Its share cannot finish, or finished but its end-of-input
            // output (in its memory, not yet published) is gone: restart
            // the job from its last checkpoint, or fail it.
            self.job_broke(reason, out);
        }
        if self.cfg.workers_target > 0 {
            out.push(Action::Launch { count: 1 });
        }
    }

    fn on_tick(&mut self, out: &mut Vec<Action>) {
        self.checkpoint_decisions(out, |c, now| c.on_tick(now));
        let now = self.now_ms;
        let timeout = self.cfg.heartbeat_timeout_ms;
        let silent: Vec<(u32, u64)> = self
            .workers
            .iter()
            .filter(|(_, w)| now.saturating_sub(w.last_heartbeat_ms) > timeout)
            .map(|(&id, w)| (id, now.saturating_sub(w.last_heartbeat_ms)))
            .collect();
        for (worker, silent_ms) in silent {
            let reason = format!(
                "worker {worker} sent no heartbeat for {silent_ms} ms (timeout {timeout} ms)"
            );
            self.worker_lost(worker, reason, out);
        }
        if let Some(p) = self.pending.as_ref().filter(|p| now > p.deadline_ms) {
            let free: u32 = self.free_workers().iter().map(|w| w.cores).sum();
            let reason = format!(
                "parallelism {} needs {} cores, but after {} ms the free workers have {free}; \
                 start more workers or lower --parallelism",
                p.parallelism, p.parallelism, self.cfg.worker_wait_ms
            );
            if let Some(p) = self.pending.take() {
                self.pending_failed(p, reason, out);
            }
        }
        let overdue = self.job.as_ref().is_some_and(
            |j| matches!(j.phase, Phase::Deploying { deadline_ms, .. } if now > deadline_ms),
        );
        if overdue {
            let reason = format!(
                "not every worker opened its data listeners within {} ms",
                self.cfg.deploy_timeout_ms
            );
            self.fail_job(reason, out);
        }
    }

    /// A job waiting for workers cannot start.
    fn pending_failed(&mut self, p: Pending, reason: String, out: &mut Vec<Action>) {
        out.push(Action::ToClient {
            conn: p.client,
            msg: ToClient::Failed {
                job: 0,
                reason: reason.clone(),
            },
        });
        if let Some(r) = p.resume {
            // A restart or a resumed job: it had a record, and it is over.
            out.push(Action::ForgetJob);
            let (attempt, name) = (self.next_job.saturating_sub(1), p.spec.name);
            self.record_end(r.root, attempt, name, format!("failed: {reason}"), out);
        }
    }

    /// A share of the running job failed or its worker was lost: a job
    /// with checkpoints restarts from its newest completed checkpoint (up
    /// to its restart limit), any other job fails.
    fn job_broke(&mut self, reason: String, out: &mut Vec<Action>) {
        // A job known to take checkpoints: this attempt reported its plan,
        // or an earlier one did (this one may still be deploying, e.g. when
        // a second worker of a burst dies right after the redeployment).
        let restartable = self.job.as_ref().and_then(|j| {
            let restarts_max = j
                .checkpoints
                .as_ref()
                .map(|c| c.plan.restarts_max)
                .or(j.resume.restarts_max)?;
            (j.resume.restarts < restarts_max).then_some(restarts_max)
        });
        let Some(restarts_max) = restartable else {
            self.fail_job(reason, out);
            return;
        };
        // The next attempt's workers report their channels anew.
        self.pressure.clear();
        let Some(mut job) = self.job.take() else {
            return;
        };
        job.savepoints
            .fail_all(&format!("job {} broke first: {reason}", job.id), out);
        for a in &job.plan {
            if let Some(w) = self.workers.get_mut(&a.worker) {
                if w.job == Some(job.id) {
                    out.push(Action::ToWorker {
                        conn: w.conn,
                        msg: ToWorker::Cancel {
                            job: job.id,
                            reason: reason.clone(),
                        },
                    });
                }
                w.job = None;
            }
        }
        let resume = Resume {
            restarts: job.resume.restarts + 1,
            ..job.resume
        };
        let from = resume
            .last_completed
            .map_or("the beginning (no checkpoint completed)".to_string(), |c| {
                format!("checkpoint {c}")
            });
        out.push(Action::Log {
            line: format!(
                "job {} ({}) broke: {reason}; restarting from {from} (restart {} of at most \
                 {restarts_max})",
                job.id, job.spec.name, resume.restarts
            ),
        });
        self.push_finished((
            job.resume.root,
            job.id,
            job.spec.name.clone(),
            format!("restarted: {reason}"),
        ));
        self.pending = Some(Pending {
            client: job.client,
            spec: job.spec,
            parallelism: job.parallelism,
            deadline_ms: self.now_ms + self.cfg.worker_wait_ms,
            resume: Some(resume),
        });
        self.try_start_pending(out);
    }

    /// Feeds the running job's checkpoint coordinator and carries out its
    /// decisions.
    fn checkpoint_decisions(
        &mut self,
        out: &mut Vec<Action>,
        feed: impl FnOnce(&mut CheckpointCoordinator, u64) -> Vec<Decision>,
    ) {
        let now = self.now_ms;
        let max_parallelism = self.cfg.max_parallelism;
        let Some(job) = self.job.as_mut() else {
            return;
        };
        if !matches!(job.phase, Phase::Running) {
            return;
        }
        let Some(ckpt) = job.checkpoints.as_mut() else {
            return;
        };
        for decision in feed(&mut ckpt.coordinator, now) {
            match decision {
                Decision::Trigger { id } => {
                    ckpt.triggered_ms.insert(id, now);
                    if !job.savepoints.waiting.is_empty() {
                        let waiting = std::mem::take(&mut job.savepoints.waiting);
                        job.savepoints.riding.insert(id, waiting);
                    }
                    for a in &job.plan {
                        if let Some(w) = self.workers.get(&a.worker) {
                            out.push(Action::ToWorker {
                                conn: w.conn,
                                msg: ToWorker::TriggerCheckpoint { job: job.id, id },
                            });
                        }
                    }
                }
                Decision::Abort { id, reason } => {
                    ckpt.parts.remove(&id);
                    ckpt.triggered_ms.remove(&id);
                    job.savepoints.fail(id, &reason, out);
                    out.push(Action::Log {
                        line: format!("job {} checkpoint {id} aborted: {reason}", job.id),
                    });
                }
                Decision::EndInput { final_checkpoint } => {
                    let line = match final_checkpoint {
                        Some(id) => format!("job {} final checkpoint {id} committed", job.id),
                        None => format!(
                            "job {} ends without a final checkpoint; its output after the last \
                             checkpoint is published when every share finished",
                            job.id
                        ),
                    };
                    out.push(Action::Log { line });
                    if final_checkpoint.is_some() {
                        job.resume.final_checkpoint = final_checkpoint;
                        out.push(Action::PersistJob {
                            record: job.resume.record(job.id, &job.spec, job.parallelism, false),
                        });
                    }
                    for a in &job.plan {
                        if let Some(w) = self.workers.get(&a.worker) {
                            out.push(Action::ToWorker {
                                conn: w.conn,
                                msg: ToWorker::EndInput { job: job.id },
                            });
                        }
                    }
                }
                Decision::Complete { id, .. } => {
                    let parts = ckpt.parts.remove(&id).unwrap_or_default();
                    ckpt.sizes.insert(id, checkpoint_size(&parts));
                    out.push(Action::StoreCheckpoint {
                        job: job.id,
                        name: job.spec.name.clone(),
                        id,
                        dir: ckpt.plan.dir.clone(),
                        retained: ckpt.plan.retained,
                        max_parallelism,
                        parts,
                        savepoint_to: job
                            .savepoints
                            .riding
                            .get(&id)
                            .map(|r| r.iter().map(|(_, t)| t.clone()).collect())
                            .unwrap_or_default(),
                    });
                }
            }
        }
    }

    /// Every source of `worker` read all its input: once every worker's
    /// did, the final checkpoint starts.
    fn input_ended(&mut self, worker: u32, out: &mut Vec<Action>) {
        let Some(job) = self.job.as_mut() else {
            return;
        };
        let workers = job.plan.len();
        let Some(ckpt) = job.checkpoints.as_mut() else {
            return;
        };
        ckpt.inputs_ended.insert(worker);
        if ckpt.inputs_ended.len() == workers {
            self.checkpoint_decisions(out, |c, _| c.on_input_ended());
        }
    }

    fn checkpoint_acked(
        &mut self,
        job: u64,
        worker: u32,
        id: u64,
        subtasks_json: String,
        out: &mut Vec<Action>,
    ) {
        let Some(ckpt) = self
            .job
            .as_mut()
            .filter(|j| j.id == job)
            .and_then(|j| j.checkpoints.as_mut())
        else {
            return;
        };
        ckpt.parts.entry(id).or_default().push(subtasks_json);
        let task = TaskKey {
            node: 0,
            subtask: worker,
        };
        self.checkpoint_decisions(out, |c, now| {
            c.on_ack(id, task, TaskSnapshot::default(), now)
        });
    }

    /// The manifest of checkpoint `id` is durable (or could not be
    /// written): the workers commit, and a restart would restore it.
    fn checkpoint_stored(
        &mut self,
        job: u64,
        id: u64,
        (error, savepoints): (Option<String>, Vec<SavepointOutcome>),
        out: &mut Vec<Action>,
    ) {
        let Some(j) = self.job.as_mut().filter(|j| j.id == job) else {
            return;
        };
        let (triggered_ms, (files, bytes)) = match j.checkpoints.as_mut() {
            Some(c) => (
                c.triggered_ms.remove(&id),
                c.sizes.remove(&id).unwrap_or_default(),
            ),
            None => (None, (0, 0)),
        };
        if let Some(e) = error {
            j.savepoints.fail(id, &e, out);
            out.push(Action::Log {
                line: format!("job {job} checkpoint {id} could not be stored: {e}"),
            });
            self.checkpoint_decisions(out, |c, now| c.on_stored(id, false, now));
            return;
        }
        let requests = j.savepoints.riding.remove(&id).unwrap_or_default();
        let mut results = savepoints.into_iter();
        for (conn, target) in requests {
            let msg = match results.next() {
                Some(Ok((files, bytes))) => ToClient::SavepointWritten {
                    job,
                    savepoint: SavepointRef {
                        location: target,
                        checkpoint_id: id,
                    },
                    files,
                    bytes,
                },
                Some(Err(reason)) => ToClient::SavepointFailed {
                    reason: format!("writing checkpoint {id} to {target} failed: {reason}"),
                },
                None => ToClient::SavepointFailed {
                    reason: format!("checkpoint {id} was stored without the savepoint"),
                },
            };
            out.push(Action::ToClient { conn, msg });
        }
        if let Some(newer) = j.resume.last_completed.filter(|&l| l > id) {
            // Stored after a newer one (found by the simulation, whose
            // stores finish out of order): a restart keeps the newer one.
            out.push(Action::Log {
                line: format!("job {job} checkpoint {id} was stored after checkpoint {newer}"),
            });
            return;
        }
        j.resume.last_completed = Some(id);
        j.resume.completed += 1;
        out.push(Action::PersistJob {
            record: j.resume.record(j.id, &j.spec, j.parallelism, false),
        });
        self.checkpoints.push_back(CheckpointInfo {
            job,
            id,
            completed_unix_ms: self.cfg.origin_unix_ms + self.now_ms,
            duration_ms: triggered_ms.map_or(0, |t| self.now_ms.saturating_sub(t)),
            files,
            bytes,
        });
        while self.checkpoints.len() > CHECKPOINTS_KEPT_MAX {
            self.checkpoints.pop_front();
        }
        for a in &j.plan {
            if let Some(w) = self.workers.get(&a.worker) {
                out.push(Action::ToWorker {
                    conn: w.conn,
                    msg: ToWorker::CheckpointComplete { job, id },
                });
            }
        }
        // After the commits above: a worker commits, then lets its sources end.
        self.checkpoint_decisions(out, |c, now| c.on_stored(id, true, now));
    }

    /// A client wants a savepoint of job `job` (0: the running one): the
    /// next checkpoint starts at once and is written to `target` too.
    fn savepoint_requested(
        &mut self,
        conn: ConnId,
        job: u64,
        target: String,
        out: &mut Vec<Action>,
    ) {
        let refuse = |reason: String, out: &mut Vec<Action>| {
            out.push(Action::ToClient {
                conn,
                msg: ToClient::SavepointFailed { reason },
            })
        };
        let Some(j) = self.job.as_mut().filter(|j| job == 0 || j.id == job) else {
            let running = self.job.as_ref().map_or("none runs".to_string(), |j| {
                format!("job {} ({}) runs", j.id, j.spec.name)
            });
            let which = if job == 0 {
                "no job runs".to_string()
            } else {
                format!("job {job} is not running ({running})")
            };
            return refuse(which, out);
        };
        if !matches!(j.phase, Phase::Running) {
            return refuse(format!("job {} is still being deployed", j.id), out);
        }
        let Some(ckpt) = j.checkpoints.as_mut() else {
            return refuse(
                format!(
                    "job {} runs without checkpoints; submit it with \
                     checkpoint.interval_ms set to take savepoints",
                    j.id
                ),
                out,
            );
        };
        if !ckpt.coordinator.request_now() {
            return refuse(format!("job {} has finished its input", j.id), out);
        }
        j.savepoints.waiting.push((conn, target));
        self.checkpoint_decisions(out, |c, now| c.on_tick(now));
    }

    fn shutdown(&mut self, conn: ConnId, out: &mut Vec<Action>) {
        if self.job.is_some() || self.pending.is_some() {
            // Shut down on purpose: the next coordinator starts afresh.
            out.push(Action::ForgetJob);
        }
        for w in self.workers.values() {
            out.push(Action::ToWorker {
                conn: w.conn,
                msg: ToWorker::Shutdown,
            });
        }
        out.push(Action::ToClient {
            conn,
            msg: ToClient::ShuttingDown,
        });
        out.push(Action::Exit);
    }

    /// The cluster as `status` shows it.
    pub fn status(&self) -> StatusReport {
        StatusReport {
            workers: self
                .workers
                .iter()
                .map(|(&worker, w)| WorkerStatus {
                    worker,
                    epoch: w.epoch,
                    cores: w.cores,
                    pid: w.pid,
                    since_heartbeat_ms: self.now_ms.saturating_sub(w.last_heartbeat_ms),
                    job: w.job,
                })
                .collect(),
            running: self.job.as_ref().map(|j| {
                let phase = match j.phase {
                    Phase::Deploying { .. } => "deploying",
                    Phase::Running => "running",
                    Phase::Committing { .. } => "publishing its output",
                };
                (j.id, j.spec.name.clone(), phase.to_string())
            }),
            finished: self
                .finished
                .iter()
                .map(|(_, id, name, outcome)| (*id, name.clone(), outcome.clone()))
                .collect(),
            running_detail: self.job.as_ref().map(|j| RunningJob {
                parallelism: j.parallelism,
                uptime_ms: self.now_ms.saturating_sub(j.resume.started_ms),
                restarts: j.resume.restarts,
                checkpoints_completed: j.resume.completed,
                restored_from: j.restored_from,
                checkpoint_dir: j.checkpoints.as_ref().map(|c| c.plan.dir.clone()),
                plan: j.plan.clone(),
            }),
            checkpoints: self.checkpoints.iter().cloned().collect(),
            backpressure: self
                .pressure
                .iter()
                .flat_map(|(&w, channels)| channels.iter().map(move |c| (w, c.clone())))
                .collect(),
        }
    }
}

/// Files and bytes of a checkpoint, from its workers' manifest entries
/// (what the manifest will reference; unreadable entries count nothing,
/// storing the manifest reports them).
fn checkpoint_size(parts: &[String]) -> (u64, u64) {
    let mut files = 0;
    let mut bytes = 0;
    for part in parts {
        let Ok(subtasks) = serde_json::from_str::<Vec<spate_state::checkpoint::SubtaskState>>(part)
        else {
            continue;
        };
        for f in subtasks.iter().flat_map(|s| &s.files) {
            files += 1;
            bytes += f.size_bytes;
        }
    }
    (files, bytes)
}
