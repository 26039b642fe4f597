//! The short fault suites CI runs: the oracle job on a real local cluster
//! (a coordinator and three worker processes on loopback) while workers are
//! killed with `kill -9`, or paused past the heartbeat timeout with
//! `SIGSTOP`, or the checkpoint disk (a size-capped tmpfs; CI runs as root)
//! is full or read-only, or the links (through a fault proxy: the data
//! links between workers, and each worker's control link to the
//! coordinator) are cut, corrupted, half-closed, stalled or slowed; the
//! checker must find exactly the output of a fault-free run.
//!
//! `SPATE_TORTURE_SEED` picks another fault schedule; a failure prints the
//! seed, and the same seed replays the same schedule.

#![allow(clippy::unwrap_used)]

use spate_torture::cluster::find_spate_binary;
use spate_torture::supervisor::{SuiteConfig, SuiteKind, SuiteOutcome, run_suite};

fn seed() -> u64 {
    std::env::var("SPATE_TORTURE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7)
}

fn run(kind: SuiteKind, faults: u32) -> SuiteOutcome {
    run_with(kind, faults, &[])
}

fn run_with(kind: SuiteKind, faults: u32, job_settings: &[&str]) -> SuiteOutcome {
    run_configured(kind, faults, job_settings, false)
}

fn run_configured(
    kind: SuiteKind,
    faults: u32,
    job_settings: &[&str],
    control_links_only: bool,
) -> SuiteOutcome {
    let seed = seed();
    let dir = std::env::temp_dir().join(format!(
        "spate-torture-ci-{}-{}-{}-{}",
        kind.name(),
        job_settings.len(),
        control_links_only,
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let mut cfg = SuiteConfig::short(kind, seed, dir.clone(), find_spate_binary().unwrap());
    cfg.faults_target = faults;
    cfg.faults_per_round = faults;
    cfg.job_settings = job_settings.iter().map(|s| s.to_string()).collect();
    cfg.control_links_only = control_links_only;
    // Input for the longest schedule (every wait 6 s), not just the mean
    // one, so any seed injects all its faults before the job ends.
    cfg.slack_s = u64::from(faults) * cfg.fault_interval_ms_max / 2_000 + 6;
    let outcome = run_suite(&cfg, &mut |line| eprintln!("{line}")).unwrap();
    let rounds: Vec<String> = outcome
        .rounds
        .iter()
        .map(|r| format!("{}\n{}", r.report, r.submit_log_tail))
        .collect();
    assert!(
        outcome.passed(),
        "suite {} with seed {seed} failed (files in {}):\n{}\nstale workers: {:?}",
        kind.name(),
        dir.display(),
        rounds.join("\n"),
        outcome.stale_survivors
    );
    assert_eq!(
        outcome.faults.len() as u32,
        faults,
        "every fault was injected before the job ended"
    );
    let restarts: u32 = outcome.rounds.iter().map(|r| r.restarts).sum();
    let restarting = outcome.faults.iter().any(|f| !f.targets.is_empty());
    assert!(
        restarts >= 1 || !restarting,
        "the faults that hit processes made the job restart"
    );
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

#[test]
fn the_oracle_job_survives_kill_9_of_workers_with_exactly_once_output() {
    let outcome = run(SuiteKind::Kill, 3);
    assert!(!outcome.recoveries_ms.is_empty() || outcome.recoveries_unmeasured > 0);
}

#[test]
fn keyed_state_in_rocksdb_survives_kill_9_of_workers_with_exactly_once_output() {
    // Each worker's keyed operators reopen their instances from the
    // checkpoint's RocksDB files, on whichever worker they land.
    let outcome = run_with(SuiteKind::Kill, 2, &["state.backend=rocksdb"]);
    assert!(!outcome.recoveries_ms.is_empty() || outcome.recoveries_unmeasured > 0);
}

#[test]
fn a_worker_paused_past_the_heartbeat_timeout_is_fenced_and_commits_nothing_twice() {
    run(SuiteKind::Stop, 2);
}

#[test]
fn checkpoints_on_a_full_or_read_only_disk_are_declined_and_nothing_is_lost() {
    let outcome = run(SuiteKind::Disk, 3);
    assert!(
        outcome.declines_logged >= 1,
        "the disk faults made workers decline checkpoints"
    );
    assert!(outcome.faults.iter().all(|f| f.duration_ms >= 1_000));
}

#[test]
fn data_links_cut_corrupted_half_closed_stalled_or_slowed_lose_nothing() {
    use spate_torture::supervisor::FaultKind;
    let outcome = run(SuiteKind::Network, 5);
    let proxy = outcome.proxy.expect("the network suite runs a fault proxy");
    // Three one-core workers link pairwise: three links per deployment,
    // more after each restart.
    assert!(proxy.tunnels_opened >= 3, "{proxy:?}");
    assert!(proxy.bytes_relayed > 0, "{proxy:?}");
    let breaking = outcome
        .faults
        .iter()
        .filter(|f| {
            matches!(
                f.kind,
                FaultKind::LinkCut | FaultKind::LinkCorrupt | FaultKind::LinkHalfClose
            )
        })
        .count();
    let restarts: u32 = outcome.rounds.iter().map(|r| r.restarts).sum();
    assert!(
        restarts as usize >= breaking.min(1),
        "a broken link fails the job over ({breaking} broken, {restarts} restarts): {:?}",
        outcome.faults
    );
    // Every restart opens the links anew.
    assert!(
        proxy.tunnels_opened >= 3 * (1 + u64::from(restarts)),
        "{proxy:?}"
    );
}

#[test]
fn control_links_cut_corrupted_half_closed_or_stalled_lose_nothing() {
    use spate_torture::supervisor::CONTROL_LINK_MARK;
    let outcome = run_configured(SuiteKind::Network, 3, &[], true);
    assert!(
        outcome.faults.iter().all(|f| f
            .link
            .as_deref()
            .is_some_and(|l| l.starts_with(CONTROL_LINK_MARK))),
        "every fault hit a control link: {:?}",
        outcome.faults
    );
}
