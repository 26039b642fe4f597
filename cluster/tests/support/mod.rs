//! Shared by the cluster crate's integration tests.

pub mod coordinator;
pub mod mock_api;
