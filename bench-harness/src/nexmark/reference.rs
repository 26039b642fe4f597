//! Reference implementations of q0–q8: plain single-threaded Rust over a slice
//! of events, written to be obviously correct rather than fast. They define the
//! golden outputs the engine's queries are checked against.
//!
//! Every query first checks that no event is more than
//! [`WATERMARK_OUT_OF_ORDERNESS_MS`](super::config::WATERMARK_OUT_OF_ORDERNESS_MS) behind the largest timestamp before it
//! (an engine would drop such an event as late) and fails with
//! [`NexmarkError::LateEvent`] otherwise; with that, all events count and the
//! end of input closes every window and auction.
//!
//! Windows are aligned to the epoch. Each function documents its output order;
//! compare with an engine's output as a multiset (see
//! [`rows_checksum`]), except that q4's rows per
//! category and q6's rows per seller are also in a meaningful order.

mod closing;
mod lateness;
mod q3;
mod q4;
mod q5;
mod q6;
mod q7;
mod q8;
mod stateless;
mod window;

pub use lateness::check_lateness;
pub use q3::q3;
pub use q4::q4;
pub use q5::q5;
pub use q6::q6;
pub use q7::q7;
pub use q8::q8;
pub use stateless::{q0, q1, q2};

use super::checksum::rows_checksum;
use super::error::NexmarkError;
use super::model::Event;

/// The queries implemented here, by name.
pub const QUERIES: [&str; 9] = ["q0", "q1", "q2", "q3", "q4", "q5", "q6", "q7", "q8"];

/// `rows_checksum` of the named query's reference output; `None` for an unknown name.
pub fn query_checksum(query: &str, events: &[Event]) -> Option<Result<(u64, u64), NexmarkError>> {
    fn sum<T: std::hash::Hash>(
        rows: Result<Vec<T>, NexmarkError>,
    ) -> Result<(u64, u64), NexmarkError> {
        rows.map(|r| rows_checksum(&r))
    }
    Some(match query {
        "q0" => sum(q0(events)),
        "q1" => sum(q1(events)),
        "q2" => sum(q2(events)),
        "q3" => sum(q3(events)),
        "q4" => sum(q4(events)),
        "q5" => sum(q5(events)),
        "q6" => sum(q6(events)),
        "q7" => sum(q7(events)),
        "q8" => sum(q8(events)),
        _ => return None,
    })
}
