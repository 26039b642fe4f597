//! JSON lines in Spate's TCP frames (the protocol is in the crate docs).

use std::sync::Arc;

use bytes::BytesMut;
use serde::de::DeserializeOwned;
use spate::embed::Ingest;
use spate_net::{BufferPool, Frame, FrameDecoder, FrameEncoder, FrameKind, NetConfig, NetError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};

use crate::auth::token_ok;
use crate::config::IngestConfig;
use crate::error::IngestError;
use crate::lines::{Taken, take_batch};
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

/// The answer to a frame: now, or once its batch is durable.
enum Reply {
    Now(serde_json::Value, Next),
    WhenDurable(Taken),
}

/// A reply to write: the frame's sequence and its JSON.
type Outgoing = (u64, serde_json::Value);

/// Reads frames and answers each. Acknowledgements of a checkpointed
/// engine wait for durability on tasks of their own, at most
/// `unacked_batches_max` at once, so the connection keeps reading; every
/// reply goes through one writer task, which ends once the reader and
/// every waiting acknowledgement are done.
async fn serve_connection<T>(stream: TcpStream, shared: &Shared<T>) -> Result<(), String>
where
    T: DeserializeOwned + Send + 'static,
{
    let (mut reader, writer) = stream.into_split();
    let unacked_max = shared.config.unacked_batches_max;
    let (replies, outgoing) = mpsc::channel::<Outgoing>(unacked_max.saturating_add(1));
    let encoder = FrameEncoder::new(&shared.net);
    let writing = tokio::spawn(write_replies(writer, encoder, outgoing));
    let unacked = Arc::new(Semaphore::new(unacked_max));
    let read = read_frames(&mut reader, shared, &replies, &unacked).await;
    drop(replies);
    let written = writing
        .await
        .map_err(|e| format!("the reply writer ended abnormally: {e}"))?;
    read.and(written)
}

async fn read_frames<T>(
    reader: &mut tokio::net::tcp::OwnedReadHalf,
    shared: &Shared<T>,
    replies: &mpsc::Sender<Outgoing>,
    unacked: &Arc<Semaphore>,
) -> Result<(), String>
where
    T: DeserializeOwned + Send + 'static,
{
    let mut decoder = FrameDecoder::new(&shared.net);
    let mut pool = BufferPool::new(1, shared.net.buffer_bytes).map_err(|e| e.to_string())?;
    let mut hello = false;
    let mut buf = vec![0u8; READ_BYTES];
    let reply = |seq: u64, value: serde_json::Value| async move {
        replies
            .send((seq, value))
            .await
            .map_err(|_| "the connection's writer stopped".to_string())
    };
    loop {
        let n = reader.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return decoder.finish(&mut pool).map_err(|e| e.to_string());
        }
        let mut input = &buf[..n];
        while !input.is_empty() {
            let frame = match decoder.decode(&mut input, &mut pool) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    let (value, reason) = broken_frame(shared, &e);
                    reply(0, value).await?;
                    return Err(reason);
                }
            };
            let answer = handle(&frame, &mut hello, shared).await;
            let seq = frame.header.seq;
            if let spate_net::Payload::Pooled(b) = frame.payload {
                pool.release(b).map_err(|e| e.to_string())?;
            }
            match answer {
                Reply::Now(value, Next::Continue) => reply(seq, value).await?,
                Reply::Now(value, Next::Close(reason)) => {
                    reply(seq, value).await?;
                    return Err(reason);
                }
                Reply::WhenDurable(taken) => {
                    let permit = unacked
                        .clone()
                        .acquire_owned()
                        .await
                        .map_err(|e| format!("the acknowledgement semaphore closed: {e}"))?;
                    let stats = shared.stats.clone();
                    let replies = replies.clone();
                    tokio::spawn(async move {
                        let value = acknowledgement(seq, taken.durable(&stats).await, &stats);
                        // A closed connection takes no reply; nothing to do.
                        let _ = replies.send((seq, value)).await;
                        drop(permit);
                    });
                }
            }
        }
    }
}

async fn write_replies(
    mut writer: OwnedWriteHalf,
    encoder: FrameEncoder,
    mut outgoing: mpsc::Receiver<Outgoing>,
) -> Result<(), String> {
    while let Some((seq, value)) = outgoing.recv().await {
        let payload = serde_json::to_vec(&value).map_err(|e| e.to_string())?;
        let mut out = BytesMut::new();
        encoder
            .encode(FrameKind::Control, CHANNEL, seq, &payload, &mut out)
            .map_err(|e| e.to_string())?;
        writer.write_all(&out).await.map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The reply to a batch once it is durable, or why it is not.
fn acknowledgement(
    seq: u64,
    durable: Result<usize, (Refusal, String)>,
    stats: &IngestStats,
) -> serde_json::Value {
    match durable {
        Ok(n) => serde_json::json!({ "seq": seq, "accepted": n }),
        Err((why, reason)) => {
            stats.refused(why);
            serde_json::json!({ "seq": seq, "error": reason })
        }
    }
}

/// The reply to one frame, and whether the connection goes on.
async fn handle<T>(frame: &Frame, hello: &mut bool, shared: &Shared<T>) -> Reply
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
        Reply::Now(serde_json::json!({ "seq": seq, "error": reason }), next)
    };
    match (frame.header.kind, *hello) {
        (FrameKind::Control, false) => {
            let token = frame.payload.as_slice();
            if token_ok(shared.config.token.as_deref(), Some(token)) {
                *hello = true;
                Reply::Now(
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

async fn ingest<T, R>(frame: &Frame, shared: &Shared<T>, refuse: &R) -> Reply
where
    T: DeserializeOwned + Send + 'static,
    R: Fn(Refusal, String, bool) -> Reply,
{
    let body = frame.payload.as_slice();
    let records_max = shared.config.batch_records_max;
    match take_batch(&shared.ingest, records_max, body).await {
        Ok(taken) if shared.ingest.is_checkpointed() => Reply::WhenDurable(taken),
        // Queued is as durable as an engine without checkpoints gets.
        Ok(taken) => {
            let seq = frame.header.seq;
            let value = acknowledgement(seq, taken.durable(&shared.stats).await, &shared.stats);
            Reply::Now(value, Next::Continue)
        }
        // A bad batch leaves the framing intact; a stopped engine takes
        // nothing more on this connection.
        Err((why, reason)) => refuse(why, reason, why == Refusal::Unavailable),
    }
}

/// The reply to a frame the decoder refused (the stream's framing is lost,
/// so the connection closes), and why.
fn broken_frame<T>(shared: &Shared<T>, err: &NetError) -> (serde_json::Value, String) {
    let why = match err {
        NetError::FrameTooLarge { .. } => Refusal::Oversized,
        _ => Refusal::Malformed,
    };
    shared.stats.refused(why);
    let reason = err.to_string();
    (serde_json::json!({ "seq": 0, "error": reason }), reason)
}
