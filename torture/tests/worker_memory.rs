//! A worker that outlives its peers' failures redeploys the job after each
//! one, for weeks, so its memory must not creep up with the restarts. The
//! live heap stayed flat, but glibc kept what each deployment freed in the
//! core threads' arenas (~230 KB a restart) until the worker handed the
//! free pages back before each deployment (ARCHITECTURE 65).
//!
//! Resident memory still rises over the first restarts (the job's state and
//! the allocator's pools reach their working size) and then moves in steps
//! of a few hundred KiB either way, so the test judges the least-squares
//! slope over the restarts after the warm-up, not the first and last sample.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use spate_torture::cluster::{LocalCluster, find_spate_binary, rss_kib, signal};

/// Peers killed before the first measurement (warm-up) and in all.
const WARM_KILLS: u32 = 10;
const KILLS: u32 = 38;
/// The most a restart may add to the survivor's resident memory, on the
/// fitted line: without the worker's `malloc_trim` a debug build adds ~150
/// KiB a restart here, with it 15–35.
const GROWTH_PER_RESTART_KIB_MAX: f64 = 96.0;

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
    let mut samples_kib = Vec::new();
    for kill in 1..=KILLS {
        for w in cluster.workers().into_iter().filter(|w| *w != survivor) {
            let _ = signal(w.pid, "KILL");
        }
        std::thread::sleep(Duration::from_millis(2_000));
        if kill >= WARM_KILLS {
            samples_kib.push(rss_kib(survivor.pid));
        }
    }
    let restarts = cluster.coordinator_log().matches("restarting").count();
    let _ = job.kill();
    let _ = job.wait();
    cluster.stop();
    assert!(
        samples_kib.iter().all(|kib| *kib > 0),
        "the survivor ran throughout"
    );
    // A kill during a restart may fold two failures into one restart.
    assert!(
        restarts >= (KILLS / 2) as usize,
        "the job restarted after the kills ({restarts} restarts logged)"
    );
    let slope_kib = slope(&samples_kib);
    println!(
        "survivor {samples_kib:?} KiB after kills {WARM_KILLS}..={KILLS}, {restarts} restarts"
    );
    assert!(
        slope_kib < GROWTH_PER_RESTART_KIB_MAX,
        "the survivor grew {slope_kib:.1} KiB per failure of its peer over {} failures \
         (resident KiB after each: {samples_kib:?})",
        KILLS - WARM_KILLS
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Least-squares slope of the samples against their index.
fn slope(samples: &[u64]) -> f64 {
    let n = samples.len() as f64;
    let mean_x = (n - 1.0) / 2.0;
    let mean_y = samples.iter().map(|y| *y as f64).sum::<f64>() / n;
    let (mut num, mut den) = (0.0, 0.0);
    for (x, y) in samples.iter().enumerate() {
        let dx = x as f64 - mean_x;
        num += dx * (*y as f64 - mean_y);
        den += dx * dx;
    }
    num / den
}
