//! The endpoints in front of a checkpointed engine whose job fails once: a
//! batch is acknowledged only once a completed checkpoint holds it, a batch
//! the failure rolled back is answered with an error (HTTP 503, or an
//! error reply on TCP) and counted, and a producer that sends the refused
//! batches again gets every record counted exactly once. TCP keeps reading
//! while acknowledgements wait, so many batches are in flight at once.

#![allow(clippy::unwrap_used)]

mod common;

use common::Client;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use spate::SpateError;
use spate::config::Config;
use spate::embed::{Engine, EngineBuilder};
use spate::operators::process::Context;
use spate_ingest::{IngestConfig, IngestStats, serve_http, serve_tcp};
use spate_net::FrameKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

type Event = (u64, u64);
type Totals = Arc<Mutex<BTreeMap<u64, u64>>>;

const KEYS: u64 = 7;
const BATCHES: u64 = 40;
const BATCH_RECORDS: u64 = 25;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("spate-ingest-dur-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Per key, the running sum; the job fails once, at the `fail_at`-th record.
fn engine(dir: &std::path::Path, fail_at: u64, totals: &Totals) -> Engine<Event> {
    let mut config = Config::default();
    config.runtime.cores = 1;
    config.runtime.io_memory_kib = 256;
    config.runtime.pin_cores = false;
    config.checkpoint.dir = dir.to_path_buf();
    config.checkpoint.interval_ms = 20;
    config.checkpoint.restart_delay_ms = 0;
    let armed = Arc::new(AtomicBool::new(true));
    let seen = Arc::new(AtomicU64::new(0));
    let sink = totals.clone();
    EngineBuilder::new("durable-endpoints")
        .config(config)
        .checkpointed()
        .start_with_callback(
            move |input| {
                input
                    .process(move |e: Event, ctx: &mut Context<'_, Event>| {
                        if seen.fetch_add(1, Ordering::Relaxed) + 1 == fail_at
                            && armed.swap(false, Ordering::SeqCst)
                        {
                            ctx.fail(SpateError::Operator {
                                operator: "fail-once".into(),
                                reason: "injected".into(),
                            });
                            return;
                        }
                        ctx.collect(e);
                    })
                    .key_by(|e: &Event| e.0)
                    .reduce(|a: &Event, e: &Event| (e.0, a.1 + e.1))
            },
            move |(key, sum): Event| {
                let mut t = sink.lock().unwrap();
                let e = t.entry(key).or_insert(0);
                *e = (*e).max(sum);
            },
        )
        .unwrap()
}

fn body(b: u64) -> Vec<u8> {
    (b * BATCH_RECORDS..(b + 1) * BATCH_RECORDS)
        .map(|v| format!("[{},{v}]\n", v % KEYS))
        .collect::<String>()
        .into_bytes()
}

fn expected() -> BTreeMap<u64, u64> {
    let mut sums = BTreeMap::new();
    for v in 0..BATCHES * BATCH_RECORDS {
        *sums.entry(v % KEYS).or_insert(0) += v;
    }
    sums
}

/// An engine that fails once, its endpoint's listener and counters.
struct Trial {
    dir: PathBuf,
    totals: Totals,
    engine: Engine<Event>,
    stats: Arc<IngestStats>,
    addr: String,
}

impl Trial {
    /// The trial, and the listener its endpoint serves.
    async fn start(name: &str, fail_at: u64) -> (Self, TcpListener) {
        let dir = scratch(name);
        let totals = Totals::default();
        let engine = engine(&dir, fail_at, &totals);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let trial = Self {
            dir,
            totals,
            engine,
            stats: Arc::default(),
            addr,
        };
        (trial, listener)
    }

    /// Every batch was acknowledged after `refused` refusals: the job
    /// restarted once and counted each record exactly once.
    async fn finish(self, refused: u64) {
        let result = self.engine.shutdown().await.unwrap();
        assert_eq!(result.metrics.checkpoints.restarts, 1);
        assert!(
            refused >= 1,
            "the batch with the failing record was refused"
        );
        let s = self.stats.snapshot();
        assert_eq!((s.batches_accepted, s.rolled_back), (BATCHES, refused));
        assert_eq!(*self.totals.lock().unwrap(), expected());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One POST on a fresh connection: (status, body).
async fn post(addr: &str, body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /v1/ingest HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).await.unwrap();
    let reply = String::from_utf8_lossy(&reply).to_string();
    let status = reply.split_whitespace().nth(1).unwrap().parse().unwrap();
    (
        status,
        reply.split("\r\n\r\n").nth(1).unwrap_or("").to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_acknowledges_durable_batches_and_refuses_rolled_back_ones() {
    let (t, listener) = Trial::start("http", 300).await;
    let server = tokio::spawn(serve_http(
        listener,
        t.engine.ingest(),
        IngestConfig::default(),
        t.stats.clone(),
    ));
    let addr = t.addr.clone();
    let mut producers = Vec::new();
    for b in 0..BATCHES {
        let addr = addr.clone();
        producers.push(tokio::spawn(async move {
            let mut refused = 0u64;
            loop {
                match post(&addr, &body(b)).await {
                    (200, reply) => {
                        assert!(reply.contains(&format!("\"accepted\":{BATCH_RECORDS}")));
                        return refused;
                    }
                    (503, reply) => {
                        assert!(reply.contains("send it again"), "{reply}");
                        refused += 1;
                    }
                    other => panic!("unexpected answer {other:?}"),
                }
            }
        }));
    }
    let mut refused = 0;
    for p in producers {
        refused += p.await.unwrap();
    }
    server.abort();
    t.finish(refused).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_acknowledges_durable_batches_out_of_band_and_refuses_rolled_back_ones() {
    let (t, listener) = Trial::start("tcp", 400).await;
    let server = tokio::spawn(serve_tcp(
        listener,
        t.engine.ingest(),
        IngestConfig::default(),
        t.stats.clone(),
    ));
    let addr = t.addr.clone();
    let mut c = Client::connect(&addr).await;
    c.send(FrameKind::Control, 0, b"").await;
    assert_eq!(c.reply().await.unwrap()["accepted"], 0);
    // Every batch goes out before any acknowledgement is read; a refused
    // one goes again under a new sequence number.
    let mut unacked: BTreeMap<u64, u64> = BTreeMap::new();
    let mut seq = 0;
    for b in 0..BATCHES {
        seq += 1;
        c.send(FrameKind::Data, seq, &body(b)).await;
        unacked.insert(seq, b);
    }
    let mut refused = 0;
    let mut acked = BTreeSet::new();
    while !unacked.is_empty() {
        let reply = c.reply().await.expect("a reply before the server closed");
        let s = reply["seq"].as_u64().unwrap();
        let b = unacked
            .remove(&s)
            .unwrap_or_else(|| panic!("a reply to {s}: {reply}"));
        if reply["accepted"].as_u64() == Some(BATCH_RECORDS) {
            assert!(acked.insert(b), "batch {b} acknowledged twice");
        } else {
            let err = reply["error"].as_str().unwrap();
            assert!(err.contains("send it again"), "{err}");
            refused += 1;
            seq += 1;
            c.send(FrameKind::Data, seq, &body(b)).await;
            unacked.insert(seq, b);
        }
    }
    assert_eq!(acked.len() as u64, BATCHES);
    drop(c);
    server.abort();
    t.finish(refused).await;
}
