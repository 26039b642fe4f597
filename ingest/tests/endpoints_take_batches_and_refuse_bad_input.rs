//! The HTTP and TCP ingestion endpoints on real sockets, in front of a
//! real embedded engine: batches are acknowledged and reach the job;
//! unauthenticated, malformed and oversized input is refused with a clear
//! sentence, counted, and loses nothing; the engine stays up throughout.

#![allow(clippy::unwrap_used)]

mod common;

use common::Client;

use std::sync::Arc;

use bytes::BytesMut;
use futures_lite::StreamExt;
use spate::config::Config;
use spate::embed::{Engine, EngineBuilder, Output};
use spate_ingest::{IngestConfig, IngestStats, IngestStatsSnapshot, serve_http, serve_tcp};
use spate_net::FrameKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

type Event = (String, u64);
const TOKEN: &str = "s3cret-token";

/// Per user, the running sum of the amounts.
fn engine() -> (Engine<Event>, Output<Event>) {
    let mut config = Config::default();
    config.runtime.cores = 1;
    config.runtime.io_memory_kib = 256;
    EngineBuilder::new("sums")
        .config(config)
        .start(|input| {
            input
                .key_by(|e: &Event| e.0.clone())
                .reduce(|a: &Event, b: &Event| (a.0.clone(), a.1 + b.1))
        })
        .unwrap()
}

fn config() -> IngestConfig {
    IngestConfig {
        token: Some(TOKEN.into()),
        batch_bytes_max: 4096,
        batch_records_max: 100,
        ..IngestConfig::default()
    }
}

/// One HTTP/1.1 request on a fresh connection: (status, body).
async fn post(addr: &str, token: Option<&str>, body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "POST /v1/ingest HTTP/1.1\r\nHost: test\r\n{auth}Content-Type: application/x-ndjson\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    // A server may answer 413 before reading the whole body; ignore a reset.
    let _ = s.write_all(body).await;
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply).await;
    let reply = String::from_utf8_lossy(&reply).to_string();
    let status = reply
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {reply:?}"));
    let body = reply.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

async fn finish(engine: Engine<Event>, output: Output<Event>) -> Vec<Event> {
    engine.shutdown().await.unwrap();
    let mut got: Vec<Event> = output.collect().await;
    got.sort();
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_batches_are_acknowledged_and_bad_ones_refused_with_nothing_lost() {
    let (engine, output) = engine();
    let stats = Arc::new(IngestStats::default());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = tokio::spawn(serve_http(
        listener,
        engine.ingest(),
        config(),
        stats.clone(),
    ));

    let (status, body) = post(&addr, Some(TOKEN), b"[\"ann\",5]\n[\"bob\",1]\n").await;
    assert_eq!((status, body.as_str()), (200, r#"{"accepted":2}"#));

    let (status, body) = post(&addr, None, b"[\"ann\",100]\n").await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("Authorization: Bearer"), "{body}");
    let (status, _) = post(&addr, Some("s3cret-tokeN"), b"[\"ann\",100]\n").await;
    assert_eq!(status, 401);

    let (status, body) = post(&addr, Some(TOKEN), b"[\"ann\",100]\n{\"oops\":1}\n").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("line 2: "), "{body}");
    assert!(
        body.contains("nothing of this batch was ingested"),
        "{body}"
    );

    let big = "[\"ann\",100]\n".repeat(500);
    let (status, body) = post(&addr, Some(TOKEN), big.as_bytes()).await;
    assert_eq!(status, 413, "{body}");
    let many = "[\"ann\",100]\n".repeat(101);
    let (status, body) = post(&addr, Some(TOKEN), many.as_bytes()).await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("more than 100 records"), "{body}");

    // Still up: the next good batch goes through.
    let (status, _) = post(&addr, Some(TOKEN), b"[\"ann\",2]\n").await;
    assert_eq!(status, 200);
    assert_eq!(
        stats.snapshot(),
        IngestStatsSnapshot {
            batches_accepted: 2,
            records_accepted: 3,
            rejected_unauthenticated: 2,
            rejected_malformed: 1,
            rejected_oversized: 2,
            rejected_unavailable: 0,
            rolled_back: 0,
        }
    );
    server.abort();
    let got = finish(engine, output).await;
    // Only acknowledged records: ann 5 then 5+2, bob 1.
    assert_eq!(
        got,
        vec![("ann".into(), 5), ("ann".into(), 7), ("bob".into(), 1)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_frames_are_acknowledged_and_bad_ones_refused_with_nothing_lost() {
    let (engine, output) = engine();
    let stats = Arc::new(IngestStats::default());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = tokio::spawn(serve_tcp(
        listener,
        engine.ingest(),
        config(),
        stats.clone(),
    ));

    let mut c = Client::connect(&addr).await;
    c.send_frame(FrameKind::Control, TOKEN.as_bytes()).await;
    assert_eq!(c.reply().await.unwrap()["accepted"], 0);
    c.send_frame(FrameKind::Data, b"[\"ann\",5]\n[\"bob\",1]")
        .await;
    let ack = c.reply().await.unwrap();
    assert_eq!(
        (ack["seq"].as_u64(), ack["accepted"].as_u64()),
        (Some(1), Some(2))
    );
    // A malformed batch is refused; the connection stays.
    c.send_frame(FrameKind::Data, b"[\"ann\",100]\nnot json")
        .await;
    let err = c.reply().await.unwrap();
    assert_eq!(err["seq"], 2);
    assert!(
        err["error"].as_str().unwrap().starts_with("line 2: "),
        "{err}"
    );
    c.send_frame(FrameKind::Data, b"[\"ann\",2]").await;
    assert_eq!(c.reply().await.unwrap()["accepted"], 1);

    // A wrong token closes the connection.
    let mut bad = Client::connect(&addr).await;
    bad.send_frame(FrameKind::Control, b"guess").await;
    let err = bad.reply().await.unwrap();
    assert!(err["error"].as_str().unwrap().contains("token"), "{err}");
    assert!(bad.closed().await);

    // Data before the hello closes it too.
    let mut rude = Client::connect(&addr).await;
    rude.send_frame(FrameKind::Data, b"[\"ann\",100]").await;
    assert!(rude.reply().await.unwrap()["error"].is_string());
    assert!(rude.closed().await);

    // A frame with a broken payload checksum: refused with the reason, closed.
    let mut broken = Client::connect(&addr).await;
    broken
        .send_frame(FrameKind::Control, TOKEN.as_bytes())
        .await;
    broken.reply().await.unwrap();
    let mut out = BytesMut::new();
    broken
        .encoder
        .encode(FrameKind::Data, 0, 1, b"[\"ann\",100]", &mut out)
        .unwrap();
    let last = out.len() - 1;
    out[last] ^= 0x20;
    broken.stream.write_all(&out).await.unwrap();
    let err = broken.reply().await.unwrap();
    assert!(err["error"].as_str().unwrap().contains("checksum"), "{err}");
    assert!(broken.closed().await);

    // A frame announcing more than batch_bytes_max: refused before its payload.
    let mut huge = Client::connect(&addr).await;
    huge.send_frame(FrameKind::Control, TOKEN.as_bytes()).await;
    huge.reply().await.unwrap();
    let payload = "[\"ann\",100]\n".repeat(400);
    huge.send_frame(FrameKind::Data, payload.as_bytes()).await;
    let err = huge.reply().await.unwrap();
    assert!(err["error"].as_str().unwrap().contains("4096"), "{err}");
    assert!(huge.closed().await);

    // The first connection still works.
    c.send_frame(FrameKind::Data, b"[\"bob\",3]").await;
    assert_eq!(c.reply().await.unwrap()["accepted"], 1);
    let s = stats.snapshot();
    assert_eq!((s.batches_accepted, s.records_accepted), (3, 4));
    assert_eq!(s.rejected_unauthenticated, 2);
    assert_eq!(s.rejected_malformed, 2);
    assert_eq!(s.rejected_oversized, 1);
    drop(c);
    server.abort();
    let got = finish(engine, output).await;
    assert_eq!(
        got,
        vec![
            ("ann".into(), 5),
            ("ann".into(), 7),
            ("bob".into(), 1),
            ("bob".into(), 4)
        ]
    );
}
