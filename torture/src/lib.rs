//! Proof of fault tolerance for Spate (issue 6): the oracle job whose
//! fault-free output is known from its arguments, the checker that judges
//! a committed output against it, and the supervisor that runs the job on a
//! real local cluster while it injects faults from a seed.

pub mod checker;
pub mod cluster;
pub mod corrupt;
pub mod disk;
pub mod error;
pub mod faultfs;
pub mod oracle;
pub mod overload;
pub mod proxy;
pub mod results;
pub mod rng;
pub mod sim;
pub mod supervisor;

pub use checker::{Report, check};
pub use error::{Result, TortureError};
pub use oracle::{Expected, Injector, OracleArgs, oracle_job, oracle_job_with};
