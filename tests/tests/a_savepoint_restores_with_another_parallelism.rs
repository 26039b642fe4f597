//! A savepoint taken while a Nexmark query runs restores with another core
//! count: the restored run reads only the events the savepoint had not
//! covered, takes over the keyed state, timers and watermarks of the key
//! groups it now owns, and its summary (the savepoint's counters plus its
//! own output) equals a run that never stopped.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use spate::config::Config;
use spate_bench::nexmark::GeneratorConfig;
use spate_bench::report::BenchReport;
use spate_bench::runner::{self, BenchSpec};
use spate_bench::source::EventInput;
use spate_scenarios::test_config;

const EVENTS: u64 = 200_000;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("spate-sp-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn config(cores: u32, checkpoints: &Path, interval_ms: u64) -> Config {
    let mut c = test_config(cores);
    c.checkpoint.interval_ms = interval_ms;
    c.checkpoint.dir = checkpoints.to_path_buf();
    c
}

fn spec(query: &str) -> BenchSpec {
    BenchSpec {
        query: query.into(),
        input: EventInput::Generator(GeneratorConfig {
            events_max: Some(EVENTS),
            ..GeneratorConfig::default()
        }),
        // Paced, so the savepoint lands in the middle of the input.
        rate_per_s: 100_000,
        progress: None,
        fail_once_after_events: None,
        savepoint_after_events: None,
        from_savepoint: None,
    }
}

/// Runs `query` on 2 cores with periodic checkpoints off, taking a
/// savepoint after `after` events; returns the report and the savepoint.
fn take_savepoint(query: &str, after: u64) -> (BenchReport, PathBuf) {
    take_savepoint_with(
        query,
        after,
        &config(2, &scratch(&format!("{query}-first")), 0),
    )
}

/// Runs `query` with `config`, taking a savepoint after `after` events.
fn take_savepoint_with(query: &str, after: u64, config: &Config) -> (BenchReport, PathBuf) {
    let savepoint = scratch(&format!("{query}-savepoint"));
    let mut s = spec(query);
    s.savepoint_after_events = Some((after, savepoint.clone()));
    let report = runner::run(&s, config).unwrap();
    let said = report.savepoint.clone().unwrap_or_default();
    assert!(said.starts_with("written to"), "savepoint: {said}");
    (report, savepoint)
}

fn restore(query: &str, savepoint: &Path, cores: u32) -> BenchReport {
    let mut s = spec(query);
    s.from_savepoint = Some(savepoint.to_path_buf());
    let dir = scratch(&format!("{query}-restored-{cores}"));
    runner::run(&s, &config(cores, &dir, 50)).unwrap()
}

fn restores_with_other_core_counts(query: &str) {
    let clean = runner::run(
        &spec(query),
        &config(2, &scratch(&format!("{query}-clean")), 0),
    )
    .unwrap();
    assert!(clean.output_records > 0, "{query} produced output");
    let (first, savepoint) = take_savepoint(query, EVENTS / 2);
    assert_eq!(
        first.checksum, clean.checksum,
        "a savepoint changes nothing"
    );
    for cores in [1, 3] {
        let restored = restore(query, &savepoint, cores);
        let c = restored.checkpoints.as_ref().unwrap();
        assert!(
            c.restored_from.is_some(),
            "{query} on {cores} cores restored the savepoint: {c:?}"
        );
        assert_eq!(
            restored.checksum, clean.checksum,
            "{query} restored on {cores} cores"
        );
        assert_eq!(restored.output_records, clean.output_records);
        assert_eq!(restored.events, clean.events, "each event counted once");
    }
}

#[test]
fn q5_hot_items_restore_from_a_savepoint_on_one_and_three_cores() {
    restores_with_other_core_counts("q5");
}

#[test]
fn q3_local_item_suggestion_restores_from_a_savepoint_on_one_and_three_cores() {
    restores_with_other_core_counts("q3");
}

#[test]
fn q8_new_users_restore_from_a_savepoint_on_one_and_three_cores() {
    restores_with_other_core_counts("q8");
}

/// With unaligned checkpoints every 20 ms, the savepoint's checkpoint is
/// still aligned: it holds no in-flight records (which were routed for
/// two subtasks), so it restores on one core.
#[test]
fn a_savepoint_taken_with_unaligned_checkpoints_restores_on_another_core_count() {
    let clean = runner::run(&spec("q5"), &config(2, &scratch("q5-u-clean"), 0)).unwrap();
    let mut c = config(2, &scratch("q5-u-first"), 20);
    c.checkpoint.mode = spate::config::CheckpointMode::Unaligned;
    let (first, savepoint) = take_savepoint_with("q5", EVENTS / 2, &c);
    assert_eq!(first.checksum, clean.checksum);
    let restored = restore("q5", &savepoint, 1);
    assert_eq!(restored.checksum, clean.checksum);
    assert_eq!(restored.events, clean.events, "each event counted once");
}

#[test]
fn a_savepoint_of_another_job_is_refused_saying_what_differs() {
    let (_, savepoint) = take_savepoint("q3", EVENTS / 4);
    let mut s = spec("q5");
    s.from_savepoint = Some(savepoint.clone());
    let err = runner::run(&s, &config(2, &scratch("q5-wrong"), 0))
        .unwrap_err()
        .to_string();
    assert!(err.contains("another job"), "{err}");
    assert!(err.contains(&savepoint.display().to_string()), "{err}");

    let mut c = config(2, &scratch("q3-keygroups"), 0);
    c.runtime.max_parallelism = 64;
    let mut s = spec("q3");
    s.from_savepoint = Some(savepoint);
    let err = runner::run(&s, &c).unwrap_err().to_string();
    assert!(err.contains("max_parallelism = 128"), "{err}");
}

#[test]
fn an_empty_directory_is_not_a_savepoint() {
    let dir = scratch("empty");
    std::fs::create_dir_all(&dir).unwrap();
    let mut s = spec("q5");
    s.from_savepoint = Some(dir);
    let err = runner::run(&s, &config(1, &scratch("empty-run"), 0))
        .unwrap_err()
        .to_string();
    assert!(err.contains("holds no savepoint"), "{err}");
}
