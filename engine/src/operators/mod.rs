//! The built-in operators.

pub(crate) mod basic;
pub mod co_process;
pub(crate) mod combiner;
pub(crate) mod forward;
pub(crate) mod in_place;
pub(crate) mod interval_join;
pub mod keyed_process;
pub mod process;
pub(crate) mod timer_firing;
pub(crate) mod timestamps;
pub(crate) mod two_input;
pub(crate) mod union;
