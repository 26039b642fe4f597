//! An embedded engine stops with a final savepoint and a new engine, with
//! another number of cores, resumes from it: keyed state and open windows
//! carry over, nothing fires twice and nothing is lost.

#![allow(clippy::unwrap_used)]

mod common;

use common::runtime;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use spate::config::Config;
use spate::embed::{EmbedError, Engine, EngineBuilder};
use spate::keyed::AggregateFunction;
use spate::time::WatermarkStrategy;
use spate::window::{TimeWindow, TumblingEventTimeWindows};
use spate::{DataStream, JobResult};

/// (user, event time in ms, amount).
type Event = (u64, i64, u64);
/// (0, user, 0, running total) or (1, user, window start, window total).
type Out = (u8, u64, i64, u64);

const USERS: u64 = 20;
const EVENTS: i64 = 4_000;
/// Events sent before the stop: the window [2000, 2100) is open then.
const BEFORE_STOP: i64 = 2_050;
const WINDOW_MS: u64 = 100;

fn event(i: i64) -> Event {
    (i as u64 % USERS, i, (i as u64 % 7) + 1)
}

#[derive(Clone)]
struct Total;

impl AggregateFunction for Total {
    type In = Event;
    type Acc = u64;
    type Out = u64;
    fn create_accumulator(&self) -> u64 {
        0
    }
    fn add(&self, e: Event, acc: &mut u64) {
        *acc += e.2;
    }
    fn get_result(&self, acc: &u64) -> u64 {
        *acc
    }
    fn merge(&self, a: u64, b: u64) -> u64 {
        a + b
    }
}

/// Per user: a running total over all time, and a total per window.
fn job(input: DataStream<Event>) -> DataStream<Out> {
    let timed = input.assign_timestamps_and_watermarks(
        WatermarkStrategy::bounded_out_of_orderness(0, |e: &Event| e.1),
    );
    let running = timed
        .key_by(|e: &Event| e.0)
        .reduce(|acc: &Event, e: &Event| (e.0, e.1, acc.2 + e.2))
        .map(|e: Event| (0u8, e.0, 0i64, e.2));
    let windows = timed
        .key_by(|e: &Event| e.0)
        .window(TumblingEventTimeWindows::of(WINDOW_MS))
        .aggregate_with(Total, |user: &u64, w: &TimeWindow, total: u64| {
            (1u8, *user, w.start, total)
        });
    running.union(&[windows])
}

fn config(cores: u32, dir: &Path) -> Config {
    let mut c = Config::default();
    c.runtime.cores = cores;
    c.runtime.io_memory_kib = 256;
    c.runtime.pin_cores = false;
    c.checkpoint.dir = dir.join("checkpoints");
    c
}

fn scratch(name: &str) -> PathBuf {
    common::scratch("embed-sp", name)
}

type Seen = Arc<Mutex<Vec<Out>>>;

fn start(builder: EngineBuilder, seen: &Seen) -> Engine<Event> {
    let sink = seen.clone();
    builder
        .start_with_callback(job, move |r| sink.lock().unwrap().push(r))
        .expect("engine starts")
}

async fn send(engine: &Engine<Event>, range: std::ops::Range<i64>) {
    engine
        .ingest()
        .send_batch(range.map(event))
        .await
        .expect("send");
}

/// (user, window start, total) of every window fired, sorted.
type Windows = Vec<(u64, i64, u64)>;

/// The window totals, each window once, and each user's final total.
fn summary(outputs: &[Out]) -> (Windows, BTreeMap<u64, u64>) {
    let mut windows: Vec<_> = outputs
        .iter()
        .filter(|o| o.0 == 1)
        .map(|o| (o.1, o.2, o.3))
        .collect();
    windows.sort_unstable();
    let mut totals = BTreeMap::new();
    for o in outputs.iter().filter(|o| o.0 == 0) {
        let t = totals.entry(o.1).or_insert(0);
        *t = o.3.max(*t);
    }
    (windows, totals)
}

/// The same events in one uninterrupted run, drained at the end.
fn uninterrupted(dir: &Path) -> Vec<Out> {
    let seen = Seen::default();
    runtime().block_on(async {
        let engine = start(EngineBuilder::new("resume").config(config(1, dir)), &seen);
        send(&engine, 0..EVENTS).await;
        engine.shutdown().await.expect("shutdown");
    });
    seen.lock().unwrap().clone()
}

#[test]
fn an_embedded_engine_resumes_from_its_final_savepoint_on_more_cores() {
    let dir = scratch("resume");
    let savepoint = dir.join("savepoint");
    let reference = summary(&uninterrupted(&dir));
    let before = Seen::default();
    let after = Seen::default();
    runtime().block_on(async {
        let builder = EngineBuilder::new("resume")
            .config(config(1, &dir))
            .with_savepoints();
        let engine = start(builder, &before);
        send(&engine, 0..BEFORE_STOP).await;
        let stopped = engine.stop_with_savepoint(&savepoint).await.unwrap();
        assert!(stopped.savepoint.files > 0, "{:?}", stopped.savepoint);
        assert_eq!(stopped.result.metrics.source_records, BEFORE_STOP as u64);

        let builder = EngineBuilder::new("resume")
            .config(config(2, &dir))
            .from_savepoint(&savepoint);
        let engine = start(builder, &after);
        send(&engine, BEFORE_STOP..EVENTS).await;
        let result: JobResult = engine.shutdown().await.unwrap();
        // The counters go on from the savepoint's.
        assert_eq!(result.metrics.source_records, EVENTS as u64);
        assert_eq!(
            result.metrics.checkpoints.restored_from,
            Some(stopped.savepoint.checkpoint_id)
        );
    });
    let before = before.lock().unwrap().clone();
    let straddling = |o: &Out| o.0 == 1 && o.2 == 2_000;
    let fired: Vec<&Out> = before.iter().filter(|o| straddling(o)).collect();
    assert!(
        fired.is_empty(),
        "the stop fired the window still open: {fired:?}"
    );
    assert!(
        before.iter().any(|o| o.0 == 1 && o.2 == 1_900),
        "windows the watermark passed before the stop fire before it"
    );
    let mut all = before;
    all.extend(after.lock().unwrap().iter().copied());
    let (windows, totals) = summary(&all);
    assert_eq!(windows.len(), reference.0.len(), "each window fires once");
    assert_eq!(windows, reference.0);
    assert_eq!(totals, reference.1);
    assert_eq!(totals.len(), USERS as usize);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn stopping_with_a_savepoint_needs_savepoints_turned_on() {
    let dir = scratch("off");
    let seen = Seen::default();
    runtime().block_on(async {
        let engine = start(EngineBuilder::new("off").config(config(1, &dir)), &seen);
        send(&engine, 0..10).await;
        let err = engine
            .stop_with_savepoint(dir.join("sp"))
            .await
            .unwrap_err();
        assert!(matches!(err, EmbedError::SavepointsOff), "{err}");
        assert!(err.to_string().contains("with_savepoints()"), "{err}");
    });
    let _ = std::fs::remove_dir_all(&dir);
}

/// A savepoint that cannot be written loses no result: the engine drains.
#[test]
fn a_savepoint_that_cannot_be_written_drains_the_engine_instead() {
    let dir = scratch("unwritable");
    // A regular file where the savepoint's directory should go.
    let target = dir.join("not-a-dir");
    std::fs::write(&target, b"x").unwrap();
    let seen = Seen::default();
    runtime().block_on(async {
        let builder = EngineBuilder::new("unwritable")
            .config(config(1, &dir))
            .with_savepoints();
        let engine = start(builder, &seen);
        send(&engine, 0..250).await;
        let err = engine
            .stop_with_savepoint(target.join("savepoint"))
            .await
            .unwrap_err();
        assert!(matches!(err, EmbedError::SavepointFailed { .. }), "{err}");
        assert!(err.to_string().contains("not-a-dir"), "{err}");
    });
    let seen = seen.lock().unwrap().clone();
    let (windows, _) = summary(&seen);
    // Windows [0,100), [100,200) and the last one, [200,300), fired by the drain.
    assert_eq!(windows.len(), 3 * USERS as usize, "{windows:?}");
    assert!(windows.iter().any(|w| w.1 == 200));
    let _ = std::fs::remove_dir_all(&dir);
}
