//! The Nexmark benchmark for Spate: the event model and generator
//! ([`nexmark`]), the queries written with the DataStream API
//! ([`queries`]), the source that feeds them ([`source`]), and the runner
//! that measures a run and reports it ([`runner`], [`report`]).

pub mod bid_prices;
pub mod checkpoint_bench;
pub mod embed_bench;
pub mod kafka_bench;
pub mod late_data;
pub mod latency;
pub mod net_bench;
pub mod nexmark;
pub mod overload;
pub mod queries;
pub mod report;
pub mod runner;
pub mod source;
pub mod state_bench;
