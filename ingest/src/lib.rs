//! Network ingestion endpoints for an embedded Spate engine, for producers
//! that are not written in Rust: JSON lines over HTTP, and JSON lines in
//! Spate's own TCP frames. Both take batches for an
//! [`spate::embed::Ingest`] handle and run in the caller's tokio runtime.
//!
//! **Guarantee.** A batch is acknowledged once every record of it is in
//! the engine's bounded ingest queue; a batch is all or nothing (a
//! malformed line rejects the whole batch, so a producer fixes it and
//! sends it again without duplicates). The embedded engine takes no
//! checkpoints, so what was acknowledged but not yet processed is lost if
//! the process dies: at-most-once past the acknowledgement, the
//! guarantee of the embedded job.
//!
//! **Limits and rejections.** Every batch is bounded in bytes
//! ([`IngestConfig::batch_bytes_max`]) and records, and the TCP endpoint
//! in connections. An unauthenticated request (when
//! [`IngestConfig::token`] is set), an oversized or malformed batch, or a
//! stopped engine gets a clear status and a sentence, is counted in
//! [`IngestStats`], and leaves the engine running.
//!
//! # HTTP
//!
//! `POST /v1/ingest` with one JSON record per line (`Authorization: Bearer
//! TOKEN` when a token is set). Answers, each with a JSON body:
//! `200 {"accepted": N}`, `400 {"error": "line 3: ..."}`,
//! `401`, `413` (batch over the byte or record limit), `503` (engine
//! stopped).
//!
//! # TCP
//!
//! Frames as in `spate-net` (32-byte header: magic `SPT1`, version 1,
//! kind, flags 0, channel, sequence, payload length, payload CRC32C,
//! header CRC32C; little-endian). Channel 0 throughout.
//!
//! 1. The client sends a `Control` frame (kind 5), sequence 0, whose
//!    payload is the token (empty when none is configured).
//! 2. Then `Data` frames (kind 1) with increasing sequence numbers, each a
//!    batch of JSON lines.
//! 3. The server answers each with a `Control` frame of the same sequence:
//!    `{"seq": S, "accepted": N}` or `{"seq": S, "error": "..."}`. A
//!    malformed batch is rejected and the connection stays open; a bad
//!    token, a broken frame (magic, version, CRC, length) or a stopped
//!    engine is answered with an error and the connection closes.
//!
//! The server reads the next frame only after the engine took the batch,
//! so a saturated job slows the producer down through TCP.

mod auth;
mod config;
mod error;
mod http;
mod lines;
mod stats;
mod tcp;

pub use config::IngestConfig;
pub use error::IngestError;
pub use http::{http_router, serve_http};
pub use lines::{BatchRejection, parse_json_lines};
pub use stats::{IngestStats, IngestStatsSnapshot};
pub use tcp::serve_tcp;
