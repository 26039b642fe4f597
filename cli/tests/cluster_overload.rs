//! Overload across processes: an unthrottled source on one worker feeds a
//! sink that takes a small fraction of its rate on another. Credits stop the
//! sender, bounded channels stop the source, and the workers' memory stays
//! flat while the job runs; afterwards the output equals that of the same
//! job with a fast sink (nothing was lost).

#![allow(clippy::unwrap_used)]

mod support;

use support::{Cluster, ok, spate};

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn rss_mib(pid: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

fn line<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines().find(|l| l.starts_with(key)).unwrap_or("")
}

#[test]
fn a_slow_sink_across_processes_holds_memory_flat_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    ok(spate(&["cluster", "start", "--workers", "2", "--dir", d]));
    let _cluster = Cluster(dir.path());
    let pids: Vec<String> = ["worker-1.pid", "worker-2.pid"]
        .iter()
        .map(|f| {
            std::fs::read_to_string(dir.path().join(f))
                .unwrap()
                .trim()
                .to_string()
        })
        .collect();
    let events = "1200000";
    // ~20 µs a record on each of 2 sinks: about 100 K records/s, against a
    // source that makes millions a second.
    let mut job = Command::new(env!("CARGO_BIN_EXE_spate"))
        .args([
            "submit",
            "overload",
            "--parallelism",
            "2",
            "--dir",
            d,
            "--set",
            "runtime.io_memory_kib=256",
            "--",
            "--events",
            events,
            "--sink-us-per-record",
            "20",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let mut samples: Vec<(f64, f64)> = Vec::new();
    while start.elapsed() < Duration::from_secs(8) {
        std::thread::sleep(Duration::from_millis(250));
        samples.push((rss_mib(&pids[0]), rss_mib(&pids[1])));
    }
    assert!(
        job.try_wait().unwrap().is_none(),
        "the slow sink is still draining (the test needs an overloaded job)"
    );
    // After the first second (deployment, buffer pools), memory stays flat.
    let settled = &samples[4..];
    for w in 0..2 {
        let pick = |s: &(f64, f64)| if w == 0 { s.0 } else { s.1 };
        let first = pick(&settled[0]);
        let peak = settled.iter().map(pick).fold(0.0, f64::max);
        assert!(
            // Unbounded queues would grow by hundreds of MiB a second here
            // (the source outruns the sink ~50×); the pools and channels
            // being touched for the first time account for tens of MiB.
            peak < 400.0 && peak - first < 96.0,
            "worker {} memory grew from {first:.0} to {peak:.0} MiB: {samples:?}",
            w + 1
        );
    }
    let slow = job.wait_with_output().unwrap();
    let slow = ok(slow);
    let fast = ok(spate(&[
        "submit",
        "overload",
        "--parallelism",
        "2",
        "--dir",
        d,
        "--set",
        "runtime.io_memory_kib=256",
        "--",
        "--events",
        events,
        "--sink-us-per-record",
        "0",
    ]));
    assert_eq!(line(&slow, "checksum"), line(&fast, "checksum"));
    assert_eq!(line(&slow, "sink records"), line(&fast, "sink records"));
    assert_ne!(line(&fast, "sink records"), "sink records     0");
}
