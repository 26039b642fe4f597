//! Shared by the cluster crate's integration tests.

pub mod mock_api;
