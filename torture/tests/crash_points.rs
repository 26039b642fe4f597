//! Crash points: a worker of a real local cluster aborts (no unwinding,
//! like `kill -9`) at one precise step of a checkpoint or a commit, and the
//! oracle job must still commit exactly the output of a fault-free run.
//! The points are `spate_state::crash_point`s (debug builds only, which
//! the test builds are); workers arm them from `SPATE_CRASH_POINTS`, and
//! `SPATE_CRASH_ONCE_DIR` makes each kill one process only, so the job
//! then runs to its end.
//!
//! I/O error points make an fsync fail with `EIO` once instead: of a
//! checkpoint file, or of a sink's pre-committed file.
//!
//! Not here: `manifest-before-rename`. In a cluster the coordinator writes
//! the manifests; `coordinator_restart.rs` kills it there and starts it
//! again.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Duration;

use spate_state::crash_point::{
    CHECKPOINT_FSYNC_EIO, CRASH_ONCE_DIR_VAR, CRASH_POINTS_VAR, OBJECT_BEFORE_DIR_FSYNC,
    ROCKS_AFTER_HARD_LINK, SHARE_BEFORE_PUBLISH, SINK_BEFORE_COMMIT, SINK_FSYNC_EIO,
};
use spate_torture::cluster::{LocalCluster, find_spate_binary, short_run_settings, wait_job};
use spate_torture::{OracleArgs, check};

const WORKERS: u32 = 3;

/// What the coordinator logged about the job.
struct Logged {
    restarts: usize,
    declines: usize,
}

/// Runs the oracle job on a cluster whose workers die (or fail an fsync)
/// at `point`'s hit number `at` (one process in all), then checks that
/// the point fired and the output is a fault-free run's.
fn fault_at(point: &str, at: u64, settings: &[&str]) -> Logged {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("spate-crash-{point}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let once = dir.join("crashed");
    std::fs::create_dir_all(&once).unwrap();
    let env = [
        (CRASH_POINTS_VAR, format!("{point}@{at}")),
        (CRASH_ONCE_DIR_VAR, once.display().to_string()),
    ];
    let mut cluster = LocalCluster::start(
        &find_spate_binary().unwrap(),
        &dir.join("cluster"),
        WORKERS,
        1_500,
        None,
        &env,
    )
    .unwrap();
    let job = OracleArgs::short_run(dir.join("output"));
    let mut all: Vec<String> = settings.iter().map(|s| s.to_string()).collect();
    all.extend(short_run_settings(&dir.join("checkpoints")));
    let log = dir.join("submit.log");
    let mut child = cluster
        .submit("oracle", WORKERS, &all, &job.to_args(), &log)
        .unwrap();
    let status = wait_job(&mut child, Duration::from_secs(180), &log).unwrap();
    let log_text = cluster.coordinator_log();
    let logged = Logged {
        restarts: log_text.matches("; restarting from ").count(),
        declines: log_text.matches(" declined: ").count(),
    };
    cluster.stop();
    let submit_log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "the job failed:\n{submit_log}");
    assert!(
        once.join(point).exists(),
        "no worker reached point {point} (hit {at}); files in {}",
        dir.display()
    );
    let report = check(&job.output, &job.expected()).unwrap();
    assert!(report.is_clean(), "{report}");
    let _ = std::fs::remove_dir_all(&dir);
    logged
}

fn crash_at(point: &str, at: u64, settings: &[&str]) {
    let logged = fault_at(point, at, settings);
    assert!(
        logged.restarts >= 1,
        "the crash restarted the job ({} restarts)",
        logged.restarts
    );
}

#[test]
fn a_worker_dying_right_after_rocksdb_hard_links_its_checkpoint_loses_nothing() {
    crash_at(ROCKS_AFTER_HARD_LINK, 3, &["state.backend=rocksdb"]);
}

#[test]
fn a_worker_dying_before_the_directory_fsync_of_a_checkpoint_file_loses_nothing() {
    crash_at(OBJECT_BEFORE_DIR_FSYNC, 4, &[]);
}

#[test]
fn a_worker_dying_between_pre_commit_and_commit_publishes_every_record_once() {
    crash_at(SINK_BEFORE_COMMIT, 3, &[]);
}

/// With `checkpoint.final_checkpoint = false` (as before final
/// checkpoints) this fails the job: the share's output after its last
/// checkpoint lived in its memory, and the other shares had published.
#[test]
fn a_worker_dying_while_the_shares_publish_their_last_output_loses_nothing() {
    crash_at(SHARE_BEFORE_PUBLISH, 1, &[]);
}

#[test]
fn a_checkpoint_file_whose_fsync_fails_with_eio_is_declined_and_nothing_is_lost() {
    // The checkpoint is declined; the worker does not retry the fsync on
    // the same file (its page cache may have dropped the data), the next
    // checkpoint writes new files.
    let logged = fault_at(CHECKPOINT_FSYNC_EIO, 4, &[]);
    assert!(
        logged.declines >= 1,
        "the failed fsync declined a checkpoint ({} declines, {} restarts)",
        logged.declines,
        logged.restarts
    );
}

#[test]
fn a_sink_file_whose_fsync_fails_with_eio_is_never_published_and_nothing_is_lost() {
    let logged = fault_at(SINK_FSYNC_EIO, 3, &[]);
    assert!(
        logged.declines + logged.restarts >= 1,
        "the failed pre-commit declined a checkpoint or restarted the job"
    );
}
