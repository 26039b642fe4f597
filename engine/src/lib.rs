//! # Spate: a thread-per-core stream-processing engine
//!
//! Spate runs Flink-style dataflow jobs on one pinned `glommio` executor per
//! core. Each core runs one subtask of every operator chain and owns the
//! keyed state of its key groups; records cross cores only through bounded
//! channels carrying batches.
//!
//! Map of the crate:
//! - [`api`]: the DataStream API ([`Job`], [`DataStream`], [`KeyedStream`]).
//! - [`sources`], [`sinks`]: the built-in connectors and their traits.
//! - [`operators`]: process functions; [`window`]: windows.
//! - [`keyed`]: keyed state handles and contexts (tables live in `spate-state`).
//! - [`time`]: event time, watermarks and clocks.
//! - [`config`]: the layered, validated configuration.
//! - [`checkpoint`]: barrier checkpoints, exactly-once sinks and recovery.
//! - [`embed`]: an in-process engine fed from a service's own tasks.
//! - `runtime` (private): the executors, chains, exchanges and task drivers.
//!
//! Prerequisites: Linux with io_uring, and locked memory (`ulimit -l`) of
//! at least `runtime.io_memory_kib` per core.

pub mod api;
pub mod checkpoint;
pub mod config;
pub mod cpus;
pub mod distributed;
pub mod embed;
pub mod error;
pub mod keyed;
pub mod metrics;
pub mod operators;
pub(crate) mod runtime;
pub mod sinks;
pub mod sources;
pub mod time;
pub mod window;

pub use api::{DataStream, Job, JobBuilder, JobResult, KeyedStream, OutputTag, RunOptions};
pub use error::{Result, SpateError};
pub use runtime::message::{ArchivedRec, Rec};
pub use runtime::wire::ExchangeData;

/// The rkyv version record types derive from (`#[derive(rkyv::Archive,
/// rkyv::Serialize, rkyv::Deserialize)]` makes a type [`ExchangeData`]).
pub use rkyv;

/// A record type that can flow through a job: copied to any core.
pub trait Data: Clone + Send + 'static {}
impl<T: Clone + Send + 'static> Data for T {}

/// A key type for `key_by`. Keys are part of keyed state, so they are
/// serializable like state ([`StateData`]: derive `rkyv::Archive`,
/// `rkyv::Serialize` and `rkyv::Deserialize`; primitives, `String`,
/// tuples and `Vec`s of such types qualify).
pub trait Key: std::hash::Hash + Eq + Clone + Send + StateData + 'static {}
impl<T: std::hash::Hash + Eq + Clone + Send + StateData + 'static> Key for T {}

/// A type keyed state can hold: it goes into checkpoints and savepoints.
pub use spate_state::StateData;
