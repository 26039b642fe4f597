//! A local cluster of real processes, driven through the `spate` binary:
//! `spate cluster start|stop`, `spate submit`, the pid files it writes, and
//! `/proc` for liveness, memory and file descriptors.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::error::{Result, TortureError, io};

/// The `spate` executable: `$SPATE_BIN`, else next to this executable (or
/// one directory up, where test executables live in `deps/`).
pub fn find_spate_binary() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("SPATE_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe()
        .map_err(|e| TortureError::Cluster(format!("cannot find this executable: {e}")))?;
    let candidates: Vec<PathBuf> = exe
        .ancestors()
        .skip(1)
        .take(2)
        .map(|d| d.join("spate"))
        .collect();
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| {
            TortureError::Cluster(format!(
                "cannot find the spate executable (looked at {}); build it with \
                 `cargo build --workspace` or set SPATE_BIN",
                candidates
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" and ")
            ))
        })
}

/// A process of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// `coordinator` or `worker-<n>`.
    pub name: String,
    /// Its pid.
    pub pid: u32,
}

/// Memory and file descriptors of the live processes of a cluster.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resources {
    /// Live processes measured.
    pub processes: u32,
    /// Resident memory of the coordinator, in KiB.
    pub coordinator_rss_kib: u64,
    /// Open file descriptors of the coordinator.
    pub coordinator_fds: u64,
    /// Resident memory of all workers together, in KiB.
    pub workers_rss_kib: u64,
    /// Open file descriptors of all workers together.
    pub workers_fds: u64,
}

/// A cluster started in a directory; stopped when dropped.
#[derive(Debug)]
pub struct LocalCluster {
    spate: PathBuf,
    dir: PathBuf,
    /// The arguments of `spate cluster start` after `--dir DIR`, and the
    /// environment: a restart of the coordinator uses them again.
    start_args: Vec<String>,
    env: Vec<(String, String)>,
    stopped: bool,
}

impl LocalCluster {
    /// Starts a coordinator and `workers` one-core workers in `dir`, whose
    /// data links and control links (to the coordinator) go through the
    /// HTTP CONNECT proxy `proxy` if given; every process of it gets the
    /// environment variables `env`.
    pub fn start(
        spate: &Path,
        dir: &Path,
        workers: u32,
        heartbeat_timeout_ms: u64,
        proxy: Option<std::net::SocketAddr>,
        env: &[(&str, String)],
    ) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| io("creating", dir, e))?;
        let mut start_args = vec![
            "--workers".to_string(),
            workers.to_string(),
            "--heartbeat-timeout-ms".to_string(),
            heartbeat_timeout_ms.to_string(),
        ];
        if let Some(p) = proxy {
            let p = p.to_string();
            start_args.extend([
                "--data-proxy".into(),
                p.clone(),
                "--control-proxy".into(),
                p,
            ]);
        }
        let cluster = Self {
            spate: spate.to_path_buf(),
            dir: dir.to_path_buf(),
            start_args,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            stopped: false,
        };
        cluster.start_coordinator()?;
        Ok(cluster)
    }

    /// Starts the coordinator again in the cluster's directory (after it
    /// died): it launches new workers and resumes the job that ran.
    pub fn restart_coordinator(&self) -> Result<()> {
        self.start_coordinator()
    }

    fn start_coordinator(&self) -> Result<()> {
        let out = Command::new(&self.spate)
            .args(["cluster", "start", "--dir"])
            .arg(&self.dir)
            .args(&self.start_args)
            // The coordinator's log says when each checkpoint and restart happened.
            .env("RUST_LOG", "info")
            // Inherited by the coordinator and the workers it launches.
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .map_err(|e| {
                TortureError::Cluster(format!("cannot run {}: {e}", self.spate.display()))
            })?;
        if !out.status.success() {
            return Err(TortureError::Cluster(format!(
                "`spate cluster start` failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(())
    }

    /// The cluster's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Starts `spate submit JOB` with `settings` (`key=value`) and the job's
    /// `args`; its standard output and error go to `log`.
    pub fn submit(
        &self,
        job: &str,
        parallelism: u32,
        settings: &[String],
        args: &[String],
        log: &Path,
    ) -> Result<Child> {
        let file = std::fs::File::create(log).map_err(|e| io("creating", log, e))?;
        let err = file.try_clone().map_err(|e| io("opening", log, e))?;
        let mut c = Command::new(&self.spate);
        c.args([
            "submit",
            job,
            "--parallelism",
            &parallelism.to_string(),
            "--dir",
        ])
        .arg(&self.dir);
        for s in settings {
            c.args(["--set", s]);
        }
        c.arg("--")
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .spawn()
            .map_err(|e| TortureError::Cluster(format!("cannot run `spate submit`: {e}")))
    }

    /// The live processes of the cluster, coordinator first, then workers
    /// by number.
    pub fn members(&self) -> Vec<Member> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut out: Vec<(u32, Member)> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let name = name.strip_suffix(".pid")?.to_string();
                let order = match name.strip_prefix("worker-") {
                    Some(n) => n.parse::<u32>().ok()?.saturating_add(1),
                    None if name == "coordinator" => 0,
                    None => return None,
                };
                let pid = std::fs::read_to_string(e.path())
                    .ok()?
                    .trim()
                    .parse()
                    .ok()?;
                alive(pid).then_some((order, Member { name, pid }))
            })
            .collect();
        out.sort_by_key(|(order, _)| *order);
        out.into_iter().map(|(_, m)| m).collect()
    }

    /// The live workers.
    pub fn workers(&self) -> Vec<Member> {
        self.members()
            .into_iter()
            .filter(|m| m.name != "coordinator")
            .collect()
    }

    /// Memory and file descriptors of the live processes now.
    pub fn resources(&self) -> Resources {
        let mut r = Resources::default();
        for m in self.members() {
            let (rss, fds) = (rss_kib(m.pid), fd_count(m.pid));
            r.processes += 1;
            if m.name == "coordinator" {
                r.coordinator_rss_kib = rss;
                r.coordinator_fds = fds;
            } else {
                r.workers_rss_kib += rss;
                r.workers_fds += fds;
            }
        }
        r
    }

    /// The address the coordinator listens on now.
    pub fn coordinator_addr(&self) -> Option<std::net::SocketAddr> {
        std::fs::read_to_string(self.dir.join("coordinator.addr"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// The coordinator's log so far.
    pub fn coordinator_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("coordinator.log")).unwrap_or_default()
    }

    /// Stops every process of the cluster.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let _ = Command::new(&self.spate)
            .args(["cluster", "stop", "--dir"])
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits for `spate submit` (`child`) to exit, at most `limit`; an error
/// names its log when it does not.
pub fn wait_job(
    child: &mut Child,
    limit: std::time::Duration,
    log: &Path,
) -> Result<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let exited = child
            .try_wait()
            .map_err(|e| TortureError::Cluster(format!("cannot wait for `spate submit`: {e}")))?;
        if let Some(status) = exited {
            return Ok(status);
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            return Err(TortureError::Cluster(format!(
                "the job did not end within {} s; see {}",
                limit.as_secs(),
                log.display()
            )));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Waits up to `limit` for every one of `members` to exit; those still
/// alive then (none when all exited).
pub fn still_alive_after(members: &[Member], limit: std::time::Duration) -> Vec<Member> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let left: Vec<Member> = members.iter().filter(|m| alive(m.pid)).cloned().collect();
        if left.is_empty() || std::time::Instant::now() >= deadline {
            return left;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Sends `signal` (`KILL`, `STOP`, `CONT`) to `pid`.
pub fn signal(pid: u32, signal: &str) -> Result<()> {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .map_err(|e| TortureError::Cluster(format!("cannot run kill: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(TortureError::Cluster(format!(
            "kill -{signal} {pid} failed ({status})"
        )))
    }
}

/// True when `pid` runs (a zombie is dead: its `/proc` state is `Z`).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().to_string())
        })
        .is_some_and(|rest| !rest.starts_with('Z'))
}

/// Resident memory of process `pid` in KiB (0 when it is gone).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn fd_count(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64)
}

/// The settings of [`OracleArgs::short_run`](crate::OracleArgs::short_run)
/// jobs: checkpoints every 250 ms to `checkpoints`, restarts enough for
/// any single fault, and small io_uring buffers for a loaded machine.
pub fn short_run_settings(checkpoints: &Path) -> Vec<String> {
    vec![
        "checkpoint.interval_ms=250".to_string(),
        format!("checkpoint.dir={}", checkpoints.display()),
        "checkpoint.restarts_max=100".to_string(),
        "runtime.io_memory_kib=256".to_string(),
    ]
}

/// The newest completed checkpoint under `dir` (any job and run): the
/// highest id of a `chk-<id>.json` manifest.
pub fn latest_checkpoint(dir: &Path) -> Option<u64> {
    let mut best = None;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(e.path());
            } else if let Some(id) = name
                .strip_prefix("chk-")
                .and_then(|n| n.strip_suffix(".json"))
                .and_then(|n| n.parse::<u64>().ok())
            {
                best = best.max(Some(id));
            }
        }
    }
    best
}
