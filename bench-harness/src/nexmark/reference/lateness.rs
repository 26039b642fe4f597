//! The bounded-out-of-orderness check every reference query starts with.

use super::super::config::WATERMARK_OUT_OF_ORDERNESS_MS;
use super::super::error::NexmarkError;
use super::super::model::Event;

/// Fails if an event is more than [`WATERMARK_OUT_OF_ORDERNESS_MS`] behind the
/// largest timestamp of the events before it.
pub fn check_lateness(events: &[Event]) -> Result<(), NexmarkError> {
    let mut max_seen = i64::MIN;
    for (index, event) in events.iter().enumerate() {
        let t = event.date_time();
        if max_seen.saturating_sub(t) > WATERMARK_OUT_OF_ORDERNESS_MS {
            return Err(NexmarkError::LateEvent {
                index: index as u64,
                date_time: t,
                max_seen,
                bound_ms: WATERMARK_OUT_OF_ORDERNESS_MS,
            });
        }
        max_seen = max_seen.max(t);
    }
    Ok(())
}
