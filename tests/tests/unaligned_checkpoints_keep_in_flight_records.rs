//! Unaligned checkpoints under back-pressure: a keyed count slower than
//! its source, checkpointed every 50 ms with `checkpoint.mode =
//! unaligned`, fails part way and restarts from its last checkpoint. That
//! checkpoint holds the records its channels delivered between the task's
//! snapshot and their own barriers (its in-flight records), and the
//! restore replays them before new input: every key is counted exactly
//! once, with no gap (a lost in-flight record) and no repeat.
//!
//! The job runs on three cores. Only the first source split has records,
//! as fast as the count takes them, and every key belongs to the count's
//! third subtask: the first core does nothing else, so its channel into
//! that subtask is always full. The second core has nothing to do at all,
//! so its split (without records) injects each barrier as soon as it is
//! triggered, and that barrier reaches the count first, through an empty
//! channel. The count snapshots at once, while the full channel still
//! holds records sent before the first split's barrier: every checkpoint
//! has records in flight.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use spate::config::{CheckpointMode, Config};
use spate::keyed::{KeyedContext, OpenContext};
use spate::operators::keyed_process::KeyedProcessFunction;
use spate::sinks::{FileFormat, TwoPhaseFileSink};
use spate::sources::GeneratorSource;
use spate::{Job, JobResult, SpateError};
use spate_scenarios::{CountPerKey, committed_key_counts, test_config};

/// The job's cores (and source splits, and count subtasks).
const CORES: u32 = 3;
/// The first split generates the multiples of `CORES` below this.
const NUMBERS: u64 = 40_000;
const KEYS: usize = 61;
/// Work per record in the count: far slower than the source.
const WORK_PER_RECORD: Duration = Duration::from_micros(60);

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("spate-unaligned-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn config(checkpoints: &Path, mode: CheckpointMode) -> Config {
    let mut c = test_config(CORES);
    c.checkpoint.interval_ms = 50;
    c.checkpoint.dir = checkpoints.to_path_buf();
    c.checkpoint.restart_delay_ms = 0;
    c.checkpoint.mode = mode;
    // One record per message: a full channel holds 256 records, about
    // 15 ms of the count's work, far longer than the idle split takes to
    // inject a barrier.
    c.runtime.batch_records_max = 1;
    c.runtime.channel_capacity_batches = 256;
    c
}

fn busy(d: Duration) {
    let until = Instant::now() + d;
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

/// Counts per key after a fixed amount of work per record.
#[derive(Clone, Default)]
struct SlowCount {
    count: CountPerKey,
}

impl KeyedProcessFunction<u64, u64, (u64, u64)> for SlowCount {
    fn open(&mut self, ctx: &mut OpenContext) -> spate::Result<()> {
        self.count.open(ctx)
    }

    fn process_element(
        &mut self,
        v: u64,
        ctx: &mut KeyedContext<'_, u64, (u64, u64)>,
    ) -> spate::Result<()> {
        busy(WORK_PER_RECORD);
        self.count.process_element(v, ctx)
    }
}

/// `KEYS` keys that all belong to the count's last subtask.
fn keys_of_last_subtask() -> Arc<Vec<u64>> {
    let max = spate_state::MAX_PARALLELISM_DEFAULT;
    let keys = (0u64..)
        .filter(|k| {
            let kg = spate_state::KeyRef::of(k, max).key_group;
            let cores = CORES as usize;
            spate_state::subtask_for_key_group(kg, max, cores) == cores - 1
        })
        .take(KEYS)
        .collect();
    Arc::new(keys)
}

fn key_of(keys: &[u64], v: u64) -> u64 {
    keys.get(v as usize % keys.len()).copied().unwrap_or(0)
}

/// The source (records on the first split only), a step that fails once
/// three quarters through while `armed`, then the slow keyed count into a
/// two-phase file sink.
fn count_job(out: &Path, armed: Arc<AtomicBool>) -> Job {
    let job = Job::builder("unaligned-count");
    let keys = keys_of_last_subtask();
    job.source("numbers", |split| {
        let count = if split.index == 0 { NUMBERS } else { 0 };
        Ok(GeneratorSource::new(|n| n, Some(count), split))
    })
    .process(
        move |v: u64, ctx: &mut spate::operators::process::Context<'_, u64>| {
            if v == NUMBERS * 3 / 4 && armed.swap(false, Ordering::SeqCst) {
                ctx.fail(SpateError::Operator {
                    operator: "fail-once".into(),
                    reason: format!("injected failure at record {v}"),
                });
                return;
            }
            ctx.collect(v);
        },
    )
    .key_by(move |v: &u64| key_of(&keys, *v))
    .process(SlowCount::default())
    .sink_with_checksum("out", TwoPhaseFileSink::new(out, FileFormat::Csv));
    job.build().unwrap()
}

/// Every key's records were counted once: counts 1..=n, each once.
fn assert_counted_once(out: &Path, result: &JobResult) {
    let keys = keys_of_last_subtask();
    let mut per_key = BTreeMap::<u64, u64>::new();
    for v in (0..NUMBERS).step_by(CORES as usize) {
        *per_key.entry(key_of(&keys, v)).or_default() += 1;
    }
    let seen = committed_key_counts(out);
    for (&key, &records) in &per_key {
        for n in 1..=records {
            assert_eq!(seen.get(&(key, n)), Some(&1), "key {key} count {n}");
        }
    }
    let records: u64 = per_key.values().sum();
    assert_eq!(seen.len() as u64, records, "nothing else was committed");
    assert_eq!(result.metrics.sink_records(), records);
}

#[test]
fn in_flight_records_of_an_unaligned_checkpoint_are_replayed_after_a_failure() {
    let (out, ckpt) = (scratch("out"), scratch("ckpt"));
    let armed = Arc::new(AtomicBool::new(true));
    let result = count_job(&out, armed.clone())
        .run(&config(&ckpt, CheckpointMode::Unaligned))
        .unwrap();
    assert!(!armed.load(Ordering::SeqCst), "the failure was injected");
    let c = &result.metrics.checkpoints;
    assert_eq!(c.restarts, 1, "checkpoints: {c:?}");
    assert!(
        c.restored_from.is_some(),
        "a checkpoint was restored: {c:?}"
    );
    assert!(
        c.restored_in_flight_bytes > 0,
        "the restored checkpoint held in-flight records: {c:?}"
    );
    assert_eq!(c.alignment_ns_max, 0, "no task aligned barriers: {c:?}");
    assert_counted_once(&out, &result);
}

/// The same job aligned: the count blocks the empty channel at each
/// barrier until the full one delivers its own, and nothing is in flight.
#[test]
fn aligned_checkpoints_of_the_same_job_hold_no_in_flight_records() {
    let (out, ckpt) = (scratch("aligned-out"), scratch("aligned-ckpt"));
    let armed = Arc::new(AtomicBool::new(true));
    let result = count_job(&out, armed.clone())
        .run(&config(&ckpt, CheckpointMode::Aligned))
        .unwrap();
    let c = &result.metrics.checkpoints;
    assert_eq!(c.restarts, 1, "checkpoints: {c:?}");
    assert_eq!(c.restored_in_flight_bytes, 0, "{c:?}");
    assert!(c.alignment_ns_max > 0, "tasks aligned barriers: {c:?}");
    assert_counted_once(&out, &result);
}
