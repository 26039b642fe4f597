//! Workers of a local cluster on one host run on CPUs of their own: two
//! 1-core workers pinned to the same CPU would each get half of it.

#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;

use support::{Cluster, ok, spate};

/// The CPU list a process may run on, from `/proc/<pid>/status`.
fn cpus_allowed(pid: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap()
        .trim()
        .to_string()
}

fn worker_pid(dir: &Path, n: u32) -> String {
    std::fs::read_to_string(dir.join(format!("worker-{n}.pid")))
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn each_worker_of_a_local_cluster_gets_its_own_cpu_while_there_are_enough() {
    let cpus = spate::cpus::allowed();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let d = dir.to_str().unwrap();
    ok(spate(&["cluster", "start", "--workers", "3", "--dir", d]));
    let _cluster = Cluster(dir);
    let seen: Vec<String> = (1..=3).map(|n| cpus_allowed(&worker_pid(dir, n))).collect();
    let all = cpus_allowed(&std::process::id().to_string());
    for (n, allowed) in seen.iter().enumerate() {
        if n < cpus.len() {
            // Worker n+1 holds the (n+1)-th CPU alone.
            assert_eq!(allowed, &cpus[n].to_string(), "worker {}: {seen:?}", n + 1);
        } else {
            // No CPU left: unpinned, on every CPU.
            assert_eq!(allowed, &all, "worker {}: {seen:?}", n + 1);
        }
    }
    // And the job still runs with every worker.
    let addr = std::fs::read_to_string(dir.join("coordinator.addr")).unwrap();
    let out = ok(spate(&[
        "bench",
        "nexmark",
        "--query",
        "q1",
        "--events",
        "200000",
        "--cluster",
        addr.trim(),
        "--parallelism",
        "3",
    ]));
    assert!(out.contains("checksum"), "{out}");
}
