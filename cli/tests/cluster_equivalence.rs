//! A real 3-worker cluster on loopback (a coordinator process that launches
//! three worker processes, linked by TCP) gives the same output as one
//! process: every Nexmark query, and a windowed job with late data. Also:
//! a killed worker fails the running job with a sentence that names it, and
//! the coordinator replaces it.

#![allow(clippy::unwrap_used)]

mod support;

use support::{Cluster, ok, spate};

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const EVENTS: &str = "200000";

/// (checksum, sink records) of each query's JSON line.
fn results(json_lines: &str) -> Vec<(String, String, u64)> {
    json_lines
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["query"].as_str().unwrap().to_string(),
                v["checksum"].as_str().unwrap().to_string(),
                v["output_records"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn start<'a>(dir: &'a Path, workers: &str) -> Cluster<'a> {
    let d = dir.to_str().unwrap();
    ok(spate(&[
        "cluster",
        "start",
        "--workers",
        workers,
        "--dir",
        d,
        "--heartbeat-timeout-ms",
        "2000",
    ]));
    for name in [
        "coordinator.pid",
        "coordinator.addr",
        "worker-1.pid",
        "worker-3.pid",
    ] {
        assert!(dir.join(name).exists(), "{name} is written");
    }
    Cluster(dir)
}

fn addr(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("coordinator.addr"))
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn three_workers_give_the_results_of_one_process() {
    let dir = tempfile::tempdir().unwrap();
    let _cluster = start(dir.path(), "3");
    let local = results(&ok(spate(&[
        "bench",
        "nexmark",
        "--query",
        "all",
        "--events",
        EVENTS,
        "--cores",
        "2",
        "--json",
        "--set",
        "runtime.io_memory_kib=256",
    ])));
    let addr = addr(dir.path());
    let remote = results(&ok(spate(&[
        "bench",
        "nexmark",
        "--query",
        "all",
        "--events",
        EVENTS,
        "--cluster",
        &addr,
        "--parallelism",
        "3",
        "--json",
        "--set",
        "runtime.io_memory_kib=256",
    ])));
    assert_eq!(local.len(), 9);
    assert_eq!(local, remote, "every query: same checksum and output count");
    assert!(local.iter().all(|(_, _, n)| *n > 0), "{local:?}");

    // The windowed job with late data: same windows, same late records.
    let one = ok(spate(&[
        "submit",
        "late-data",
        "--parallelism",
        "1",
        "--dir",
        dir.path().to_str().unwrap(),
        "--set",
        "runtime.io_memory_kib=256",
        "--",
        "--events",
        "300000",
    ]));
    let three = ok(spate(&[
        "submit",
        "late-data",
        "--parallelism",
        "3",
        "--dir",
        dir.path().to_str().unwrap(),
        "--set",
        "runtime.io_memory_kib=256",
        "--",
        "--events",
        "300000",
    ]));
    let pick = |s: &str, key: &str| {
        s.lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("no `{key}` in {s}"))
            .to_string()
    };
    assert_eq!(pick(&one, "checksum"), pick(&three, "checksum"));
    assert_eq!(pick(&one, "sink records"), pick(&three, "sink records"));
    assert_eq!(pick(&one, "late records"), pick(&three, "late records"));
    assert_ne!(
        pick(&three, "late records"),
        "late records     0",
        "{three}"
    );

    // Bids rebalanced across the workers: read in their receive buffers by
    // an in-place operator, never deserialized, with the same output.
    let bid_prices = |parallelism: &str, owned: bool| {
        let mut args = vec![
            "submit",
            "bid-prices",
            "--parallelism",
            parallelism,
            "--dir",
            dir.path().to_str().unwrap(),
            "--set",
            "runtime.io_memory_kib=256",
            "--",
            "--events",
            "300000",
        ];
        if owned {
            args.push("--owned");
        }
        let out = ok(spate(&args));
        let remote = pick(&out, "from other processes:");
        let counts: Vec<u64> = remote
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|w| w.parse().ok())
            .collect();
        let &[deserialized, in_place] = counts.as_slice() else {
            panic!("two counts in `{remote}`");
        };
        (pick(&out, "checksum"), deserialized, in_place)
    };
    let (one_sum, one_de, one_in_place) = bid_prices("1", false);
    let (owned_sum, owned_de, owned_in_place) = bid_prices("3", true);
    let (sum, de, in_place) = bid_prices("3", false);
    assert_eq!(one_sum, sum, "in place on 3 workers = 1 process");
    assert_eq!(owned_sum, sum, "in place = deserialized");
    assert_eq!(
        (one_de, one_in_place),
        (0, 0),
        "one process receives nothing"
    );
    assert_eq!(owned_in_place, 0, "filter and map deserialize every bid");
    assert!(in_place > 10_000, "bids read in place: {in_place}");
    assert!(
        de + in_place / 2 < owned_de,
        "bids are not deserialized: {de} vs {owned_de}, {in_place} read in place"
    );
}

#[test]
fn a_killed_worker_fails_the_job_clearly_and_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let _cluster = start(dir.path(), "3");
    let addr = addr(dir.path());
    let job = Command::new(env!("CARGO_BIN_EXE_spate"))
        .args([
            "bench",
            "nexmark",
            "--query",
            "q5",
            "--events",
            "2000000000",
            "--rate",
            "2000000",
            "--cluster",
            &addr,
            "--parallelism",
            "3",
            "--json",
            "--set",
            "runtime.io_memory_kib=256",
        ])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Let the job run, then kill -9 one worker.
    std::thread::sleep(Duration::from_millis(1500));
    support::kill_worker(dir.path(), 2);
    let start = Instant::now();
    let out = job.wait_with_output().unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "the failure is detected promptly"
    );
    assert!(
        !out.status.success(),
        "the job cannot succeed without a worker"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("failed") && err.contains("worker"), "{err}");
    // The launcher replaces the lost worker: three live workers again.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = ok(spate(&["cluster", "status", "--coordinator", &addr]));
        if status.starts_with("workers         3") && status.contains("running         none") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the cluster did not heal: {status}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
