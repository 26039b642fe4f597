//! A long-lived worker must not keep descriptors per job: a cluster
//! redeploys a job after every failure, for weeks. Each run used to start
//! fresh executors, and glommio 0.9 leaves an eventfd behind per executor
//! (its issue 448): one descriptor per core per deployment, until the
//! worker hit its open-files limit. Executors now outlive runs.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use spate_torture::cluster::{LocalCluster, find_spate_binary};

fn run_job(cluster: &LocalCluster, dir: &std::path::Path, n: usize) {
    let log = dir.join(format!("submit-{n}.log"));
    let args: Vec<String> = ["--query", "q1", "--events", "20000"]
        .map(String::from)
        .into();
    let status = cluster
        .submit(
            "nexmark",
            2,
            &["runtime.io_memory_kib=256".into()],
            &args,
            &log,
        )
        .unwrap()
        .wait()
        .unwrap();
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

#[test]
fn jobs_run_one_after_another_leave_no_descriptor_behind_in_the_workers() {
    let spate = find_spate_binary().unwrap();
    let dir = std::env::temp_dir().join(format!("spate-worker-fds-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cluster = LocalCluster::start(&spate, &dir.join("cluster"), 2, 5_000, None, &[]).unwrap();
    // The first job starts each worker's executor and buffer pools.
    run_job(&cluster, &dir, 0);
    std::thread::sleep(Duration::from_millis(300));
    let before = cluster.resources().workers_fds;
    for n in 1..=10 {
        run_job(&cluster, &dir, n);
    }
    std::thread::sleep(Duration::from_millis(300));
    let after = cluster.resources().workers_fds;
    assert!(before > 0, "the workers' descriptors were counted");
    assert!(
        after < before + 4,
        "10 jobs left {} descriptors open in the workers ({before} → {after})",
        after.saturating_sub(before)
    );
    drop(cluster);
    let _ = std::fs::remove_dir_all(&dir);
}
