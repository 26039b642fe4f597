//! Talking to a coordinator: submit a job and wait for its result, ask for
//! the cluster's status, or shut it down.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use spate::metrics::JobMetrics;

use crate::control_io::{ControlReader, split};
use crate::error::{ClusterError, Result};
use crate::protocol::{
    Assignment, CheckpointSummary, JobSpec, SavepointRef, StatusReport, ToClient, ToCoordinator,
};

/// A finished job as the client sees it.
#[derive(Debug)]
pub struct ClusterJobResult {
    /// The job's id.
    pub job: u64,
    /// Which worker ran which subtasks.
    pub plan: Vec<Assignment>,
    /// The merged metrics of every worker (records, checksums, latency).
    pub metrics: JobMetrics,
    /// From deployment to the last worker's report.
    pub wall: Duration,
    /// What its checkpoints did, when it took any.
    pub checkpoints: Option<CheckpointSummary>,
}

fn connect(addr: &str) -> Result<(ControlReader, crate::control_io::ControlWriter)> {
    let resolved = addr.to_socket_addrs().and_then(|mut a| {
        a.next().ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, "the name has no address")
        })
    });
    let stream = resolved
        .and_then(TcpStream::connect)
        .map_err(|source| ClusterError::Io {
            op: "connect",
            peer: addr.to_string(),
            source,
        })?;
    split(stream)
}

/// How a submitting client finds its job again after losing the
/// coordinator (a restarted coordinator resumes the job, maybe elsewhere).
pub struct Reattach<'a> {
    /// The coordinator's address now; `None` while it is not known.
    pub addr: &'a mut dyn FnMut() -> Option<String>,
    /// How long to keep trying before giving up.
    pub timeout_ms: u64,
}

/// Pause between attempts to reach a restarting coordinator.
const REATTACH_PAUSE_MS: u64 = 200;

/// Submits `spec` with `parallelism` and waits until it finishes or fails.
/// `on_accepted` sees the plan as soon as the job is deployed.
pub fn submit(
    addr: &str,
    spec: JobSpec,
    parallelism: u32,
    on_accepted: impl FnMut(u64, &[Assignment]),
) -> Result<ClusterJobResult> {
    submit_reattaching(addr, spec, parallelism, on_accepted, None)
}

/// [`submit`], and when the connection to the coordinator is lost after
/// the job was accepted, attaches to it again through `reattach`.
pub fn submit_reattaching(
    addr: &str,
    spec: JobSpec,
    parallelism: u32,
    mut on_accepted: impl FnMut(u64, &[Assignment]),
    mut reattach: Option<Reattach<'_>>,
) -> Result<ClusterJobResult> {
    // Both halves live as long as the connection is waited on.
    let mut conn = connect(addr)?;
    conn.1.send(&ToCoordinator::Submit { spec, parallelism })?;
    let mut accepted: Option<(u64, Vec<Assignment>)> = None;
    let mut root: Option<u64> = None;
    loop {
        let msg = match conn.0.recv::<ToClient>() {
            Ok(msg) => msg,
            Err(e @ (ClusterError::Closed { .. } | ClusterError::Io { .. })) => {
                let (Some(r), Some(root)) = (reattach.as_mut(), root) else {
                    return Err(e);
                };
                tracing::warn!("lost the coordinator ({e}); attaching to job {root} again");
                let attempt;
                (conn, attempt) = attach(r, root)?;
                tracing::warn!(
                    "attached to job {root} again ({})",
                    if attempt == 0 {
                        "it waits for workers".to_string()
                    } else {
                        format!("attempt {attempt} runs")
                    }
                );
                continue;
            }
            Err(e) => return Err(e),
        };
        match msg {
            ToClient::Accepted { job, plan } => {
                root.get_or_insert(job);
                on_accepted(job, &plan);
                accepted = Some((job, plan));
            }
            ToClient::Attached { root, .. } => {
                return Err(ClusterError::Protocol {
                    peer: addr.to_string(),
                    reason: format!("attached to job {root} without asking"),
                });
            }
            ToClient::Finished {
                job,
                metrics,
                wall_ms,
                checkpoints,
            } => {
                let plan = accepted.map(|(_, p)| p).unwrap_or_default();
                return Ok(ClusterJobResult {
                    job,
                    plan,
                    metrics: JobMetrics::from_wire(&metrics),
                    wall: Duration::from_millis(wall_ms),
                    checkpoints,
                });
            }
            ToClient::Failed { job, reason } => {
                return Err(ClusterError::JobFailed { job, reason });
            }
            other => {
                return Err(ClusterError::Protocol {
                    peer: addr.to_string(),
                    reason: format!("unexpected answer to a submission: {other:?}"),
                });
            }
        }
    }
}

/// Reaches the coordinator again and attaches to job `root`, retrying
/// until the limit.
/// The connection, and the attempt that runs (0: none yet).
fn attach(
    r: &mut Reattach<'_>,
    root: u64,
) -> Result<((ControlReader, crate::control_io::ControlWriter), u64)> {
    let deadline = std::time::Instant::now() + Duration::from_millis(r.timeout_ms);
    loop {
        let attempt = (r.addr)()
            .ok_or_else(|| ClusterError::Invalid {
                reason: "the coordinator's address is not known yet".into(),
            })
            .and_then(|addr| {
                let (mut reader, mut writer) = connect(&addr)?;
                writer.send(&ToCoordinator::Attach { root })?;
                match reader.recv::<ToClient>()? {
                    ToClient::Attached { job, .. } => Ok(((reader, writer), job)),
                    ToClient::Failed { job, reason } => {
                        Err(ClusterError::JobFailed { job, reason })
                    }
                    other => Err(ClusterError::Protocol {
                        peer: addr,
                        reason: format!("unexpected answer to an attach request: {other:?}"),
                    }),
                }
            });
        match attempt {
            Ok(halves) => return Ok(halves),
            Err(e @ (ClusterError::JobFailed { .. } | ClusterError::Protocol { .. })) => {
                return Err(e);
            }
            Err(_) if std::time::Instant::now() >= deadline => {
                return Err(ClusterError::Timeout {
                    what: format!("the coordinator to come back and resume job {root}"),
                    limit_ms: r.timeout_ms,
                });
            }
            Err(_) => std::thread::sleep(Duration::from_millis(REATTACH_PAUSE_MS)),
        }
    }
}

/// A savepoint the coordinator wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenSavepoint {
    /// The job it is of.
    pub job: u64,
    /// Where it is and the checkpoint it holds.
    pub savepoint: SavepointRef,
    /// State files in it.
    pub files: u64,
    /// Bytes of state files in it.
    pub bytes: u64,
}

/// Asks for a savepoint of job `job` (0: the running job) into `target`
/// and waits until it is written.
pub fn savepoint(addr: &str, job: u64, target: &str) -> Result<WrittenSavepoint> {
    let (mut reader, mut writer) = connect(addr)?;
    writer.send(&ToCoordinator::Savepoint {
        job,
        target: target.to_string(),
    })?;
    match reader.recv::<ToClient>()? {
        ToClient::SavepointWritten {
            job,
            savepoint,
            files,
            bytes,
        } => Ok(WrittenSavepoint {
            job,
            savepoint,
            files,
            bytes,
        }),
        ToClient::SavepointFailed { reason } => Err(ClusterError::Savepoint { reason }),
        other => Err(ClusterError::Protocol {
            peer: addr.to_string(),
            reason: format!("unexpected answer to a savepoint request: {other:?}"),
        }),
    }
}

/// The cluster's status.
pub fn status(addr: &str) -> Result<StatusReport> {
    let (mut reader, mut writer) = connect(addr)?;
    writer.send(&ToCoordinator::Status)?;
    match reader.recv::<ToClient>()? {
        ToClient::Status(report) => Ok(report),
        other => Err(ClusterError::Protocol {
            peer: addr.to_string(),
            reason: format!("unexpected answer to a status request: {other:?}"),
        }),
    }
}

/// Asks the coordinator to stop itself and its workers.
pub fn shutdown(addr: &str) -> Result<()> {
    let (mut reader, mut writer) = connect(addr)?;
    writer.send(&ToCoordinator::Shutdown)?;
    match reader.recv::<ToClient>() {
        Ok(ToClient::ShuttingDown) | Err(ClusterError::Closed { .. }) => Ok(()),
        Ok(other) => Err(ClusterError::Protocol {
            peer: addr.to_string(),
            reason: format!("unexpected answer to a shutdown request: {other:?}"),
        }),
        Err(e) => Err(e),
    }
}
