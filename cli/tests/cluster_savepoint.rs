//! Savepoints on a real cluster: `spate savepoint` asks the coordinator for
//! a savepoint of Nexmark q5 while it runs on two of three worker
//! processes; the job runs on to the end. Submitted again from that
//! savepoint with parallelism 3, the job reads only the events the
//! savepoint did not cover, takes over the key groups of the old subtasks,
//! and its summary's checksum equals the uninterrupted run's.

#![allow(clippy::unwrap_used)]

mod support;

use support::{Cluster, ClusterQ5, ok, spate, spate_with_log};

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// `spate bench nexmark` q5 on the cluster with checkpoints.
fn q5(addr: &str, checkpoints: &Path, parallelism: &str, extra: &[&str]) -> Command {
    ClusterQ5 {
        addr,
        checkpoints,
        events: "1000000",
        rate: "250000",
        parallelism,
        interval_ms: "10000",
    }
    .command(extra)
}

fn summary(text: &str) -> serde_json::Value {
    serde_json::from_str(text.trim()).unwrap()
}

/// Asks for a savepoint until the job runs (it is deployed first).
fn take_savepoint(d: &str, into: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = spate(&[
            "savepoint",
            "running",
            "--into",
            into.to_str().unwrap(),
            "--dir",
            d,
        ]);
        if out.status.success() {
            return String::from_utf8(out.stdout).unwrap();
        }
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(
            err.contains("no job runs") || err.contains("being deployed"),
            "{err}"
        );
        assert!(Instant::now() < deadline, "the job never ran: {err}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_savepoint_taken_on_two_workers_restores_on_three_with_the_same_checksum() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    ok(spate_with_log(
        &["cluster", "start", "--workers", "3", "--dir", d],
        "info",
    ));
    let _cluster = Cluster(dir.path());
    let addr = std::fs::read_to_string(dir.path().join("coordinator.addr")).unwrap();
    let addr = addr.trim();
    let checkpoints = dir.path().join("checkpoints");
    let savepoint = dir.path().join("savepoint");

    let job = q5(addr, &checkpoints, "2", &[]).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    let said = take_savepoint(d, &savepoint);
    assert!(said.contains("written to"), "{said}");
    let first = summary(&ok(job.wait_with_output().unwrap()));

    let restored = ok(q5(
        addr,
        &checkpoints,
        "3",
        &["--from-savepoint", savepoint.to_str().unwrap()],
    )
    .output()
    .unwrap());
    let restored = summary(&restored);
    assert!(
        restored["checkpoints"]["restored_from"].as_u64().is_some(),
        "the run restored the savepoint: {restored}"
    );
    assert!(first["output_records"].as_u64().unwrap() > 0);
    for field in ["checksum", "output_records", "events"] {
        assert_eq!(restored[field], first[field], "{field}");
    }
}

#[test]
fn a_savepoint_of_a_job_without_checkpoints_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    ok(spate_with_log(
        &["cluster", "start", "--workers", "1", "--dir", d],
        "warn",
    ));
    let _cluster = Cluster(dir.path());
    let out = spate(&["savepoint", "running", "--into", "/tmp/never", "--dir", d]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no job runs"), "{err}");
}
