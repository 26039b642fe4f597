//! Spate's cluster runtime (issue 4): a coordinator that plans jobs onto
//! worker processes, workers that run their share of each job on their
//! cores and link them to the other workers' cores over `spate-net`, and
//! the clients that submit jobs.
//!
//! - [`protocol`]: the control messages (rkyv archives in `Control` frames).
//! - [`coordinator`]: the pure [`coordinator::Coordinator`] state machine and
//!   its server.
//! - [`worker`]: registration, heartbeats, deployment, data links.
//! - [`launcher`]: the [`launcher::ResourceLauncher`] trait the scheduler
//!   asks for workers, and local processes as the first implementation.
//! - [`plan`]: subtasks and key groups onto workers.
//! - [`client`]: submit, status, shutdown.

#![warn(missing_docs)]

pub mod client;
pub mod control_io;
pub mod coordinator;
pub mod error;
pub mod launcher;
pub mod plan;
pub mod protocol;
pub mod worker;

pub use error::{ClusterError, Result};
