//! JSON lines in Spate's TCP frames (the protocol is in the crate docs).

use std::sync::Arc;

use bytes::BytesMut;
use serde::de::DeserializeOwned;
use spate::embed::Ingest;
use spate_net::{BufferPool, Frame, FrameDecoder, FrameEncoder, FrameKind, NetConfig, NetError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::auth::token_ok;
use crate::config::IngestConfig;
use crate::error::IngestError;
use crate::lines::take_batch;
use crate::stats::{IngestStats, Refusal};

/// The only channel of the protocol.
const CHANNEL: u32 = 0;
/// Bytes read from the socket per call.
const READ_BYTES: usize = 64 << 10;

struct Shared<T> {
    ingest: Ingest<T>,
    config: IngestConfig,
    net: NetConfig,
    stats: Arc<IngestStats>,
}

/// Accepts connections on `listener` and serves each, at most
/// `connections_max` at once, until the future is dropped or accepting
/// fails.
pub async fn serve_tcp<T>(
    listener: TcpListener,
    ingest: Ingest<T>,
    config: IngestConfig,
    stats: Arc<IngestStats>,
) -> Result<(), IngestError>
where
    T: DeserializeOwned + Send + 'static,
{
    config.validate()?;
    let net = NetConfig {
        frame_bytes_max: u32::try_from(config.batch_bytes_max).map_err(|_| {
            IngestError::InvalidConfig {
                reason: "batch_bytes_max must fit a frame's 32-bit length",
            }
        })?,
        buffer_bytes: config.batch_bytes_max,
        network_buffers_per_core: 1,
        ..NetConfig::default()
    };
    let permits = Arc::new(Semaphore::new(config.connections_max));
    let shared = Arc::new(Shared {
        ingest,
        config,
        net,
        stats,
    });
    loop {
        let permit = permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| IngestError::Internal {
                reason: format!("the connection semaphore closed: {e}"),
            })?;
        let (stream, peer) = listener.accept().await.map_err(|source| IngestError::Io {
            endpoint: "TCP",
            source,
        })?;
        let shared = shared.clone();
        tokio::spawn(async move {
            if let Err(reason) = serve_connection(stream, &shared).await {
                tracing::info!("ingest connection from {peer} closed: {reason}");
            }
            drop(permit);
        });
    }
}

/// What one connection does with a frame.
enum Next {
    Continue,
    Close(String),
}

async fn serve_connection<T>(mut stream: TcpStream, shared: &Shared<T>) -> Result<(), String>
where
    T: DeserializeOwned + Send + 'static,
{
    let mut decoder = FrameDecoder::new(&shared.net);
    let mut pool = BufferPool::new(1, shared.net.buffer_bytes).map_err(|e| e.to_string())?;
    let encoder = FrameEncoder::new(&shared.net);
    let mut hello = false;
    let mut buf = vec![0u8; READ_BYTES];
    loop {
        let n = stream.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return decoder.finish(&mut pool).map_err(|e| e.to_string());
        }
        let mut input = &buf[..n];
        while !input.is_empty() {
            let frame = match decoder.decode(&mut input, &mut pool) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => return broken_frame(&mut stream, shared, &encoder, &e).await,
            };
            let next = handle(&frame, &mut hello, shared).await;
            let seq = frame.header.seq;
            if let spate_net::Payload::Pooled(b) = frame.payload {
                pool.release(b).map_err(|e| e.to_string())?;
            }
            match next {
                (reply, Next::Continue) => send(&mut stream, &encoder, seq, &reply).await?,
                (reply, Next::Close(reason)) => {
                    send(&mut stream, &encoder, seq, &reply).await?;
                    return Err(reason);
                }
            }
        }
    }
}

/// The reply to one frame, and whether the connection goes on.
async fn handle<T>(frame: &Frame, hello: &mut bool, shared: &Shared<T>) -> (serde_json::Value, Next)
where
    T: DeserializeOwned + Send + 'static,
{
    let seq = frame.header.seq;
    let refuse = |why: Refusal, reason: String, close: bool| {
        shared.stats.refused(why);
        let next = if close {
            Next::Close(reason.clone())
        } else {
            Next::Continue
        };
        (serde_json::json!({ "seq": seq, "error": reason }), next)
    };
    match (frame.header.kind, *hello) {
        (FrameKind::Control, false) => {
            let token = frame.payload.as_slice();
            if token_ok(shared.config.token.as_deref(), Some(token)) {
                *hello = true;
                (
                    serde_json::json!({ "seq": seq, "accepted": 0 }),
                    Next::Continue,
                )
            } else {
                let reason = "the hello frame does not carry the configured token".to_string();
                refuse(Refusal::Unauthenticated, reason, true)
            }
        }
        (_, false) => {
            let reason = "the first frame must be a Control frame carrying the token".to_string();
            refuse(Refusal::Unauthenticated, reason, true)
        }
        (FrameKind::Data, true) => ingest(frame, shared, &refuse).await,
        (kind, true) => {
            let reason = format!("a {kind:?} frame after the hello; only Data frames may follow");
            refuse(Refusal::Malformed, reason, true)
        }
    }
}

async fn ingest<T, R>(frame: &Frame, shared: &Shared<T>, refuse: &R) -> (serde_json::Value, Next)
where
    T: DeserializeOwned + Send + 'static,
    R: Fn(Refusal, String, bool) -> (serde_json::Value, Next),
{
    let body = frame.payload.as_slice();
    let records_max = shared.config.batch_records_max;
    match take_batch(&shared.ingest, records_max, &shared.stats, body).await {
        Ok(n) => {
            let seq = frame.header.seq;
            (
                serde_json::json!({ "seq": seq, "accepted": n }),
                Next::Continue,
            )
        }
        // A bad batch leaves the framing intact; a stopped engine takes
        // nothing more on this connection.
        Err((why, reason)) => refuse(why, reason, why == Refusal::Unavailable),
    }
}

/// Answers a frame the decoder refused (the stream's framing is lost, so
/// the connection closes) and says why.
async fn broken_frame<T>(
    stream: &mut TcpStream,
    shared: &Shared<T>,
    encoder: &FrameEncoder,
    err: &NetError,
) -> Result<(), String> {
    let why = match err {
        NetError::FrameTooLarge { .. } => Refusal::Oversized,
        _ => Refusal::Malformed,
    };
    shared.stats.refused(why);
    let reason = err.to_string();
    let reply = serde_json::json!({ "seq": 0, "error": reason });
    send(stream, encoder, 0, &reply).await?;
    Err(reason)
}

async fn send(
    stream: &mut TcpStream,
    encoder: &FrameEncoder,
    seq: u64,
    reply: &serde_json::Value,
) -> Result<(), String> {
    let payload = serde_json::to_vec(reply).map_err(|e| e.to_string())?;
    let mut out = BytesMut::new();
    encoder
        .encode(FrameKind::Control, CHANNEL, seq, &payload, &mut out)
        .map_err(|e| e.to_string())?;
    stream.write_all(&out).await.map_err(|e| e.to_string())
}
