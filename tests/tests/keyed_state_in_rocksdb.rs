//! Keyed process state in RocksDB (`state.backend = rocksdb`): a function
//! using all five state kinds gives the heap backend's output, recovers
//! from a failure through checkpoints, and a savepoint taken on one
//! backend restores on the other, with another core count, to the same
//! output.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use spate::checkpoint::SavepointTrigger;
use spate::config::StateBackendKind;
use spate::keyed::{
    AggregateFunction, AggregatingState, KeyedContext, ListState, MapState, OpenContext,
    ReducingState, ValueState,
};
use spate::operators::keyed_process::KeyedProcessFunction;
use spate::sinks::BlackholeSink;
use spate::sources::GeneratorSource;
use spate::{Job, JobResult, Result, RunOptions, SpateError};
use spate_scenarios::{backend_test_config, fail_once, sink_checksum};

const RECORDS: u64 = 40_000;
const KEYS: u64 = 61;

/// A mean as (sum, count).
#[derive(Clone)]
struct Mean;

impl AggregateFunction for Mean {
    type In = u64;
    type Acc = (u64, u64);
    type Out = u64;
    fn create_accumulator(&self) -> (u64, u64) {
        (0, 0)
    }
    fn add(&self, v: u64, acc: &mut (u64, u64)) {
        acc.0 += v;
        acc.1 += 1;
    }
    fn get_result(&self, acc: &(u64, u64)) -> u64 {
        acc.0 / acc.1.max(1)
    }
    fn merge(&self, a: (u64, u64), b: (u64, u64)) -> (u64, u64) {
        (a.0 + b.0, a.1 + b.1)
    }
}

/// Per key: a count, a sum, a mean, a count per residue and every value.
/// Records of a key arrive from several source splits in an order that
/// varies between runs, so it emits only what does not depend on that
/// order: the running count, the running count of the value's residue, and
/// with the key's last record the sum, the mean and the sorted values.
#[derive(Clone, Default)]
struct Everything {
    count: Option<ValueState<u64, u64>>,
    sum: Option<ReducingState<u64, u64>>,
    mean: Option<AggregatingState<u64, Mean>>,
    residues: Option<MapState<u64, u64, u64>>,
    last: Option<ListState<u64, u64>>,
}

/// `(0, key, running count, last)` or `(1, key·5 + residue, running
/// count of the residue, None)`: each sequence on its own does not depend
/// on the order of a key's records, pairs of them would.
type Row = (u8, u64, u64, Option<(u64, u64, Vec<u64>)>);

/// Records of key `k` over the whole input.
fn per_key(k: u64) -> u64 {
    RECORDS / KEYS + u64::from(k < RECORDS % KEYS)
}

fn opened<T: Copy>(s: Option<T>) -> Result<T> {
    s.ok_or_else(|| SpateError::internal("state not opened"))
}

impl KeyedProcessFunction<u64, u64, Row> for Everything {
    fn open(&mut self, ctx: &mut OpenContext) -> Result<()> {
        self.count = Some(ctx.value_state("count", None)?);
        self.sum = Some(ctx.reducing_state("sum", |a: &u64, b: &u64| a + b, None)?);
        self.mean = Some(ctx.aggregating_state("mean", Mean, None)?);
        self.residues = Some(ctx.map_state("residues", None)?);
        self.last = Some(ctx.list_state("last", None)?);
        Ok(())
    }

    fn process_element(&mut self, v: u64, ctx: &mut KeyedContext<'_, u64, Row>) -> Result<()> {
        let count = opened(self.count)?;
        let n = count.value(ctx)?.unwrap_or(0) + 1;
        count.update(ctx, n)?;
        opened(self.sum)?.add(ctx, v)?;
        opened(self.mean)?.add(ctx, v)?;
        let residues = opened(self.residues)?;
        let r = residues.get(ctx, &(v % 5))?.unwrap_or(0) + 1;
        residues.put(ctx, v % 5, r)?;
        let all = opened(self.last)?;
        all.add(ctx, v)?;
        let key = v % KEYS;
        let last = if n == per_key(key) {
            let sum = opened(self.sum)?.get(ctx)?.unwrap_or(0);
            let mean = opened(self.mean)?.get(ctx)?.unwrap_or(0);
            let mut values = all.get(ctx)?;
            values.sort_unstable();
            check_in_place_list_access(all, ctx, (sum, n))?;
            Some((sum, mean, values))
        } else {
            None
        };
        ctx.collect((0, key, n, last));
        ctx.collect((1, key * 5 + v % 5, r, None));
        Ok(())
    }
}

/// Reading the key's list of `count` values in place sums to `sum`, and
/// changing it in place keeps what the change left (the even values), on
/// either backend.
fn check_in_place_list_access(
    all: ListState<u64, u64>,
    ctx: &mut KeyedContext<'_, u64, Row>,
    (sum, count): (u64, u64),
) -> Result<()> {
    let mut seen = 0;
    all.for_each(ctx, |v| seen += v)?;
    let odd = all.modify(ctx, |vs| {
        let before = vs.len();
        vs.retain(|v| v % 2 == 0);
        before - vs.len()
    })?;
    let left = all.get(ctx)?;
    let wrong = |what: String| Err(SpateError::internal(what));
    if seen != sum {
        return wrong(format!("for_each summed {seen}, the sum is {sum}"));
    }
    if odd == 0 || left.iter().any(|v| v % 2 == 1) || (left.len() + odd) as u64 != count {
        return wrong(format!("modify removed {odd} and left {left:?}"));
    }
    all.modify(ctx, Vec::clear)?;
    if !all.get(ctx)?.is_empty() {
        return wrong("a list emptied in place is still stored".into());
    }
    Ok(())
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("spate-rocks-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The job; paced when `rate` is set; fails once after `fail_after`
/// records of subtask 0 when set.
fn job(rate: u64, fail_after: Option<(u64, Arc<AtomicBool>)>) -> Job {
    let job = Job::builder("everything");
    job.source("numbers", move |split| {
        Ok(GeneratorSource::new(|n| n, Some(RECORDS), split).with_rate(rate, split))
    })
    .process(fail_once(fail_after))
    .key_by(|v: &u64| v % KEYS)
    .process(Everything::default())
    .sink_with_checksum("out", BlackholeSink);
    job.build().unwrap()
}

#[test]
fn every_state_kind_in_rocksdb_gives_the_heap_backends_output() {
    let heap = job(0, None)
        .run(&backend_test_config(
            2,
            StateBackendKind::Heap,
            &scratch("h"),
        ))
        .unwrap();
    let rocks = job(0, None)
        .run(&backend_test_config(
            2,
            StateBackendKind::RocksDb,
            &scratch("r"),
        ))
        .unwrap();
    assert_eq!(sink_checksum(&heap).1, 2 * RECORDS);
    assert_eq!(sink_checksum(&rocks), sink_checksum(&heap));
}

#[test]
fn rocksdb_state_recovers_from_a_failure_through_checkpoints() {
    let clean = job(0, None)
        .run(&backend_test_config(
            2,
            StateBackendKind::Heap,
            &scratch("clean"),
        ))
        .unwrap();
    let armed = Arc::new(AtomicBool::new(true));
    let mut c = backend_test_config(2, StateBackendKind::RocksDb, &scratch("fail"));
    c.checkpoint.interval_ms = 50;
    let failed = job(40_000, Some((RECORDS / 3, armed.clone())))
        .run(&c)
        .unwrap();
    assert!(!armed.load(Ordering::SeqCst), "the failure was injected");
    let m = &failed.metrics.checkpoints;
    assert_eq!(m.restarts, 1, "{m:?}");
    assert!(
        m.restored_from.is_some(),
        "a checkpoint was restored: {m:?}"
    );
    assert_eq!(sink_checksum(&failed), sink_checksum(&clean));
}

/// Runs paced on `cores` with `backend`, taking a savepoint half way.
fn take_savepoint(backend: StateBackendKind, cores: u32, name: &str) -> (JobResult, PathBuf) {
    let savepoint = scratch(&format!("{name}-savepoint"));
    let (trigger, inbox) = SavepointTrigger::channel();
    let target = savepoint.clone();
    let asker = std::thread::spawn(move || {
        // RECORDS at 40 K/s take a second.
        std::thread::sleep(Duration::from_millis(450));
        trigger.request(&target).unwrap().recv().unwrap()
    });
    let result = job(40_000, None)
        .run_with(
            &backend_test_config(cores, backend, &scratch(name)),
            &RunOptions::default().with_savepoints(inbox),
        )
        .unwrap();
    let info = asker.join().unwrap().unwrap();
    assert!(info.files > 0, "{info:?}");
    assert_canonical(&savepoint);
    (result, savepoint)
}

/// A savepoint holds canonical files only, whatever the backend: no
/// RocksDB instance's own files, and every state in files of its own.
fn assert_canonical(savepoint: &Path) {
    use spate_state::checkpoint::{FileKind, LocalDirStorage, read_manifests};
    let storage = LocalDirStorage::new(savepoint).unwrap();
    let manifests = read_manifests(&storage).unwrap();
    assert_eq!(manifests.len(), 1);
    let m = manifests[0].manifest.as_ref().unwrap();
    for st in &m.subtasks {
        assert!(st.files.iter().all(|f| f.kind == FileKind::Full), "{st:?}");
        assert!(st.states.iter().all(|d| d.stored_in.is_none()), "{st:?}");
    }
}

fn restore(backend: StateBackendKind, cores: u32, savepoint: &Path, name: &str) -> JobResult {
    let r = job(0, None)
        .run_with(
            &backend_test_config(cores, backend, &scratch(name)),
            &RunOptions::default().from_savepoint(savepoint),
        )
        .unwrap();
    assert!(r.metrics.checkpoints.restored_from.is_some());
    assert!(
        r.metrics.checkpoints.savepoint_source_records > 0,
        "the savepoint was taken mid-run"
    );
    r
}

#[test]
fn a_heap_savepoint_restores_into_rocksdb_on_another_core_count() {
    let (first, savepoint) = take_savepoint(StateBackendKind::Heap, 2, "heap-first");
    let restored = restore(StateBackendKind::RocksDb, 3, &savepoint, "to-rocks");
    assert_eq!(sink_checksum(&restored), sink_checksum(&first));
}

#[test]
fn a_rocksdb_savepoint_restores_onto_the_heap_on_another_core_count() {
    let (first, savepoint) = take_savepoint(StateBackendKind::RocksDb, 2, "rocks-first");
    let restored = restore(StateBackendKind::Heap, 1, &savepoint, "to-heap");
    assert_eq!(sink_checksum(&restored), sink_checksum(&first));
}

/// Keeps `count` as a list: the same name as `Everything`'s value state.
#[derive(Clone, Default)]
struct CountAsList {
    count: Option<ListState<u64, u64>>,
}

impl KeyedProcessFunction<u64, u64, Row> for CountAsList {
    fn open(&mut self, ctx: &mut OpenContext) -> Result<()> {
        self.count = Some(ctx.list_state("count", None)?);
        Ok(())
    }

    fn process_element(&mut self, v: u64, ctx: &mut KeyedContext<'_, u64, Row>) -> Result<()> {
        opened(self.count)?.add(ctx, v)?;
        Ok(())
    }
}

#[test]
fn a_state_whose_type_changed_is_refused_saying_what_differs() {
    let (_, savepoint) = take_savepoint(StateBackendKind::RocksDb, 2, "changed");
    let job = Job::builder("everything");
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
            &backend_test_config(2, StateBackendKind::Heap, &scratch("changed-run")),
            &RunOptions::default().from_savepoint(&savepoint),
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("`value` state in the checkpoint"), "{err}");
    assert!(err.contains("declares a `list` state"), "{err}");
}
