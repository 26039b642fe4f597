//! The DataStream API.

pub(crate) mod job;
pub(crate) mod keyed;
pub(crate) mod side_output;
pub(crate) mod stream;
pub(crate) mod windowed;

pub use job::{Job, JobBuilder, JobResult};
pub use keyed::KeyedStream;
pub use side_output::OutputTag;
pub use stream::{DataStream, UserFn};
pub use windowed::WindowedStream;
