//! Keyed state survives a failure: a job with checkpoints fails part way,
//! restarts from its last completed checkpoint with its keyed state,
//! timers and watermarks restored, and produces exactly the output of a
//! run without the failure.
//!
//! Each test checks that the restart restored a checkpoint (not the
//! beginning of the input), so the equality proves the state came back:
//! sources rewind to the checkpoint, and without the state the counts
//! after the restart would start again from zero.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use spate::config::{BackgroundPriority, Config};
use spate::keyed::{KeyedContext, OpenContext};
use spate::operators::co_process::KeyedCoProcessFunction;
use spate::operators::keyed_process::KeyedProcessFunction;
use spate::sinks::{FileFormat, TwoPhaseFileSink};
use spate::sources::GeneratorSource;
use spate::{Job, Result, SpateError};
use spate_bench::nexmark::GeneratorConfig;
use spate_bench::runner::{self, BenchSpec};
use spate_bench::source::EventInput;
use spate_scenarios::{CountPerKey, committed_key_counts, test_config};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("spate-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn config(checkpoints: &Path, interval_ms: u64) -> Config {
    let mut c = test_config(2);
    c.checkpoint.interval_ms = interval_ms;
    c.checkpoint.dir = checkpoints.to_path_buf();
    c.checkpoint.restart_delay_ms = 0;
    c
}

const RECORDS: u64 = 60_000;
const KEYS: u64 = 97;

/// The same count over two inputs sharing one state (a keyed co-process):
/// evens arrive on the first input, odds on the second.
#[derive(Clone, Default)]
struct CountBothInputs {
    count: CountPerKey,
}

impl KeyedCoProcessFunction<u64, u64, u64, (u64, u64)> for CountBothInputs {
    fn open(&mut self, ctx: &mut OpenContext) -> Result<()> {
        self.count.open(ctx)
    }

    fn process_element1(
        &mut self,
        v: u64,
        ctx: &mut KeyedContext<'_, u64, (u64, u64)>,
    ) -> Result<()> {
        self.count.process_element(v, ctx)
    }

    fn process_element2(
        &mut self,
        v: u64,
        ctx: &mut KeyedContext<'_, u64, (u64, u64)>,
    ) -> Result<()> {
        self.count.process_element(v, ctx)
    }
}

/// How the records are counted.
#[derive(Clone, Copy)]
enum Counter {
    Process,
    CoProcess,
}

/// Records flow from a paced generator through a step that fails once
/// (at record `fail_at`, if armed) into the keyed count and a two-phase
/// file sink.
fn count_job(out: &Path, fail_at: Option<(u64, Arc<AtomicBool>)>, counter: Counter) -> Job {
    let job = Job::builder("keyed-count");
    let numbers = job
        .source("numbers", |split| {
            Ok(GeneratorSource::new(|n| n, Some(RECORDS), split).with_rate(30_000, split))
        })
        .process(
            move |v: u64, ctx: &mut spate::operators::process::Context<'_, u64>| {
                if let Some((at, armed)) = &fail_at
                    && v == *at
                    && armed.swap(false, Ordering::SeqCst)
                {
                    ctx.fail(SpateError::Operator {
                        operator: "fail-once".into(),
                        reason: format!("injected failure at record {v}"),
                    });
                    return;
                }
                ctx.collect(v);
            },
        );
    let counts = match counter {
        Counter::Process => numbers
            .key_by(|v: &u64| v % KEYS)
            .process(CountPerKey::default()),
        Counter::CoProcess => {
            let evens = numbers
                .filter(|v: &u64| v.is_multiple_of(2))
                .key_by(|v: &u64| v % KEYS);
            let odds = numbers
                .filter(|v: &u64| !v.is_multiple_of(2))
                .key_by(|v: &u64| v % KEYS);
            evens.connect(&odds).process(CountBothInputs::default())
        }
    };
    counts.sink_with_checksum("out", TwoPhaseFileSink::new(out, FileFormat::Csv));
    job.build().unwrap()
}

/// Runs the count with one failure and checks every key counted each of
/// its records once: counts 1..=n, no gaps (lost state would restart at 1)
/// and no repeats (duplicates).
fn count_recovers(name: &str, counter: Counter, priority: BackgroundPriority) {
    let (out, ckpt) = (
        scratch(&format!("{name}-out")),
        scratch(&format!("{name}-ckpt")),
    );
    let armed = Arc::new(AtomicBool::new(true));
    let mut config = config(&ckpt, 50);
    config.checkpoint.background_priority = priority;
    let result = count_job(&out, Some((RECORDS * 3 / 4, armed.clone())), counter)
        .run(&config)
        .unwrap();
    assert!(!armed.load(Ordering::SeqCst), "the failure was injected");
    let c = &result.metrics.checkpoints;
    assert_eq!(c.restarts, 1, "checkpoints: {c:?}");
    assert!(
        c.restored_from.is_some(),
        "a checkpoint was restored: {c:?}"
    );
    let seen = committed_key_counts(&out);
    for key in 0..KEYS {
        let per_key = RECORDS / KEYS + u64::from(key < RECORDS % KEYS);
        for n in 1..=per_key {
            assert_eq!(seen.get(&(key, n)), Some(&1), "key {key} count {n}");
        }
    }
    assert_eq!(seen.len() as u64, RECORDS, "nothing else was committed");
    assert_eq!(result.metrics.sink_records(), RECORDS);
}

#[test]
fn a_keyed_count_goes_on_from_its_restored_state_after_a_failure() {
    count_recovers("keyed", Counter::Process, BackgroundPriority::Normal);
}

/// The checkpoint threads in Linux's idle class still write every
/// checkpoint while the cores work, and recovery is the same.
#[test]
fn checkpoint_threads_of_idle_priority_still_checkpoint_and_recover() {
    count_recovers("keyed-idle", Counter::Process, BackgroundPriority::Idle);
}

#[test]
fn a_keyed_co_process_count_goes_on_from_its_restored_state_after_a_failure() {
    count_recovers("co-keyed", Counter::CoProcess, BackgroundPriority::Normal);
}

fn nexmark_spec(query: &str, fail_once_after_events: Option<u64>) -> BenchSpec {
    BenchSpec {
        query: query.into(),
        input: EventInput::Generator(GeneratorConfig {
            events_max: Some(200_000),
            ..GeneratorConfig::default()
        }),
        rate_per_s: 100_000,
        progress: None,
        fail_once_after_events,
        savepoint_after_events: None,
        from_savepoint: None,
    }
}

/// Runs `query` without and with a failure; both give one checksum.
/// Returns the failed run's checkpoint directory.
fn nexmark_recovers(query: &str) -> PathBuf {
    let clean = runner::run(
        &nexmark_spec(query, None),
        &config(&scratch(&format!("{query}-clean")), 50),
    )
    .unwrap();
    // Subtask 0 reads half the events: it fails two thirds through.
    let mut keep_all = config(&scratch(&format!("{query}-fail")), 50);
    // Every checkpoint's files stay for `state_files`: the retained ones
    // are the last, after the final watermark emptied the windows.
    keep_all.checkpoint.retained = 1_000;
    let failed = runner::run(&nexmark_spec(query, Some(66_000)), &keep_all).unwrap();
    let c = failed.checkpoints.as_ref().unwrap();
    assert_eq!(c.restarts, 1, "{c:?}");
    assert!(
        c.restored_from.is_some(),
        "a checkpoint was restored: {c:?}"
    );
    assert!(clean.output_records > 0);
    assert_eq!(failed.output_records, clean.output_records);
    assert_eq!(failed.checksum, clean.checksum);
    assert_eq!(failed.events, clean.events, "each event counted once");
    PathBuf::from(&c.dir)
}

/// The state files the checkpoints of `dir` use, by kind.
fn state_files(dir: &Path) -> (usize, usize) {
    let names: Vec<String> = std::fs::read_dir(dir.join("shared"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let count = |kind: &str| names.iter().filter(|n| n.ends_with(kind)).count();
    (count("-full.sst"), count("-delta.sst"))
}

/// Sliding-window aggregate (sliced) and a keyed process with timers.
#[test]
fn nexmark_q5_after_a_failure_has_the_checksum_of_a_clean_run() {
    let dir = nexmark_recovers("q5");
    // Old slices do not change: checkpoints upload deltas, and the
    // restore merged a chain of them.
    let (full, delta) = state_files(&dir);
    assert!(
        full >= 1 && delta >= 1,
        "{full} full and {delta} delta files"
    );
}

/// A join in keyed process state.
#[test]
fn nexmark_q3_after_a_failure_has_the_checksum_of_a_clean_run() {
    nexmark_recovers("q3");
}

/// A window join: the per-window operator with list contents and timers.
#[test]
fn nexmark_q8_after_a_failure_has_the_checksum_of_a_clean_run() {
    nexmark_recovers("q8");
}
