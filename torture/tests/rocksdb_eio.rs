//! EIO inside RocksDB: the workers' RocksDB instances live on a disk that
//! fails (a FUSE file system whose writes, creates, links, renames and
//! fsyncs return the kernel's `EIO` for a while). RocksDB meets the error
//! in its own flushes and checkpoints and stops taking writes (its
//! background error), so that instance is poisoned. The share fails, and
//! the job restarts from its last checkpoint in fresh instances. Once the
//! disk works again, the oracle job's committed output is exactly a
//! fault-free run's. Needs root, `/dev/fuse` and Python's fusepy
//! (`scripts/test.sh` installs Debian's `python3-fusepy`).

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use spate_torture::cluster::{
    LocalCluster, find_spate_binary, latest_checkpoint, short_run_settings, wait_job,
};
use spate_torture::faultfs::FaultFs;
use spate_torture::{OracleArgs, check};

const WORKERS: u32 = 3;
/// How long the disk fails: several checkpoints (every 250 ms) meet it.
const FAILING_MS: u64 = 1_500;

#[test]
fn rocksdb_meeting_eio_in_its_own_writes_and_syncs_is_replaced_and_nothing_is_lost() {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("spate-rocksdb-eio-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let disk = FaultFs::mount(&dir.join("disk")).unwrap();
    let mut cluster = LocalCluster::start(
        &find_spate_binary().unwrap(),
        &dir.join("cluster"),
        WORKERS,
        1_500,
        None,
        &[],
    )
    .unwrap();
    let job = OracleArgs::short_run(dir.join("output"));
    let checkpoints = dir.join("checkpoints");
    let mut settings = vec![
        "state.backend=rocksdb".to_string(),
        format!("state.rocksdb_local_dir={}", disk.dir().display()),
    ];
    settings.extend(short_run_settings(&checkpoints));
    let log = dir.join("submit.log");
    let mut child = cluster
        .submit("oracle", WORKERS, &settings, &job.to_args(), &log)
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while latest_checkpoint(&checkpoints) < Some(2) {
        assert!(Instant::now() < deadline, "no second checkpoint in 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    disk.set_failing(true).unwrap();
    std::thread::sleep(Duration::from_millis(FAILING_MS));
    disk.set_failing(false).unwrap();
    let status = wait_job(&mut child, Duration::from_secs(180), &log).unwrap();
    let coordinator_log = cluster.coordinator_log();
    cluster.stop();
    let submit_log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "the job failed:\n{submit_log}");
    let injected = disk.injected();
    assert!(
        injected.iter().any(|l| !l.starts_with("mkdir ")),
        "RocksDB met EIO in its own files, not only in new directories: {injected:?}"
    );
    let restarts = coordinator_log.matches("; restarting from ").count();
    let declines = coordinator_log.matches(" declined: ").count();
    assert!(
        restarts + declines >= 1,
        "the failing disk declined a checkpoint or restarted the job:\n{coordinator_log}"
    );
    let mut ops: Vec<&str> = injected
        .iter()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    ops.sort_unstable();
    ops.dedup();
    eprintln!(
        "{} EIOs injected ({}), {restarts} restarts, {declines} declined checkpoints",
        injected.len(),
        ops.join(", ")
    );
    if let Some(line) = coordinator_log
        .lines()
        .find(|l| l.contains("; restarting from "))
    {
        eprintln!("first restart: {line}");
    }
    let report = check(&job.output, &job.expected()).unwrap();
    assert!(report.is_clean(), "{report}");
    drop(disk);
    let _ = std::fs::remove_dir_all(&dir);
}
