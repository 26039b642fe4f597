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
///
/// Workers on one host must not pin their executors to the same CPUs: each
/// worker gets its own `cores_per_worker` CPUs of this process's CPUs
/// (`spate worker --cpus`) while there are enough, and runs unpinned
/// (`--no-pin`) when there are not.
pub struct LocalProcessLauncher {
    binary: PathBuf,
    dir: PathBuf,
    cores_per_worker: u32,
    extra_args: Vec<String>,
    cpus: Vec<usize>,
    /// Live children: worker number, CPU slot, process.
    children: Vec<(u32, Option<usize>, Child)>,
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
            cpus: spate::cpus::allowed(),
            children: Vec::new(),
            next: 1,
        }
    }

    fn free_slot(&self) -> Option<usize> {
        let taken: Vec<usize> = self.children.iter().filter_map(|(_, s, _)| *s).collect();
        free_cpu_slot(self.cpus.len(), self.cores_per_worker, &taken)
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
        let slot = self.free_slot();
        let child = Command::new(&self.binary)
            .arg("worker")
            .arg("--coordinator")
            .arg(coordinator.to_string())
            .arg("--cores")
            .arg(self.cores_per_worker.to_string())
            .args(pinning_args(&self.cpus, self.cores_per_worker, slot))
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err_log)
            .spawn()
            .map_err(|e| launch(format!("cannot run {}: {e}", self.binary.display())))?;
        write_pid(&self.dir.join(format!("worker-{n}.pid")), child.id())?;
        self.children.push((n, slot, child));
        Ok(())
    }

    /// Forgets children that have exited (and reaps them).
    fn reap(&mut self) {
        self.children
            .retain_mut(|(_, _, c)| matches!(c.try_wait(), Ok(None)));
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
        for (_, _, child) in &mut self.children {
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

/// The lowest slot of `cores_per_worker` CPUs out of `cpus` that no live
/// worker holds (`taken`), if one is left.
fn free_cpu_slot(cpus: usize, cores_per_worker: u32, taken: &[usize]) -> Option<usize> {
    let slots = cpus / (cores_per_worker.max(1) as usize);
    (0..slots).find(|slot| !taken.contains(slot))
}

/// `--cpus LIST` for a worker in `slot` of `cpus`, or `--no-pin` without a
/// slot.
fn pinning_args(cpus: &[usize], cores_per_worker: u32, slot: Option<usize>) -> Vec<String> {
    let width = cores_per_worker.max(1) as usize;
    let Some(mine) = slot.and_then(|s| cpus.get(s * width..(s + 1) * width)) else {
        return vec!["--no-pin".into()];
    };
    vec!["--cpus".into(), spate::cpus::format_list(mine)]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_take_the_lowest_free_cpus_until_none_are_left() {
        // Four CPUs, two per worker: slots 0 and 1.
        assert_eq!(free_cpu_slot(4, 2, &[]), Some(0));
        assert_eq!(free_cpu_slot(4, 2, &[0]), Some(1));
        assert_eq!(free_cpu_slot(4, 2, &[0, 1]), None);
        // A replaced worker's slot is reused.
        assert_eq!(free_cpu_slot(4, 2, &[1]), Some(0));
        assert_eq!(free_cpu_slot(3, 2, &[0]), None);
    }

    #[test]
    fn a_slot_names_its_cpus_and_no_slot_leaves_the_worker_unpinned() {
        let cpus = [4, 5, 8, 9];
        assert_eq!(pinning_args(&cpus, 2, Some(1)), ["--cpus", "8,9"]);
        assert_eq!(pinning_args(&cpus, 1, Some(2)), ["--cpus", "8"]);
        assert_eq!(pinning_args(&cpus, 2, None), ["--no-pin"]);
        assert_eq!(pinning_args(&cpus, 2, Some(2)), ["--no-pin"]);
    }
}
