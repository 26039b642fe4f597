//! Nexmark: the online-auction benchmark's data model, a fast deterministic event
//! generator, JSON-lines event files and plain reference implementations of q0–q8.
//!
//! The generator follows nexmark-flink's distributions (see `generator`), but
//! every event is a pure function of `(GeneratorConfig, event number)` so any
//! number of parallel splits produce the same stream. See `nexmark/README.md`
//! for the JSON-lines format.

pub mod checksum;
pub mod config;
pub mod error;
pub mod generator;
pub mod json;
pub mod model;
pub mod reference;
pub mod rows;
pub mod text;

pub use checksum::{StableHasher, rows_checksum, stable_hash};
pub use config::{GeneratorConfig, WATERMARK_OUT_OF_ORDERNESS_MS};
pub use error::NexmarkError;
pub use generator::Generator;
pub use json::{EventFileReader, read_events_jsonl, write_events_jsonl, write_events_jsonl_to};
pub use model::{ArchivedBid, Auction, Bid, Event, EventKind, Person};
pub use text::Str;
