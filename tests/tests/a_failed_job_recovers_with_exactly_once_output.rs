//! Exactly-once in one process: a job with checkpoints fails part way,
//! restarts from its last completed checkpoint, and its committed output
//! (a two-phase-commit file sink) holds every record exactly once, with the
//! summary counting each record once.
//!
//! The job has two rate-limited sources, a union, a rebalance (so barriers
//! are aligned over several channels and ports) and a transactional sink.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use spate::Job;
use spate::config::Config;
use spate::sinks::{FileFormat, IN_PROGRESS_DIR, TwoPhaseFileSink};
use spate::sources::GeneratorSource;
use spate_scenarios::{engine_checksum, test_config};

const PER_SOURCE: u64 = 40_000;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("spate-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn config(checkpoints: &Path) -> Config {
    let mut c = test_config(2);
    c.checkpoint.interval_ms = 20;
    c.checkpoint.dir = checkpoints.to_path_buf();
    c.checkpoint.restart_delay_ms = 0;
    c
}

/// Builds the job; the operator fails once, at record `fail_at`, when
/// `fail` is still set.
fn job(out: &Path, fail_at: Option<(u64, Arc<AtomicBool>)>) -> Job {
    let job = Job::builder("exactly-once");
    let source = |offset: u64| {
        move |split| {
            Ok(
                GeneratorSource::new(move |n| n * 2 + offset, Some(PER_SOURCE), split)
                    .with_rate(20_000, split),
            )
        }
    };
    let evens = job.source("evens", source(0));
    let odds = job.source("odds", source(1));
    evens
        .union(&[odds])
        .rebalance()
        .process(
            move |v: u64, ctx: &mut spate::operators::process::Context<'_, u64>| {
                if let Some((at, armed)) = &fail_at
                    && v == *at
                    && armed.swap(false, Ordering::SeqCst)
                {
                    ctx.fail(spate::SpateError::Operator {
                        operator: "fail-once".into(),
                        reason: format!("injected failure at record {v}"),
                    });
                    return;
                }
                ctx.collect(v);
            },
        )
        .sink_with_checksum("out", TwoPhaseFileSink::new(out, FileFormat::Csv));
    job.build().unwrap()
}

/// Every committed record with how often it appears.
fn committed(out: &Path) -> BTreeMap<u64, u32> {
    let mut seen = BTreeMap::new();
    for entry in std::fs::read_dir(out).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap() == IN_PROGRESS_DIR {
            continue;
        }
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            *seen.entry(line.parse::<u64>().unwrap()).or_insert(0) += 1;
        }
    }
    seen
}

fn assert_exactly_once(out: &Path) {
    let seen = committed(out);
    let total = 2 * PER_SOURCE;
    let dup: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(dup.is_empty(), "duplicated records, e.g. {dup:?}");
    assert_eq!(seen.len() as u64, total, "every record committed once");
    assert_eq!(seen.keys().next_back(), Some(&(total - 1)));
}

fn expected_checksum() -> u64 {
    let all: Vec<u64> = (0..2 * PER_SOURCE).collect();
    engine_checksum(&all)
}

#[test]
fn a_job_without_failures_commits_every_record_once_per_checkpoint() {
    let (out, ckpt) = (scratch("eo-clean-out"), scratch("eo-clean-ckpt"));
    let result = job(&out, None).run(&config(&ckpt)).unwrap();
    let m = &result.metrics;
    assert!(
        m.checkpoints.completed >= 2,
        "checkpoints: {:?}",
        m.checkpoints
    );
    assert_eq!(m.checkpoints.restarts, 0);
    assert_eq!(m.sink_records(), 2 * PER_SOURCE);
    assert_eq!(m.sink_checksum(), expected_checksum());
    assert_exactly_once(&out);
    // One committed file per subtask and completed checkpoint with data,
    // plus the records after the last checkpoint.
    let files = std::fs::read_dir(&out).unwrap().count() - 1;
    assert!(files > 2, "{files} committed files");
    let in_progress = std::fs::read_dir(out.join(IN_PROGRESS_DIR))
        .unwrap()
        .count();
    assert_eq!(in_progress, 0, "nothing is left uncommitted");
    let manifests = result.checkpoint_dir.unwrap().join("manifests");
    assert!(std::fs::read_dir(manifests).unwrap().count() >= 1);
}

#[test]
fn a_failed_job_restarts_from_its_checkpoint_and_loses_and_duplicates_nothing() {
    let (out, ckpt) = (scratch("eo-fail-out"), scratch("eo-fail-ckpt"));
    let armed = Arc::new(AtomicBool::new(true));
    // Late enough that checkpoints completed before the failure.
    let fail_at = 2 * PER_SOURCE * 3 / 4;
    let result = job(&out, Some((fail_at, armed.clone())))
        .run(&config(&ckpt))
        .unwrap();
    assert!(!armed.load(Ordering::SeqCst), "the failure was injected");
    let m = &result.metrics;
    assert_eq!(
        m.checkpoints.restarts, 1,
        "checkpoints: {:?}",
        m.checkpoints
    );
    assert!(m.checkpoints.completed >= 1);
    assert_exactly_once(&out);
    assert_eq!(m.sink_records(), 2 * PER_SOURCE, "each record counted once");
    assert_eq!(m.sink_checksum(), expected_checksum());
    assert_eq!(m.source_records, 2 * PER_SOURCE);
}

#[test]
fn without_checkpoints_a_failure_fails_the_job_with_the_operators_reason() {
    let out = scratch("eo-nockpt-out");
    let armed = Arc::new(AtomicBool::new(true));
    let err = job(&out, Some((100, armed)))
        .run(&test_config(2))
        .unwrap_err()
        .to_string();
    assert!(err.contains("injected failure at record 100"), "{err}");
}
