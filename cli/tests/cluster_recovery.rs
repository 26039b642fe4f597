//! Exactly-once on a real cluster: Nexmark q5 runs on a coordinator and
//! three worker processes with checkpoints every 200 ms; one worker is
//! killed with `kill -9` (the PID in `worker-<n>.pid`) while the job runs.
//! The coordinator restarts the job from its last completed checkpoint on
//! the surviving workers and a replacement, and the summary's output
//! checksum equals that of a run without the failure.

#![allow(clippy::unwrap_used)]

mod support;

use support::{Cluster, ClusterQ5, ok, spate_with_log};

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

/// `spate bench nexmark` q5 on the cluster with checkpoints every 200 ms,
/// as a child.
fn q5(addr: &str, checkpoints: &Path) -> Command {
    ClusterQ5 {
        addr,
        checkpoints,
        events: "1500000",
        rate: "300000",
        parallelism: "3",
        interval_ms: "200",
    }
    .command(&[])
}

/// (checksum, output records, events) of the run's JSON line, and its
/// checkpoints.
fn result(out: Output) -> ((String, u64, u64), serde_json::Value) {
    let text = ok(out);
    let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    (
        (
            v["checksum"].as_str().unwrap().to_string(),
            v["output_records"].as_u64().unwrap(),
            v["events"].as_u64().unwrap(),
        ),
        v["checkpoints"].clone(),
    )
}

#[test]
fn q5_survives_kill_9_of_a_worker_with_the_checksum_of_a_clean_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    // The coordinator's log says which checkpoint a restart restores.
    let start = [
        "cluster",
        "start",
        "--workers",
        "3",
        "--dir",
        d,
        "--heartbeat-timeout-ms",
        "2000",
    ];
    ok(spate_with_log(&start, "info"));
    let _cluster = Cluster(dir.path());
    let addr = std::fs::read_to_string(dir.path().join("coordinator.addr")).unwrap();
    let addr = addr.trim();
    let checkpoints = dir.path().join("checkpoints");

    let (clean, clean_checkpoints) = result(q5(addr, &checkpoints).output().unwrap());
    assert_eq!(clean_checkpoints["restarts"], 0, "{clean_checkpoints}");
    assert!(clean_checkpoints["completed"].as_u64().unwrap() > 0);

    let job = q5(addr, &checkpoints).spawn().unwrap();
    // Checkpoints complete every 200 ms; the run takes about 5 s.
    std::thread::sleep(Duration::from_millis(2500));
    support::kill_worker(dir.path(), 2);
    let (failed, failed_checkpoints) = result(job.wait_with_output().unwrap());
    assert_eq!(failed_checkpoints["restarts"], 1, "{failed_checkpoints}");
    assert!(
        failed_checkpoints["restored_from"].as_u64().is_some(),
        "the summary names the restored checkpoint: {failed_checkpoints}"
    );

    let log = std::fs::read_to_string(dir.path().join("coordinator.log")).unwrap();
    assert!(
        log.contains("restarting from checkpoint"),
        "the job restarted from a checkpoint, not from the beginning:\n{log}"
    );
    assert!(clean.1 > 0, "q5 has output");
    assert_eq!(failed, clean, "same checksum, output records and events");
}
