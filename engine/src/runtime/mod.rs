//! The thread-per-core runtime: one pinned glommio executor per core, each
//! running one subtask of every operator chain.

pub(crate) mod archived;
pub(crate) mod channel;
pub(crate) mod core_pool;
pub(crate) mod exchange;
pub mod executor;
pub(crate) mod graph;
pub(crate) mod instantiate;
pub mod message;
pub(crate) mod output;
pub(crate) mod port;
pub mod remote;
pub(crate) mod settings;
pub(crate) mod side;
pub(crate) mod task;
pub(crate) mod task_checkpoint;
pub mod wire;
