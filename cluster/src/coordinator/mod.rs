//! The coordinator: plans jobs onto workers, tracks their heartbeats,
//! fences stale ones, and reports to clients.

mod checkpoint_store;
pub mod http;
pub mod job_record;
pub mod rest_api;
mod server;
pub mod state;

pub use job_record::{JobRecord, JobStore};
pub use server::serve;
pub use state::{
    Action, ConnId, Coordinator, CoordinatorConfig, Event, NO_CLIENT, SavepointOutcome,
};
