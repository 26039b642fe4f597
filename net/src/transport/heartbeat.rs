//! The heartbeat task: keeps an idle link visibly alive, and closes one
//! whose peer has gone silent.

use std::time::Duration;

use bytes::Bytes;

use super::parts::CONTROL_CHANNEL;
use super::state::{LinkState, Shared, borrow};
use crate::error::NetError;
use crate::frame::FrameKind;

/// The heartbeat task: wakes every `heartbeat_interval_ms`.
pub(crate) async fn run(link: Shared) {
    let interval_ms = match borrow(&link) {
        Ok(state) => state.config.heartbeat_interval_ms,
        Err(_) => return,
    };
    loop {
        glommio::timer::sleep(Duration::from_millis(interval_ms)).await;
        let Ok(mut state) = borrow(&link) else { return };
        if state.closed.is_some() || !tick(&mut state) {
            return;
        }
    }
}

/// One beat: fails a silent link, or sends a heartbeat if this side has
/// been quiet. Returns whether the link is still open.
fn tick(state: &mut LinkState) -> bool {
    let timeout_ms = state.config.heartbeat_timeout_ms;
    let silent_ms = u64::try_from(state.last_rx.elapsed().as_millis()).unwrap_or(u64::MAX);
    if silent_ms > timeout_ms {
        state.close(NetError::HeartbeatTimeout {
            silent_ms,
            timeout_ms,
        });
        return false;
    }
    let interval = Duration::from_millis(state.config.heartbeat_interval_ms);
    // A full priority lane is being written: the peer will hear from us.
    let room = state.conn.priority_queued() < state.config.queued_frames_max;
    if state.last_tx.elapsed() >= interval && room {
        let sent = state
            .conn
            .submit_control(FrameKind::Heartbeat, CONTROL_CHANNEL, Bytes::new());
        if let Err(cause) = sent {
            state.close(cause);
            return false;
        }
        state.wake_writer();
    }
    true
}
