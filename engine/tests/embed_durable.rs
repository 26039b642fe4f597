//! Durable batches of a checkpointed embedded engine: a batch is
//! acknowledged only once a completed checkpoint holds it, and a batch a
//! failure rolled back is answered as not durable, so a producer that sends
//! it again gets every record counted exactly once.

#![allow(clippy::unwrap_used)]

mod common;

use common::runtime;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use spate::SpateError;
use spate::config::Config;
use spate::embed::{EmbedError, EngineBuilder};
use spate::operators::process::Context;

const KEYS: u64 = 10;
const BATCHES: u64 = 120;
const BATCH_RECORDS: u64 = 50;

fn config(cores: u32, dir: &Path, interval_ms: u64) -> Config {
    let mut c = Config::default();
    c.runtime.cores = cores;
    c.runtime.io_memory_kib = 256;
    c.runtime.pin_cores = false;
    c.checkpoint.dir = dir.to_path_buf();
    c.checkpoint.interval_ms = interval_ms;
    c.checkpoint.restart_delay_ms = 0;
    c
}

fn scratch(name: &str) -> PathBuf {
    common::scratch("embed-dur", name)
}

type Rec = (u64, u64);

/// Fails the job once, at the `n`-th record any core sees (the count is
/// shared: which core takes which batch varies from run to run).
fn fail_once_at(n: u64) -> impl Fn(Rec, &mut Context<'_, Rec>) + Clone + Send + Sync + 'static {
    let armed = Arc::new(AtomicBool::new(true));
    let seen = Arc::new(AtomicU64::new(0));
    move |r, ctx| {
        if seen.fetch_add(1, Ordering::Relaxed) + 1 == n && armed.swap(false, Ordering::SeqCst) {
            ctx.fail(SpateError::Operator {
                operator: "fail-once".into(),
                reason: "injected".into(),
            });
            return;
        }
        ctx.collect(r);
    }
}

fn batch(b: u64) -> Vec<Rec> {
    (b * BATCH_RECORDS..(b + 1) * BATCH_RECORDS)
        .map(|v| (v % KEYS, v))
        .collect()
}

#[test]
fn durable_batches_count_exactly_once_across_a_failure() {
    let dir = scratch("once");
    let totals: Arc<Mutex<BTreeMap<u64, u64>>> = Arc::default();
    let sink = totals.clone();
    let rolled_back = Arc::new(AtomicU64::new(0));
    let result = runtime().block_on(async {
        let engine = EngineBuilder::new("durable")
            .config(config(2, &dir, 20))
            .ingest_records_max(8)
            .checkpointed()
            .start_with_callback(
                |s| {
                    s.process(fail_once_at(2_000))
                        .key_by(|r: &Rec| r.0)
                        .reduce(|acc: &Rec, r: &Rec| (r.0, acc.1 + r.1))
                },
                move |(key, sum): Rec| {
                    // Sums only grow, so a key's largest is its last.
                    let mut t = sink.lock().unwrap();
                    let e = t.entry(key).or_insert(0);
                    *e = (*e).max(sum);
                },
            )
            .expect("engine starts");
        let ingest = engine.ingest();
        let mut producers = Vec::new();
        for b in 0..BATCHES {
            let ingest = ingest.clone();
            let rolled_back = rolled_back.clone();
            // Batches in flight together, each sent again until durable.
            producers.push(tokio::spawn(async move {
                loop {
                    let durable = ingest.send_durable(batch(b)).await.unwrap();
                    match durable.wait().await {
                        Ok(()) => return,
                        Err(EmbedError::NotDurable { reason }) => {
                            assert!(reason.contains("send it again"), "{reason}");
                            rolled_back.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => panic!("unexpected: {e}"),
                    }
                }
            }));
        }
        for p in producers {
            p.await.unwrap();
        }
        engine.shutdown().await.unwrap()
    });
    assert_eq!(result.metrics.checkpoints.restarts, 1);
    assert!(
        rolled_back.load(Ordering::Relaxed) >= 1,
        "the batch holding the failing record was rolled back and sent again"
    );
    let mut expected = BTreeMap::new();
    for v in 0..BATCHES * BATCH_RECORDS {
        *expected.entry(v % KEYS).or_insert(0) += v;
    }
    assert_eq!(*totals.lock().unwrap(), expected);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The acknowledgement waits for the checkpoint: a batch sent right after
/// checkpoint k was written is acknowledged only once a later one is.
#[test]
fn a_durable_batch_is_acknowledged_after_its_checkpoint_is_written() {
    let dir = scratch("ack");
    runtime().block_on(async {
        let (engine, _output) = EngineBuilder::new("acked")
            .config(config(1, &dir, 300))
            .checkpointed()
            .start(|s| {
                s.key_by(|r: &Rec| r.0)
                    .reduce(|a: &Rec, r: &Rec| (r.0, a.1 + r.1))
            })
            .expect("engine starts");
        let ingest = engine.ingest();
        assert!(ingest.is_checkpointed());
        for b in 0..3 {
            let before = newest_checkpoint(&dir);
            while newest_checkpoint(&dir) == before {
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
            let written = newest_checkpoint(&dir);
            let durable = ingest.send_durable(batch(b)).await.unwrap();
            durable.wait().await.unwrap();
            assert!(
                newest_checkpoint(&dir) > written,
                "batch {b} was acknowledged before a checkpoint after it was written"
            );
        }
        engine.shutdown().await.unwrap();
    });
    let _ = std::fs::remove_dir_all(&dir);
}

/// The id of the newest checkpoint manifest under the engine's checkpoint
/// directory (`<dir>/<job>/run-*/manifests/chk-<id>.json`), 0 for none.
fn newest_checkpoint(dir: &Path) -> u64 {
    fn walk(p: &Path, newest: &mut u64) {
        let Ok(entries) = std::fs::read_dir(p) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                walk(&path, newest);
            } else if let Some(id) = name
                .strip_prefix("chk-")
                .and_then(|n| n.strip_suffix(".json"))
                .and_then(|n| n.parse::<u64>().ok())
            {
                *newest = (*newest).max(id);
            }
        }
    }
    let mut newest = 0;
    walk(dir, &mut newest);
    newest
}

#[test]
fn durable_sends_need_a_checkpointed_engine() {
    let dir = scratch("plain");
    runtime().block_on(async {
        let (engine, _output) = EngineBuilder::new("plain")
            .config(config(1, &dir, 0))
            .start(|s: spate::DataStream<Rec>| s)
            .expect("engine starts");
        let ingest = engine.ingest();
        assert!(!ingest.is_checkpointed());
        let err = ingest.send_durable(batch(0)).await.unwrap_err();
        assert!(matches!(err, EmbedError::NotCheckpointed), "{err}");
        engine.shutdown().await.unwrap();
    });
    let err = EngineBuilder::new("no interval")
        .config(config(1, &dir, 0))
        .checkpointed()
        .start(|s: spate::DataStream<Rec>| s)
        .unwrap_err();
    assert!(err.to_string().contains("checkpoint.interval_ms"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
