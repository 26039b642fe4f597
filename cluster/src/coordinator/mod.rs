//! The coordinator: plans jobs onto workers, tracks their heartbeats,
//! fences stale ones, and reports to clients.

mod checkpoint_store;
pub mod http;
pub mod rest_api;
mod server;
pub mod state;

pub use server::serve;
pub use state::{Action, ConnId, Coordinator, CoordinatorConfig, Event, SavepointOutcome};
