//! A worker that outlives its peers' failures redeploys the job after each
//! one, for weeks, so its memory must not creep up with the restarts. The
//! live heap stayed flat, but glibc kept what each deployment freed in the
//! core threads' arenas (~230 KB a restart) until the worker handed the
//! free pages back before each deployment (ARCHITECTURE 65).

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use spate_torture::cluster::{LocalCluster, find_spate_binary, rss_kib, signal};

/// Peers killed before the first measurement (warm-up) and in all.
const WARM_KILLS: u32 = 5;
const KILLS: u32 = 35;

#[test]
fn a_surviving_worker_keeps_its_memory_flat_over_its_peers_failures() {
    let spate = find_spate_binary().unwrap();
    let dir = std::env::temp_dir().join(format!("spate-worker-memory-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut cluster =
        LocalCluster::start(&spate, &dir.join("cluster"), 2, 1_500, None, &[]).unwrap();
    let settings = [
        "checkpoint.interval_ms=300".to_string(),
        format!("checkpoint.dir={}", dir.join("checkpoints").display()),
        "checkpoint.restarts_max=100000".to_string(),
        "checkpoint.restart_delay_ms=100".to_string(),
        "runtime.io_memory_kib=256".to_string(),
    ];
    // Far more events than the test lasts, at a modest rate.
    let args = ["--query", "q5", "--events", "400000000", "--rate", "20000"].map(String::from);
    let log = dir.join("submit.log");
    let mut job = cluster
        .submit("nexmark", 2, &settings, &args, &log)
        .unwrap();
    std::thread::sleep(Duration::from_secs(5));
    let survivor = cluster.workers().first().cloned().expect("a worker");
    let mut warm_kib = 0;
    for kill in 1..=KILLS {
        for w in cluster.workers().into_iter().filter(|w| *w != survivor) {
            let _ = signal(w.pid, "KILL");
        }
        std::thread::sleep(Duration::from_millis(2_000));
        if kill == WARM_KILLS {
            warm_kib = rss_kib(survivor.pid);
        }
    }
    let last_kib = rss_kib(survivor.pid);
    let restarts = cluster.coordinator_log().matches("restarting").count();
    let _ = job.kill();
    let _ = job.wait();
    cluster.stop();
    assert!(warm_kib > 0 && last_kib > 0, "the survivor ran throughout");
    // A kill during a restart may fold two failures into one restart.
    assert!(
        restarts >= (KILLS / 2) as usize,
        "the job restarted after the kills ({restarts} restarts logged)"
    );
    let grown = last_kib.saturating_sub(warm_kib);
    println!("survivor {warm_kib} → {last_kib} KiB over {restarts} restarts");
    assert!(
        grown < 2_560,
        "the survivor grew {grown} KiB over {} of its peer's failures ({warm_kib} → {last_kib} KiB)",
        KILLS - WARM_KILLS
    );
    let _ = std::fs::remove_dir_all(&dir);
}
