//! The DataStream API.

pub(crate) mod connected;
pub(crate) mod job;
pub(crate) mod join;
pub(crate) mod keyed;
pub(crate) mod run_options;
pub(crate) mod side_output;
pub(crate) mod stream;
pub(crate) mod windowed;

pub use connected::{ConnectedKeyedStreams, ConnectedStreams};
pub use job::{Job, JobBuilder, JobResult};
pub use join::{
    CoGroupedStreams, CoGroupedStreamsEqualTo, CoGroupedStreamsWhere, IntervalJoin, IntervalJoined,
    JoinedStreams, JoinedStreamsEqualTo, JoinedStreamsWhere, TaggedUnion, WindowedCoGroup,
    WindowedJoin,
};
pub use keyed::KeyedStream;
pub use run_options::RunOptions;
pub use side_output::OutputTag;
pub use stream::{DataStream, UserFn};
pub use windowed::WindowedStream;
