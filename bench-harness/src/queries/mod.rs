//! Nexmark queries q0–q8 written with Spate's DataStream API, exactly as a
//! user would write them. Each takes the event stream and returns the
//! query's output stream.

mod q0_q2;
mod q3;
mod q4;
mod q5;
mod q6;
mod q7;
mod q8;

pub use q0_q2::{q0, q1, q2};
pub use q3::q3;
pub use q4::q4;
pub use q5::q5;
pub use q6::q6;
pub use q7::q7;
pub use q8::q8;

/// The queries this harness runs.
pub const QUERIES: &[&str] = &["q0", "q1", "q2", "q3", "q4", "q5", "q6", "q7", "q8"];

/// The window size of q7 and q8 (10 s tumbling).
pub(crate) const TUMBLE_MS: i64 = 10_000;
