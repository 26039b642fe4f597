//! The coordinator's operations API on a real local cluster: while Nexmark
//! q5 runs with checkpoints on two worker processes, `/v1/jobs` lists it,
//! `/v1/jobs/{id}/checkpoints` shows completed checkpoints with their size
//! and duration, `/v1/jobs/{id}/backpressure` the channels the workers
//! report, and `spate status` prints them; after the run the job is listed
//! as finished.

#![allow(clippy::unwrap_used)]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Cluster, ClusterQ5, ok, spate, spate_with_log};

fn get(addr: &str, path: &str) -> (String, Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.lines().next().unwrap().to_string();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// Polls `path` until `done` holds for its JSON.
fn wait_for(addr: &str, path: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, v) = get(addr, path);
        if done(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "never saw {what}: {v}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn jobs_checkpoints_backpressure_and_status_of_a_running_job() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    ok(spate_with_log(
        &["cluster", "start", "--workers", "2", "--dir", d],
        "warn",
    ));
    let _cluster = Cluster(dir.path());
    let addr = std::fs::read_to_string(dir.path().join("coordinator.addr")).unwrap();
    let http = std::fs::read_to_string(dir.path().join("http.addr")).unwrap();
    let http = http.trim();
    let checkpoints = dir.path().join("checkpoints");

    let (status, v) = get(http, "/v1/jobs");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(v["jobs"], serde_json::json!([]), "no job yet");

    let job = ClusterQ5 {
        addr: addr.trim(),
        checkpoints: &checkpoints,
        events: "2000000",
        rate: "250000",
        parallelism: "2",
        interval_ms: "500",
    }
    .command(&[])
    .spawn()
    .unwrap();

    let jobs = wait_for(http, "/v1/jobs", "a running job", |v| {
        v["jobs"][0]["state"] == "running"
    });
    let id = jobs["jobs"][0]["job"].as_u64().unwrap();
    let (_, detail) = get(http, &format!("/v1/jobs/{id}"));
    assert_eq!(detail["parallelism"], 2, "{detail}");
    assert_eq!(detail["plan"].as_array().map(Vec::len), Some(2), "{detail}");

    // The first checkpoints may come before any window holds state.
    let with_state = |c: &Value| c["bytes"].as_u64().is_some_and(|b| b > 0);
    let cps = wait_for(
        http,
        &format!("/v1/jobs/{id}/checkpoints"),
        "a checkpoint with state",
        |v| {
            v["checkpoints"]
                .as_array()
                .is_some_and(|c| c.iter().any(with_state))
        },
    );
    let list = cps["checkpoints"].as_array().unwrap();
    let first = list.iter().find(|c| with_state(c)).unwrap();
    assert!(first["id"].as_u64().unwrap() >= 1, "{cps}");
    assert!(
        first["files"].as_u64().unwrap() > 0,
        "q5 keeps state: {cps}"
    );
    assert!(first["duration_ms"].as_u64().is_some(), "{cps}");
    let ids: Vec<u64> = list.iter().map(|c| c["id"].as_u64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "oldest first: {cps}");
    let age_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        - first["completed_unix_ms"].as_u64().unwrap();
    assert!(
        age_ms < 60_000,
        "completed_unix_ms is wall-clock time: {cps}"
    );

    // Subtasks 0 and 1 run on different workers: their links' channels.
    let bp = wait_for(
        http,
        &format!("/v1/jobs/{id}/backpressure"),
        "channels",
        |v| v["channels"].as_array().is_some_and(|c| !c.is_empty()),
    );
    for c in bp["channels"].as_array().unwrap() {
        let ratio = c["backpressure_ratio"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&ratio), "{bp}");
        assert_ne!(c["subtask"], c["peer"], "{bp}");
    }

    let shown = ok(spate(&["status", "--dir", d]));
    assert!(shown.contains("workers       2\n"), "{shown}");
    assert!(
        shown.contains(&format!("running       job {id} (")),
        "{shown}"
    );
    assert!(shown.contains("checkpoints   "), "{shown}");
    assert!(shown.contains("backpressure  max "), "{shown}");
    let (_, m) = {
        let mut s = TcpStream::connect(http).unwrap();
        write!(s, "GET /metrics HTTP/1.1\r\n\r\n").unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        ((), raw)
    };
    assert!(m.contains("spate_job_checkpoints_completed "), "{m}");
    assert!(
        m.contains("spate_channel_backpressure_ratio{worker="),
        "{m}"
    );

    ok(job.wait_with_output().unwrap());
    let (_, v) = get(http, &format!("/v1/jobs/{id}"));
    assert_eq!(v["state"], "finished", "{v}");
    assert_eq!(v["running"], false, "{v}");
    let (status, _) = get(http, "/v1/jobs/999");
    assert_eq!(status, "HTTP/1.1 404 Not Found");
}

#[test]
fn status_without_a_cluster_says_where_it_looked() {
    let dir = tempfile::tempdir().unwrap();
    let out = spate(&["status", "--dir", dir.path().to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("http.addr; is a cluster running there"),
        "{err}"
    );
}
