//! Running one job across several processes.
//!
//! Each process runs a contiguous share of the job's subtasks (one per
//! core) and reaches the others through [`RemoteLinks`]: the cluster
//! runtime implements them over TCP with `spate-net`; tests can implement
//! them in memory. The job itself is unchanged: every process builds the
//! same [`crate::Job`] and runs its share with [`crate::Job::run_placed`].

pub use crate::runtime::executor::LinkSetup;
pub use crate::runtime::remote::{
    Inbound, LocalBoxFuture, RemoteLinks, RemoteReceiver, RemoteSender,
};

/// Which subtasks this process runs, and how it reaches the others.
#[derive(Clone)]
pub struct Placement {
    /// Global index of this process's first subtask (its core 0).
    pub subtask_offset: usize,
    /// The job's parallelism: subtasks of every chain over all processes.
    pub parallelism: usize,
    /// Builds each core's links, on that core.
    pub links: LinkSetup,
}

impl std::fmt::Debug for Placement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Placement")
            .field("subtask_offset", &self.subtask_offset)
            .field("parallelism", &self.parallelism)
            .finish_non_exhaustive()
    }
}
