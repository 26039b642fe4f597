//! What the cluster tests share: running the `spate` binary and a guard
//! that stops a local cluster even when an assertion fails.

use std::path::Path;
use std::process::{Command, Output};

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

/// Stops the cluster in its directory when dropped.
pub struct Cluster<'a>(pub &'a Path);

impl Drop for Cluster<'_> {
    fn drop(&mut self) {
        let _ = spate(&["cluster", "stop", "--dir", self.0.to_str().unwrap()]);
    }
}
