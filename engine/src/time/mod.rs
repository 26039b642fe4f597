//! Event time, watermarks and clocks.

mod clock;
pub(crate) mod thread_cpu;
pub(crate) mod watermark;

pub use clock::{Clock, ManualClock, SystemClock};
pub use watermark::{WatermarkStrategy, WatermarkTracker};

/// Event time in milliseconds since the Unix epoch.
pub type Timestamp = i64;

/// The lowest watermark: nothing is known yet.
pub const WATERMARK_MIN: Timestamp = i64::MIN;
/// The final watermark of a bounded input: every window fires.
pub const WATERMARK_MAX: Timestamp = i64::MAX;
