//! Connection-level control messages: the cluster's own traffic on a link,
//! outside every channel and outside credit.

use std::future::poll_fn;
use std::task::Poll;

use bytes::Bytes;

use super::state::{Shared, borrow};
use crate::error::NetError;

/// Receives the peer's control messages (see [`super::Link::send_control`]).
/// Made once per link by [`super::Link::control_receiver`]. At most
/// `queued_frames_max` messages wait here; a peer that sends more than this
/// side reads fails the link.
pub struct ControlReceiver {
    pub(crate) link: Shared,
}

impl ControlReceiver {
    /// The next control message. Messages that arrived before the link
    /// closed are still handed out; then it fails with [`NetError::Link`].
    pub async fn recv(&mut self) -> Result<Bytes, NetError> {
        poll_fn(|cx| {
            let mut state = match borrow(&self.link) {
                Ok(state) => state,
                Err(err) => return Poll::Ready(Err(err)),
            };
            if let Some(message) = state.control_in.pop_front() {
                return Poll::Ready(Ok(message));
            }
            if let Err(err) = state.check_open() {
                return Poll::Ready(Err(err));
            }
            state.control_rx.register(cx.waker());
            Poll::Pending
        })
        .await
    }
}
