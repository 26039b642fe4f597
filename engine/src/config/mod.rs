//! Typed, validated, layered engine configuration.
//!
//! A [`Config`] is assembled from four layers, lowest to highest:
//!
//! 1. the built-in defaults (see [`Config::default`]),
//! 2. an optional profile (`low-latency`, `throughput`, `large-state`, embedded from
//!    `deploy/profiles/<name>.toml`, or a path to a profile file),
//! 3. an optional job config file (TOML),
//! 4. command-line overrides (`section.key=value`, e.g. from `--set runtime.cores=2`).
//!
//! [`Config::load`] applies them in that order, validating every key and value, and
//! returns a [`LoadedConfig`] that remembers which layer set each key, so
//! [`LoadedConfig::explain_table`] can answer "why is this value what it is?".
//!
//! Every key is declared exactly once, in the table in `keys.rs`; that table drives the
//! typed structs, defaults, parsing, validation, error messages and explain output.

mod apply;
mod define;
mod enums;
mod error;
mod explain;
mod field;
mod key_def;
mod keys;
mod layer;
mod load;
mod loaded;
mod profile;
mod suggest;
mod unknown;
mod value_type;

pub use enums::{BackgroundPriority, CheckpointMode, RocksCompactionKind, StateBackendKind};
pub use error::ConfigError;
pub use explain::ExplainRow;
pub use key_def::describe_key;
pub use keys::{CheckpointConfig, Config, MetricsConfig, RuntimeConfig, StateConfig};
pub use layer::Layer;
pub use load::ConfigSources;
pub use loaded::LoadedConfig;
pub use profile::available_profiles;
