//! The worker process's control thread: registers, sends heartbeats, and
//! runs the shares of jobs the coordinator deploys to it.

use std::net::{IpAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use std::path::PathBuf;
use std::sync::mpsc;

use spate::checkpoint::{
    CheckpointCommand, CheckpointReport, FinalCommit, FinalCommitSlot, PlacedCheckpoints, path_safe,
};
use spate::distributed::Placement;
use spate::{Job, config::Config};
use spate_net::NetConfig;

use super::data_plane::DataPlane;
use super::pressure::PressureBoard;
use super::rendezvous::Rendezvous;
use crate::control_io::{ControlReader, ControlWriter, split};
use crate::error::{ClusterError, Result};
use crate::protocol::{CheckpointPlan, JobSpec, ToCoordinator, ToWorker};

/// Builds the jobs a cluster can run, by name. Every worker builds the same
/// job from the same spec, so the catalog must be deterministic.
pub trait JobCatalog: Send + Sync {
    /// The job and its configuration (the spec's settings applied).
    fn build(&self, spec: &JobSpec) -> std::result::Result<(Job, Config), String>;
}

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// The coordinator's control address, `HOST:PORT`.
    pub coordinator: String,
    /// How long to keep trying to reach the coordinator at start-up (its
    /// name may not resolve yet, e.g. while its Service is being created).
    pub connect_timeout_ms: u64,
    /// Dial the coordinator through this HTTP CONNECT proxy (the torture
    /// suites' fault proxy sits on control links this way).
    pub control_proxy: Option<std::net::SocketAddr>,
    /// Cores this worker offers.
    pub cores: u32,
    /// The address its data listeners bind to.
    pub data_host: IpAddr,
    /// How long deployment may wait for the other workers.
    pub deploy_timeout_ms: u64,
    /// Limits of the data links.
    pub net: NetConfig,
    /// Receive buffers (credits) per input channel.
    pub buffers_per_channel: u32,
    /// Pin each core's executor to one of this process's CPUs (the job's
    /// `runtime.pin_cores` must allow it too). False where the process
    /// shares its CPUs with other workers, so the OS balances them.
    pub pin_cores: bool,
    /// Called before each deployment, once the last share's memory is
    /// freed: returns the allocator's free pages to the OS. A worker lives
    /// through many deployments, and an allocator keeps what one freed for
    /// the next; only the binary knows which allocator it has.
    pub release_memory: Option<fn()>,
}

/// Why a worker stopped, when it stopped cleanly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerExit {
    /// The coordinator shut the cluster down.
    Shutdown,
}

type SharedWriter = Arc<Mutex<ControlWriter>>;

struct Registration {
    worker: u32,
    epoch: u64,
}

/// Runs a worker until the cluster shuts down. Errors end the worker: a
/// lost coordinator, fencing, or a cancelled job it cannot stop in place
/// (its executors cannot be interrupted; the launcher replaces the process).
pub fn run_worker(opts: &WorkerOptions, catalog: Arc<dyn JobCatalog>) -> Result<WorkerExit> {
    let stream = connect_with_retry(
        &opts.coordinator,
        opts.control_proxy,
        opts.connect_timeout_ms,
    )?;
    let (mut reader, mut writer) = split(stream)?;
    writer.send(&ToCoordinator::Register {
        cores: opts.cores,
        pid: std::process::id(),
        launch_token: None,
    })?;
    let (reg, interval_ms) = match reader.recv::<ToWorker>()? {
        ToWorker::Registered {
            worker,
            epoch,
            heartbeat_interval_ms,
        } => (Registration { worker, epoch }, heartbeat_interval_ms),
        ToWorker::Fenced { reason } => return Err(ClusterError::Fenced { reason }),
        other => {
            return Err(ClusterError::Protocol {
                peer: reader.peer().to_string(),
                reason: format!("expected a registration answer, got {other:?}"),
            });
        }
    };
    tracing::info!(
        "registered as worker {} (epoch {}) with {} cores",
        reg.worker,
        reg.epoch,
        opts.cores
    );
    let writer: SharedWriter = Arc::new(Mutex::new(writer));
    let board = Arc::new(PressureBoard::default());
    spawn_heartbeats(writer.clone(), &reg, interval_ms, board.clone());
    control_loop(opts, &catalog, &mut reader, &writer, (&reg, &board))
}

/// Resolves and connects (through `via`, a CONNECT proxy, if given),
/// retrying with a growing pause until the limit.
fn connect_with_retry(
    addr: &str,
    via: Option<std::net::SocketAddr>,
    timeout_ms: u64,
) -> Result<TcpStream> {
    let deadline = std::time::Instant::now() + Duration::from_millis(timeout_ms);
    let mut pause = Duration::from_millis(50);
    loop {
        let attempt = addr.to_socket_addrs().and_then(|mut addrs| {
            let first = addrs.next().ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::NotFound, "the name has no address")
            })?;
            spate_net::dial_blocking(first, via).map_err(std::io::Error::other)
        });
        match attempt {
            Ok(stream) => return Ok(stream),
            Err(source) if std::time::Instant::now() >= deadline => {
                return Err(ClusterError::Io {
                    op: "connect",
                    peer: addr.to_string(),
                    source,
                });
            }
            Err(e) => {
                tracing::info!("coordinator {addr} not reachable yet ({e}); retrying");
                thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_secs(1));
            }
        }
    }
}

fn send(writer: &SharedWriter, msg: &ToCoordinator) -> Result<()> {
    writer.lock().unwrap_or_else(|p| p.into_inner()).send(msg)
}

fn spawn_heartbeats(
    writer: SharedWriter,
    reg: &Registration,
    interval_ms: u64,
    board: Arc<PressureBoard>,
) {
    let (worker, epoch) = (reg.worker, reg.epoch);
    let msg = ToCoordinator::Heartbeat { worker, epoch };
    let spawned = thread::Builder::new()
        .name("spate-heartbeat".into())
        .spawn(move || {
            while send(&writer, &msg).is_ok() {
                // The channels ride along: one bounded report per heartbeat.
                if let Some((job, channels)) = board.report() {
                    let report = ToCoordinator::ChannelReport {
                        job,
                        worker,
                        epoch,
                        channels,
                    };
                    if send(&writer, &report).is_err() {
                        return;
                    }
                }
                thread::sleep(Duration::from_millis(interval_ms.max(1)));
            }
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start the heartbeat thread: {e}");
    }
}

struct Running {
    job: u64,
    rendezvous: Arc<Rendezvous>,
    thread: JoinHandle<()>,
    /// Checkpoint commands for the share, when it takes checkpoints.
    checkpoints: Option<mpsc::Sender<CheckpointCommand>>,
    /// The share's end-of-input output, published on `CommitFinal`.
    finals: Option<FinalCommitSlot>,
}

fn control_loop(
    opts: &WorkerOptions,
    catalog: &Arc<dyn JobCatalog>,
    reader: &mut ControlReader,
    writer: &SharedWriter,
    (reg, board): (&Registration, &Arc<PressureBoard>),
) -> Result<WorkerExit> {
    let mut running: Option<Running> = None;
    loop {
        let msg = reader.recv::<ToWorker>()?;
        match msg {
            ToWorker::Deploy {
                job,
                spec,
                subtask_offset,
                cores,
                parallelism,
                checkpoint_run,
                restore_checkpoint,
            } => {
                // A finished share stays until the next deployment, for
                // its final commit.
                if let Some(r) = running.as_ref().filter(|r| !r.thread.is_finished()) {
                    return Err(ClusterError::Protocol {
                        peer: reader.peer().to_string(),
                        reason: format!("job {job} deployed while job {} still runs here", r.job),
                    });
                }
                let share = Share {
                    job,
                    subtask_offset,
                    cores,
                    parallelism,
                    checkpoint_run,
                    restore_checkpoint,
                };
                // The last share's thread has ended: its memory is free.
                drop(running.take());
                if let Some(release) = opts.release_memory {
                    release();
                }
                board.start(job);
                let plane = (reg, board.clone());
                running = Some(deploy(opts, catalog, writer, plane, spec, share)?);
            }
            ToWorker::Start { job, slots } => {
                if let Some(r) = running.as_ref().filter(|r| r.job == job) {
                    r.rendezvous.start(slots);
                }
            }
            ToWorker::TriggerCheckpoint { job, id } => {
                forward(running.as_ref(), job, CheckpointCommand::Trigger { id });
            }
            ToWorker::CheckpointComplete { job, id } => {
                forward(running.as_ref(), job, CheckpointCommand::Complete { id });
            }
            ToWorker::EndInput { job } => {
                forward(running.as_ref(), job, CheckpointCommand::EndInput);
            }
            ToWorker::CommitFinal { job } => {
                spate_state::crash_point::hit(spate_state::crash_point::SHARE_BEFORE_PUBLISH);
                let error = running
                    .as_ref()
                    .filter(|r| r.job == job)
                    .and_then(|r| r.finals.as_ref())
                    .and_then(|slot| commit_final(slot, job));
                // The coordinator tells the client the job finished only
                // once every worker's end-of-input output is published.
                let msg = ToCoordinator::FinalCommitted {
                    job,
                    worker: reg.worker,
                    epoch: reg.epoch,
                    error,
                };
                send(writer, &msg)?;
            }
            ToWorker::Cancel { job, reason } => {
                if let Some(r) = running.take().filter(|r| r.job == job) {
                    cancel(r, job, &reason)?;
                }
            }
            ToWorker::Fenced { reason } => return Err(ClusterError::Fenced { reason }),
            ToWorker::Shutdown => return Ok(WorkerExit::Shutdown),
            ToWorker::Registered { .. } => {
                return Err(ClusterError::Protocol {
                    peer: reader.peer().to_string(),
                    reason: "registered twice".into(),
                });
            }
        }
    }
}

/// Publishes a finished share's end-of-input output; why it failed, if it did.
fn commit_final(slot: &FinalCommitSlot, job: u64) -> Option<String> {
    let finals = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(Err(e)) = finals.map(FinalCommit::commit) {
        tracing::error!("job {job}: publishing the final output failed: {e}");
        return Some(e.to_string());
    }
    None
}

/// Passes a checkpoint command to the share of `job`, if it runs here.
fn forward(running: Option<&Running>, job: u64, cmd: CheckpointCommand) {
    if let Some(tx) = running
        .filter(|r| r.job == job)
        .and_then(|r| r.checkpoints.as_ref())
    {
        // A share that ended no longer listens; nothing to do.
        let _ = tx.send(cmd);
    }
}

/// A job's share on this worker.
#[derive(Debug, Clone, Copy)]
struct Share {
    job: u64,
    subtask_offset: u32,
    cores: u32,
    parallelism: u32,
    checkpoint_run: u64,
    restore_checkpoint: Option<u64>,
}

/// The checkpoint directory every attempt of a job shares, and the plan
/// the coordinator needs; `None` when the job runs without checkpoints.
fn checkpoint_plan(job: &Job, config: &Config, spec: &JobSpec, run: u64) -> Option<CheckpointPlan> {
    let c = &config.checkpoint;
    if c.interval_ms == 0 {
        return None;
    }
    if let Some(reason) = job.checkpoint_blocker() {
        tracing::warn!("job `{}` runs WITHOUT checkpoints: {reason}", spec.name);
        return None;
    }
    let dir = c
        .dir
        .join(path_safe(&spec.name))
        .join(format!("cluster-{run}"));
    Some(CheckpointPlan {
        interval_ms: c.interval_ms,
        timeout_ms: c.timeout_ms,
        pause_min_ms: c.pause_min_ms,
        dir: dir.display().to_string(),
        retained: c.retained,
        restarts_max: c.restarts_max,
    })
}

/// How the share reports its checkpoints to the coordinator.
fn checkpoint_reports(
    writer: SharedWriter,
    reg: &Registration,
    job: u64,
) -> Box<dyn FnMut(CheckpointReport) + Send> {
    let (worker, epoch) = (reg.worker, reg.epoch);
    Box::new(move |report| {
        let msg = match report {
            CheckpointReport::Acked { id, subtasks_json } => ToCoordinator::CheckpointAck {
                job,
                worker,
                epoch,
                id,
                subtasks_json,
            },
            CheckpointReport::Declined { id, reason } => ToCoordinator::CheckpointDeclined {
                job,
                worker,
                epoch,
                id,
                reason,
            },
            CheckpointReport::InputEnded => ToCoordinator::InputEnded { job, worker, epoch },
        };
        if let Err(e) = send(&writer, &msg) {
            tracing::warn!("cannot report checkpoint progress of job {job}: {e}");
        }
    })
}

fn deploy(
    opts: &WorkerOptions,
    catalog: &Arc<dyn JobCatalog>,
    writer: &SharedWriter,
    (reg, pressure): (&Registration, Arc<PressureBoard>),
    spec: JobSpec,
    share: Share,
) -> Result<Running> {
    let job = share.job;
    let savepoint = spec.from_savepoint.clone();
    let rendezvous = Arc::new(Rendezvous::new(
        share.cores as usize,
        Duration::from_millis(opts.deploy_timeout_ms),
    ));
    let built = catalog.build(&spec).map(|(job, mut config)| {
        config.runtime.cores = share.cores;
        config.runtime.pin_cores &= opts.pin_cores;
        (job, config)
    });
    let (built_job, config) = match built {
        Ok(b) => b,
        Err(reason) => {
            let reason = format!("cannot build job `{}`: {reason}", spec.name);
            report_failure(writer, reg, job, reason);
            return Ok(finished_share(job, rendezvous));
        }
    };
    let plane = DataPlane {
        worker: reg.worker,
        epoch: reg.epoch,
        job,
        subtask_offset: share.subtask_offset as usize,
        host: opts.data_host,
        net: opts.net,
        buffers_per_channel: opts.buffers_per_channel,
        rendezvous: rendezvous.clone(),
        pressure,
    };
    let placement = Placement {
        subtask_offset: share.subtask_offset as usize,
        parallelism: share.parallelism as usize,
        links: plane.link_setup(),
    };
    let plan = checkpoint_plan(&built_job, &config, &spec, share.checkpoint_run);
    let finals: Option<FinalCommitSlot> = plan.as_ref().map(|_| Arc::default());
    let (commands, checkpoints) = match &plan {
        Some(plan) => {
            let (tx, rx) = mpsc::channel();
            let ckpt = PlacedCheckpoints {
                run_dir: PathBuf::from(&plan.dir),
                // A restart restores the job's own newest checkpoint; the
                // first attempt of a job from a savepoint restores that.
                restore: share
                    .restore_checkpoint
                    .or(savepoint.as_ref().map(|s| s.checkpoint_id)),
                restore_from: savepoint
                    .filter(|_| share.restore_checkpoint.is_none())
                    .map(|s| PathBuf::from(s.location)),
                attempt: job,
                commands: rx,
                reports: checkpoint_reports(writer.clone(), reg, job),
                final_commit: finals.clone(),
                final_checkpoint: config.checkpoint.final_checkpoint,
                background_priority: config.checkpoint.background_priority,
            };
            (Some(tx), Some(ckpt))
        }
        None => (None, None),
    };
    let thread = spawn_share(
        (built_job, config, placement, checkpoints),
        writer.clone(),
        rendezvous.clone(),
        reg,
        job,
    )?;
    let addrs = rendezvous.wait_addrs();
    match addrs {
        Ok(addrs) => send(
            writer,
            &ToCoordinator::DataReady {
                job,
                worker: reg.worker,
                epoch: reg.epoch,
                addrs,
                checkpoints: plan,
            },
        )?,
        Err(e) => rendezvous.fail(e.to_string()),
    }
    Ok(Running {
        job,
        rendezvous,
        thread,
        checkpoints: commands,
        finals,
    })
}

fn finished_share(job: u64, rendezvous: Arc<Rendezvous>) -> Running {
    Running {
        job,
        rendezvous,
        thread: thread::spawn(|| {}),
        checkpoints: None,
        finals: None,
    }
}

fn spawn_share(
    (job, config, placement, checkpoints): (Job, Config, Placement, Option<PlacedCheckpoints>),
    writer: SharedWriter,
    rendezvous: Arc<Rendezvous>,
    reg: &Registration,
    id: u64,
) -> Result<JoinHandle<()>> {
    let (worker, epoch) = (reg.worker, reg.epoch);
    thread::Builder::new()
        .name(format!("spate-job-{id}"))
        .spawn(move || {
            let result = match checkpoints {
                Some(c) => job.run_placed_checkpointed(&config, placement, c),
                None => job.run_placed(&config, placement),
            };
            let msg = match result {
                Ok(result) => ToCoordinator::JobDone {
                    job: id,
                    worker,
                    epoch,
                    metrics: result.metrics.to_wire(),
                },
                Err(e) => {
                    // Ends a deployment wait that this failure made hopeless.
                    rendezvous.fail(e.to_string());
                    ToCoordinator::JobFailed {
                        job: id,
                        worker,
                        epoch,
                        reason: e.to_string(),
                    }
                }
            };
            if let Err(e) = send(&writer, &msg) {
                tracing::error!("cannot report the end of job {id}: {e}");
            }
        })
        .map_err(|e| ClusterError::Internal {
            reason: format!("cannot start the job thread: {e}"),
        })
}

fn report_failure(writer: &SharedWriter, reg: &Registration, job: u64, reason: String) {
    tracing::error!("job {job}: {reason}");
    let msg = ToCoordinator::JobFailed {
        job,
        worker: reg.worker,
        epoch: reg.epoch,
        reason,
    };
    if let Err(e) = send(writer, &msg) {
        tracing::error!("cannot report job {job}'s failure: {e}");
    }
}

/// Stops a cancelled share: deployment waits end at once; a running share
/// gets a grace period to fail on its own (its links break when the peers
/// go), after which the worker exits so the launcher can replace it.
fn cancel(running: Running, job: u64, reason: &str) -> Result<()> {
    tracing::warn!("job {job} cancelled: {reason}");
    running
        .rendezvous
        .fail(format!("job {job} was cancelled: {reason}"));
    for _ in 0..50 {
        if running.thread.is_finished() {
            return Ok(());
        }
        thread::sleep(Duration::from_millis(100));
    }
    Err(ClusterError::JobFailed {
        job,
        reason: format!(
            "cancelled ({reason}), and its tasks did not stop within 5 s; the worker exits"
        ),
    })
}
