//! The embedding API inside a tokio application: records in through
//! `Ingest`, results out through the stream or a callback, backpressure,
//! graceful shutdown, failures, and two engines in one process.

#![allow(clippy::unwrap_used)]

mod common;

use common::runtime;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_lite::StreamExt;
use spate::config::Config;
use spate::embed::{EmbedError, EngineBuilder, OUTPUT_SINK};
use spate::time::WatermarkStrategy;
use spate::window::{TimeWindow, TumblingEventTimeWindows, WindowCollector};
use spate::{DataStream, SpateError};

fn config(cores: u32) -> Config {
    let mut c = Config::default();
    c.runtime.cores = cores;
    c.runtime.io_memory_kib = 256;
    // Tests share a small machine: never pin two engines to one CPU.
    c.runtime.pin_cores = false;
    c
}

type Rec = (u64, u64);

fn running_sums(input: DataStream<Rec>) -> DataStream<Rec> {
    input
        .key_by(|r: &Rec| r.0)
        .reduce(|acc: &Rec, r: &Rec| (r.0, acc.1 + r.1))
}

/// Per key, the sums must be exactly the prefix sums of its values in
/// the order they were sent.
#[test]
fn keyed_running_sums_in_a_tokio_app() {
    runtime().block_on(async {
        let (engine, mut output) = EngineBuilder::new("sums")
            .config(config(2))
            .ingest_records_max(64)
            .output_records_max(64)
            .start(running_sums)
            .expect("engine starts");
        let reader = tokio::spawn(async move {
            let mut per_key: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
            while let Some((k, sum)) = output.next().await {
                per_key.entry(k).or_default().push(sum);
            }
            per_key
        });
        let ingest = engine.ingest();
        let n = 20_000u64;
        let mut senders = Vec::new();
        // Two producers, each owning its keys, so each key's order is known.
        for part in 0..2u64 {
            let ingest = ingest.clone();
            senders.push(tokio::spawn(async move {
                for i in 0..n / 2 {
                    let key = part + 2 * (i % 50);
                    ingest.send((key, i)).await.expect("send");
                }
            }));
        }
        for s in senders {
            s.await.unwrap();
        }
        let result = engine.shutdown().await.expect("shutdown");
        let per_key = reader.await.unwrap();
        assert_eq!(result.metrics.source_records, n);
        assert_eq!(result.metrics.sinks[OUTPUT_SINK].records, n);
        assert_eq!(per_key.len(), 100);
        // Each core takes whatever arrives next, so two records of a key
        // taken by different cores may swap; every record is summed once.
        for (key, sums) in &per_key {
            let part = key % 2;
            let values: Vec<u64> = (0..n / 2).filter(|i| part + 2 * (i % 50) == *key).collect();
            assert_eq!(sums.len(), values.len(), "key {key}");
            assert!(sums.windows(2).all(|w| w[0] <= w[1]), "key {key}");
            assert_eq!(sums.last().copied(), Some(values.iter().sum()), "key {key}");
        }
    });
}

/// A profile with a checkpoint interval (low-latency has one) still runs an
/// embedded engine: without checkpoints, none attempted, none aborted.
#[test]
fn a_checkpoint_interval_is_ignored_by_an_embedded_engine() {
    runtime().block_on(async {
        let mut c = config(1);
        c.checkpoint.interval_ms = 20;
        let (engine, output) = EngineBuilder::new("no checkpoints")
            .config(c)
            .start(running_sums)
            .expect("engine starts");
        let ingest = engine.ingest();
        for i in 0..50u64 {
            ingest.send((i % 5, 1)).await.unwrap();
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let result = engine.shutdown().await.unwrap();
        assert_eq!(result.metrics.checkpoints.aborted, 0);
        assert_eq!(result.metrics.checkpoints.completed, 0);
        assert_eq!(output.collect::<Vec<_>>().await.len(), 50);
    });
}

/// On one core, a key's records are summed in the order they were sent.
#[test]
fn one_core_keeps_each_keys_order() {
    runtime().block_on(async {
        let (engine, output) = EngineBuilder::new("ordered sums")
            .config(config(1))
            .start(running_sums)
            .expect("engine starts");
        let ingest = engine.ingest();
        ingest
            .send_batch((0..3000u64).map(|i| (i % 3, i)))
            .await
            .unwrap();
        engine.shutdown().await.unwrap();
        let got: Vec<Rec> = output.collect().await;
        for key in 0..3u64 {
            let sums: Vec<u64> = got.iter().filter(|r| r.0 == key).map(|r| r.1).collect();
            let expected: Vec<u64> = (0..3000u64)
                .filter(|i| i % 3 == key)
                .scan(0, |s, v| {
                    *s += v;
                    Some(*s)
                })
                .collect();
            assert_eq!(sums, expected, "key {key}");
        }
    });
}

#[test]
fn two_engines_in_one_process_keep_their_own_results() {
    runtime().block_on(async {
        let (doubler, doubled) = EngineBuilder::new("double")
            .config(config(1))
            .start(|s: DataStream<u64>| s.map(|x| x * 2))
            .expect("first engine");
        let (plus_one, plus) = EngineBuilder::new("plus one")
            .config(config(1))
            .start(|s: DataStream<u64>| s.map(|x| x + 1))
            .expect("second engine");
        let (a, b) = (doubler.ingest(), plus_one.ingest());
        for i in 0..1000u64 {
            a.send(i).await.unwrap();
            b.send(i).await.unwrap();
        }
        let (ra, rb) = (
            doubler.shutdown().await.unwrap(),
            plus_one.shutdown().await.unwrap(),
        );
        assert_eq!(ra.metrics.source_records, 1000);
        assert_eq!(rb.metrics.source_records, 1000);
        let got_a: Vec<u64> = doubled.collect().await;
        let got_b: Vec<u64> = plus.collect().await;
        assert_eq!(got_a, (0..1000).map(|i| i * 2).collect::<Vec<_>>());
        assert_eq!(got_b, (0..1000).map(|i| i + 1).collect::<Vec<_>>());
    });
}

/// Nobody reads the output: the job stops, the ingest queue fills, and
/// `try_send` says `Full` while `send` waits. Once the output is read,
/// everything accepted comes out.
#[test]
fn a_saturated_job_pushes_back_on_the_sender() {
    runtime().block_on(async {
        let (engine, mut output) = EngineBuilder::new("pushback")
            .config(config(1))
            .ingest_records_max(8)
            .output_records_max(4)
            .start(|s: DataStream<u64>| s.map(|x| x + 1))
            .expect("engine starts");
        let ingest = engine.ingest();
        let mut accepted = 0u64;
        let mut full = None;
        for _ in 0..20_000 {
            match ingest.try_send(accepted) {
                Ok(()) => accepted += 1,
                // Full for 50 ms: saturated, not only a core that was late.
                Err(rejected) if rejected.is_full() && full.is_some() => {
                    full = Some(rejected);
                    break;
                }
                Err(rejected) if rejected.is_full() => {
                    full = Some(rejected);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                Err(other) => panic!("unexpected: {other}"),
            }
            full = None;
            tokio::time::sleep(Duration::from_micros(50)).await;
        }
        let full = full.expect("the queue filled up");
        assert!(matches!(
            full.error,
            EmbedError::Full {
                capacity_records: 8
            }
        ));
        assert_eq!(full.record, accepted, "the rejected record comes back");
        assert!(full.to_string().contains("full (8 records)"), "{full}");
        // Bounded: the output queue, one batch waiting in the sink, the
        // source's batch and the ingest queue.
        assert!(accepted < 4 + 64 * 2 + 8, "accepted {accepted}");
        // `send` waits while the job is saturated ...
        let waiting = tokio::time::timeout(Duration::from_millis(100), ingest.send(accepted)).await;
        assert!(
            waiting.is_err(),
            "send returned although the job is saturated"
        );
        // ... and completes once results are read.
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(x) = output.next().await {
                got.push(x);
            }
            got
        });
        ingest.send(accepted).await.unwrap();
        engine.shutdown().await.unwrap();
        let got = reader.await.unwrap();
        assert_eq!(got, (1..=accepted + 1).collect::<Vec<_>>());
    });
}

/// Shutdown drains: the final watermark fires the windows still open.
#[test]
fn shutdown_fires_open_windows_and_delivers_to_the_callback() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    runtime().block_on(async {
        let engine = EngineBuilder::new("windows")
            .config(config(1))
            .start_with_callback(
                |s: DataStream<(u64, i64)>| {
                    s.assign_timestamps_and_watermarks(WatermarkStrategy::bounded_out_of_orderness(
                        0,
                        |e: &(u64, i64)| e.1,
                    ))
                    .key_by(|e: &(u64, i64)| e.0)
                    .window(TumblingEventTimeWindows::of(10))
                    .process(
                        |k: &u64,
                         w: &TimeWindow,
                         items: &[(u64, i64)],
                         out: &mut WindowCollector<'_, (u64, i64, usize)>| {
                            out.collect((*k, w.start, items.len()));
                            Ok(())
                        },
                    )
                },
                move |r| sink.lock().unwrap().push(r),
            )
            .expect("engine starts");
        let ingest = engine.ingest();
        ingest
            .send_batch([(1, 1), (1, 2), (2, 3), (1, 12), (2, 15), (2, 16)])
            .await
            .unwrap();
        let result = engine.shutdown().await.unwrap();
        assert_eq!(result.metrics.sinks[OUTPUT_SINK].records, 4);
        assert!(ingest.is_stopped());
        assert!(matches!(
            ingest.send((1, 30)).await,
            Err(EmbedError::Stopped)
        ));
    });
    let mut got = seen.lock().unwrap().clone();
    got.sort();
    assert_eq!(got, vec![(1, 0, 2), (1, 10, 1), (2, 0, 1), (2, 10, 2)]);
}

#[test]
fn a_failing_job_stops_the_ingest_and_shutdown_says_why() {
    runtime().block_on(async {
        let (engine, _output) = EngineBuilder::new("fails")
            .config(config(1))
            .start(|s: DataStream<u64>| {
                s.process(
                    |x: u64, ctx: &mut spate::operators::process::Context<'_, u64>| {
                        if x == 13 {
                            ctx.fail(SpateError::invalid_job("13 is unlucky"));
                        } else {
                            ctx.collect(x);
                        }
                    },
                )
            })
            .expect("engine starts");
        let ingest = engine.ingest();
        let mut stopped = false;
        for i in 0..10_000u64 {
            if let Err(e) = ingest.send(i).await {
                assert!(matches!(e, EmbedError::Stopped), "{e}");
                stopped = true;
                break;
            }
            tokio::time::sleep(Duration::from_micros(100)).await;
        }
        assert!(stopped, "send kept succeeding after the job failed");
        // The engine's thread reports right after the queue closed.
        for _ in 0..1000 {
            if engine.is_finished() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert!(engine.is_finished());
        match engine.shutdown().await {
            Err(EmbedError::Job(e)) => assert!(e.to_string().contains("13 is unlucky"), "{e}"),
            other => panic!("expected the job's error, got {other:?}"),
        }
    });
}

#[test]
fn an_invalid_job_is_reported_by_start() {
    let started =
        EngineBuilder::new("no event time")
            .config(config(1))
            .start(|s: DataStream<u64>| {
                s.key_by(|x: &u64| *x)
                    .window(TumblingEventTimeWindows::of(10))
                    .reduce(|a: &u64, b: &u64| a + b)
            });
    match started {
        Err(EmbedError::Job(e @ SpateError::InvalidJob { .. })) => {
            assert!(e.to_string().contains("event"), "{e}")
        }
        other => panic!("expected an invalid job, got {:?}", other.map(|_| ())),
    }
}
