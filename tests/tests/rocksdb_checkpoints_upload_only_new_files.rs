//! Checkpoints of keyed state in RocksDB are RocksDB's own: a flush and
//! hard links at the barrier, then only the table files that storage does
//! not hold yet go up. These tests read the manifests a real job wrote:
//! table files are shared between checkpoints and never uploaded twice, a
//! restore with the same key groups reopens the files as they were (and
//! uploads none of them again), and a checkpoint restores with another
//! core count (ingesting table files of the new key groups) and onto the
//! heap backend to the same output.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use spate::config::{Config, RocksCompactionKind, StateBackendKind};
use spate::keyed::{KeyedContext, OpenContext};
use spate::operators::keyed_process::KeyedProcessFunction;
use spate::sinks::BlackholeSink;
use spate::sources::GeneratorSource;
use spate::{Job, JobResult, Result, RunOptions, SpateError};
use spate_scenarios::{CountPerKey, backend_test_config, fail_once, sink_checksum};
use spate_state::checkpoint::{FileKind, LocalDirStorage, Manifest, read_manifests};

const RECORDS: u64 = 60_000;
const KEYS: u64 = 5_000;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("spate-rocks-chk-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn config(cores: u32, backend: StateBackendKind, checkpoints: &Path) -> Config {
    let mut c = backend_test_config(cores, backend, checkpoints);
    c.checkpoint.interval_ms = 40;
    c.checkpoint.retained = 100;
    c
}

/// The job, paced at `rate` records/s; fails once after `fail_after`
/// records of subtask 0 when set.
fn job(rate: u64, fail_after: Option<(u64, Arc<AtomicBool>)>) -> Job {
    let job = Job::builder("rocks-count");
    job.source("numbers", move |split| {
        Ok(GeneratorSource::new(|n| n, Some(RECORDS), split).with_rate(rate, split))
    })
    .process(fail_once(fail_after))
    .key_by(|v: &u64| v % KEYS)
    .process(CountPerKey::default())
    .sink_with_checksum("out", BlackholeSink);
    job.build().unwrap()
}

/// The one run directory the job wrote under `root`.
fn run_dir(root: &Path) -> PathBuf {
    let job = root.join("rocks-count");
    let runs: Vec<PathBuf> = std::fs::read_dir(&job)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs[0].clone()
}

fn manifests(run: &Path) -> Vec<Manifest> {
    let storage = LocalDirStorage::new(run).unwrap();
    read_manifests(&storage)
        .unwrap()
        .into_iter()
        .map(|m| m.manifest.unwrap())
        .collect()
}

/// The checkpoint of the heap-free job with the RocksDB backend, the
/// job's clean output on the heap for comparison.
fn clean() -> (u64, u64) {
    let r = job(0, None)
        .run(&config(2, StateBackendKind::Heap, &scratch("clean")))
        .unwrap();
    sink_checksum(&r)
}

#[test]
fn table_files_are_shared_between_checkpoints_and_uploaded_once() {
    let root = scratch("shared");
    // Three seconds of input: a loaded machine still completes several
    // checkpoints (each flushes and uploads) in that time.
    let result = job(20_000, None)
        .run(&config(2, StateBackendKind::RocksDb, &root))
        .unwrap();
    assert_eq!(sink_checksum(&result), clean());
    let all = manifests(&run_dir(&root));
    assert!(all.len() >= 5, "{} checkpoints completed", all.len());
    // Every (subtask, local name) of a table file is one object, whichever
    // checkpoint lists it: no table file goes up twice.
    let mut objects: HashMap<(u32, String), String> = HashMap::new();
    let mut shared = 0;
    for m in &all {
        let keyed: Vec<_> = m
            .subtasks
            .iter()
            .filter(|st| st.files.iter().any(|f| f.kind.is_rocks()))
            .collect();
        assert_eq!(
            keyed.len(),
            2,
            "one instance per subtask of the keyed operator"
        );
        for st in keyed {
            let states: Vec<_> = st.states.iter().map(|d| d.stored_in.as_deref()).collect();
            assert_eq!(states.len(), 1, "{:?}", st.states);
            assert!(states[0].is_some_and(|i| i.ends_with("/#rocksdb")));
            assert!(
                st.files
                    .iter()
                    .any(|f| f.local_name.as_deref() == Some("CURRENT"))
            );
            for f in st.files.iter().filter(|f| f.kind == FileKind::RocksSst) {
                let local = f.local_name.clone().unwrap();
                let object = objects
                    .entry((st.subtask, local.clone()))
                    .or_insert_with(|| f.name.clone());
                assert_eq!(
                    object, &f.name,
                    "{local} of subtask {} went up twice",
                    st.subtask
                );
                if f.added_in < m.checkpoint_id {
                    shared += 1;
                }
            }
        }
    }
    assert!(
        shared > 0,
        "later checkpoints list the table files of earlier ones"
    );
    // A compaction can rewrite a small state whole, so not every
    // checkpoint is smaller than its state; most are.
    let incremental = all
        .iter()
        .skip(1)
        .filter(|m| m.added_bytes() < m.referenced_bytes())
        .count();
    assert!(
        incremental * 2 >= all.len() - 1,
        "{incremental} of {} later checkpoints added less than they reference",
        all.len() - 1
    );
}

#[test]
fn a_restore_with_the_same_key_groups_reopens_the_files_and_uploads_none_again() {
    let root = scratch("same");
    let armed = Arc::new(AtomicBool::new(true));
    let result = job(60_000, Some((RECORDS / 2, armed.clone())))
        .run(&config(2, StateBackendKind::RocksDb, &root))
        .unwrap();
    assert!(!armed.load(Ordering::SeqCst), "the failure was injected");
    let m = &result.metrics.checkpoints;
    assert_eq!(m.restarts, 1, "{m:?}");
    let restored = m.restored_from.unwrap();
    assert_eq!(sink_checksum(&result), clean());
    let all = manifests(&run_dir(&root));
    let before = all.iter().find(|m| m.checkpoint_id == restored).unwrap();
    let after = all
        .iter()
        .find(|m| m.checkpoint_id > restored)
        .expect("a checkpoint after the restore");
    // The restored checkpoint's table files are still there, as objects of
    // the first attempt, wherever the instance kept them.
    let old: HashMap<&str, u64> = before
        .files()
        .filter(|f| f.kind == FileKind::RocksSst)
        .map(|f| (f.name.as_str(), f.added_in))
        .collect();
    let kept: Vec<_> = after
        .files()
        .filter(|f| f.kind == FileKind::RocksSst && old.contains_key(f.name.as_str()))
        .collect();
    assert!(
        !kept.is_empty(),
        "the first checkpoint after the restore lists table files of the restored one"
    );
    for f in kept {
        assert!(f.added_in <= restored, "{} was uploaded again", f.name);
    }
}

/// Runs until an injected failure with no restart allowed; returns the run
/// directory holding its checkpoints.
fn checkpoints_of_a_failed_run(name: &str) -> PathBuf {
    checkpoints_of_a_failed_run_compacted(name, RocksCompactionKind::Level)
}

/// As [`checkpoints_of_a_failed_run`], with RocksDB compacting as `compaction`.
fn checkpoints_of_a_failed_run_compacted(name: &str, compaction: RocksCompactionKind) -> PathBuf {
    let root = scratch(name);
    let armed = Arc::new(AtomicBool::new(true));
    let mut c = config(2, StateBackendKind::RocksDb, &root);
    c.state.rocksdb_compaction = compaction;
    c.checkpoint.restarts_max = 0;
    let failed = job(60_000, Some((RECORDS / 2, armed.clone()))).run(&c);
    assert!(failed.is_err(), "the job stops at the failure");
    let run = run_dir(&root);
    assert!(
        !manifests(&run).is_empty(),
        "checkpoints completed before the failure"
    );
    run
}

fn restore(backend: StateBackendKind, cores: u32, from: &Path, name: &str) -> JobResult {
    restore_with(&config(cores, backend, &scratch(name)), from)
}

fn restore_with(config: &Config, from: &Path) -> JobResult {
    let r = job(0, None)
        .run_with(config, &RunOptions::default().from_savepoint(from))
        .unwrap();
    assert!(r.metrics.checkpoints.restored_from.is_some());
    r
}

#[test]
fn a_checkpoint_restores_under_the_other_compaction_style() {
    let want = clean();
    for (written, restored) in [
        (RocksCompactionKind::Level, RocksCompactionKind::Universal),
        (RocksCompactionKind::Universal, RocksCompactionKind::Level),
    ] {
        let run = checkpoints_of_a_failed_run_compacted(&format!("{written}"), written);
        for cores in [2, 3] {
            let mut c = config(
                cores,
                StateBackendKind::RocksDb,
                &scratch(&format!("{written}-{cores}")),
            );
            c.state.rocksdb_compaction = restored;
            let r = restore_with(&c, &run);
            assert_eq!(
                sink_checksum(&r),
                want,
                "written under {written}, restored under {restored} on {cores} cores"
            );
        }
    }
}

#[test]
fn a_rocksdb_checkpoint_restores_on_another_core_count_and_onto_the_heap() {
    let run = checkpoints_of_a_failed_run("rescale");
    let want = clean();
    // The old instances a rescale reads go under `state.rocksdb_local_dir`
    // with the new ones, and are gone when the run ends.
    let local_dir = scratch("to-three-local");
    let mut c = config(3, StateBackendKind::RocksDb, &scratch("to-three"));
    c.state.rocksdb_local_dir = local_dir.clone();
    let three = restore_with(&c, &run);
    assert_eq!(sink_checksum(&three), want, "RocksDB on 3 cores");
    let left: Vec<_> = std::fs::read_dir(&local_dir).unwrap().flatten().collect();
    assert!(left.is_empty(), "left in the local dir: {left:?}");
    // Each of the 3 new instances overlaps at least one old instance, and
    // its key groups came over as table files, not entry by entry.
    let ingested = three.metrics.checkpoints.restore_ingested_files;
    assert!(ingested >= 3, "{ingested} table files ingested");
    let heap = restore(StateBackendKind::Heap, 1, &run, "to-heap");
    assert_eq!(sink_checksum(&heap), want, "the heap on 1 core");
    assert_eq!(heap.metrics.checkpoints.restore_ingested_files, 0);
    let same = restore(StateBackendKind::RocksDb, 2, &run, "to-same");
    assert_eq!(sink_checksum(&same), want, "RocksDB on 2 cores, as it was");
    assert_eq!(
        same.metrics.checkpoints.restore_ingested_files, 0,
        "the same key groups reopen the files as they were"
    );
}

/// Keeps `count` as a list: the same name as `Count`'s value state.
#[derive(Clone, Default)]
struct CountAsList {
    count: Option<spate::keyed::ListState<u64, u64>>,
}

impl KeyedProcessFunction<u64, u64, (u64, u64)> for CountAsList {
    fn open(&mut self, ctx: &mut OpenContext) -> Result<()> {
        self.count = Some(ctx.list_state("count", None)?);
        Ok(())
    }

    fn process_element(
        &mut self,
        v: u64,
        ctx: &mut KeyedContext<'_, u64, (u64, u64)>,
    ) -> Result<()> {
        let state = self.count.ok_or_else(|| SpateError::internal("not open"))?;
        state.add(ctx, v)
    }
}

#[test]
fn a_state_whose_type_changed_is_refused_when_its_instance_reopens_as_it_was() {
    let run = checkpoints_of_a_failed_run("changed");
    let job = Job::builder("rocks-count");
    job.source("numbers", |split| {
        Ok(GeneratorSource::new(|n| n, Some(RECORDS), split))
    })
    .process(|v: u64, ctx: &mut spate::operators::process::Context<'_, u64>| ctx.collect(v))
    .key_by(|v: &u64| v % KEYS)
    .process(CountAsList::default())
    .sink_with_checksum("out", BlackholeSink);
    let err = job
        .build()
        .unwrap()
        .run_with(
            // Same core count and backend: the instances reopen as they were.
            &config(2, StateBackendKind::RocksDb, &scratch("changed-run")),
            &RunOptions::default().from_savepoint(&run),
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("`value` state in the checkpoint"), "{err}");
    assert!(err.contains("declares a `list` state"), "{err}");
}
