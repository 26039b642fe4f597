//! Network ingestion endpoints for an embedded Spate engine, for producers
//! that are not written in Rust: JSON lines over HTTP, and JSON lines in
//! Spate's own TCP frames. Both take batches for an
//! [`spate::embed::Ingest`] handle and run in the caller's tokio runtime.
//!
//! **Guarantee.** A batch is all or nothing (a malformed line rejects the
//! whole batch, so a producer fixes it and sends it again without
//! duplicates), and it is acknowledged once it is durable per the
//! engine's guarantee:
//!
//! - An engine built with `EngineBuilder::checkpointed()` acknowledges a
//!   batch once a completed checkpoint holds all of it
//!   ([`spate::embed::Ingest::send_durable`]), so it survives a failure of
//!   the job. A batch a failure rolled back is answered with an error
//!   (HTTP `503`, a TCP error reply) that says to send it again, and
//!   counted in [`IngestStatsSnapshot::rolled_back`]; none of it counts,
//!   so a producer that sends refused batches again gets each record
//!   counted exactly once in the job's state. Acknowledgements wait for
//!   the checkpoint interval, so TCP keeps reading frames meanwhile (at
//!   most [`IngestConfig::unacked_batches_max`] waiting per connection)
//!   and its replies may come out of order; each names its sequence.
//! - Any other engine takes no checkpoints: a batch is acknowledged once
//!   it is in the engine's bounded ingest queue, and what was
//!   acknowledged but not yet processed is lost if the process dies —
//!   at-most-once past the acknowledgement, the guarantee of that job.
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
//!    malformed batch, or one a failure rolled back, is rejected and the
//!    connection stays open; a bad token, a broken frame (magic, version,
//!    CRC, length) or a stopped engine is answered with an error and the
//!    connection closes (after the acknowledgements still waiting).
//!
//! The server reads the next frame only after the engine took the batch
//! (and, with a checkpointed engine, while fewer than
//! `unacked_batches_max` wait to become durable), so a saturated job slows
//! the producer down through TCP.

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
