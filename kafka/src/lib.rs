//! Kafka sources and sinks for Spate.
//!
//! - [`KafkaSource`] reads a topic: each split owns the partitions `p` with
//!   `p mod splits = split`; offsets live in Spate's checkpoints (nothing is
//!   committed to Kafka); only committed records are read, by the
//!   transaction markers; watermarks come from each partition's record
//!   timestamps, and a split with no partition does not hold others back.
//! - [`KafkaSink`] writes a topic at least once, or exactly once through
//!   one Kafka transaction per subtask and checkpoint: pre-committed at the
//!   barrier, committed when the checkpoint completes, committed again by
//!   recovery from the producer id and epoch stored in the checkpoint, and
//!   never left open after a failure.
//!
//! The client under them speaks the Kafka protocol directly (see
//! `ARCHITECTURE.md`, decision 51) with blocking connections on helper
//! threads, so a core never waits on the network.

mod client;
mod config;
mod conn;
mod error;
mod fetcher;
mod partitioner;
mod producer;
mod reader;
mod records;
mod sink;
mod source;

pub use client::{Client, FetchedPartition, OffsetSpec, ProducerIdentity};
pub use config::ClientConfig;
pub use error::{KafkaError, Result};
pub use reader::TopicReader;
pub use records::{KafkaRecord, OutRecord};
pub use sink::{Delivery, KafkaSink, KafkaSinkConfig, Serializer};
pub use source::{KafkaSource, KafkaSourceConfig, StartFrom};
