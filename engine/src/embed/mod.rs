//! Embedding Spate in a service: an in-process engine fed from the
//! service's own threads or async tasks.
//!
//! [`EngineBuilder::start`] builds a job from the stream of ingested records
//! and runs it on executor threads of its own (one per configured core); the
//! caller never sees them. It returns an [`Engine`], whose [`Ingest`] handles
//! send records in, and an [`Output`] stream of the results
//! ([`EngineBuilder::start_with_callback`] calls a function instead, on the
//! core that produced each result). Both queues are bounded: `send` waits
//! while the job is saturated, `try_send` fails with [`EmbedError::Full`].
//! [`Engine::shutdown`] stops the input, lets the job finish everything sent
//! before (the final watermark fires open windows) and returns its metrics.
//! [`Engine::stop_with_savepoint`] instead writes a savepoint after
//! everything sent before and stops without firing open windows; an engine
//! built with [`EngineBuilder::from_savepoint`] resumes from it, also on
//! another number of cores (a service's rolling restart).
//!
//! Guarantees: by default an engine takes no checkpoints — what was sent
//! and not yet processed is lost if the job fails or the process dies. An
//! engine built with [`EngineBuilder::checkpointed`] checkpoints every
//! `checkpoint.interval_ms`, restarts its job from the newest checkpoint
//! after a failure, and answers each batch sent with
//! [`Ingest::send_durable`] once a completed checkpoint holds it ([`Durable`]),
//! or says it was rolled back, to be sent again: exactly-once state for the
//! batches producers send that way.
//!
//! The handles are runtime-agnostic futures: they work in a tokio
//! application, or any other executor, or with a plain `block_on`. Each
//! engine owns its threads and queues; several engines live in one process.
//!
//! Order: each core's ingest split takes whatever record arrives next, so
//! with one core the records of a key are processed in the order they were
//! sent, and with several cores two records of a key taken by different
//! cores may swap (as after Flink's `rebalance`). Carry a sequence number
//! or an event time where the order matters.
//!
//! Event time: the ingest stream has none; assign it in the job
//! (`assign_timestamps_and_watermarks`). Records go to whichever core is
//! free, so with several cores give the strategy an idleness
//! (`with_idleness_ms`), or a core that received nothing holds the
//! watermark back.
//!
//! ```
//! use futures_lite::{StreamExt, future::block_on};
//! use spate::embed::EngineBuilder;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = spate::config::Config::default();
//! config.runtime.cores = 1;
//! config.runtime.io_memory_kib = 256;
//! // Per key, the running sum of the values sent so far.
//! let (engine, mut output) = EngineBuilder::new("sums").config(config).start(|input| {
//!     input
//!         .key_by(|r: &(u64, u64)| r.0)
//!         .reduce(|acc: &(u64, u64), r: &(u64, u64)| (r.0, acc.1 + r.1))
//! })?;
//! let ingest = engine.ingest();
//! block_on(async {
//!     ingest.send((7, 1)).await?;
//!     ingest.send_batch([(7, 2), (8, 5)]).await?;
//!     let result = engine.shutdown().await?;
//!     let mut sums: Vec<(u64, u64)> = output.collect().await;
//!     sums.sort();
//!     assert_eq!(sums, vec![(7, 1), (7, 3), (8, 5)]);
//!     assert_eq!(result.metrics.sinks[spate::embed::OUTPUT_SINK].records, 3);
//!     Ok(())
//! })
//! # }
//! ```

mod durable;
mod engine;
mod error;
mod ingest;
mod output;

pub use durable::Durable;
pub use engine::{
    Engine, EngineBuilder, INGEST_RECORDS_MAX_DEFAULT, OUTPUT_RECORDS_MAX_DEFAULT, OUTPUT_SINK,
    Stopped,
};
pub use error::{EmbedError, Rejected};
pub use ingest::Ingest;
pub use output::Output;
