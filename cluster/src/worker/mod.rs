//! The worker process: runs shares of jobs on its cores and links them to
//! the other workers' cores.

mod agent;
mod data_plane;
mod links;
mod pressure;
mod rendezvous;

pub use agent::{JobCatalog, WorkerExit, WorkerOptions, run_worker};
