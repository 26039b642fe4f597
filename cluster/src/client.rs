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

/// Submits `spec` with `parallelism` and waits until it finishes or fails.
/// `on_accepted` sees the plan as soon as the job is deployed.
pub fn submit(
    addr: &str,
    spec: JobSpec,
    parallelism: u32,
    mut on_accepted: impl FnMut(u64, &[Assignment]),
) -> Result<ClusterJobResult> {
    let (mut reader, mut writer) = connect(addr)?;
    writer.send(&ToCoordinator::Submit { spec, parallelism })?;
    let mut accepted: Option<(u64, Vec<Assignment>)> = None;
    loop {
        match reader.recv::<ToClient>()? {
            ToClient::Accepted { job, plan } => {
                on_accepted(job, &plan);
                accepted = Some((job, plan));
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
