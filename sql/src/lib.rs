//! # Streaming SQL for Spate (Flink SQL dialect)
//!
//! A script is split into statements and parsed ([`script`]: sqlparser plus
//! Flink's DDL clauses), bound against the [`catalog`] into a
//! [`logical`] plan ([`bind_query`], [`bind_expr`]), rewritten by [`rules`],
//! and turned into DataStream operators. Rows are [`Row`]s of dynamic
//! [`Value`]s. See decision 29 in `ARCHITECTURE.md`.

pub mod bind_expr;
mod bind_join;
mod bind_lookup;
mod bind_over;
pub mod bind_query;
mod bind_rank;
pub mod catalog;
pub mod compiled;
pub mod error;
pub mod expr;
mod flink_settings;
pub mod function;
mod group_aggregate;
pub mod group_key;
mod interval_bounds;
pub mod live;
mod local_aggregate;
mod local_window_aggregate;
pub mod logical;
pub mod mini_batch;
pub mod nexmark;
mod primary_key;
mod projection;
pub mod row;
pub mod row_pool;
pub mod rules;
mod rules_extreme;
mod rules_join;
mod rules_trim;
pub mod schema;
pub mod script;
pub mod script_job;
pub mod value;

pub use error::{Pos, Result, SqlError};
pub use row::{Row, RowKind};
pub use value::{DataType, Value};
pub mod aggregate;
pub mod connectors;
pub mod physical;
mod physical_extreme;
mod physical_join;
mod physical_lookup;
mod physical_over;
mod physical_rank;
pub mod session;
mod session_groups;

pub use session::{Outcome, RESULT_MODE, Session};
