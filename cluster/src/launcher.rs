//! Where workers come from. The coordinator's scheduler asks a
//! [`ResourceLauncher`] for workers and never starts processes itself, so
//! the same scheduler runs on local processes, Kubernetes pods or YARN
//! containers.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::error::{ClusterError, Result};

pub mod k8s;
pub mod rest;
pub mod yarn;

/// Starts and stops worker processes.
pub trait ResourceLauncher: Send {
    /// Starts `count` more workers that register with `coordinator`.
    fn launch(&mut self, coordinator: SocketAddr, count: u32) -> Result<()>;
    /// Stops every worker this launcher started and still runs.
    fn stop_all(&mut self);
}

/// Launches workers as local processes of the `spate` binary, writing
/// `worker-<n>.pid` and `worker-<n>.log` into a directory.
pub struct LocalProcessLauncher {
    binary: PathBuf,
    dir: PathBuf,
    cores_per_worker: u32,
    extra_args: Vec<String>,
    children: Vec<(u32, Child)>,
    next: u32,
}

impl LocalProcessLauncher {
    /// Workers of `cores_per_worker` cores each, started from `binary`
    /// (the `spate` executable) with `extra_args` after `worker`.
    pub fn new(
        binary: PathBuf,
        dir: PathBuf,
        cores_per_worker: u32,
        extra_args: Vec<String>,
    ) -> Self {
        Self {
            binary,
            dir,
            cores_per_worker,
            extra_args,
            children: Vec::new(),
            next: 1,
        }
    }

    fn start_one(&mut self, coordinator: SocketAddr) -> Result<()> {
        let n = self.next;
        self.next += 1;
        let log_path = self.dir.join(format!("worker-{n}.log"));
        let launch = |reason: String| ClusterError::Launch {
            op: "start",
            what: format!("worker {n}"),
            reason,
        };
        let log = fs::File::create(&log_path)
            .map_err(|e| launch(format!("cannot create {}: {e}", log_path.display())))?;
        let err_log = log
            .try_clone()
            .map_err(|e| launch(format!("cannot share {}: {e}", log_path.display())))?;
        let child = Command::new(&self.binary)
            .arg("worker")
            .arg("--coordinator")
            .arg(coordinator.to_string())
            .arg("--cores")
            .arg(self.cores_per_worker.to_string())
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err_log)
            .spawn()
            .map_err(|e| launch(format!("cannot run {}: {e}", self.binary.display())))?;
        write_pid(&self.dir.join(format!("worker-{n}.pid")), child.id())?;
        self.children.push((n, child));
        Ok(())
    }

    /// Forgets children that have exited (and reaps them).
    fn reap(&mut self) {
        self.children
            .retain_mut(|(_, c)| matches!(c.try_wait(), Ok(None)));
    }
}

impl ResourceLauncher for LocalProcessLauncher {
    fn launch(&mut self, coordinator: SocketAddr, count: u32) -> Result<()> {
        self.reap();
        for _ in 0..count {
            self.start_one(coordinator)?;
        }
        Ok(())
    }

    fn stop_all(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.children.clear();
    }
}

impl Drop for LocalProcessLauncher {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// Writes a pid file atomically (temporary file, then rename), so a reader
/// never sees half a number.
pub fn write_pid(path: &Path, pid: u32) -> Result<()> {
    let tmp = path.with_extension("pid.tmp");
    fs::write(&tmp, format!("{pid}\n"))
        .and_then(|()| fs::rename(&tmp, path))
        .map_err(|e| ClusterError::Launch {
            op: "record",
            what: path.display().to_string(),
            reason: e.to_string(),
        })
}
