//! The built-in operators.

pub(crate) mod basic;
pub(crate) mod combiner;
pub mod keyed_process;
pub mod process;
pub(crate) mod timestamps;
pub(crate) mod union;
