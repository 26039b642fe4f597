//! The coordinator of a real local cluster dies mid-job, by `kill -9` or
//! at the crash point between writing a checkpoint manifest and renaming
//! it. Its workers exit with it; started again in the same directory, the
//! coordinator launches new workers and resumes the job from its newest
//! checkpoint, `spate submit` attaches to the job again, and the oracle
//! job's committed output is exactly a fault-free run's.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use spate_state::crash_point::{
    COORDINATOR_CRASH_POINTS_VAR, COORDINATOR_PUBLISHING, CRASH_ONCE_DIR_VAR,
    MANIFEST_BEFORE_RENAME,
};
use spate_torture::cluster::{
    LocalCluster, Member, alive, find_spate_binary, latest_checkpoint, short_run_settings, signal,
    still_alive_after, wait_job,
};
use spate_torture::{OracleArgs, check};

const WORKERS: u32 = 3;

fn job(dir: &Path) -> OracleArgs {
    OracleArgs::short_run(dir.join("output"))
}

fn submit(cluster: &LocalCluster, dir: &Path, job: &OracleArgs) -> (Child, PathBuf) {
    let settings = short_run_settings(&dir.join("checkpoints"));
    let log = dir.join("submit.log");
    let child = cluster
        .submit("oracle", WORKERS, &settings, &job.to_args(), &log)
        .unwrap();
    (child, log)
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for the old coordinator's workers to exit, starts the
/// coordinator again, waits for the job, and checks its output.
fn restart_and_check(
    cluster: &mut LocalCluster,
    (mut child, log): (Child, PathBuf),
    old_workers: &[Member],
    job: &OracleArgs,
) {
    // They lost their coordinator: they must not run on (and write) alone.
    let left = still_alive_after(old_workers, Duration::from_secs(15));
    assert!(left.is_empty(), "the old workers still run: {left:?}");
    cluster.restart_coordinator().unwrap();
    let status = wait_job(&mut child, Duration::from_secs(180), &log).unwrap();
    let coordinator_log = cluster.coordinator_log();
    cluster.stop();
    let submit_log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        status.success(),
        "the job failed:\n{submit_log}\n{coordinator_log}"
    );
    assert!(
        submit_log.contains("attached to job"),
        "`spate submit` attached to the job again:\n{submit_log}"
    );
    assert!(
        coordinator_log.contains("which ran when the coordinator stopped, from checkpoint"),
        "the new coordinator resumed the job from a checkpoint:\n{coordinator_log}"
    );
    let report = check(&job.output, &job.expected()).unwrap();
    assert!(report.is_clean(), "{report}");
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("spate-coord-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_coordinator_killed_mid_job_resumes_it_from_the_last_checkpoint_when_started_again() {
    let dir = fresh_dir("kill");
    let spate = find_spate_binary().unwrap();
    let mut cluster =
        LocalCluster::start(&spate, &dir.join("cluster"), WORKERS, 1_500, None, &[]).unwrap();
    let job = job(&dir);
    let submitted = submit(&cluster, &dir, &job);
    wait_until("checkpoint 3", Duration::from_secs(60), || {
        latest_checkpoint(&dir.join("checkpoints")) >= Some(3)
    });
    let members = cluster.members();
    let coordinator = members.iter().find(|m| m.name == "coordinator").unwrap();
    let workers = cluster.workers();
    assert_eq!(workers.len(), WORKERS as usize);
    signal(coordinator.pid, "KILL").unwrap();
    restart_and_check(&mut cluster, submitted, &workers, &job);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Arms the coordinator's crash point `point` at hit `at`, runs the job
/// until the coordinator dies there, checks the checkpoints with
/// `checkpoints_left`, then starts it again and checks the job's output.
fn coordinator_dies_at(name: &str, (point, at): (&str, u64), checkpoints_left: impl Fn(&Path)) {
    let dir = fresh_dir(name);
    let once = dir.join("crashed");
    std::fs::create_dir_all(&once).unwrap();
    let env = [
        (COORDINATOR_CRASH_POINTS_VAR, format!("{point}@{at}")),
        (CRASH_ONCE_DIR_VAR, once.display().to_string()),
    ];
    let spate = find_spate_binary().unwrap();
    let mut cluster =
        LocalCluster::start(&spate, &dir.join("cluster"), WORKERS, 1_500, None, &env).unwrap();
    let coordinator = cluster
        .members()
        .into_iter()
        .find(|m| m.name == "coordinator")
        .unwrap();
    let workers = cluster.workers();
    let job = job(&dir);
    let submitted = submit(&cluster, &dir, &job);
    wait_until(
        "the coordinator to die at the crash point",
        Duration::from_secs(120),
        || !alive(coordinator.pid),
    );
    assert!(once.join(point).exists(), "it died at the crash point");
    checkpoints_left(&dir.join("checkpoints"));
    restart_and_check(&mut cluster, submitted, &workers, &job);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_coordinator_dying_between_writing_a_manifest_and_renaming_it_loses_nothing() {
    coordinator_dies_at("manifest", (MANIFEST_BEFORE_RENAME, 3), |checkpoints| {
        // Checkpoint 3's manifest never got its name: 2 is the newest.
        assert_eq!(latest_checkpoint(checkpoints), Some(2));
    });
}

/// Before final checkpoints, the new coordinator failed this job: the
/// shares' output after their last checkpoint lived in the old workers'
/// memory. Now the final checkpoint holds it, and the job resumes from it.
#[test]
fn a_coordinator_dying_while_the_shares_publish_their_last_output_loses_nothing() {
    coordinator_dies_at("publishing", (COORDINATOR_PUBLISHING, 1), |checkpoints| {
        assert!(
            latest_checkpoint(checkpoints).is_some(),
            "a final checkpoint"
        );
    });
}
