//! What the cluster tests share: running the `spate` binary and a guard
//! that stops a local cluster even when an assertion fails.

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Runs `spate` with `args`, logging at `log` (`RUST_LOG`).
pub fn spate_with_log(args: &[&str], log: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spate"))
        .args(args)
        .env("RUST_LOG", log)
        .output()
        .unwrap()
}

/// Runs `spate` with `args`, logging warnings only.
pub fn spate(args: &[&str]) -> Output {
    spate_with_log(args, "warn")
}

/// The standard output of a command that must have succeeded.
pub fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `kill -9` of worker `n` of the cluster in `dir` (the pid in its
/// `worker-<n>.pid`).
#[allow(dead_code)] // not every test binary kills a worker
pub fn kill_worker(dir: &Path, n: u32) {
    let pid = std::fs::read_to_string(dir.join(format!("worker-{n}.pid"))).unwrap();
    let killed = Command::new("kill")
        .args(["-9", pid.trim()])
        .status()
        .unwrap();
    assert!(
        killed.success(),
        "kill -9 of worker {n} (pid {})",
        pid.trim()
    );
}

/// Stops the cluster in its directory when dropped.
#[allow(dead_code)] // not every test binary starts a cluster
pub struct Cluster<'a>(pub &'a Path);

impl Drop for Cluster<'_> {
    fn drop(&mut self) {
        let _ = spate(&["cluster", "stop", "--dir", self.0.to_str().unwrap()]);
    }
}

/// A q5 run of `spate bench nexmark` on a cluster.
#[allow(dead_code)] // not every test binary runs q5
pub struct ClusterQ5<'a> {
    /// The coordinator's address.
    pub addr: &'a str,
    /// `checkpoint.dir`.
    pub checkpoints: &'a Path,
    /// `--events`.
    pub events: &'a str,
    /// `--rate`.
    pub rate: &'a str,
    /// `--parallelism`.
    pub parallelism: &'a str,
    /// `checkpoint.interval_ms`.
    pub interval_ms: &'a str,
}

impl ClusterQ5<'_> {
    /// The command, printing its JSON summary to a pipe, with `extra`
    /// arguments at the end.
    #[allow(dead_code)] // not every test binary runs q5
    pub fn command(&self, extra: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_spate"));
        c.args([
            "bench",
            "nexmark",
            "--query",
            "q5",
            "--events",
            self.events,
            "--rate",
            self.rate,
            "--cluster",
            self.addr,
            "--parallelism",
            self.parallelism,
            "--json",
            "--set",
            &format!("checkpoint.interval_ms={}", self.interval_ms),
            "--set",
            &format!("checkpoint.dir={}", self.checkpoints.display()),
            "--set",
            "runtime.io_memory_kib=256",
        ])
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        c
    }
}
