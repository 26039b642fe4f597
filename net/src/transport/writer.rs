//! The writer task: drains the flow-control state's decisions into one
//! buffer and writes it with one call, so a burst of frames costs one
//! syscall instead of one each.

use std::future::poll_fn;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use futures_lite::io::{AsyncWriteExt, WriteHalf};
use glommio::net::TcpStream;

use super::parts::io_error;
use super::pool::InPayload;
use super::state::{Shared, borrow};
use crate::credit::{Connection, Transmit};
use crate::error::NetError;
use crate::frame::FrameEncoder;

/// Encodes what the connection wants to send into `out` until it has no
/// more or `out` holds `bytes_max` (one frame may overshoot). Returns the
/// number of frames.
pub(crate) fn encode_pending(
    conn: &mut Connection<Bytes, InPayload>,
    encoder: &FrameEncoder,
    out: &mut BytesMut,
    bytes_max: usize,
) -> Result<usize, NetError> {
    let mut frames = 0;
    while out.len() < bytes_max {
        match conn.poll_transmit() {
            None => break,
            Some(Transmit::Frame(f)) => {
                encoder.encode(f.kind, f.channel, f.seq, &f.payload, out)?
            }
            Some(Transmit::Credit(grant)) => encoder.encode_credit(&grant, out)?,
        }
        frames += 1;
    }
    Ok(frames)
}

enum Step {
    Write,
    Shutdown,
    Stop,
}

/// The writer task.
pub(crate) async fn run(link: Shared, mut half: WriteHalf<TcpStream>, encoder: FrameEncoder) {
    let bytes_max = match borrow(&link) {
        Ok(state) => state.config.socket_buffer_bytes,
        Err(_) => return,
    };
    let mut out = BytesMut::with_capacity(2 * bytes_max);
    loop {
        let step = poll_fn(|cx| next_step(&link, &encoder, &mut out, bytes_max, cx)).await;
        let result = match step {
            Step::Stop => return,
            Step::Write => half.write_all(&out).await.map_err(|e| io_error("write", e)),
            Step::Shutdown => half.close().await.map_err(|e| io_error("shutdown", e)),
        };
        let Ok(mut state) = borrow(&link) else { return };
        if let Err(cause) = result {
            state.close(cause);
            return;
        }
        state.bytes_written += out.len() as u64;
        state.last_tx = Instant::now();
        out.clear();
        if let Step::Shutdown = step {
            state.write_shut = true;
            state.idle_waiters.wake_all();
            return;
        }
    }
}

fn next_step(
    link: &Shared,
    encoder: &FrameEncoder,
    out: &mut BytesMut,
    bytes_max: usize,
    cx: &mut Context<'_>,
) -> Poll<Step> {
    let Ok(mut state) = borrow(link) else {
        return Poll::Ready(Step::Stop);
    };
    if state.closed.is_some() {
        return Poll::Ready(Step::Stop);
    }
    match encode_pending(&mut state.conn, encoder, out, bytes_max) {
        Err(cause) => {
            state.close(cause);
            Poll::Ready(Step::Stop)
        }
        Ok(0) => {
            state.writer_idle = true;
            state.idle_waiters.wake_all();
            if state.closing {
                return Poll::Ready(Step::Shutdown);
            }
            state.writer.register(cx.waker());
            Poll::Pending
        }
        Ok(_) => {
            // Sent frames made room in the queues the senders wait on.
            for sender in state.senders.values_mut() {
                sender.waker.wake();
            }
            state.priority_waiters.wake_all();
            Poll::Ready(Step::Write)
        }
    }
}
